"""Firmware campaigns that resume after a restart, wait for offline stations, retry and check the
version each station boots with (docs/device-management.md).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("firmware_images", sa.Column("version", sa.String(50)))
    with op.batch_alter_table("firmware_campaigns") as batch:
        batch.add_column(sa.Column("retries", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("retrieve_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("install_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("window_end", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("wave_deadline", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("next_wave_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("firmware_campaigns") as batch:
        for name in ("next_wave_at", "wave_deadline", "window_end", "install_at", "retrieve_at", "retries"):
            batch.drop_column(name)
    with op.batch_alter_table("firmware_images") as batch:
        batch.drop_column("version")
