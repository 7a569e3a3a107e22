"""Availability wanted, resets, display messages, customer information (csms/operations.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from .repo import _insert
from .schema import availability_wanted, customer_information, display_messages, resets
from .types import utcnow

# --------------------------------------------------------------------------- availability


def want_availability(conn: Connection, row: dict[str, Any]) -> None:
    """The operator's newest wish for one scope replaces the one before."""
    keys = ("station_id", "evse_id", "connector_id")
    stmt = _insert(conn, availability_wanted).values(**row)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={k: v for k, v in row.items() if k not in keys})
    conn.execute(stmt)


def wanted_availability(conn: Connection, station_id: str) -> list[dict[str, Any]]:
    a = availability_wanted.c
    q = select(availability_wanted).where(a.station_id == station_id).order_by(a.evse_id, a.connector_id)
    return [dict(r) for r in conn.execute(q).mappings()]


def update_availability(conn: Connection, station_id: str, evse_id: int, connector_id: int, **values: Any) -> None:
    a = availability_wanted.c
    conn.execute(
        update(availability_wanted)
        .where(a.station_id == station_id, a.evse_id == evse_id, a.connector_id == connector_id)
        .values(**values)
    )


# --------------------------------------------------------------------------- resets


def create_reset(conn: Connection, row: dict[str, Any]) -> int:
    return int(conn.execute(resets.insert().values(**row).returning(resets.c.id)).scalar_one())


def update_reset(conn: Connection, reset_id: int, **values: Any) -> None:
    conn.execute(update(resets).where(resets.c.id == reset_id).values(**values))


def open_resets(conn: Connection, station_id: str | None = None) -> list[dict[str, Any]]:
    """Resets still waiting to be observed (a reboot, or a scheduled one's transaction to end)."""
    r = resets.c
    q = select(resets).where(r.outcome.in_(("awaiting_reboot", "scheduled")))
    if station_id is not None:
        q = q.where(r.station_id == station_id)
    return [dict(x) for x in conn.execute(q.order_by(r.id)).mappings()]


def list_resets(conn: Connection, station_id: str | None, limit: int) -> list[dict[str, Any]]:
    q = select(resets)
    if station_id is not None:
        q = q.where(resets.c.station_id == station_id)
    return [dict(x) for x in conn.execute(q.order_by(resets.c.id.desc()).limit(limit)).mappings()]


def reset_by_id(conn: Connection, reset_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(resets).where(resets.c.id == reset_id)).mappings().first()
    return dict(row) if row is not None else None


# --------------------------------------------------------------------------- display messages


def put_display_message(conn: Connection, row: dict[str, Any]) -> None:
    keys = ("station_id", "message_id")
    values = {**row, "updated_at": utcnow()}
    stmt = _insert(conn, display_messages).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={k: v for k, v in values.items() if k not in keys}
    )
    conn.execute(stmt)


def delete_display_messages(conn: Connection, station_id: str, ids: list[int] | None = None, *,
                            keep: list[int] | None = None) -> int:  # fmt: skip
    """Delete the station's messages: these ``ids`` (None: all), except those in ``keep``."""
    d = display_messages.c
    q = delete(display_messages).where(d.station_id == station_id)
    if ids is not None:
        q = q.where(d.message_id.in_(ids))
    if keep:
        q = q.where(d.message_id.not_in(keep))
    return int(conn.execute(q).rowcount or 0)


def list_display_messages(conn: Connection, station_id: str) -> list[dict[str, Any]]:
    d = display_messages.c
    q = select(display_messages).where(d.station_id == station_id).order_by(d.message_id)
    return [dict(r) for r in conn.execute(q).mappings()]


# --------------------------------------------------------------------------- customer information


def create_customer_request(conn: Connection, row: dict[str, Any]) -> int:
    q = customer_information.insert().values(**row).returning(customer_information.c.id)
    return int(conn.execute(q).scalar_one())


def update_customer_request(conn: Connection, request_pk: int, **values: Any) -> None:
    c = customer_information.c
    conn.execute(update(customer_information).where(c.id == request_pk).values(updated_at=utcnow(), **values))


def customer_request(conn: Connection, station_id: str, request_id: int, since: datetime) -> dict[str, Any] | None:
    """The newest request of the station with this requestId (requestIds repeat across restarts)."""
    c = customer_information.c
    q = select(customer_information).where(
        c.station_id == station_id, c.request_id == request_id, c.created_at >= since
    )
    row = conn.execute(q.order_by(c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row is not None else None


def customer_request_by_id(conn: Connection, request_pk: int) -> dict[str, Any] | None:
    row = conn.execute(select(customer_information).where(customer_information.c.id == request_pk)).mappings().first()
    return dict(row) if row is not None else None


def list_customer_requests(conn: Connection, station_id: str | None, limit: int) -> list[dict[str, Any]]:
    q = select(customer_information)
    if station_id is not None:
        q = q.where(customer_information.c.station_id == station_id)
    return [dict(r) for r in conn.execute(q.order_by(customer_information.c.id.desc()).limit(limit)).mappings()]


def stations_with_wishes(conn: Connection) -> set[str]:
    return {r[0] for r in conn.execute(select(availability_wanted.c.station_id).distinct())}
