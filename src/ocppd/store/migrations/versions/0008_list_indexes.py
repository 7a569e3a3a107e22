"""Indexes for paged lists at 10,000 stations and millions of transactions and frames.

Keyset pages order by (time, id): the time indexes of transactions and message_log become (time, id)
so PostgreSQL finds a page's start by an index seek (SQLite's indexes already end with the rowid).
Running transactions get a partial index: the stations list and the overview look them up on every
load, and they are a handful among millions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNNING = sa.text("stopped_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_transactions_started_at", table_name="transactions")
    op.create_index("ix_transactions_started_at_id", "transactions", ["started_at", "id"])
    op.create_index(
        "ix_transactions_running", "transactions", ["started_at", "id"], sqlite_where=RUNNING, postgresql_where=RUNNING
    )
    op.drop_index("ix_message_log_logged_at", table_name="message_log")
    op.create_index("ix_message_log_logged_at_id", "message_log", ["logged_at", "id"])
    op.drop_index("ix_message_log_station_id_logged_at", table_name="message_log")
    op.create_index("ix_message_log_station_id_logged_at_id", "message_log", ["station_id", "logged_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_message_log_station_id_logged_at_id", table_name="message_log")
    op.create_index("ix_message_log_station_id_logged_at", "message_log", ["station_id", "logged_at"])
    op.drop_index("ix_message_log_logged_at_id", table_name="message_log")
    op.create_index("ix_message_log_logged_at", "message_log", ["logged_at"])
    op.drop_index("ix_transactions_running", table_name="transactions")
    op.drop_index("ix_transactions_started_at_id", table_name="transactions")
    op.create_index("ix_transactions_started_at", "transactions", ["started_at"])
