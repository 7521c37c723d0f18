"""Stations (流动党员之家, 驿站, 服务站) with their signing keys; check-ins by scan.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import shared.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("host_org_code", sa.String(length=40), nullable=False),
        sa.Column("host_path", sa.String(length=500), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("lat_band", sa.Integer(), nullable=True),
        sa.Column("open_hours", sa.String(length=200), nullable=True),
        sa.Column("qr_key", sa.String(length=64), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_org_code"], ["orgs.code"], name=op.f("fk_stations_host_org_code_orgs")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_stations")),
    )
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stations_host_path", ["host_path"], postgresql_ops={"host_path": "text_pattern_ops"}
        )
        batch_op.create_index("ix_stations_region", ["region"], postgresql_ops={"region": "text_pattern_ops"})
        batch_op.create_index("ix_stations_band_lon", ["lat_band", "longitude"])
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("station_code", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("station_day", sa.Date(), nullable=True))
        batch_op.create_unique_constraint(
            "uq_checkins_station_day", ["member_id", "station_code", "station_day"]
        )
        batch_op.create_index("ix_checkins_station_at", ["station_code", "occurred_at"])


def downgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_index("ix_checkins_station_at")
        batch_op.drop_constraint("uq_checkins_station_day", type_="unique")
        batch_op.drop_column("station_day")
        batch_op.drop_column("station_code")
    op.drop_table("stations")
