"""Alerts and the pruning of raw station events (docs/device-management.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, literal, or_, select, tuple_, update

from .schema import alerts, events, monitor_refusals, monitors, stations
from .types import utcnow

# Kept by their own setting (ca.security_event_retention_days), not by the general event retention.
OWN_RETENTION = ("SecurityEventNotification",)


def open_alert(conn: Connection, row: dict[str, Any]) -> int:
    """Insert an open alert; returns its id."""
    return int(conn.execute(alerts.insert().values(**row).returning(alerts.c.id)).scalar_one())


def clear_alerts(conn: Connection, ids: list[int], at: datetime) -> None:
    if ids:
        conn.execute(update(alerts).where(alerts.c.id.in_(ids), alerts.c.cleared_at.is_(None)).values(cleared_at=at))


def record_repeats(conn: Connection, rows: list[tuple[int, int, datetime]]) -> None:
    """``(id, count, last_at)`` of open alerts that repeated since the last flush, in one executemany."""
    if rows:
        stmt = (
            update(alerts).where(alerts.c.id == bindparam("aid")).values(count=bindparam("n"), last_at=bindparam("at"))
        )
        conn.execute(stmt, [{"aid": i, "n": n, "at": at} for i, n, at in rows])


def acknowledge_alert(conn: Connection, alert_id: int, by: str, at: datetime, clear: bool) -> dict[str, Any] | None:
    """Mark the alert acknowledged (and cleared when ``clear``: nothing else would clear it)."""
    values: dict[str, Any] = {"acknowledged_at": at, "acknowledged_by": by}
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().first()
    if row is None:
        return None
    if clear and row["cleared_at"] is None:
        values["cleared_at"] = at
    conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))
    return {**row, **values}


def alert_by_id(conn: Connection, alert_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().first()
    return dict(row) if row is not None else None


def list_alerts(
    conn: Connection,
    *,
    state: str = "open",
    station_id: str | None = None,
    source: str | None = None,
    max_severity: int | None = None,
    acknowledged: bool | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts newest first; ``state`` open, cleared or all; ``max_severity`` keeps that level and worse."""
    a = alerts.c
    query = select(alerts)
    if state == "open":
        query = query.where(a.cleared_at.is_(None))
    elif state == "cleared":
        query = query.where(a.cleared_at.is_not(None))
    if station_id is not None:
        query = query.where(a.station_id == station_id)
    if source is not None:
        query = query.where(a.source == source)
    if max_severity is not None:
        query = query.where(a.severity <= max_severity)
    if acknowledged is not None:
        query = query.where(a.acknowledged_at.is_not(None) if acknowledged else a.acknowledged_at.is_(None))
    return [dict(r) for r in conn.execute(query.order_by(a.id.desc()).limit(limit)).mappings()]


def last_seen_of_all(conn: Connection) -> dict[str, datetime]:
    """Stored last-seen time of every station that was ever heard from."""
    s = stations.c
    rows = conn.execute(select(s.station_id, s.last_seen_at).where(s.last_seen_at.is_not(None)))
    return {sid: at for sid, at in rows}


def prune_events(conn: Connection, older_than: datetime) -> int:
    """Delete raw station events recorded before ``older_than`` (except those with their own retention)
    and alerts cleared before it; returns how many events went."""
    result = conn.execute(delete(events).where(events.c.recorded_at < older_than, events.c.kind.not_in(OWN_RETENTION)))
    conn.execute(delete(alerts).where(alerts.c.cleared_at < older_than))
    return int(result.rowcount or 0)


def upsert_monitors(conn: Connection, station_id: str, rows: list[dict[str, Any]]) -> None:
    """Upsert monitors of one station by id; a row without ``origin`` keeps the stored one (a monitor
    ocppd set stays "set" when a report names it again)."""
    if not rows:
        return
    m = monitors.c
    ids = [r["monitor_id"] for r in rows]
    known = {
        i: (origin, status)
        for i, origin, status in conn.execute(
            select(m.monitor_id, m.origin, m.status).where(m.station_id == station_id, m.monitor_id.in_(ids))
        )
    }
    conn.execute(delete(monitors).where(m.station_id == station_id, m.monitor_id.in_(ids)))
    now = utcnow()
    fresh = []
    for r in rows:
        origin, status = known.get(r["monitor_id"], (None, None))
        fresh.append({"station_id": station_id, "updated_at": now, **r,
                      "origin": r.get("origin") or origin or "reported",
                      "status": r.get("status") or status or "Reported"})  # fmt: skip
    conn.execute(monitors.insert(), fresh)


def delete_monitors(conn: Connection, station_id: str, ids: list[int] | None = None,
                    keep: list[int] | None = None) -> int:  # fmt: skip
    """Delete monitors of a station: these ``ids``, or (``ids`` None) all but ``keep``."""
    m = monitors.c
    query = delete(monitors).where(m.station_id == station_id)
    if ids is not None:
        if not ids:
            return 0
        query = query.where(m.monitor_id.in_(ids))
    elif keep:
        query = query.where(m.monitor_id.not_in(keep))
    return int(conn.execute(query).rowcount or 0)


def clear_refused(conn: Connection, station_id: str, refused: dict[int, str | None]) -> None:
    """The station refused to clear these monitors (id -> its statusInfo): they stay, marked so."""
    m = monitors.c
    for monitor_id, reason in refused.items():
        conn.execute(
            update(monitors)
            .where(m.station_id == station_id, m.monitor_id == monitor_id)
            .values(clear_status="Rejected", clear_reason=reason, updated_at=utcnow())
        )


def record_refusals(conn: Connection, station_id: str, rows: list[dict[str, Any]]) -> None:
    """Keep the monitors the station refused, one per component, variable and type (the latest
    answer replaces an earlier one)."""
    r = monitor_refusals.c
    now = utcnow()
    for row in rows:
        conn.execute(delete(monitor_refusals).where(r.station_id == station_id, r.component == row["component"],
                                                    r.variable == row["variable"], r.type == row["type"]))  # fmt: skip
        conn.execute(monitor_refusals.insert().values(station_id=station_id, updated_at=now, **row))


def forget_refusals(conn: Connection, station_id: str, accepted: list[tuple[str, str, str]] | None = None,
                    monitor_ids: list[int] | None = None) -> int:  # fmt: skip
    """Drop refusals an accepted set of the same (component, variable, type) supersedes, or that meant
    to replace monitors that are gone (``monitor_ids``); both None: all of the station's."""
    r = monitor_refusals.c
    where = [r.station_id == station_id]
    if accepted is not None or monitor_ids is not None:
        keys = [and_(r.component == c, r.variable == v, r.type == t) for c, v, t in accepted or ()]
        if monitor_ids:
            keys.append(r.monitor_id.in_(monitor_ids))
        if not keys:
            return 0
        where.append(or_(*keys))
    return int(conn.execute(delete(monitor_refusals).where(*where)).rowcount or 0)


def record_set(conn: Connection, station_id: str, accepted: list[dict[str, Any]],
               refused: list[dict[str, Any]]) -> None:  # fmt: skip
    """A SetVariableMonitoring answer: the accepted monitors replace earlier refusals of the same
    component, variable and type; the refused ones are kept with the answer."""
    upsert_monitors(conn, station_id, accepted)
    forget_refusals(conn, station_id, [(r["component"], r["variable"], r["type"]) for r in accepted])
    record_refusals(conn, station_id, refused)


def record_clear(conn: Connection, station_id: str, gone: list[int], refused: dict[int, str | None]) -> int:
    """A ClearVariableMonitoring answer: ``gone`` monitors (Accepted, NotFound) are removed with the
    refusals that meant to replace them; the ones the station would not clear are marked."""
    forget_refusals(conn, station_id, None, gone)
    clear_refused(conn, station_id, refused)
    return delete_monitors(conn, station_id, gone)


def monitor_view(conn: Connection, station_id: str | None = None) -> list[dict[str, Any]]:
    """What the operator sees: the station's monitors (``state`` set or reported) then the ones it
    refused (``state`` refused, ``status`` its answer, ``reason`` its statusInfo)."""
    kept = [_kept(row) for row in monitors_of(conn, station_id)]
    r = monitor_refusals.c
    query = select(monitor_refusals)
    if station_id is not None:
        query = query.where(r.station_id == station_id)
    query = query.order_by(r.station_id, r.component, r.variable, r.type)
    refused = [_refused(dict(row)) for row in conn.execute(query).mappings()]
    return kept + refused


# A monitor's place in the every-station list: the kept ones (part 0, by station and id), then the
# refused ones (part 1, by station and what was asked); a page's cursor is its last row's place.
MonitorKey = tuple[int, str, int, str, str, str]


def _kept(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "state": row.get("origin") or "reported"}


def _refused(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "state": "refused", "origin": "set", "clear_status": None, "clear_reason": None}


def monitor_key(row: dict[str, Any]) -> MonitorKey:
    if row["state"] == "refused":
        return (1, row["station_id"], 0, row["component"], row["variable"], row["type"])
    return (0, row["station_id"], row["monitor_id"], "", "", "")


def monitor_page(
    conn: Connection, state: str | None, after: MonitorKey | None, limit: int
) -> tuple[list[dict[str, Any]], MonitorKey | None]:
    """Every station's monitors in ``state`` (None: all), ``limit`` after ``after``; and the key of the
    page's last row when there are more."""
    rows: list[dict[str, Any]] = []
    if state != "refused" and (after is None or after[0] == 0):
        m = monitors.c
        query = select(monitors).order_by(m.station_id, m.monitor_id).limit(limit + 1)
        if state == "set":
            query = query.where(m.origin == "set")
        elif state == "reported":
            query = query.where(or_(m.origin.is_(None), m.origin == "reported"))
        if after is not None:
            query = query.where(tuple_(m.station_id, m.monitor_id) > tuple_(literal(after[1]), literal(after[2])))
        rows += [_kept(dict(r)) for r in conn.execute(query).mappings()]
    if state in (None, "refused") and len(rows) <= limit:
        r = monitor_refusals.c
        query = select(monitor_refusals).order_by(r.station_id, r.component, r.variable, r.type)
        query = query.limit(limit + 1 - len(rows))
        if after is not None and after[0] == 1:
            query = query.where(
                tuple_(r.station_id, r.component, r.variable, r.type)
                > tuple_(*(literal(v) for v in after[1:2] + after[3:]))
            )
        rows += [_refused(dict(row)) for row in conn.execute(query).mappings()]
    if len(rows) > limit:
        return rows[:limit], monitor_key(rows[limit - 1])
    return rows, None


def monitors_of(conn: Connection, station_id: str | None = None) -> list[dict[str, Any]]:
    query = select(monitors)
    if station_id is not None:
        query = query.where(monitors.c.station_id == station_id)
    return [dict(r) for r in conn.execute(query.order_by(monitors.c.station_id, monitors.c.monitor_id)).mappings()]
