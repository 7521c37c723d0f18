"""actionable notices: link, subject, the action asked for and when it was taken

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 03:40:00
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The archive keeps the live table's columns (models.notifications_archive copies them).
TABLES = ("notifications", "notifications_archive")


def _columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("link", sa.String(length=300), nullable=True),
        sa.Column("ref_type", sa.String(length=20), nullable=True),
        sa.Column("ref_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=True),
        sa.Column("action_required", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("resolved_at", shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("event_at", shared.db.UTCDateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in _columns():
                batch_op.add_column(column)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_ref", ["ref_type", "ref_id"], unique=False)
    op.create_table(
        "actions_taken",
        sa.Column("ref_type", sa.String(length=20), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("event_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("taken_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ref_type", "ref_id", "action", name=op.f("pk_actions_taken")),
    )


def downgrade() -> None:
    op.drop_table("actions_taken")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_ref")
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in reversed(_columns()):
                batch_op.drop_column(column.name)
