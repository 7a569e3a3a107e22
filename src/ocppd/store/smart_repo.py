"""Repository functions for smart charging: sent charging profiles, the limit tree, external limits,
EVs' charging needs.

Like ``repo``, every function takes a ``sqlalchemy.Connection`` first and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from .rows import _RowMixin
from .schema import charging_needs, charging_profiles, external_limits, limit_nodes
from .types import utcnow

INSTALLED = "installed"
REJECTED = "rejected"
FAILED = "failed"  # no answer, or a CALLERROR
REPLACED = "replaced"
CLEARED = "cleared"
ENDED = "ended"  # a TxProfile whose transaction ended


@dataclass(frozen=True, slots=True)
class ProfileRow(_RowMixin):
    id: int
    station_id: str
    evse_id: int
    profile_id: int
    purpose: str
    stack_level: int
    kind: str
    unit: str
    transaction_id: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    source: str
    profile: dict[str, Any]
    state: str
    answer: dict[str, Any] | None
    drift: str | None
    sent_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class ExternalLimitRow(_RowMixin):
    id: int
    node_id: str
    source: str
    amps: list[float] | None
    watts: float | None
    starts_at: datetime
    ends_at: datetime | None
    note: str | None
    created_at: datetime


def record_profile(conn: Connection, row: dict[str, Any]) -> int:
    """Store one sent profile; an installed one replaces what it replaces on the station (same id,
    or same purpose, stack level and EVSE)."""
    c = charging_profiles.c
    if row["state"] == INSTALLED:
        conn.execute(
            update(charging_profiles)
            .where(
                c.station_id == row["station_id"],
                c.state == INSTALLED,
                or_(
                    c.profile_id == row["profile_id"],
                    and_(c.purpose == row["purpose"], c.stack_level == row["stack_level"], c.evse_id == row["evse_id"]),
                ),
            )
            .values(state=REPLACED, ended_at=row["sent_at"])
        )
    return int(conn.execute(insert(charging_profiles).values(**row)).inserted_primary_key[0])


def end_profiles(
    conn: Connection,
    station_id: str,
    state: str,
    at: datetime,
    *,
    profile_id: int | None = None,
    evse_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
    transaction_id: str | None = None,
) -> int:
    """Mark installed profiles matching the criteria as ``state`` (cleared / ended); returns how many."""
    c = charging_profiles.c
    where = [c.station_id == station_id, c.state == INSTALLED]
    if profile_id is not None:
        where.append(c.profile_id == profile_id)
    else:
        if evse_id is not None:
            where.append(c.evse_id == evse_id)
        if purpose is not None:
            where.append(c.purpose == purpose)
        if stack_level is not None:
            where.append(c.stack_level == stack_level)
        if transaction_id is not None:
            where.append(c.transaction_id == transaction_id)
    result = conn.execute(update(charging_profiles).where(*where).values(state=state, ended_at=at))
    return int(result.rowcount or 0)


def installed_profiles(conn: Connection, station_id: str | None = None) -> list[ProfileRow]:
    c = charging_profiles.c
    q = select(charging_profiles).where(c.state == INSTALLED)
    if station_id is not None:
        q = q.where(c.station_id == station_id)
    return [ProfileRow.from_row(r) for r in conn.execute(q.order_by(c.id))]


def profile_history(conn: Connection, station_id: str, limit: int = 200) -> list[ProfileRow]:
    c = charging_profiles.c
    q = select(charging_profiles).where(c.station_id == station_id).order_by(c.id.desc()).limit(limit)
    return [ProfileRow.from_row(r) for r in conn.execute(q)]


def set_drift(conn: Connection, station_id: str, drift: dict[int, str | None]) -> None:
    """``drift`` maps stored row ids to a description of the disagreement (None: agrees again)."""
    for row_id, text in drift.items():
        conn.execute(
            update(charging_profiles)
            .where(charging_profiles.c.id == row_id, charging_profiles.c.station_id == station_id)
            .values(drift=text)
        )


def list_nodes(conn: Connection) -> list[dict[str, Any]]:
    """Every node's spec (the API's shape), parents before children is not guaranteed."""
    return [dict(r.spec) for r in conn.execute(select(limit_nodes).order_by(limit_nodes.c.node_id))]


def replace_nodes(conn: Connection, specs: list[dict[str, Any]]) -> None:
    conn.execute(delete(limit_nodes))
    now = utcnow()
    if specs:
        conn.execute(
            insert(limit_nodes),
            [
                {"node_id": s["id"], "kind": s["kind"], "parent_id": s.get("parent"), "spec": s, "updated_at": now}
                for s in specs
            ],
        )


def add_external(conn: Connection, row: dict[str, Any]) -> int:
    return int(conn.execute(insert(external_limits).values(**row)).inserted_primary_key[0])


def list_externals(conn: Connection, active_after: datetime | None = None) -> list[ExternalLimitRow]:
    c = external_limits.c
    q = select(external_limits)
    if active_after is not None:
        q = q.where(or_(c.ends_at.is_(None), c.ends_at > active_after))
    return [ExternalLimitRow.from_row(r) for r in conn.execute(q.order_by(c.id))]


def delete_externals(
    conn: Connection, *, limit_id: int | None = None, node_id: str | None = None, source: str | None = None
) -> int:
    c = external_limits.c
    where = []
    if limit_id is not None:
        where.append(c.id == limit_id)
    if node_id is not None:
        where.append(c.node_id == node_id)
    if source is not None:
        where.append(c.source == source)
    return int(conn.execute(delete(external_limits).where(*where)).rowcount or 0)


# ---------------------------------------------------------------------- charging needs (departures)


@dataclass(frozen=True, slots=True)
class NeedsRow(_RowMixin):
    station_id: str
    evse_id: int
    departure: datetime | None
    energy_wh: float | None
    source: str
    base_wh: float | None
    transaction_id: str | None
    extra: dict[str, Any] | None
    updated_at: datetime


def save_needs(conn: Connection, row: dict[str, Any]) -> None:
    """Keep one EVSE's charging needs, replacing what was kept for it."""
    c = charging_needs.c
    conn.execute(delete(charging_needs).where(c.station_id == row["station_id"], c.evse_id == row["evse_id"]))
    conn.execute(insert(charging_needs).values(**row, updated_at=utcnow()))


def set_needs_base(conn: Connection, station_id: str, evse_id: int, base_wh: float) -> None:
    """The energy register the need counts from (the first reading after it was set)."""
    c = charging_needs.c
    conn.execute(
        update(charging_needs)
        .where(c.station_id == station_id, c.evse_id == evse_id)
        .values(base_wh=base_wh, updated_at=utcnow())
    )


def delete_needs(conn: Connection, station_id: str, evse_id: int) -> bool:
    c = charging_needs.c
    return bool(conn.execute(delete(charging_needs).where(c.station_id == station_id, c.evse_id == evse_id)).rowcount)


def list_needs(conn: Connection) -> list[NeedsRow]:
    c = charging_needs.c
    return [NeedsRow.from_row(r) for r in conn.execute(select(charging_needs).order_by(c.station_id, c.evse_id))]
