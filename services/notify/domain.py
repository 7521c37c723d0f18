"""Who must hear of an event, and what they are told. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.contracts.registration import MEMBER_CHECKED_IN
from shared.events import Envelope


@dataclass(frozen=True)
class Recipient:
    kind: str  # "member" or "org"
    id: str


@dataclass(frozen=True)
class Message:
    recipient: Recipient
    title: str
    body: str


Router = Callable[[dict[str, Any]], list[Message]]


def _checked_in(data: dict[str, Any]) -> list[Message]:
    # The secretaries of the branch where the member reported in need to know who arrived.
    kind = {"self": "报到", "grid_survey": "网格摸底登记", "transfer": "转接报到"}.get(data["kind"], "报到")
    return [
        Message(
            Recipient("org", data["branch_code"]),
            title=f"{data['member_name']} 已在本支部{kind}",
            body=(
                f"党员 {data['member_name']} 于 {data['occurred_at'][:16].replace('T', ' ')} 在 {data['branch_code']} {kind}。"
                "请在台账中核对其六个掌握信息。"
            ),
        )
    ]


ROUTES: dict[str, Router] = {
    MEMBER_CHECKED_IN: _checked_in,
}


def messages_for(envelope: Envelope) -> list[Message]:
    """The notifications an event produces; an event type without a route produces none."""
    router = ROUTES.get(envelope.type)
    return router(envelope.data) if router else []
