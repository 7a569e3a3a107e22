"""Log / diagnostics upload jobs (csms/logs.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from .schema import log_uploads
from .types import utcnow


def create_upload(conn: Connection, row: dict[str, Any]) -> int:
    return int(conn.execute(log_uploads.insert().values(**row).returning(log_uploads.c.id)).scalar_one())


def update_upload(conn: Connection, upload_id: int, **values: Any) -> None:
    conn.execute(update(log_uploads).where(log_uploads.c.id == upload_id).values(updated_at=utcnow(), **values))


def upload_by_token(conn: Connection, token_sha256: str) -> dict[str, Any] | None:
    row = conn.execute(select(log_uploads).where(log_uploads.c.token_sha256 == token_sha256)).mappings().first()
    return dict(row) if row is not None else None


def upload_by_id(conn: Connection, upload_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(log_uploads).where(log_uploads.c.id == upload_id)).mappings().first()
    return dict(row) if row is not None else None


def latest_upload(conn: Connection, station_id: str, request_id: int | None, since: datetime) -> dict[str, Any] | None:
    """The job a status notification is about: by requestId (2.x), else the station's newest (1.6)."""
    u = log_uploads.c
    query = select(log_uploads).where(u.station_id == station_id, u.created_at >= since)
    if request_id is not None:
        query = query.where(u.request_id == request_id)
    row = conn.execute(query.order_by(u.id.desc()).limit(1)).mappings().first()
    return dict(row) if row is not None else None


def list_uploads(conn: Connection, station_id: str | None, limit: int) -> list[dict[str, Any]]:
    query = select(log_uploads)
    if station_id is not None:
        query = query.where(log_uploads.c.station_id == station_id)
    return [dict(r) for r in conn.execute(query.order_by(log_uploads.c.id.desc()).limit(limit)).mappings()]
