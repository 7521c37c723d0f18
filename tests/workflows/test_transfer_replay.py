"""Saved histories of TransferWorkflow must replay on the current code (changes go through patched)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from services.transfer.workflows import STAGE_CHAINS_PATCH, UPDATE_LOCK_PATCH, TransferWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("transfer_*.json"))


def test_histories_are_saved():
    assert len(HISTORIES) >= 4


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("path", HISTORIES, ids=lambda path: path.stem)
async def test_saved_history_replays(path: Path):
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    await Replayer(workflows=[TransferWorkflow]).replay_workflow(history)


def _patches(history: WorkflowHistory) -> list[str]:
    return [
        json.loads(event.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
        and "patch-data" in event.marker_recorded_event_attributes.details
    ]


def test_the_newest_history_runs_the_update_handlers_under_the_lock():
    """The history saved last was recorded on the v4 path, so its replay covers that path."""
    history = WorkflowHistory.from_json("newest", HISTORIES[-1].read_text())
    assert UPDATE_LOCK_PATCH in _patches(history)


def test_the_newest_history_runs_a_chain_with_the_receiving_county():
    """v5 (stage chains as data): the newest history was recorded with the patch, and its
    cross-province chain waited at the receiving county between the county and the branch."""
    history = WorkflowHistory.from_json("newest", HISTORIES[-1].read_text())
    assert STAGE_CHAINS_PATCH in _patches(history)
    statuses = [
        json.loads(payload.data)
        for event in history.events
        if event.HasField("upsert_workflow_search_attributes_event_attributes")
        for name, payload in event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields.items()
        if name == "TransferStatus"
    ]
    assert "pending_receiving_county" in statuses
    at = statuses.index("pending_receiving_county")
    assert statuses[at - 1 : at + 2] == [
        "pending_county",
        "pending_receiving_county",
        "pending_receiving_branch",
    ]
