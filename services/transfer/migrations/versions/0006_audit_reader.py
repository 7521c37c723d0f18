"""audit reader: the org each audit entry is about (org_code, org_path), and entries by time

Revision ID: 0006_audit_reader
Revises: 0005_approval
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_audit_reader"
# After the approval change on main (the file keeps the name it was given; the lead re-chains).
down_revision = "0005_approval"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_code", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("org_path", sa.String(length=500), nullable=True))
        batch_op.create_index("ix_audit_at", ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_at")
        batch_op.drop_column("org_path")
        batch_op.drop_column("org_code")
