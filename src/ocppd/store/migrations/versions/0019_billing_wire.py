"""Billing on the wire: meter public keys per EVSE, signature verification of kept signed values, the
OCPP 2.1 tariffs each station holds, and the stations' own cost (2.1 costDetails) beside the CSMS's.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON(none_as_null=True)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "meter_public_keys",
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("variable", sa.String(512), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "evse_id", name="pk_meter_public_keys"),
    )
    op.add_column("signed_meter_values", sa.Column("verification", sa.String(16)))
    op.add_column("signed_meter_values", sa.Column("verification_detail", sa.String(512)))
    op.create_table(
        "station_tariffs",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("tariff_id", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("transaction_uid", sa.String(255)),
        sa.Column("body", Json, nullable=False),
        sa.Column("source_tariff_id", sa.String(64)),
        sa.Column("source_version_id", sa.BigInteger()),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(512)),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("set_at", _ts(), nullable=False),
        sa.Column("checked_at", _ts()),
        sa.PrimaryKeyConstraint("id", name="pk_station_tariffs"),
    )
    op.create_index("ix_station_tariffs_station_id_held", "station_tariffs", ["station_id", "held"])
    op.create_table(
        "station_local_costs",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("transaction_id", sa.Integer()),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("transaction_uid", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("seq_no", sa.Integer(), nullable=False),
        sa.Column("tariff_id", sa.String(60)),
        sa.Column("cost_details", Json, nullable=False),
        sa.Column("station_incl_vat", sa.String(32)),
        sa.Column("csms_incl_vat", sa.String(32)),
        sa.Column("difference", sa.String(32)),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["transactions.id"], name="fk_station_local_costs_transaction_id_transactions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_station_local_costs"),
    )
    op.create_index("ix_station_local_costs_transaction_id_id", "station_local_costs", ["transaction_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_station_local_costs_transaction_id_id", table_name="station_local_costs")
    op.drop_table("station_local_costs")
    op.drop_index("ix_station_tariffs_station_id_held", table_name="station_tariffs")
    op.drop_table("station_tariffs")
    with op.batch_alter_table("signed_meter_values") as batch:
        batch.drop_column("verification_detail")
        batch.drop_column("verification")
    op.drop_table("meter_public_keys")
