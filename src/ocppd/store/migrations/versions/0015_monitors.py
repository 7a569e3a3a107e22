"""2.x variable monitors per station, from NotifyMonitoringReport (docs/device-management.md).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("component", sa.String(512), nullable=False),
        sa.Column("variable", sa.String(512), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("transaction", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "monitor_id", name="pk_monitors"),
    )


def downgrade() -> None:
    op.drop_table("monitors")
