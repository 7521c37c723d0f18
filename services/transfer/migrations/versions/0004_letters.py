"""Every introduction letter issued (issue 20): a re-issued letter's old number still verifies.

`transfer_letters` holds one row per letter number. Letters issued before this revision are
backfilled from the projection (its current letter only: numbers replaced by an earlier re-issue
were never stored, and answer 404 as before).

Revision ID: 0004_letters
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa
import shared.db


revision = "0004_letters"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    letters = op.create_table(
        "transfer_letters",
        sa.Column("number", sa.String(length=80), nullable=False),
        sa.Column("transfer_id", sa.String(length=26), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("dues_paid_through", sa.String(length=7), nullable=True),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_transfer_letters")),
    )
    op.create_index(op.f("ix_transfer_letters_transfer_id"), "transfer_letters", ["transfer_id"])
    transfers = sa.table(
        "transfers",
        sa.column("id", sa.String),
        sa.column("letter_number", sa.String),
        sa.column("letter_issued_on", sa.Date),
        sa.column("letter_valid_until", sa.Date),
        sa.column("letter_dues_paid_through", sa.String),
        sa.column("updated_at", shared.db.UTCDateTime(timezone=True)),
    )
    op.execute(
        letters.insert().from_select(
            ["number", "transfer_id", "issued_on", "valid_until", "dues_paid_through", "created_at"],
            sa.select(
                transfers.c.letter_number,
                transfers.c.id,
                transfers.c.letter_issued_on,
                transfers.c.letter_valid_until,
                transfers.c.letter_dues_paid_through,
                transfers.c.updated_at,
            ).where(transfers.c.letter_number.is_not(None)),
        )
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_transfer_letters_transfer_id"), table_name="transfer_letters")
    op.drop_table("transfer_letters")
