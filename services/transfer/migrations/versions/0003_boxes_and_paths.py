"""Planned stages (the pending and coming boxes), the current stage's path, bytewise path indexes.

- `transfer_stages`: one row per stage of a transfer's current plan, decided or not.
- `transfers.current_stage_path`: what waits within a subtree, for dashboards.
- Paths compare bytewise ("C" collation on PostgreSQL; SQLite's BINARY already does), so a
  subtree is a range scan on a plain index instead of a leading-wildcard LIKE.

Open transfers are backfilled from their timeline: decided stages since the last (re)submission,
the open stage, and the receiving branch. Stages between those two (e.g. a county not reached
yet) were never stored, so such older transfers miss them in `coming` until a resubmit.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa
import shared.db


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PATH = sa.String(length=500).with_variant(sa.String(length=500, collation="C"), "postgresql")
TERMINAL = ("completed", "rejected", "cancelled", "expired", "failed")
CHAIN = ("sending_branch", "township", "county", "receiving_branch")


def _org_path(code: str, *paths: str) -> str | None:
    # A copy, not an import of domain.org_path: a migration must not change when the code does.
    mark = f"/{code}/"
    for path in paths:
        at = path.find(mark)
        if at >= 0:
            return path[: at + len(mark)]
    return None


def _stage_row(
    transfer_id: str, stage: str, org: str, decided_at: object, paths: tuple[str, str]
) -> dict[str, object]:
    return {
        "transfer_id": transfer_id,
        "stage": stage,
        "position": CHAIN.index(stage) if stage in CHAIN else len(CHAIN),
        "org_code": org,
        "org_path": _org_path(org, *paths),
        "decided_at": decided_at,
    }


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for column in ("from_path", "to_path"):
            op.alter_column(
                "transfers",
                column,
                type_=sa.String(length=500, collation="C"),
                existing_type=sa.String(length=500),
                existing_nullable=False,
            )
    op.create_table(
        "transfer_stages",
        sa.Column("transfer_id", sa.String(length=26), nullable=False),
        sa.Column("stage", sa.String(length=30), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("org_code", sa.String(length=40), nullable=False),
        sa.Column("org_path", PATH, nullable=True),
        sa.Column("decided_at", shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("transfer_id", "stage", name=op.f("pk_transfer_stages")),
    )
    with op.batch_alter_table("transfer_stages", schema=None) as batch_op:
        batch_op.create_index("ix_transfer_stages_org", ["org_code", "transfer_id"], unique=False)
        batch_op.create_index("ix_transfer_stages_path", ["org_path", "transfer_id"], unique=False)
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("current_stage_path", PATH, nullable=True))
        batch_op.create_index("ix_transfers_stage_path", ["current_stage_path", "overdue"], unique=False)
        batch_op.create_index("ix_transfers_from_path", ["from_path", "finished_at"], unique=False)
        batch_op.create_index("ix_transfers_to_path", ["to_path", "finished_at"], unique=False)
    _backfill_open_transfers()


def _backfill_open_transfers() -> None:
    connection = op.get_bind()
    meta = sa.MetaData()
    transfers = sa.Table(
        "transfers",
        meta,
        sa.Column("id", sa.String),
        sa.Column("status", sa.String),
        sa.Column("from_path", sa.String),
        sa.Column("to_path", sa.String),
        sa.Column("to_branch_code", sa.String),
        sa.Column("current_stage", sa.String),
        sa.Column("current_stage_org", sa.String),
        sa.Column("current_stage_path", sa.String),
    )
    timeline = sa.Table(
        "transfer_timeline",
        meta,
        sa.Column("id", sa.Integer),
        sa.Column("transfer_id", sa.String),
        sa.Column("at", shared.db.UTCDateTime(timezone=True)),
        sa.Column("stage", sa.String),
        sa.Column("org_code", sa.String),
        sa.Column("action", sa.String),
    )
    stages = sa.Table(
        "transfer_stages",
        meta,
        sa.Column("transfer_id", sa.String),
        sa.Column("stage", sa.String),
        sa.Column("position", sa.Integer),
        sa.Column("org_code", sa.String),
        sa.Column("org_path", sa.String),
        sa.Column("decided_at", shared.db.UTCDateTime(timezone=True)),
    )
    # Only open transfers can be pending or coming; finished ones need no stage rows.
    open_rows = connection.execute(sa.select(transfers).where(transfers.c.status.notin_(TERMINAL))).all()
    for row in open_rows:
        paths = (row.from_path, row.to_path)
        entries = connection.execute(
            sa.select(timeline).where(timeline.c.transfer_id == row.id).order_by(timeline.c.id)
        ).all()
        since = max((i for i, e in enumerate(entries) if e.action == "resubmit"), default=-1) + 1
        planned: dict[str, dict[str, object]] = {}
        for entry in entries[since:]:
            if entry.action in ("approve", "return") and entry.stage and entry.org_code:
                planned[entry.stage] = _stage_row(row.id, entry.stage, entry.org_code, entry.at, paths)
        if row.current_stage and row.current_stage_org and row.current_stage not in planned:
            planned[row.current_stage] = _stage_row(
                row.id, row.current_stage, row.current_stage_org, None, paths
            )
        if "receiving_branch" not in planned:
            planned["receiving_branch"] = _stage_row(
                row.id, "receiving_branch", row.to_branch_code, None, paths
            )
        if planned:
            connection.execute(stages.insert(), list(planned.values()))
        if row.current_stage_org:
            connection.execute(
                transfers.update()
                .where(transfers.c.id == row.id)
                .values(current_stage_path=_org_path(row.current_stage_org, *paths))
            )


def downgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_transfers_to_path")
        batch_op.drop_index("ix_transfers_from_path")
        batch_op.drop_index("ix_transfers_stage_path")
        batch_op.drop_column("current_stage_path")
    with op.batch_alter_table("transfer_stages", schema=None) as batch_op:
        batch_op.drop_index("ix_transfer_stages_path")
        batch_op.drop_index("ix_transfer_stages_org")
    op.drop_table("transfer_stages")
    if op.get_bind().dialect.name == "postgresql":
        for column in ("from_path", "to_path"):
            op.alter_column(
                "transfers",
                column,
                type_=sa.String(length=500),
                existing_type=sa.String(length=500, collation="C"),
                existing_nullable=False,
            )
