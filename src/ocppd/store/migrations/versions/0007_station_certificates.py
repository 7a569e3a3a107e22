"""Certificates issued to stations by the CSMS's certificate authority, with their revocation; what each
station has installed in its trust store.

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

    op.create_table(
        "installed_certificates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(255), nullable=False),
        sa.Column("certificate_type", sa.String(32), nullable=False),
        sa.Column("hash_algorithm", sa.String(8), nullable=False),
        sa.Column("issuer_name_hash", sa.String(128), nullable=False),
        sa.Column("issuer_key_hash", sa.String(128), nullable=False),
        sa.Column("serial_number", sa.String(40), nullable=False),
        sa.Column("children", sa.JSON(none_as_null=True)),
        sa.Column("subject", sa.String(512)),
        sa.Column("not_after", sa.DateTime(timezone=True)),
        sa.Column("pem", sa.Text()),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_installed_certificates"),
    )
    op.create_index(
        "ix_installed_certificates_station_id_certificate_type",
        "installed_certificates",
        ["station_id", "certificate_type"],
    )


def downgrade() -> None:
    op.drop_index("ix_installed_certificates_station_id_certificate_type", table_name="installed_certificates")
    op.drop_table("installed_certificates")
    op.drop_index("ix_station_certificates_station_id_issued_at", table_name="station_certificates")
    op.drop_table("station_certificates")
