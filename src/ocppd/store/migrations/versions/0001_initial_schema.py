"""Initial schema: stations, status, tokens, transactions, meter values, events, variables, message log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Written against plain SQLAlchemy types (not ocppd.store.types) so this revision stays valid
whatever later happens to the application code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _big_id() -> sa.types.TypeEngine[int]:
    # SQLite only auto-assigns INTEGER PRIMARY KEY.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("ocpp_version", sa.String(16)),
        sa.Column("vendor", sa.String(255)),
        sa.Column("model", sa.String(255)),
        sa.Column("serial_number", sa.String(255)),
        sa.Column("firmware_version", sa.String(255)),
        sa.Column("registration_status", sa.String(32)),
        sa.Column("boot_info", _json()),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("security_profile", sa.SmallInteger()),
        sa.Column("auth_password_hash", sa.String(255)),
        sa.Column("attrs", _json()),
        sa.Column("last_boot_at", _ts()),
        sa.Column("last_seen_at", _ts()),
        sa.Column("last_heartbeat_at", _ts()),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_stations")),
    )

    op.create_table(
        "connector_status",
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("info", sa.Text()),
        sa.Column("timestamp", _ts(), nullable=False),
        sa.Column("extra", _json()),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "evse_id", "connector_id", name=op.f("pk_connector_status")),
    )

    op.create_table(
        "status_history",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("info", sa.Text()),
        sa.Column("timestamp", _ts(), nullable=False),
        sa.Column("extra", _json()),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_history")),
    )
    op.create_index(op.f("ix_status_history_station_id_id"), "status_history", ["station_id", "id"])

    op.create_table(
        "tokens",
        sa.Column("id_token", sa.String(255), nullable=False),
        sa.Column("token_type", sa.String(32)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("expiry", _ts()),
        sa.Column("group_id", sa.String(255)),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id_token", name=op.f("pk_tokens")),
    )

    op.create_table(
        "transactions",
        # 32-bit on purpose: OCPP 1.6 transactionId is a signed int32.
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("transaction_uid", sa.String(64)),
        sa.Column("evse_id", sa.Integer()),
        sa.Column("connector_id", sa.Integer()),
        sa.Column("id_token", sa.String(255)),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("stopped_at", _ts()),
        sa.Column("meter_start_wh", sa.Float()),
        sa.Column("meter_stop_wh", sa.Float()),
        sa.Column("energy_wh", sa.Float()),
        sa.Column("stop_reason", sa.String(64)),
        sa.Column("stop_id_token", sa.String(255)),
        sa.Column("ocpp_version", sa.String(16)),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("charging_state", sa.String(32)),
        sa.Column("remote_start_id", sa.Integer()),
        sa.Column("reservation_id", sa.Integer()),
        sa.Column("data", _json()),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_transactions_dedupe_key")),
        sa.UniqueConstraint("station_id", "transaction_uid", name=op.f("uq_transactions_station_id_transaction_uid")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_transactions_id_token"), "transactions", ["id_token"])
    op.create_index(op.f("ix_transactions_started_at"), "transactions", ["started_at"])
    op.create_index(op.f("ix_transactions_station_id_started_at"), "transactions", ["station_id", "started_at"])

    op.create_table(
        "meter_values",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.Integer()),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", _ts(), nullable=False),
        sa.Column("context", sa.String(32), nullable=False),
        sa.Column("energy_wh", sa.Float()),
        sa.Column("power_w", sa.Float()),
        sa.Column("samples", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["transactions.id"], name=op.f("fk_meter_values_transaction_id_transactions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_values")),
        sa.UniqueConstraint(
            "station_id",
            "connector_id",
            "timestamp",
            "digest",
            name=op.f("uq_meter_values_station_id_connector_id_timestamp_digest"),
        ),
    )
    op.create_index(op.f("ix_meter_values_transaction_id_timestamp"), "meter_values", ["transaction_id", "timestamp"])

    op.create_table(
        "tx_events",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("transaction_uid", sa.String(64), nullable=False),
        sa.Column("seq_no", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("payload", _json()),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tx_events")),
        sa.UniqueConstraint(
            "station_id",
            "transaction_uid",
            "seq_no",
            name=op.f("uq_tx_events_station_id_transaction_uid_seq_no"),
        ),
    )

    op.create_table(
        "events",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255)),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("timestamp", _ts(), nullable=False),
        sa.Column("payload", _json()),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_kind_id"), "events", ["kind", "id"])
    op.create_index(op.f("ix_events_station_id_id"), "events", ["station_id", "id"])

    op.create_table(
        "variables",
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("component", sa.String(255), nullable=False),
        sa.Column("variable", sa.String(255), nullable=False),
        sa.Column("attribute", sa.String(32), nullable=False),
        sa.Column("value", sa.Text()),
        sa.Column("readonly", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "component", "variable", "attribute", name=op.f("pk_variables")),
    )

    op.create_table(
        "message_log",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("message_type", sa.SmallInteger(), nullable=False),
        sa.Column("message_id", sa.String(64)),
        sa.Column("action", sa.String(64)),
        sa.Column("frame", sa.Text(), nullable=False),
        sa.Column("logged_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_log")),
    )
    op.create_index(op.f("ix_message_log_logged_at"), "message_log", ["logged_at"])
    op.create_index(op.f("ix_message_log_station_id_logged_at"), "message_log", ["station_id", "logged_at"])


def downgrade() -> None:
    for table in (
        "message_log",
        "variables",
        "events",
        "tx_events",
        "meter_values",
        "transactions",
        "tokens",
        "status_history",
        "connector_status",
        "stations",
    ):
        op.drop_table(table)  # indexes go with their table
