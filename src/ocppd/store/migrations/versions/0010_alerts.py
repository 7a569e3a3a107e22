"""Alerts: what needs an operator's attention, opened and cleared (docs/device-management.md).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("severity", sa.SmallInteger()),
        sa.Column("code", sa.String(255)),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evse_id", sa.Integer()),
        sa.Column("connector_id", sa.Integer()),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sa.String(255)),
        sa.Column("details", sa.JSON(none_as_null=True)),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_station_id_cleared_at", "alerts", ["station_id", "cleared_at"])
    op.create_index("ix_alerts_cleared_at_id", "alerts", ["cleared_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_cleared_at_id", table_name="alerts")
    op.drop_index("ix_alerts_station_id_cleared_at", table_name="alerts")
    op.drop_table("alerts")
