"""todo versions: the event that last set a transfer's or task's to-do

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 00:40:00
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    todo_versions = op.create_table(
        "todo_versions",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=False),
        sa.Column("event_time", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref_id", name=op.f("pk_todo_versions")),
    )
    assert todo_versions is not None
    # The to-dos already stored were set no later than they were stored: older events stay out.
    op.execute(
        sa.text(
            "INSERT INTO todo_versions (kind, ref_id, event_time, event_id) "
            "SELECT kind, ref_id, MAX(since), '' FROM org_todos GROUP BY kind, ref_id"
        )
    )


def downgrade() -> None:
    op.drop_table("todo_versions")
