"""the subtree index carries what the dashboards count (PostgreSQL)

`ix_members_branch_path_id` (branch_path, id) is rebuilt on PostgreSQL with the columns the
dashboards' grouped counts read INCLUDEd (mobile, standing, lost contact, dues, destination), so
a province's breakdown reads the index alone, not 20,000 scattered table pages. The same index
made wider, not one more: a check-in already writes an entry into every index of members (it
moves last_contact_at, which ix_members_contact indexes). SQLite keeps the plain index (it has no
INCLUDE; its subtrees are a county's).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEX = "ix_members_branch_path_id"
COUNTED = ["mobile", "standing", "lost_contact", "dues_paid_through", "destination_region"]


def _rebuild(include: list[str]) -> None:
    op.drop_index(INDEX, table_name="members")
    op.create_index(
        INDEX,
        "members",
        ["branch_path", "id"],
        postgresql_ops={"branch_path": "text_pattern_ops"},
        postgresql_include=include,
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(COUNTED)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild([])
