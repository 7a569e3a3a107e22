"""Billing: tariff assignment per site; each cost keeps the site and token group it was priced for (reports).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tariff_assignments", sa.Column("site_id", sa.String(255)))
    op.add_column("transaction_costs", sa.Column("site_id", sa.String(255)))
    op.add_column("transaction_costs", sa.Column("group_id", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("transaction_costs") as batch:
        batch.drop_column("group_id")
        batch.drop_column("site_id")
    with op.batch_alter_table("tariff_assignments") as batch:
        batch.drop_column("site_id")
