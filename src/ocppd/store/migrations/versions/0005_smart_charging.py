"""Smart charging: the charging profiles the CSMS sent, the limit tree, external limits.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON(none_as_null=True)


def upgrade() -> None:
    op.create_table(
        "charging_profiles",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("stack_level", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(2), nullable=False),
        sa.Column("transaction_id", sa.String(64)),
        sa.Column("valid_from", sa.DateTime(timezone=True)),
        sa.Column("valid_to", sa.DateTime(timezone=True)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("profile", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("answer", Json),
        sa.Column("drift", sa.Text()),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_charging_profiles"),
    )
    op.create_index("ix_charging_profiles_station_id_state", "charging_profiles", ["station_id", "state"])
    op.create_index("ix_charging_profiles_station_id_id", "charging_profiles", ["station_id", "id"])
    op.create_table(
        "limit_nodes",
        sa.Column("node_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("parent_id", sa.String(255)),
        sa.Column("spec", Json, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name="pk_limit_nodes"),
    )
    op.create_table(
        "external_limits",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("node_id", sa.String(255), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("amps", Json),
        sa.Column("watts", sa.Float()),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_external_limits"),
    )
    op.create_index("ix_external_limits_node_id", "external_limits", ["node_id"])


def downgrade() -> None:
    op.drop_index("ix_external_limits_node_id", table_name="external_limits")
    op.drop_table("external_limits")
    op.drop_table("limit_nodes")
    op.drop_index("ix_charging_profiles_station_id_id", table_name="charging_profiles")
    op.drop_index("ix_charging_profiles_station_id_state", table_name="charging_profiles")
    op.drop_table("charging_profiles")
