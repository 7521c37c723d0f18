"""audit reader: notify's audit table, read by GET /api/v1/audit as every service's is

Revision ID: 0007_audit_reader
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "0007_audit_reader"
# After 0006 (actionable notices) on main; the lead re-chains.
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("actor_role", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=80), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("org_code", sa.String(length=40), nullable=True),
        sa.Column("org_path", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_object", "audit_log", ["object_type", "object_id"])
    op.create_index("ix_audit_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_at", table_name="audit_log")
    op.drop_index("ix_audit_object", table_name="audit_log")
    op.drop_table("audit_log")
