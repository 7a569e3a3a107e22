"""Monitors a station refused (SetVariableMonitoring), and a refused clear of a kept monitor.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("monitors", sa.Column("clear_status", sa.String(32)))
    op.add_column("monitors", sa.Column("clear_reason", sa.Text()))
    op.create_table(
        "monitor_refusals",
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("component", sa.String(512), nullable=False),
        sa.Column("variable", sa.String(512), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("monitor_id", sa.Integer()),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("transaction", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "component", "variable", "type", name="pk_monitor_refusals"),
    )


def downgrade() -> None:
    op.drop_table("monitor_refusals")
    with op.batch_alter_table("monitors") as batch:
        batch.drop_column("clear_reason")
        batch.drop_column("clear_status")
