"""The staff directory and SMS one-time codes.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("org_code", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("assigned_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_code"], ["orgs.code"], name=op.f("fk_staff_org_code_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("org_code", "subject", "role", name="uq_staff_org_subject_role"),
    )
    op.create_index("ix_staff_subject", "staff", ["subject"])
    op.create_table(
        "otp_codes",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otp_codes")),
    )
    op.create_index("ix_otp_codes_phone_created", "otp_codes", ["phone_hash", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_otp_codes_phone_created", table_name="otp_codes")
    op.drop_table("otp_codes")
    op.drop_index("ix_staff_subject", table_name="staff")
    op.drop_table("staff")
