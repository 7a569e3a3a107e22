"""OSCP 2.0 peers and groups (store/oscp_repo.py, docs/smart-charging.md#oscp-20).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON(none_as_null=True)


def upgrade() -> None:
    op.create_table(
        "oscp_peers",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64)),
        sa.Column("their_token", sa.Text()),
        sa.Column("base_url", sa.Text()),
        sa.Column("version", sa.String(16)),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("requires_heartbeat_s", sa.Integer()),
        sa.Column("measurement_configuration", Json),
        sa.Column("handshake_at", sa.DateTime(timezone=True)),
        sa.Column("last_seen_at", sa.DateTime(timezone=True)),
        sa.Column("offline_mode_at", sa.DateTime(timezone=True)),
        sa.Column("silent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_oscp_peers"),
        sa.UniqueConstraint("name", name="uq_oscp_peers_name"),
        sa.UniqueConstraint("token_hash", name="uq_oscp_peers_token_hash"),
    )
    op.create_table(
        "oscp_groups",
        sa.Column("group_id", sa.String(255), nullable=False),
        sa.Column("node_id", sa.String(255), nullable=False),
        sa.Column("peer_id", sa.BigInteger()),
        sa.Column("fallback_amps", Json),
        sa.Column("fallback_watts", sa.Float()),
        sa.Column("forecast", Json),
        sa.Column("fallback_forecast", Json),
        sa.Column("adjust", Json),
        sa.Column("energy_wh", Json),
        sa.Column("energy_since", sa.DateTime(timezone=True)),
        sa.Column("measured_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("group_id", name="pk_oscp_groups"),
        sa.UniqueConstraint("node_id", name="uq_oscp_groups_node_id"),
    )


def downgrade() -> None:
    op.drop_table("oscp_groups")
    op.drop_table("oscp_peers")
