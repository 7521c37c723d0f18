"""Keeping `member_name_grams` (the name search's index, docs/decisions/0022) in step with
members' names and branches, in the same transaction as the change.

The ORM's own inserts and updates of a member (registration, a relationship move) are followed
by the mapper events below; the repository's bulk insert (an import) and conditional UPDATE (an
edit) are statements the ORM does not see, so they call `add_grams` and `replace_grams` here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, delete, event, insert, inspect, select
from sqlalchemy.orm import Mapper

from services.registration import domain
from services.registration.models import Member, MemberNameGram
from shared.db import table_of

_GRAMS = table_of(MemberNameGram)
# Rows per INSERT: SQLite caps bound parameters per statement (3 per row).
_BATCH = 300


def gram_rows(member_id: str, name: str, branch_path: str) -> list[dict[str, str]]:
    return [
        {"gram": gram, "member_id": member_id, "branch_path": branch_path}
        for gram in sorted(domain.name_grams(name))
    ]


def add_grams(connection: Connection, members: Iterable[Mapping[str, Any]]) -> int:
    """The grams of new members (each with id, name, branch_path). Returns the rows written."""
    rows: list[dict[str, str]] = []
    for member in members:
        rows.extend(gram_rows(str(member["id"]), str(member["name"]), str(member["branch_path"])))
    for start in range(0, len(rows), _BATCH):
        connection.execute(insert(_GRAMS), rows[start : start + _BATCH])
    return len(rows)


def replace_grams(connection: Connection, member_id: str, old_name: str, name: str, branch_path: str) -> None:
    """A member's name or branch changed: their grams are those of `name` at `branch_path`.
    The old ones are found by the old name's grams (the primary key), not by a scan."""
    connection.execute(
        delete(_GRAMS).where(
            _GRAMS.c.member_id == member_id, _GRAMS.c.gram.in_(sorted(domain.name_grams(old_name)))
        )
    )
    add_grams(connection, [{"id": member_id, "name": name, "branch_path": branch_path}])


def backfill(connection: Connection, batch: int = 2000) -> int:
    """The grams of every member, in id order and batches, into an empty table (migration 0008):
    a member who has some already would collide with the primary key. Returns how many members."""
    members = table_of(Member)
    after, count = "", 0
    while True:
        rows = connection.execute(
            select(members.c.id, members.c.name, members.c.branch_path)
            .where(members.c.id > after)
            .order_by(members.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return count
        add_grams(connection, [dict(row._mapping) for row in rows])
        count += len(rows)
        after = rows[-1].id


@event.listens_for(Member, "after_insert")
def _member_inserted(_mapper: Mapper[Member], connection: Connection, member: Member) -> None:
    add_grams(connection, [{"id": member.id, "name": member.name, "branch_path": member.branch_path}])


@event.listens_for(Member, "after_update")
def _member_updated(_mapper: Mapper[Member], connection: Connection, member: Member) -> None:
    state = inspect(member)
    name, path = state.attrs.name.history, state.attrs.branch_path.history
    if not (name.has_changes() or path.has_changes()):
        return
    old_name = name.deleted[0] if name.deleted else member.name
    replace_grams(connection, member.id, old_name, member.name, member.branch_path)
