"""Charging needs: an EV's departure time and energy need survive a restart until its transaction ends.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charging_needs",
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("departure", sa.DateTime(timezone=True)),
        sa.Column("energy_wh", sa.Float()),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("base_wh", sa.Float()),
        sa.Column("transaction_id", sa.String(255)),
        sa.Column("extra", sa.JSON(none_as_null=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "evse_id", name="pk_charging_needs"),
    )


def downgrade() -> None:
    op.drop_table("charging_needs")
