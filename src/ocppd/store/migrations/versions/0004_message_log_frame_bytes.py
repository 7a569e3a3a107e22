"""Message log keeps frames text cannot hold (NUL bytes, invalid UTF-8) exactly, as bytes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table copy on SQLite: the message log may be large).
    op.add_column("message_log", sa.Column("frame_bytes", sa.LargeBinary()))


def downgrade() -> None:
    with op.batch_alter_table("message_log") as batch:
        batch.drop_column("frame_bytes")
