"""The transfer projection's repository over a writer Session: reads by id, adds, and the atomic
conditional UPDATEs a use case claims with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.transfer import domain, projection
from services.transfer.models import TimelineEntry, Transfer


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
