"""Certificates issued to stations by the CSMS's certificate authority, with their revocation.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "station_certificates",
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("certificate_type", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_info", sa.String(512)),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revocation_reason", sa.String(64)),
        sa.PrimaryKeyConstraint("serial", name="pk_station_certificates"),
    )
    op.create_index("ix_station_certificates_station_id_issued_at", "station_certificates", ["station_id", "issued_at"])


def downgrade() -> None:
    op.drop_index("ix_station_certificates_station_id_issued_at", table_name="station_certificates")
    op.drop_table("station_certificates")
