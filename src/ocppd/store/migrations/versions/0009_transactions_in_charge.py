"""The CSMS in charge of transactions: who closed what and why, token concurrency policy,
reservations, local authorization lists.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TX_COLUMNS = (
    sa.Column("offline", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("trigger_reason", sa.String(32)),
    sa.Column("closed_by", sa.String(255)),
    sa.Column("close_reason", sa.Text()),
    sa.Column("flagged", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("deauthorized_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): SQLite supports it, and `alembic upgrade --sql` keeps working.
    op.add_column("tokens", sa.Column("concurrent_tx", sa.Boolean()))
    for column in _TX_COLUMNS:
        op.add_column("transactions", column._copy())

    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("evse_id", sa.Integer()),
        sa.Column("connector_id", sa.Integer()),
        sa.Column("connector_type", sa.String(32)),
        sa.Column("id_token", sa.String(255), nullable=False),
        sa.Column("token_type", sa.String(32)),
        sa.Column("group_id", sa.String(255)),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("transaction_id", sa.Integer()),
        sa.Column("created_by", sa.String(255)),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reservations"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_reservations_station_id_status", "reservations", ["station_id", "status"])

    op.create_table(
        "local_list_members",
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "kind", "value", name="pk_local_list_members"),
    )
    op.create_table(
        "local_list_sent",
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("id_token", sa.String(255), nullable=False),
        sa.Column("token_type", sa.String(32)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("expiry", sa.DateTime(timezone=True)),
        sa.Column("group_id", sa.String(255)),
        sa.PrimaryKeyConstraint("station_id", "id_token", name="pk_local_list_sent"),
    )
    op.create_table(
        "local_lists",
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("station_version", sa.Integer()),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.Column("synced_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", name="pk_local_lists"),
    )


def downgrade() -> None:
    op.drop_table("local_lists")
    op.drop_table("local_list_sent")
    op.drop_table("local_list_members")
    op.drop_index("ix_reservations_station_id_status", table_name="reservations")
    op.drop_table("reservations")
    with op.batch_alter_table("transactions") as batch:
        for column in reversed(_TX_COLUMNS):
            batch.drop_column(column.name)
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("concurrent_tx")
