"""The device model inventory: characteristics and mutability of each variable, the last set of it with
the station's answer; what each monitor's set got back; indexes for the views across stations
(docs/device-management.md).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VARIABLE_COLUMNS = (
    sa.Column("mutability", sa.String(16)),
    sa.Column("data_type", sa.String(32)),
    sa.Column("unit", sa.String(32)),
    sa.Column("min_limit", sa.Float()),
    sa.Column("max_limit", sa.Float()),
    sa.Column("values_list", sa.Text()),
    sa.Column("supports_monitoring", sa.Boolean()),
    sa.Column("set_value", sa.Text()),
    sa.Column("set_status", sa.String(32)),
    sa.Column("set_reason", sa.Text()),
    sa.Column("set_at", sa.DateTime(timezone=True)),
)
_MONITOR_COLUMNS = (
    sa.Column("status", sa.String(32)),
    sa.Column("reason", sa.Text()),
    sa.Column("origin", sa.String(16)),
)
_STATION_INDEXES = {
    "ix_stations_vendor_station_id": ["vendor", "station_id"],
    "ix_stations_model_station_id": ["model", "station_id"],
    "ix_stations_firmware_version_station_id": ["firmware_version", "station_id"],
}


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): SQLite supports it, and `alembic upgrade --sql` keeps working.
    for column in _VARIABLE_COLUMNS:
        op.add_column("variables", column._copy())
    for column in _MONITOR_COLUMNS:
        op.add_column("monitors", column._copy())
    op.create_index("ix_variables_variable_component_station_id", "variables", ["variable", "component", "station_id"])
    for name, columns in _STATION_INDEXES.items():
        op.create_index(name, "stations", columns)


def downgrade() -> None:
    for name in _STATION_INDEXES:
        op.drop_index(name, table_name="stations")
    op.drop_index("ix_variables_variable_component_station_id", table_name="variables")
    with op.batch_alter_table("monitors") as batch:
        for column in reversed(_MONITOR_COLUMNS):
            batch.drop_column(column.name)
    with op.batch_alter_table("variables") as batch:
        for column in reversed(_VARIABLE_COLUMNS):
            batch.drop_column(column.name)
