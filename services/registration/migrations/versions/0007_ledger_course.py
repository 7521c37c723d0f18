"""ledger course: search keys, contact attempts, standing decisions, scoped audit entries

- members: `id_number_hash` (keyed HMAC, backfilled here), `lost_contact_since`,
  `suspension_due_on`, `standing`; on PostgreSQL a pg_trgm GIN index on `name` when the
  extension can be created (else the name search walks the caller's subtree by its path index).
- contact_attempts, standing_decisions, coverage_reminders; check-ins by member and time (monthly coverage).
- audit_log: `org_code`, `org_path` (the audit reader's scope), filled for existing entries
  about members and orgs.

Revision ID: 0007
Revises: 0006
"""

import logging
import os

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)
BACKFILL_BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_number_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lost_contact_since", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("suspension_due_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("standing", sa.String(length=20), nullable=False, server_default="normal")
        )
        batch_op.create_index("ix_members_id_number_hash", ["id_number_hash"], unique=False)
        batch_op.create_index(
            "ix_members_branch_path_name",
            ["branch_path", "name", "id"],
            unique=False,
            postgresql_ops={"branch_path": "text_pattern_ops"},
        )
    op.create_table(
        "contact_attempts",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("attempted_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorder_org_code", sa.String(length=40), nullable=False),
        sa.Column("inflow_branch_code", sa.String(length=40), nullable=True),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_contact_attempts_member_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_attempts")),
    )
    op.create_index("ix_contact_attempts_member_id", "contact_attempts", ["member_id", "id"])
    op.create_index("ix_contact_attempts_member_at", "contact_attempts", ["member_id", "attempted_at"])
    op.create_table(
        "standing_decisions",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("standing", sa.String(length=20), nullable=False),
        sa.Column("previous_standing", sa.String(length=20), nullable=False),
        sa.Column("new_standing", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("decided_by", sa.String(length=80), nullable=False),
        sa.Column("decided_by_org_code", sa.String(length=40), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_standing_decisions_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_standing_decisions")),
    )
    op.create_index("ix_standing_decisions_member_id", "standing_decisions", ["member_id", "id"])
    op.create_table(
        "coverage_reminders",
        sa.Column("branch_code", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("not_reached", sa.Integer(), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("branch_code", "month", name=op.f("pk_coverage_reminders")),
    )
    op.create_index("ix_checkins_member_at", "checkins", ["member_id", "occurred_at"])
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_code", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("org_path", sa.String(length=500), nullable=True))
        batch_op.create_index("ix_audit_at", ["at"], unique=False)
    _scope_existing_audit_entries()
    _name_search_index()
    _backfill_id_number_hashes()


def _scope_existing_audit_entries() -> None:
    op.execute(
        "UPDATE audit_log SET org_code = (SELECT branch_code FROM members WHERE members.id = audit_log.object_id),"
        " org_path = (SELECT branch_path FROM members WHERE members.id = audit_log.object_id)"
        " WHERE object_type = 'member'"
    )
    op.execute(
        "UPDATE audit_log SET org_code = object_id,"
        " org_path = (SELECT path FROM orgs WHERE orgs.code = audit_log.object_id)"
        " WHERE object_type = 'org'"
    )


def _name_search_index() -> None:
    """PostgreSQL: a trigram GIN index serves `name LIKE '%TEXT%'`. Creating the extension needs
    a privilege the service's role may lack; then the search narrows by the path index alone."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        savepoint.commit()
    except sa.exc.DBAPIError as error:
        savepoint.rollback()
        log.warning("pg_trgm unavailable (%s): the name search uses the path index only", error.orig)
        return
    # The extension lives in one schema per database: name its operator class there.
    schema = bind.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_trgm'"
    ).scalar_one()
    bind.exec_driver_sql(
        f'CREATE INDEX IF NOT EXISTS ix_members_name_trgm ON members USING gin (name "{schema}".gin_trgm_ops)'
    )


def _backfill_id_number_hashes() -> None:
    """One keyed hash per existing member, in batches, where this migration knows the key the
    service runs with: in development, or with NUANLIU_ID_HASH_KEY in its environment. Otherwise
    (production's migrate Job holds the database URLs only) the registration worker fills them
    at its start (services/registration/id_hashes.py)."""
    from services.registration.domain import id_number_hash
    from services.registration.settings import RegistrationSettings

    settings = RegistrationSettings.from_env("registration")
    if settings.is_production and not os.environ.get("NUANLIU_ID_HASH_KEY"):
        log.warning("NUANLIU_ID_HASH_KEY not in the migration's environment: the worker hashes ID numbers")
        return
    key = settings.id_hash_key
    bind = op.get_bind()
    members = sa.table("members", sa.column("id"), sa.column("id_number"), sa.column("id_number_hash"))
    after = ""
    while True:
        rows = bind.execute(
            sa.select(members.c.id, members.c.id_number)
            .where(members.c.id > after, members.c.id_number_hash.is_(None))
            .order_by(members.c.id)
            .limit(BACKFILL_BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            members.update()
            .where(members.c.id == sa.bindparam("member_id"))
            .values(id_number_hash=sa.bindparam("hash")),
            [{"member_id": member_id, "hash": id_number_hash(number, key)} for member_id, number in rows],
        )
        after = rows[-1][0]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_members_name_trgm")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_at")
        batch_op.drop_column("org_path")
        batch_op.drop_column("org_code")
    op.drop_index("ix_checkins_member_at", table_name="checkins")
    op.drop_table("coverage_reminders")
    op.drop_index("ix_standing_decisions_member_id", table_name="standing_decisions")
    op.drop_table("standing_decisions")
    op.drop_index("ix_contact_attempts_member_at", table_name="contact_attempts")
    op.drop_index("ix_contact_attempts_member_id", table_name="contact_attempts")
    op.drop_table("contact_attempts")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_branch_path_name")
        batch_op.drop_index("ix_members_id_number_hash")
        batch_op.drop_column("standing")
        batch_op.drop_column("suspension_due_on")
        batch_op.drop_column("lost_contact_since")
        batch_op.drop_column("id_number_hash")
