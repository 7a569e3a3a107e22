"""Id tokens keep the driver's preferred languages (2.x idTokenInfo language1 / language2).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tokens", sa.Column("language1", sa.String(8)))
    op.add_column("tokens", sa.Column("language2", sa.String(8)))


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("language2")
        batch.drop_column("language1")
