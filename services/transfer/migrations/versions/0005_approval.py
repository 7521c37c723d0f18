"""Approval as secretaries do it (issue 21): urges, and who a decision was taken for.

`transfer_urges` keeps, per transfer, stage and caller, when they last urged it (the 24-hour
limit is a conditional upsert on this row). Timeline entries gain `acted_for_org_code` and
`note` (代办: "代 <org name> 办理"; an urge's note).

Revision ID: 0005_approval
Revises: 0004_letters
"""

from alembic import op
import sqlalchemy as sa
import shared.db


revision = "0005_approval"
down_revision = "0004_letters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transfer_urges",
        sa.Column("transfer_id", sa.String(length=26), nullable=False),
        sa.Column("stage", sa.String(length=30), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("urged_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("transfer_id", "stage", "actor", name=op.f("pk_transfer_urges")),
    )
    with op.batch_alter_table("transfer_timeline") as batch:
        batch.add_column(sa.Column("acted_for_org_code", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transfer_timeline") as batch:
        batch.drop_column("note")
        batch.drop_column("acted_for_org_code")
    op.drop_table("transfer_urges")
