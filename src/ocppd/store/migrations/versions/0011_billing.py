"""Billing: tariff versions and assignments, transaction costs (with recompute history), signed meter values.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON(none_as_null=True)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _tx_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["transaction_id"], ["transactions.id"], name=f"fk_{table}_transaction_id_transactions"
    )


def upgrade() -> None:
    op.create_table(
        "tariff_versions",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("tariff_id", sa.String(64), nullable=False),
        sa.Column("valid_from", _ts(), nullable=False),
        sa.Column("valid_to", _ts()),
        sa.Column("body", Json, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_tariff_versions"),
    )
    op.create_index("ix_tariff_versions_tariff_id_valid_from", "tariff_versions", ["tariff_id", "valid_from"])
    op.create_table(
        "tariff_assignments",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("tariff_id", sa.String(64), nullable=False),
        sa.Column("station_id", sa.String(255)),
        sa.Column("evse_id", sa.Integer()),
        sa.Column("group_id", sa.String(255)),
        sa.Column("id_token", sa.String(255)),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_tariff_assignments"),
    )
    op.create_table(
        "transaction_costs",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("tariff_version_id", sa.BigInteger()),
        sa.Column("tariff_id", sa.String(64)),
        sa.Column("currency", sa.String(3)),
        sa.Column("excl_vat_minor", sa.BigInteger()),
        sa.Column("incl_vat_minor", sa.BigInteger()),
        sa.Column("energy_wh", sa.Float()),
        sa.Column("cost", Json),
        sa.Column("flags", Json),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.Column("computed_by", sa.String(255)),
        sa.Column("computed_at", _ts(), nullable=False),
        _tx_fk("transaction_costs"),
        sa.PrimaryKeyConstraint("id", name="pk_transaction_costs"),
    )
    op.create_index("ix_transaction_costs_transaction_id_id", "transaction_costs", ["transaction_id", "id"])
    op.create_table(
        "signed_meter_values",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("transaction_id", sa.Integer()),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", _ts(), nullable=False),
        sa.Column("context", sa.String(32)),
        sa.Column("measurand", sa.String(64)),
        sa.Column("value", sa.Float()),
        sa.Column("signed_data", sa.Text(), nullable=False),
        sa.Column("encoding", sa.String(64)),
        sa.Column("signing_method", sa.String(64)),
        sa.Column("public_key", sa.Text()),
        sa.Column("recorded_at", _ts(), nullable=False),
        _tx_fk("signed_meter_values"),
        sa.PrimaryKeyConstraint("id", name="pk_signed_meter_values"),
    )
    op.create_index(
        "ix_signed_meter_values_transaction_id_timestamp", "signed_meter_values", ["transaction_id", "timestamp"]
    )


def downgrade() -> None:
    op.drop_index("ix_signed_meter_values_transaction_id_timestamp", table_name="signed_meter_values")
    op.drop_table("signed_meter_values")
    op.drop_index("ix_transaction_costs_transaction_id_id", table_name="transaction_costs")
    op.drop_table("transaction_costs")
    op.drop_table("tariff_assignments")
    op.drop_index("ix_tariff_versions_tariff_id_valid_from", table_name="tariff_versions")
    op.drop_table("tariff_versions")
