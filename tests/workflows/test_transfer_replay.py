"""Saved histories of TransferWorkflow must replay on the current code (changes go through patched)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from services.transfer.workflows import TransferWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("transfer_*.json"))


def test_histories_are_saved():
    assert len(HISTORIES) >= 4


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("path", HISTORIES, ids=lambda path: path.stem)
async def test_saved_history_replays(path: Path):
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    await Replayer(workflows=[TransferWorkflow]).replay_workflow(history)
