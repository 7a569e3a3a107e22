"""The device model inventory (docs/device-management.md): each variable with its characteristics and
mutability, the last set of it and the station's answer, and the views across stations (by vendor,
model, firmware version; which stations have a setting)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, literal_column, or_, select, tuple_

from .repo import _insert
from .schema import stations, variables
from .types import utcnow

_KEY = [variables.c.station_id, variables.c.component, variables.c.variable, variables.c.attribute]
CHARACTERISTICS = ("mutability", "data_type", "unit", "min_limit", "max_limit", "values_list", "supports_monitoring")
IDENTITY_FIELDS = ("vendor", "model", "firmware_version")


def record_report(conn: Connection, station_id: str, rows: list[dict[str, Any]]) -> int:
    """Upsert NotifyReport rows: ``component, variable, attribute, value, readonly`` and the characteristics
    (``CHARACTERISTICS``). A characteristic the station left out is stored as unknown (NULL)."""
    now = utcnow()
    by_key: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["component"], r["variable"], r.get("attribute") or "Actual")
        by_key[key] = {
            "station_id": station_id, "component": key[0], "variable": key[1], "attribute": key[2],
            "value": r.get("value"), "readonly": bool(r.get("readonly")), "updated_at": now,
            **{name: r.get(name) for name in CHARACTERISTICS},
        }  # fmt: skip
    if not by_key:
        return 0
    stmt = _insert(conn, variables)
    ex = stmt.excluded
    changes = {name: getattr(ex, name) for name in ("value", "readonly", "updated_at", *CHARACTERISTICS)}
    conn.execute(stmt.on_conflict_do_update(index_elements=_KEY, set_=changes), list(by_key.values()))
    return len(by_key)


def record_set_results(conn: Connection, station_id: str, rows: list[dict[str, Any]], at: datetime) -> None:
    """The answer to each SetVariables item / ChangeConfiguration: ``component, variable, attribute,
    set_value, set_status, set_reason``. The value itself is written by the caller when it was taken;
    a variable the station does not know gets a row of its own (no value) so the refusal is seen."""
    by_key: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["component"], r["variable"], r.get("attribute") or "Actual")
        by_key[key] = {
            "station_id": station_id, "component": key[0], "variable": key[1], "attribute": key[2],
            "value": None, "readonly": False, "updated_at": at, "set_value": r.get("set_value"),
            "set_status": r["set_status"], "set_reason": r.get("set_reason"), "set_at": at,
        }  # fmt: skip
    if not by_key:
        return
    stmt = _insert(conn, variables)
    ex = stmt.excluded
    changes = {name: getattr(ex, name) for name in ("set_value", "set_status", "set_reason", "set_at")}
    conn.execute(stmt.on_conflict_do_update(index_elements=_KEY, set_=changes), list(by_key.values()))


def device_model(conn: Connection, station_id: str) -> list[dict[str, Any]]:
    v = variables.c
    query = select(variables).where(v.station_id == station_id).order_by(v.component, v.variable, v.attribute)
    return [dict(r) for r in conn.execute(query).mappings()]


def known_variables(
    conn: Connection, station_id: str, names: list[tuple[str, str]]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The stored rows (every attribute) of these ``(component, variable)`` pairs."""
    if not names:
        return {}
    v = variables.c
    query = select(variables).where(v.station_id == station_id, tuple_(v.component, v.variable).in_(names))
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in conn.execute(query).mappings():
        found.setdefault((r["component"], r["variable"]), []).append(dict(r))
    return found


def pending_reboot(conn: Connection, station_id: str | None = None) -> list[dict[str, Any]]:
    """Settings a station answered RebootRequired to and has not rebooted since (no BootNotification
    after the answer): ``station_id, component, variable, attribute, set_value, set_at``."""
    v, s = variables.c, stations.c
    query = (
        select(v.station_id, v.component, v.variable, v.attribute, v.set_value, v.set_at)
        .select_from(variables.outerjoin(stations, s.station_id == v.station_id))
        # a literal, not a bound parameter: that is what lets the planner use the partial index
        .where(
            v.set_status == literal_column("'RebootRequired'"), or_(s.last_boot_at.is_(None), s.last_boot_at < v.set_at)
        )
    )
    if station_id is not None:
        query = query.where(v.station_id == station_id)
    # sorted here: an ORDER BY on the primary key's columns makes SQLite walk the whole table by it
    rows = [dict(r) for r in conn.execute(query).mappings()]
    return sorted(rows, key=lambda r: (r["station_id"], r["component"], r["variable"], r["attribute"]))


def identity_counts(conn: Connection, field: str, search: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """How many stations have each vendor / model / firmware version (most common first)."""
    if field not in IDENTITY_FIELDS:
        raise ValueError(f"field must be one of {', '.join(IDENTITY_FIELDS)}")
    column = stations.c[field]
    count = func.count().label("stations")
    query = select(column.label("value"), count).group_by(column).order_by(count.desc(), column).limit(limit)
    if search:
        query = query.where(func.lower(column).contains(search.lower(), autoescape=True))
    return [dict(r) for r in conn.execute(query).mappings()]


def stations_by_identity(
    conn: Connection, filters: dict[str, str | None], after: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Stations with exactly these vendor / model / firmware version values (a None value: not known), by
    station id, a page after ``after``."""
    s = stations.c
    query = select(s.station_id, s.vendor, s.model, s.firmware_version, s.ocpp_version, s.last_boot_at,
                   s.last_seen_at).order_by(s.station_id).limit(limit)  # fmt: skip
    for name, value in filters.items():
        if name not in IDENTITY_FIELDS:
            raise ValueError(f"unknown field {name!r}")
        query = query.where(s[name].is_(None) if value is None else s[name] == value)
    if after is not None:
        query = query.where(s.station_id > after)
    return [dict(r) for r in conn.execute(query).mappings()]


def stations_with_setting(
    conn: Connection,
    variable: str,
    component: str | None = None,
    value: str | None = None,
    attribute: str = "Actual",
    after: tuple[str, str] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Which stations have this variable (1.6: key; component '' for 1.6), optionally with this value:
    ``station_id, component, variable, value, ...`` by (station, component), a page after ``after``."""
    v = variables.c
    query = (
        select(v.station_id, v.component, v.variable, v.attribute, v.value, v.mutability, v.readonly,
               v.set_status, v.updated_at)
        .where(v.variable == variable, v.attribute == attribute)
        .order_by(v.station_id, v.component)
        .limit(limit)
    )  # fmt: skip
    if component is not None:
        query = query.where(v.component == component)
    if value is not None:
        query = query.where(v.value == value)
    if after is not None:
        query = query.where(or_(v.station_id > after[0], and_(v.station_id == after[0], v.component > after[1])))
    return [dict(r) for r in conn.execute(query).mappings()]


def setting_values(
    conn: Connection, variable: str, component: str | None = None, attribute: str = "Actual", limit: int = 100
) -> list[dict[str, Any]]:
    """The values this setting has across stations, with how many stations have each."""
    v = variables.c
    count = func.count().label("stations")
    query = (
        select(v.value, count)
        .where(v.variable == variable, v.attribute == attribute)
        .group_by(v.value)
        .order_by(count.desc(), v.value)
        .limit(limit)
    )
    if component is not None:
        query = query.where(v.component == component)
    return [dict(r) for r in conn.execute(query).mappings()]
