"""Repository functions for the CSMS acting on transactions: closing what stations abandon, token
policy, reservations and local authorization lists.

Kept apart from ``repo`` (the hot path of recording what stations say); like ``repo``, every
function takes a ``sqlalchemy.Connection`` first and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from .repo import _insert
from .rows import TxRow, _RowMixin
from .schema import (
    local_list_members,
    local_list_sent,
    local_lists,
    meter_values,
    reservations,
    tokens,
    transactions,
    tx_events,
    variables,
)
from .types import utcnow

# --------------------------------------------------------------------------- transactions


def open_transactions(
    conn: Connection,
    station_id: str,
    *,
    evse_id: int | None = None,
    created_before: datetime | None = None,
) -> list[TxRow]:
    """The station's transactions without a stop (on one EVSE / 1.6 connector; created before a time)."""
    t = transactions.c
    q = select(transactions).where(t.station_id == station_id, t.stopped_at.is_(None))
    if evse_id is not None:
        q = q.where(t.evse_id == evse_id)
    if created_before is not None:
        q = q.where(t.created_at < created_before)
    return [TxRow.from_row(r) for r in conn.execute(q.order_by(t.id))]


def open_with_token(conn: Connection, id_token: str) -> list[TxRow]:
    t = transactions.c
    rows = conn.execute(select(transactions).where(t.id_token == id_token, t.stopped_at.is_(None)).order_by(t.id))
    return [TxRow.from_row(r) for r in rows]


def stations_with_transaction_uid(conn: Connection, uid: str, exclude: str) -> list[str]:
    t = transactions.c
    q = select(t.station_id).where(t.transaction_uid == uid, t.station_id != exclude).limit(10)
    return [r[0] for r in conn.execute(q)]


def tx_event_payload(conn: Connection, station_id: str, uid: str, seq_no: int) -> dict[str, Any] | None:
    e = tx_events.c
    q = select(e.payload).where(e.station_id == station_id, e.transaction_uid == uid, e.seq_no == seq_no)
    return conn.execute(q).scalar()


def register_series(conn: Connection, pk: int) -> list[float]:
    """The transaction's energy-register readings (Wh) in time order."""
    mv = meter_values.c
    rows = conn.execute(
        select(mv.energy_wh).where(mv.transaction_id == pk, mv.energy_wh.is_not(None)).order_by(mv.timestamp, mv.id)
    )
    return [float(r[0]) for r in rows]


def last_reading_at(conn: Connection, pk: int) -> datetime | None:
    mv = meter_values.c
    return conn.execute(select(func.max(mv.timestamp)).where(mv.transaction_id == pk)).scalar()


def write_close(
    conn: Connection,
    pk: int,
    *,
    stopped_at: datetime,
    meter_stop_wh: float | None,
    energy_wh: float | None,
    stop_reason: str | None,
    stop_id_token: str | None,
    closed_by: str | None,
    close_reason: str | None,
    flagged: bool,
    replace: bool = False,
) -> bool:
    """Store a transaction's end. Without ``replace`` only an open transaction is closed (False: it was
    not); with it, the station's own stop replaces figures the CSMS filled in when it closed it."""
    t = transactions.c
    q = update(transactions).where(t.id == pk)
    if not replace:
        q = q.where(t.stopped_at.is_(None))
    values: dict[str, Any] = {
        "stopped_at": stopped_at,
        "meter_stop_wh": meter_stop_wh,
        "energy_wh": energy_wh,
        "stop_reason": stop_reason,
        "stop_id_token": stop_id_token,
        "closed_by": closed_by,
        "close_reason": close_reason,
        "updated_at": utcnow(),
    }
    if flagged:
        values["flagged"] = True
    return conn.execute(q.values(**values)).rowcount > 0


def reopen(conn: Connection, pk: int, note: str) -> None:
    conn.execute(
        update(transactions)
        .where(transactions.c.id == pk)
        .values(stopped_at=None, meter_stop_wh=None, energy_wh=None, stop_reason=None, close_reason=note,
                closed_by=None, flagged=True, updated_at=utcnow())
    )  # fmt: skip


def blocked_running(conn: Connection) -> list[TxRow]:
    """Open transactions whose token is Blocked and that the CSMS has not acted on yet."""
    t, k = transactions.c, tokens.c
    q = (
        select(transactions)
        .join(tokens, k.id_token == t.id_token)
        .where(t.stopped_at.is_(None), t.deauthorized_at.is_(None), k.status == "Blocked")
    )
    return [TxRow.from_row(r) for r in conn.execute(q)]


def mark_deauthorized(conn: Connection, pk: int, at: datetime) -> None:
    conn.execute(update(transactions).where(transactions.c.id == pk).values(deauthorized_at=at))


def set_token_policy(conn: Connection, id_token: str, concurrent_tx: bool | None) -> bool:
    res = conn.execute(update(tokens).where(tokens.c.id_token == id_token).values(concurrent_tx=concurrent_tx))
    return res.rowcount > 0


def set_token_languages(conn: Connection, id_token: str, language1: str | None, language2: str | None) -> bool:
    res = conn.execute(
        update(tokens).where(tokens.c.id_token == id_token).values(language1=language1, language2=language2)
    )
    return res.rowcount > 0


def declared_connectors(conn: Connection, station_id: str) -> set[tuple[int, int]] | None:
    """The (EVSE, connector) pairs the station declared: 1.6 ``NumberOfConnectors`` (EVSE = connector),
    2.x the ``Connector@evseE.C`` components of its reported device model. None: not known."""
    v = variables.c
    rows = conn.execute(
        select(v.component, v.value).where(
            v.station_id == station_id,
            or_(and_(v.component == "", v.variable == "NumberOfConnectors"), v.component.like("Connector@evse%")),
        )
    ).all()
    declared: set[tuple[int, int]] = set()
    for component, value in rows:
        if component == "":
            try:
                return {(n, n) for n in range(1, int(value or "") + 1)}
            except ValueError:
                return None
        evse, _, number = component.removeprefix("Connector@evse").partition(".")
        if evse.isdigit() and number.isdigit():
            declared.add((int(evse), int(number)))
    return declared or None


# --------------------------------------------------------------------------- reservations


@dataclass(frozen=True, slots=True)
class ReservationRow(_RowMixin):
    id: int
    station_id: str
    evse_id: int | None
    connector_id: int | None
    connector_type: str | None
    id_token: str
    token_type: str | None
    group_id: str | None
    expires_at: datetime
    status: str
    transaction_id: int | None
    created_by: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime


LIVE_RESERVATION = ("Pending", "Accepted")


def add_reservation(conn: Connection, **values: Any) -> int:
    now = utcnow()
    stmt = reservations.insert().values(created_at=now, updated_at=now, **values).returning(reservations.c.id)
    return int(conn.execute(stmt).scalar_one())


def get_reservation(conn: Connection, reservation_id: int) -> ReservationRow | None:
    row = conn.execute(select(reservations).where(reservations.c.id == reservation_id)).first()
    return ReservationRow.from_row(row) if row else None


def list_reservations(
    conn: Connection, station_id: str | None = None, live_only: bool = False, limit: int = 100
) -> list[ReservationRow]:
    r = reservations.c
    q = select(reservations)
    if station_id is not None:
        q = q.where(r.station_id == station_id)
    if live_only:
        q = q.where(r.status.in_(LIVE_RESERVATION))
    return [ReservationRow.from_row(x) for x in conn.execute(q.order_by(r.id.desc()).limit(limit))]


def update_reservation(conn: Connection, reservation_id: int, *, only_if: tuple[str, ...] = (), **values: Any) -> bool:
    r = reservations.c
    q = update(reservations).where(r.id == reservation_id)
    if only_if:
        q = q.where(r.status.in_(only_if))
    return conn.execute(q.values(updated_at=utcnow(), **values)).rowcount > 0


def any_reservation_due(conn: Connection, now: datetime) -> bool:
    r = reservations.c
    q = select(r.id).where(r.status.in_(LIVE_RESERVATION), r.expires_at <= now).limit(1)
    return conn.execute(q).first() is not None


def expire_reservations(conn: Connection, now: datetime) -> list[ReservationRow]:
    """Mark live reservations past their expiry Expired; returns them."""
    r = reservations.c
    due = [
        ReservationRow.from_row(x)
        for x in conn.execute(select(reservations).where(r.status.in_(LIVE_RESERVATION), r.expires_at <= now))
    ]
    if due:
        conn.execute(
            update(reservations).where(r.id.in_([d.id for d in due])).values(status="Expired", updated_at=utcnow())
        )
    return due


def matching_reservation(
    conn: Connection, station_id: str, evse_id: int | None, id_token: str, group_id: str | None
) -> ReservationRow | None:
    """An Accepted reservation at this station for this EVSE (or any: NULL / 1.6 connector 0) held by
    this token or its group."""
    r = reservations.c
    holders = [r.id_token == id_token, r.group_id == id_token]
    if group_id:
        holders += [r.group_id == group_id, r.id_token == group_id]
    q = (
        select(reservations)
        .where(
            r.station_id == station_id,
            r.status == "Accepted",
            or_(r.evse_id.is_(None), r.evse_id == 0, r.evse_id == evse_id),
            or_(*holders),
        )
        .order_by(r.evse_id.is_(None), r.id)
    )
    row = conn.execute(q).first()
    return ReservationRow.from_row(row) if row else None


# --------------------------------------------------------------------------- local authorization lists


@dataclass(frozen=True, slots=True)
class LocalListRow(_RowMixin):
    station_id: str
    version: int
    station_version: int | None
    status: str
    detail: str | None
    synced_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One entry of a station's local list: what goes into SendLocalList."""

    id_token: str
    token_type: str | None
    status: str
    expiry: datetime | None
    group_id: str | None


def add_members(conn: Connection, station_id: str, kind: str, values: list[str]) -> None:
    now = utcnow()
    for value in values:
        stmt = _insert(conn, local_list_members).values(station_id=station_id, kind=kind, value=value, created_at=now)
        conn.execute(stmt.on_conflict_do_nothing())


def remove_members(conn: Connection, station_id: str, kind: str, values: list[str]) -> int:
    m = local_list_members.c
    q = delete(local_list_members).where(m.station_id == station_id, m.kind == kind, m.value.in_(values))
    return conn.execute(q).rowcount


def members(conn: Connection, station_id: str) -> list[tuple[str, str]]:
    m = local_list_members.c
    q = select(m.kind, m.value).where(m.station_id == station_id).order_by(m.kind, m.value)
    return [(r[0], r[1]) for r in conn.execute(q)]


def stations_with_member(conn: Connection, id_token: str, group_id: str | None) -> list[str]:
    """Stations whose local list includes this token (by itself or through its group)."""
    m = local_list_members.c
    cond = and_(m.kind == "token", m.value == id_token)
    if group_id:
        cond = or_(cond, and_(m.kind == "group", m.value == group_id))
    s = local_list_sent.c
    q = select(m.station_id).where(cond).union(select(s.station_id).where(s.id_token == id_token))
    return sorted({r[0] for r in conn.execute(q)})


def desired_entries(conn: Connection, station_id: str) -> list[ListEntry]:
    """The list the station should hold: its member tokens and the tokens of its member groups."""
    m = local_list_members.c
    k = tokens.c
    chosen = select(m.kind, m.value).where(m.station_id == station_id).subquery()
    q = (
        select(k.id_token, k.token_type, k.status, k.expiry, k.group_id)
        .where(
            or_(
                k.id_token.in_(select(chosen.c.value).where(chosen.c.kind == "token")),
                k.group_id.in_(select(chosen.c.value).where(chosen.c.kind == "group")),
            )
        )
        .order_by(k.id_token)
    )
    return [ListEntry(*r) for r in conn.execute(q)]


def sent_entries(conn: Connection, station_id: str) -> list[ListEntry]:
    s = local_list_sent.c
    q = (
        select(s.id_token, s.token_type, s.status, s.expiry, s.group_id)
        .where(s.station_id == station_id)
        .order_by(s.id_token)
    )
    return [ListEntry(*r) for r in conn.execute(q)]


def record_sent(conn: Connection, station_id: str, full: bool, updates: list[ListEntry], removed: list[str]) -> None:
    """What the station now holds after an accepted SendLocalList."""
    s = local_list_sent.c
    if full:
        conn.execute(delete(local_list_sent).where(s.station_id == station_id))
    if removed:
        conn.execute(delete(local_list_sent).where(s.station_id == station_id, s.id_token.in_(removed)))
    for e in updates:
        values = {"token_type": e.token_type, "status": e.status, "expiry": e.expiry, "group_id": e.group_id}
        stmt = _insert(conn, local_list_sent).values(station_id=station_id, id_token=e.id_token, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=[s.station_id, s.id_token], set_=values))


def get_local_list(conn: Connection, station_id: str) -> LocalListRow | None:
    row = conn.execute(select(local_lists).where(local_lists.c.station_id == station_id)).first()
    return LocalListRow.from_row(row) if row else None


def list_local_lists(conn: Connection) -> list[LocalListRow]:
    return [LocalListRow.from_row(r) for r in conn.execute(select(local_lists).order_by(local_lists.c.station_id))]


def set_local_list(conn: Connection, station_id: str, **values: Any) -> None:
    now = utcnow()
    values["updated_at"] = now
    stmt = _insert(conn, local_lists).values(station_id=station_id, **{"status": "Pending", **values})
    conn.execute(stmt.on_conflict_do_update(index_elements=[local_lists.c.station_id], set_=values))
