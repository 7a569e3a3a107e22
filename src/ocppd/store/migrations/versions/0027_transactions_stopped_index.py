"""Transactions by their end: the billing totals read the ended ones of a range (and the first and last
end, for the zone's offsets over them) with an index seek instead of a scan (docs/billing.md).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_transactions_stopped_at", "transactions", ["stopped_at"])


def downgrade() -> None:
    op.drop_index("ix_transactions_stopped_at", table_name="transactions")
