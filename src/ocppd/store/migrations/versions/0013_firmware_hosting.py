"""Firmware images hosted by ocppd and the per-station update jobs (docs/device-management.md).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "firmware_images",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text()),
        sa.Column("signing_certificate", sa.Text()),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_firmware_images"),
    )
    op.create_table(
        "firmware_jobs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("image_id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.Integer()),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_firmware_jobs"),
        sa.UniqueConstraint("token_sha256", name="uq_firmware_jobs_token_sha256"),
    )
    op.create_index("ix_firmware_jobs_station_id_id", "firmware_jobs", ["station_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_firmware_jobs_station_id_id", table_name="firmware_jobs")
    op.drop_table("firmware_jobs")
    op.drop_table("firmware_images")
