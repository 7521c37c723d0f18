"""Every introduction letter issued, and what a letter number verifies as (issue 20).

The projection holds a transfer's current letter only; `transfer_letters` keeps each number, so a
letter replaced by a re-issue answers `superseded` instead of 404."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from services.transfer import domain
from services.transfer.models import Letter, Transfer
from shared.db import table_of

_LETTERS = table_of(Letter)
_TRANSFERS = table_of(Transfer)


def record(session: Session, transfer: Any, at: datetime) -> None:
    """Store the letter `transfer` (a projection row already carrying it) has just been issued."""
    session.execute(
        _LETTERS.insert(),
        {
            "number": transfer.letter_number,
            "transfer_id": transfer.id,
            "issued_on": transfer.letter_issued_on,
            "valid_until": transfer.letter_valid_until,
            "dues_paid_through": transfer.letter_dues_paid_through,
            "created_at": at,
        },
    )


@dataclass(frozen=True)
class IssuedLetter:
    """One letter number with the transfer it was issued for, as the transfer now stands."""

    number: str
    issued_on: date
    valid_until: date
    transfer_status: str
    current_number: str | None
    member_name: str
    from_branch_code: str
    to_branch_code: str


def find(connection: Connection, number: str) -> IssuedLetter | None:
    row = connection.execute(
        select(
            _LETTERS.c.number,
            _LETTERS.c.issued_on,
            _LETTERS.c.valid_until,
            _TRANSFERS.c.status,
            _TRANSFERS.c.letter_number,
            _TRANSFERS.c.member_name,
            _TRANSFERS.c.from_branch_code,
            _TRANSFERS.c.to_branch_code,
        )
        .join(_TRANSFERS, _TRANSFERS.c.id == _LETTERS.c.transfer_id)
        .where(_LETTERS.c.number == number)
    ).first()
    return IssuedLetter(*row) if row is not None else None


def status_of(letter: IssuedLetter, today: date) -> str:
    """valid | used | expired | superseded | cancelled, as the verification page shows it."""
    if letter.current_number != letter.number:
        return "superseded"  # a re-issue replaced it: the new letter is the one to honour
    if letter.transfer_status == domain.COMPLETED:
        return "used"
    if letter.transfer_status == domain.EXPIRED:
        return "expired"
    if letter.transfer_status == domain.LETTER_ISSUED:
        # The workflow's expiry timer may lag a moment behind the date on the paper.
        return "valid" if today <= letter.valid_until else "expired"
    return "cancelled"  # withdrawn, or failed after issue: the letter no longer stands
