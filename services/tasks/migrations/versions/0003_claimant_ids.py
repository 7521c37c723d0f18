"""The claimants' ids on the task row, in claim order (filled from the claims).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 11:05:00
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The table shapes as of this revision (migrations do not import models that change later).
CLAIMANT_IDS = sa.JSON().with_variant(JSONB(), "postgresql")
tasks = sa.table("tasks", sa.column("id", sa.String), sa.column("claimant_ids", CLAIMANT_IDS))
claims = sa.table(
    "claims",
    sa.column("id", sa.String),
    sa.column("task_id", sa.String),
    sa.column("member_id", sa.String),
    sa.column("claimed_at", sa.DateTime),
)


def upgrade() -> None:
    # Plain ALTERs, not a batch: SQLite adds and drops a column in place, where a batch may copy
    # and drop the table that the claims reference.
    op.add_column("tasks", sa.Column("claimant_ids", CLAIMANT_IDS, nullable=False, server_default="[]"))
    connection = op.get_bind()
    claimants: dict[str, list[str]] = defaultdict(list)
    for task_id, member_id in connection.execute(
        sa.select(claims.c.task_id, claims.c.member_id).order_by(claims.c.claimed_at, claims.c.id)
    ):
        claimants[task_id].append(member_id)
    if claimants:
        connection.execute(
            tasks.update().where(tasks.c.id == sa.bindparam("task_id")),
            [{"task_id": task_id, "claimant_ids": ids} for task_id, ids in claimants.items()],
        )


def downgrade() -> None:
    op.drop_column("tasks", "claimant_ids")
