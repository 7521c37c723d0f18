"""The transfer projection's repository over a writer Session: reads by id, adds, and the atomic
conditional UPDATEs a use case claims with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.transfer import domain, projection
from services.transfer.models import TimelineEntry, Transfer, Urge


class TransferRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, transfer_id: str) -> Transfer | None:
        return self.session.get(Transfer, transfer_id)

    def open_transfer_of(self, member_id: str, other_than: str | None = None) -> str | None:
        """The id of the member's open transfer (other than `other_than`), if any."""
        statement = select(Transfer.id).where(Transfer.open_member_id == member_id)
        if other_than is not None:
            statement = statement.where(Transfer.id != other_than)
        return self.session.scalar(statement)

    def add(
        self, transfer: Transfer, chain: list[str], stage_orgs: dict[str, str], entry: TimelineEntry
    ) -> None:
        """A new transfer with its planned stages and its first timeline entry."""
        self.session.add(transfer)
        projection.replace_stages(self.session, transfer, chain, stage_orgs)
        self.session.add(entry)
        self.session.flush()

    def claim_for_reissue(self, transfer_id: str, member_id: str) -> Transfer | None:
        """Claim the member's one open transfer for a re-issue, as applying does: the unique
        open_member_id refuses a second open transfer, and the conditions a re-issue already
        under way. None if the claim was refused."""
        claimed = self.session.execute(
            update(Transfer)
            .where(
                Transfer.id == transfer_id,
                Transfer.status == domain.EXPIRED,
                Transfer.open_member_id.is_(None),
            )
            .values(open_member_id=member_id, finished_at=None)
            .returning(Transfer.id)
        ).scalar_one_or_none()
        return None if claimed is None else self.session.get(Transfer, transfer_id)

    def release_reissue(self, transfer_id: str) -> None:
        """Give a re-issue's claim back if the transfer is still expired (its run never started)."""
        transfer = self.session.get(Transfer, transfer_id)
        if transfer is not None and transfer.status == domain.EXPIRED:
            transfer.open_member_id, transfer.finished_at = None, transfer.updated_at

    def mark_failed(self, transfer_id: str, reason: str, at: datetime) -> Transfer | None:
        """End a transfer whose process never started: failed, no stage, the member freed."""
        transfer = self.session.get(Transfer, transfer_id)
        if transfer is None:
            return None
        transfer.status, transfer.current_stage, transfer.current_stage_org = domain.FAILED, None, None
        transfer.current_stage_path = None
        transfer.failure_reason, transfer.open_member_id, transfer.finished_at = reason, None, at
        projection.drop_stages(self.session, transfer_id)
        self.session.flush()
        return transfer

    # --- urges ----------------------------------------------------------------------------

    def claim_urge(self, transfer_id: str, stage: str, actor: str, now: datetime, cutoff: datetime) -> bool:
        """Record an urge unless this caller urged this stage after `cutoff`: one conditional
        upsert, so of two concurrent urges only one passes (the other finds the row moved)."""
        insert: Any = (
            postgresql.insert if self.session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        table = Urge.__table__
        statement = (
            insert(table)
            .values(transfer_id=transfer_id, stage=stage, actor=actor, urged_at=now, count=1)
            .on_conflict_do_update(
                index_elements=["transfer_id", "stage", "actor"],
                set_={"urged_at": now, "count": table.c.count + 1},
                where=table.c.urged_at <= cutoff,
            )
            .returning(table.c.actor)
        )
        return self.session.execute(statement).scalar_one_or_none() is not None

    def urged_at(self, transfer_id: str, stage: str, actor: str) -> datetime | None:
        return self.session.scalar(
            select(Urge.urged_at).where(
                Urge.transfer_id == transfer_id, Urge.stage == stage, Urge.actor == actor
            )
        )

    def add_timeline(self, entry: TimelineEntry) -> None:
        self.session.add(entry)
        self.session.flush()
