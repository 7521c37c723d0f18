"""a webhook signing secret per subscriber

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null for subscribers saved before: their webhooks stay signed with NUANLIU_WEBHOOK_SECRET
    # until they save their URL again.
    with op.batch_alter_table("preferences") as batch:
        batch.add_column(sa.Column("webhook_secret", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("preferences") as batch:
        batch.drop_column("webhook_secret")
