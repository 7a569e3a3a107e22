"""Billing: each cost keeps the session's charging and idle seconds (totals of idle time in the reports).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("transaction_costs", sa.Column("charging_s", sa.Float()))
    op.add_column("transaction_costs", sa.Column("parking_s", sa.Float()))


def downgrade() -> None:
    with op.batch_alter_table("transaction_costs") as batch:
        batch.drop_column("parking_s")
        batch.drop_column("charging_s")
