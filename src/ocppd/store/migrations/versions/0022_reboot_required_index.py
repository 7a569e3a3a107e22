"""The settings waiting for their station's reboot, found without reading every variable (a partial index:
the few rows answered RebootRequired among millions; docs/device-management.md).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = sa.text("set_status = 'RebootRequired'")


def upgrade() -> None:
    op.create_index("ix_variables_reboot_required", "variables", ["station_id"], sqlite_where=_WHERE,
                    postgresql_where=_WHERE)  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_variables_reboot_required", table_name="variables")
