"""The ledger as secretaries keep it: dues payments; outflows that close (returns), inflows that
end; the open inflow's branch path on members (the inflow side reads by it).

Existing rows are brought to the new rules: of a member's outflows only the latest may stay
open ("superseded" closes the others), and not even that one when the member is no longer
mobile (a transfer moved them: "moved"); likewise for inflows, where the member's
inflow_branch_code names the open one.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dues_payments",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("paid_through", sa.String(length=7), nullable=False),
        sa.Column("amount", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_dues_payments_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dues_payments")),
    )
    op.create_index("ix_dues_payments_member_id", "dues_payments", ["member_id", "id"])

    with op.batch_alter_table("outflows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("closed_reason", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("closed_by", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("close_note", sa.String(length=500), nullable=True))
    with op.batch_alter_table("inflows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_on", sa.Date(), nullable=True))
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inflow_branch_path", sa.String(length=500), nullable=True))

    # Ids are ULIDs: a later id is a later registration.
    op.execute(
        "UPDATE outflows SET closed_on = departed_on, closed_reason = 'superseded', "
        "closed_by = 'migration:0006' WHERE id < "
        "(SELECT max(later.id) FROM outflows later WHERE later.member_id = outflows.member_id)"
    )
    op.execute(
        "UPDATE outflows SET closed_on = departed_on, closed_reason = 'moved', "
        "closed_by = 'migration:0006' WHERE closed_on IS NULL AND member_id IN "
        "(SELECT id FROM members WHERE mobile = false)"
    )
    op.execute(
        "UPDATE inflows SET ended_on = arrived_on WHERE id < "
        "(SELECT max(later.id) FROM inflows later WHERE later.member_id = inflows.member_id)"
    )
    op.execute(
        "UPDATE inflows SET ended_on = arrived_on WHERE ended_on IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM members WHERE members.id = inflows.member_id "
        "AND members.inflow_branch_code = inflows.branch_code)"
    )
    op.execute(
        "UPDATE members SET inflow_branch_path = "
        "(SELECT orgs.path FROM orgs WHERE orgs.code = members.inflow_branch_code) "
        "WHERE inflow_branch_code IS NOT NULL"
    )

    op.create_index(
        "uq_outflows_open_member",
        "outflows",
        ["member_id"],
        unique=True,
        sqlite_where=sa.text("closed_on IS NULL"),
        postgresql_where=sa.text("closed_on IS NULL"),
    )
    op.create_index(
        "uq_inflows_open_member",
        "inflows",
        ["member_id"],
        unique=True,
        sqlite_where=sa.text("ended_on IS NULL"),
        postgresql_where=sa.text("ended_on IS NULL"),
    )
    op.create_index(
        "ix_members_inflow_path_id",
        "members",
        ["inflow_branch_path", "id"],
        postgresql_ops={"inflow_branch_path": "text_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_members_inflow_path_id", table_name="members")
    op.drop_index("uq_inflows_open_member", table_name="inflows")
    op.drop_index("uq_outflows_open_member", table_name="outflows")
    # Plain DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch copy of `members` would drop the
    # table that other tables' rows reference, which SQLite's foreign keys refuse.
    for table, column in (
        ("members", "inflow_branch_path"),
        ("inflows", "ended_on"),
        ("outflows", "close_note"),
        ("outflows", "closed_by"),
        ("outflows", "closed_reason"),
        ("outflows", "closed_on"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.drop_index("ix_dues_payments_member_id", table_name="dues_payments")
    op.drop_table("dues_payments")
