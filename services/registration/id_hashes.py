"""The one-time step that gives every member row its ID-number search hash.

Migration 0007 adds `members.id_number_hash` and fills it where the migration runs with the key
(development, or NUANLIU_ID_HASH_KEY in its environment); production's migrate Job holds the
database URLs only, so the registration worker fills what is left at its start (and after a key
rotation, once the column was cleared). Rows that have a hash are never read again.
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, select, update

from services.registration.domain import id_number_hash
from services.registration.models import Member
from shared.db import Database, table_of

log = logging.getLogger(__name__)
BATCH = 5000


def backfill_id_number_hashes(database: Database, key: str, batch: int = BATCH) -> int:
    """Hash the ID numbers of members without a hash, a batch per transaction. Returns how many."""
    members = table_of(Member)
    filled = 0
    after = ""
    while True:
        with database.transaction() as session:
            rows = session.execute(
                select(members.c.id, members.c.id_number)
                .where(members.c.id_number_hash.is_(None), members.c.id > after)
                .order_by(members.c.id)
                .limit(batch)
            ).all()
            if rows:
                session.execute(
                    update(members)
                    .where(members.c.id == bindparam("member_id"))
                    .values(id_number_hash=bindparam("hash")),
                    [{"member_id": member_id, "hash": id_number_hash(number, key)} for member_id, number in rows],
                )
        filled += len(rows)
        if len(rows) < batch:
            if filled:
                log.info("hashed the ID numbers of %d members for the exact search", filled)
            return filled
        after = rows[-1][0]
