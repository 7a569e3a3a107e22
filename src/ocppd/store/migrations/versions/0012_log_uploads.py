"""Log / diagnostics uploads to ocppd's own upload URL (docs/device-management.md).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_uploads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("request_id", sa.Integer()),
        sa.Column("log_type", sa.String(32), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(255)),
        sa.Column("size", sa.BigInteger()),
        sa.Column("sha256", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_log_uploads"),
        sa.UniqueConstraint("token_sha256", name="uq_log_uploads_token_sha256"),
    )
    op.create_index("ix_log_uploads_station_id_id", "log_uploads", ["station_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_log_uploads_station_id_id", table_name="log_uploads")
    op.drop_table("log_uploads")
