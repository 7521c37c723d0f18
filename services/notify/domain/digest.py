"""The daily digest: what waits on each org (transfers at its stage, overdue tasks), kept from
events, and the one message per org that lists it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notify.domain.routing import Message, Recipient, Ref
from shared.contracts import tasks as tsk
from shared.events import Envelope

TRANSFER_OPEN = {
    "pending_sending_branch",
    "pending_township",
    "pending_county",
    "pending_receiving_county",
    "pending_receiving_branch",
}
# Where the consumer puts the names it looked up (as services.notify.rendering reads them).
NAMES_FIELD = "directory_names"
TASK_CLOSED = {tsk.TASK_COMPLETED, tsk.TASK_EVALUATED, tsk.TASK_CANCELLED}
DIGEST_TYPE = "notify.digest"
DIGEST_TEMPLATE = f"{DIGEST_TYPE}/org"


@dataclass(frozen=True, order=True)
class TodoVersion:
    """Which event set what waits for one transfer or task: its time, then its id.

    Deliveries can arrive out of order (several consumers or relays, redeliveries after a
    failure), so the newest event wins, not the last to arrive. The id only breaks ties of equal
    times, so that every replica settles on the same row whatever the order."""

    at: datetime
    event_id: str


@dataclass(frozen=True)
class TodoChange:
    """How an event changes what waits on orgs: drop every row of `ref`, then add `add` if any,
    unless a newer event (`version`) already set it."""

    kind: str
    ref_id: str
    add: tuple[str, str, str | None] | None  # (org code, label, due)
    version: TodoVersion


def supersedes(change: TodoChange, current: TodoVersion | None) -> bool:
    """Whether `change` may replace what the event of `current` set (nothing set yet: it may)."""
    return current is None or change.version > current


def todo_change(envelope: Envelope) -> TodoChange | None:
    d = envelope.data
    version = TodoVersion(envelope.time, envelope.id)
    if envelope.type.startswith("transfer."):
        label = transfer_label(d)
        waiting = d.get("stage_org_code") and d.get("status") in TRANSFER_OPEN
        add = (d["stage_org_code"], label, d.get("due_at")) if waiting else None
        return TodoChange("transfer", d["transfer_id"], add, version)
    if envelope.type == tsk.TASK_OVERDUE:
        return TodoChange("task", d["task_id"], (d["org_code"], d["title"], d.get("due_on")), version)
    if envelope.type in TASK_CLOSED:
        return TodoChange("task", d["task_id"], None, version)
    return None


def transfer_label(d: dict[str, Any]) -> str:
    """A transfer as the digest lists it: the member and both branches by name (the neutral
    words where neither the event nor the directory names a branch)."""
    orgs = (d.get(NAMES_FIELD) or {}).get("org") or {}
    sender = d.get("from_branch_name") or orgs.get(d["from_branch_code"]) or "转出支部"
    receiver = d.get("to_branch_name") or orgs.get(d["to_branch_code"]) or "接收支部"
    return f"{d['member_name']}：{sender} → {receiver}"


def digest_data(
    org_code: str, todos: list[tuple[str, str, str | None]], org_name: str | None = None
) -> dict[str, Any]:
    """Template fields of one org's digest from its (kind, label, due) rows; the renderer writes
    the lines, with the due times on the readers' clock."""
    return {
        "org_code": org_code,
        "org_name": org_name,
        "todo_count": sum(1 for kind, _, _ in todos if kind == "transfer"),
        "overdue_count": sum(1 for kind, _, _ in todos if kind == "task"),
        "todos": [list(row) for row in todos],
    }


def digest_message(
    org_code: str, todos: list[tuple[str, str, str | None]], org_name: str | None = None
) -> Message:
    return Message(
        Recipient("org", org_code),
        DIGEST_TEMPLATE,
        False,
        digest_data(org_code, todos, org_name),
        Ref("org", org_code),
        "/inbox",
    )
