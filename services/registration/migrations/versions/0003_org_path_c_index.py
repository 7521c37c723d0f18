"""A "C"-collated index on the org path (PostgreSQL): subtree pages walk it in order.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite compares text bytewise already, and its existing path index serves the same query.
    if op.get_bind().dialect.name == "postgresql":
        op.execute('CREATE INDEX ix_orgs_path_c ON orgs (path COLLATE "C")')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_orgs_path_c")
