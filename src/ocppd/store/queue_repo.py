"""Repository functions of the offline command queue (``command_queue``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from .rows import _RowMixin
from .schema import command_queue
from .types import utcnow

QUEUED, SENDING, DELIVERED, FAILED, EXPIRED, CANCELLED = (
    "queued",
    "sending",
    "delivered",
    "failed",
    "expired",
    "cancelled",
)
OPEN = (QUEUED, SENDING)


@dataclass(frozen=True, slots=True)
class QueuedCommandRow(_RowMixin):
    id: int
    station_id: str
    verb: str
    body: dict[str, Any]
    status: str
    created_at: datetime
    expires_at: datetime
    created_by: str | None
    finished_at: datetime | None
    result: dict[str, Any] | None
    error: str | None


def enqueue(
    conn: Connection, station_id: str, verb: str, body: dict[str, Any], expires_at: datetime, created_by: str | None
) -> QueuedCommandRow:
    values = {
        "station_id": station_id,
        "verb": verb,
        "body": body,
        "status": QUEUED,
        "created_at": utcnow(),
        "expires_at": expires_at,
        "created_by": created_by,
    }
    pk = conn.execute(insert(command_queue).values(**values).returning(command_queue.c.id)).scalar_one()
    row = get(conn, pk)
    assert row is not None
    return row


def get(conn: Connection, pk: int) -> QueuedCommandRow | None:
    row = conn.execute(select(command_queue).where(command_queue.c.id == pk)).first()
    return QueuedCommandRow.from_row(row) if row is not None else None


def listed(
    conn: Connection, station_id: str | None = None, statuses: tuple[str, ...] | None = None, limit: int = 1000
) -> list[QueuedCommandRow]:
    """Commands in delivery order (oldest first)."""
    q = select(command_queue)
    if station_id is not None:
        q = q.where(command_queue.c.station_id == station_id)
    if statuses:
        q = q.where(command_queue.c.status.in_(statuses))
    return [QueuedCommandRow.from_row(r) for r in conn.execute(q.order_by(command_queue.c.id).limit(limit))]


def stations_with_queued(conn: Connection) -> list[str]:
    q = select(command_queue.c.station_id).where(command_queue.c.status == QUEUED).distinct()
    return [r[0] for r in conn.execute(q)]


def claim(conn: Connection, pk: int) -> bool:
    """Mark a queued command as being sent; False if it is no longer queued (cancelled meanwhile)."""
    res = conn.execute(
        update(command_queue).where(command_queue.c.id == pk, command_queue.c.status == QUEUED).values(status=SENDING)
    )
    return res.rowcount > 0


def release(conn: Connection, pk: int) -> None:
    """Back to the queue: the station went away before the command could be sent."""
    conn.execute(
        update(command_queue).where(command_queue.c.id == pk, command_queue.c.status == SENDING).values(status=QUEUED)
    )


def finish(
    conn: Connection, pk: int, status: str, result: dict[str, Any] | None = None, error: str | None = None
) -> None:
    conn.execute(
        update(command_queue)
        .where(command_queue.c.id == pk)
        .values(status=status, result=result, error=error, finished_at=utcnow())
    )


def cancel(conn: Connection, pk: int, station_id: str | None = None) -> tuple[bool, str] | None:
    """Cancel a queued command: ``(True, "cancelled")``; ``(False, status)`` if it was no longer queued;
    None if there is no such command (for that station)."""
    q = update(command_queue).where(command_queue.c.id == pk, command_queue.c.status == QUEUED)
    if station_id is not None:
        q = q.where(command_queue.c.station_id == station_id)
    if conn.execute(q.values(status=CANCELLED, finished_at=utcnow())).rowcount:
        return True, CANCELLED
    row = get(conn, pk)
    if row is None or (station_id is not None and row.station_id != station_id):
        return None
    return False, row.status


def interrupted(conn: Connection) -> int:
    """At start: commands left 'sending' by a stopped server may or may not have reached the station;
    they are marked failed (not resent: a reset must not happen twice)."""
    res = conn.execute(
        update(command_queue)
        .where(command_queue.c.status == SENDING)
        .values(status=FAILED, error="interrupted: the server stopped while sending", finished_at=utcnow())
    )
    return res.rowcount
