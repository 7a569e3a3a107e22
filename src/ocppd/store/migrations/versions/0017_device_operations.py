"""Availability wanted per scope, resets observed, display messages, customer information requests
(docs/device-management.md).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "availability_wanted",
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("operative", sa.Boolean(), nullable=False),
        sa.Column("answer", sa.String(32)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(512)),
        sa.Column("requested_at", _AT, nullable=False),
        sa.Column("applied_at", _AT),
        sa.Column("reapplied_at", _AT),
        sa.PrimaryKeyConstraint("station_id", "evse_id", "connector_id", name="pk_availability_wanted"),
    )
    op.create_table(
        "resets",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("evse_id", sa.Integer()),
        sa.Column("answer", sa.String(32)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(512)),
        sa.Column("requested_at", _AT, nullable=False),
        sa.Column("deadline_at", _AT),
        sa.Column("disconnected_at", _AT),
        sa.Column("booted_at", _AT),
        sa.Column("boot_reason", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name="pk_resets"),
    )
    op.create_index("ix_resets_station_id_id", "resets", ["station_id", "id"])
    op.create_table(
        "display_messages",
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16)),
        sa.Column("start_at", _AT),
        sa.Column("end_at", _AT),
        sa.Column("transaction_id", sa.String(64)),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("display", sa.String(512)),
        sa.Column("set_at", _AT),
        sa.Column("reported_at", _AT),
        sa.Column("updated_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("station_id", "message_id", name="pk_display_messages"),
    )
    op.create_table(
        "customer_information",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("report", sa.Boolean(), nullable=False),
        sa.Column("clear", sa.Boolean(), nullable=False),
        sa.Column("id_token", sa.String(255)),
        sa.Column("id_token_type", sa.String(32)),
        sa.Column("customer_identifier", sa.String(64)),
        sa.Column("certificate", sa.JSON()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer_information"),
    )
    op.create_index(
        "ix_customer_information_station_id_request_id", "customer_information", ["station_id", "request_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_customer_information_station_id_request_id", table_name="customer_information")
    op.drop_table("customer_information")
    op.drop_table("display_messages")
    op.drop_index("ix_resets_station_id_id", table_name="resets")
    op.drop_table("resets")
    op.drop_table("availability_wanted")
