"""the name search's grams: member_name_grams, filled for existing members

One row per character and per adjacent character pair of each member's name, with the member's
branch path (docs/decisions/0022): a search of one or two characters is an index range too,
which the trigram index of 0007 could not serve (it needs three). That index and the
(branch_path, name, id) index served only the name search and are dropped.

Revision ID: 0008
Revises: 0007
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)


def upgrade() -> None:
    op.create_table(
        "member_name_grams",
        sa.Column("gram", sa.String(length=2), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("branch_path", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_name_grams_member_id_members")
        ),
        sa.PrimaryKeyConstraint(
            "gram", "member_id", name=op.f("pk_member_name_grams"), postgresql_include=["branch_path"]
        ),
        sqlite_with_rowid=False,
    )
    # Filled before the second index exists: one index to maintain while the rows go in.
    from services.registration.name_grams import backfill

    indexed = backfill(op.get_bind())
    log.info("name search grams written for %d members", indexed)
    op.create_index(
        "ix_member_name_grams_scope",
        "member_name_grams",
        ["gram", "branch_path", "member_id"],
        postgresql_ops={"branch_path": "text_pattern_ops"},
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_members_name_trgm")
    op.drop_index("ix_members_branch_path_name", table_name="members")


def downgrade() -> None:
    op.create_index(
        "ix_members_branch_path_name",
        "members",
        ["branch_path", "name", "id"],
        postgresql_ops={"branch_path": "text_pattern_ops"},
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # The trigram index again where the extension is there (0007 created it if it could).
        schema = bind.exec_driver_sql(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'pg_trgm'"
        ).scalar()
        if schema:
            bind.exec_driver_sql(
                f'CREATE INDEX IF NOT EXISTS ix_members_name_trgm ON members USING gin (name "{schema}".gin_trgm_ops)'
            )
    op.drop_index("ix_member_name_grams_scope", table_name="member_name_grams")
    op.drop_table("member_name_grams")
