"""Prepaid credit of tokens and groups, and OCPP 2.1 transaction limits (docs/billing.md).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "credit_accounts",
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(255)),
        sa.PrimaryKeyConstraint("holder", name="pk_credit_accounts"),
    )
    op.create_table(
        "credit_entries",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.Integer()),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.Column("entered_by", sa.String(255)),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_entries"),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["transactions.id"], name="fk_credit_entries_transaction_id_transactions"
        ),
        sa.UniqueConstraint("transaction_id", name="uq_credit_entries_transaction_id"),
    )
    op.create_index("ix_credit_entries_holder_id", "credit_entries", ["holder", "id"])
    op.create_table(
        "transaction_limits",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("transaction_uid", sa.String(64)),
        sa.Column("remote_start_id", sa.Integer()),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("max_cost", sa.Float()),
        sa.Column("max_energy", sa.Float()),
        sa.Column("max_time", sa.Integer()),
        sa.Column("max_soc", sa.Integer()),
        sa.Column("currency", sa.String(3)),
        sa.Column("seq_no", sa.Integer()),
        sa.Column("set_by", sa.String(255)),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transaction_limits"),
    )
    op.create_index(
        "ix_transaction_limits_station_id_transaction_uid", "transaction_limits", ["station_id", "transaction_uid"]
    )
    op.create_index(
        "ix_transaction_limits_station_id_remote_start_id", "transaction_limits", ["station_id", "remote_start_id"]
    )


def downgrade() -> None:
    op.drop_table("transaction_limits")
    op.drop_table("credit_entries")
    op.drop_table("credit_accounts")
