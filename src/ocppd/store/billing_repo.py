"""Repository functions for billing: tariff versions, assignments, transaction costs, signed values.

Like ``repo``, every function takes a ``sqlalchemy.Connection`` first and never commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Interval,
    case,
    cast,
    delete,
    exists,
    extract,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from .repo import _insert
from .rows import _RowMixin
from .schema import (
    limit_nodes,
    meter_public_keys,
    meter_values,
    signed_meter_values,
    station_local_costs,
    station_tariffs,
    tariff_assignments,
    tariff_versions,
    transaction_costs,
    transactions,
    tx_events,
)
from .types import UTCDateTime, utcnow


@dataclass(frozen=True, slots=True)
class TariffVersionRow(_RowMixin):
    id: int
    tariff_id: str
    valid_from: datetime
    valid_to: datetime | None
    body: dict[str, Any]
    created_at: datetime
    created_by: str | None


@dataclass(frozen=True, slots=True)
class AssignmentRow(_RowMixin):
    id: int
    tariff_id: str
    station_id: str | None
    evse_id: int | None
    group_id: str | None
    id_token: str | None
    created_at: datetime
    created_by: str | None
    site_id: str | None = None


@dataclass(frozen=True, slots=True)
class CostRow(_RowMixin):
    id: int
    transaction_id: int
    tariff_version_id: int | None
    tariff_id: str | None
    currency: str | None
    excl_vat_minor: int | None
    incl_vat_minor: int | None
    energy_wh: float | None
    cost: dict[str, Any] | None
    flags: list[str] | None
    reason: str
    computed_by: str | None
    computed_at: datetime
    site_id: str | None = None  # the site and token group the price was based on
    group_id: str | None = None
    charging_s: float | None = None
    parking_s: float | None = None


@dataclass(frozen=True, slots=True)
class SignedValueRow(_RowMixin):
    id: int
    transaction_id: int | None
    station_id: str
    evse_id: int
    timestamp: datetime
    context: str | None
    measurand: str | None
    value: float | None
    signed_data: str
    encoding: str | None
    signing_method: str | None
    public_key: str | None
    recorded_at: datetime
    verification: str | None = None  # verified, failed, unverifiable; None: recorded before 0016
    verification_detail: str | None = None


@dataclass(frozen=True, slots=True)
class MeterKeyRow(_RowMixin):
    station_id: str
    evse_id: int
    public_key: str
    variable: str
    updated_at: datetime


# --- tariffs ---------------------------------------------------------------------------------


def tariff_versions_of(conn: Connection, tariff_id: str) -> list[TariffVersionRow]:
    c = tariff_versions.c
    rows = conn.execute(select(tariff_versions).where(c.tariff_id == tariff_id).order_by(c.valid_from, c.id))
    return [TariffVersionRow.from_row(r) for r in rows]


def list_tariffs(conn: Connection) -> list[TariffVersionRow]:
    """Every tariff's versions, by tariff and start."""
    c = tariff_versions.c
    return [
        TariffVersionRow.from_row(r) for r in conn.execute(select(tariff_versions).order_by(c.tariff_id, c.valid_from))
    ]


def add_tariff_version(
    conn: Connection,
    tariff_id: str,
    body: dict[str, Any],
    valid_from: datetime,
    valid_to: datetime | None,
    created_by: str | None,
) -> TariffVersionRow | str:
    """Store a new version. An open-ended version that started earlier ends where the new one starts;
    any other overlap is refused: the answer is then the reason (a string)."""
    c = tariff_versions.c
    to_end: list[int] = []
    for old in tariff_versions_of(conn, tariff_id):
        new_end_after_old_start = valid_to is None or valid_to > old.valid_from
        old_end_after_new_start = old.valid_to is None or old.valid_to > valid_from
        if not (new_end_after_old_start and old_end_after_new_start):
            continue
        if old.valid_to is None and old.valid_from < valid_from:
            to_end.append(old.id)
            continue
        until = old.valid_to.isoformat() if old.valid_to else "open end"
        return f"overlaps version {old.id} ({old.valid_from.isoformat()} to {until})"
    if to_end:  # only once the new version is known to fit
        conn.execute(update(tariff_versions).where(c.id.in_(to_end)).values(valid_to=valid_from))
    row = {
        "tariff_id": tariff_id,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "body": body,
        "created_at": utcnow(),
        "created_by": created_by,
    }
    pk = conn.execute(insert(tariff_versions).values(**row)).inserted_primary_key[0]
    return TariffVersionRow(id=int(pk), **row)


def tariff_in_force(conn: Connection, tariff_id: str, at: datetime) -> TariffVersionRow | None:
    c = tariff_versions.c
    row = conn.execute(
        select(tariff_versions)
        .where(c.tariff_id == tariff_id, c.valid_from <= at, or_(c.valid_to.is_(None), c.valid_to > at))
        .order_by(c.valid_from.desc(), c.id.desc())
        .limit(1)
    ).first()
    return TariffVersionRow.from_row(row) if row else None


def get_tariff_version(conn: Connection, version_id: int) -> TariffVersionRow | None:
    row = conn.execute(select(tariff_versions).where(tariff_versions.c.id == version_id)).first()
    return TariffVersionRow.from_row(row) if row else None


# --- assignments -----------------------------------------------------------------------------


def add_assignment(conn: Connection, **fields: Any) -> AssignmentRow:
    row = {
        "tariff_id": fields["tariff_id"],
        "station_id": fields.get("station_id"),
        "evse_id": fields.get("evse_id"),
        "group_id": fields.get("group_id"),
        "id_token": fields.get("id_token"),
        "site_id": fields.get("site_id"),
        "created_at": utcnow(),
        "created_by": fields.get("created_by"),
    }
    pk = conn.execute(insert(tariff_assignments).values(**row)).inserted_primary_key[0]
    return AssignmentRow(id=int(pk), **row)


def list_assignments(conn: Connection) -> list[AssignmentRow]:
    rows = conn.execute(select(tariff_assignments).order_by(tariff_assignments.c.id))
    return [AssignmentRow.from_row(r) for r in rows]


def delete_assignment(conn: Connection, assignment_id: int) -> bool:
    return conn.execute(delete(tariff_assignments).where(tariff_assignments.c.id == assignment_id)).rowcount > 0


def any_assignment(conn: Connection) -> bool:
    """Whether any tariff applies anywhere (lets the per-event running cost skip unpriced fleets)."""
    return conn.execute(select(tariff_assignments.c.id).limit(1)).first() is not None


def candidate_assignments(
    conn: Connection, station_id: str, id_token: str | None, group_id: str | None, site_id: str | None = None
) -> list[AssignmentRow]:
    """Every assignment that could apply to a session at this station (on this site) with this token
    (the caller picks the most specific)."""
    c = tariff_assignments.c
    q = select(tariff_assignments).where(
        or_(c.station_id.is_(None), c.station_id == station_id),
        or_(c.id_token.is_(None), c.id_token == id_token),
        or_(c.group_id.is_(None), c.group_id == group_id),
        or_(c.site_id.is_(None), c.site_id == site_id),
    )
    return [AssignmentRow.from_row(r) for r in conn.execute(q.order_by(c.id))]


def station_site(conn: Connection, station_id: str) -> str | None:
    """The site a station belongs to in the limit tree (its root ancestor of kind site), if any."""
    c = limit_nodes.c
    parents = {r.node_id: (r.kind, r.parent_id) for r in conn.execute(select(c.node_id, c.kind, c.parent_id))}
    node, seen = station_id, set()
    while node in parents and node not in seen:  # a cycle cannot be stored, but never loop on one
        seen.add(node)
        kind, parent = parents[node]
        if kind == "site":
            return node if node != station_id else None
        node = parent
    return None


def is_site(conn: Connection, site_id: str) -> bool:
    c = limit_nodes.c
    return conn.execute(select(c.node_id).where(c.node_id == site_id, c.kind == "site")).first() is not None


# --- transaction inputs and costs --------------------------------------------------------------


def energy_readings(conn: Connection, pk: int) -> list[tuple[datetime, float]]:
    c = meter_values.c
    q = select(c.timestamp, c.energy_wh).where(c.transaction_id == pk, c.energy_wh.is_not(None)).order_by(c.timestamp)
    return [(r.timestamp, r.energy_wh) for r in conn.execute(q)]


def charging_states(conn: Connection, station_id: str, transaction_uid: str) -> list[tuple[int, dict[str, Any]]]:
    """(seqNo, payload) of the transaction's 2.x events, in order (their chargingState changes)."""
    c = tx_events.c
    q = select(c.seq_no, c.payload).where(c.station_id == station_id, c.transaction_uid == transaction_uid)
    return [(r.seq_no, r.payload or {}) for r in conn.execute(q.order_by(c.seq_no))]


def record_cost(conn: Connection, pk: int, **fields: Any) -> CostRow:
    row = {"transaction_id": pk, "computed_at": utcnow(), **fields}
    cost_id = conn.execute(insert(transaction_costs).values(**row)).inserted_primary_key[0]
    defaults = dict.fromkeys(
        (
            "tariff_version_id",
            "tariff_id",
            "currency",
            "excl_vat_minor",
            "incl_vat_minor",
            "energy_wh",
            "cost",
            "site_id",
            "group_id",
            "charging_s",
            "parking_s",
        ),
        None,
    )
    return CostRow(id=int(cost_id), **(defaults | {"flags": None, "computed_by": None} | row))


def cost_history(conn: Connection, pk: int) -> list[CostRow]:
    c = transaction_costs.c
    return [
        CostRow.from_row(r)
        for r in conn.execute(select(transaction_costs).where(c.transaction_id == pk).order_by(c.id))
    ]


def latest_costs(conn: Connection, pks: list[int]) -> dict[int, CostRow]:
    if not pks:
        return {}
    c = transaction_costs.c
    newest = select(func.max(c.id)).where(c.transaction_id.in_(pks)).group_by(c.transaction_id).scalar_subquery()
    rows = conn.execute(select(transaction_costs).where(c.id.in_(newest)))
    return {r.transaction_id: CostRow.from_row(r) for r in rows}


def daily_totals(
    conn: Connection, since: datetime | None, until: datetime | None, station_id: str | None
) -> list[dict[str, Any]]:
    """Per UTC day of the transaction's end and currency: count, energy, revenue (latest cost per transaction)."""
    c = transaction_costs.c
    t = transactions.c
    newest = select(func.max(c.id)).group_by(c.transaction_id).scalar_subquery()
    day = func.date(t.stopped_at)
    q = (
        select(
            day.label("day"),
            c.currency,
            func.count().label("transactions"),
            func.coalesce(func.sum(c.energy_wh), 0).label("energy_wh"),
            func.coalesce(func.sum(c.excl_vat_minor), 0).label("excl_vat_minor"),
            func.coalesce(func.sum(c.incl_vat_minor), 0).label("incl_vat_minor"),
        )
        .select_from(transaction_costs.join(transactions, t.id == c.transaction_id))
        .where(c.id.in_(newest), t.stopped_at.is_not(None))
        .group_by(day, c.currency)
        .order_by(day, c.currency)
    )
    if since is not None:
        q = q.where(t.stopped_at >= since)
    if until is not None:
        q = q.where(t.stopped_at < until)
    if station_id is not None:
        q = q.where(t.station_id == station_id)
    out = []
    for r in conn.execute(q):
        value = r.day
        out.append({**r._mapping, "day": value.isoformat() if isinstance(value, date) else str(value)})
    return out


# --- signed meter values -----------------------------------------------------------------------


def insert_signed_values(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        now = utcnow()
        conn.execute(insert(signed_meter_values), [{"recorded_at": now, **r} for r in rows])


def signed_values(conn: Connection, pk: int) -> list[SignedValueRow]:
    c = signed_meter_values.c
    q = select(signed_meter_values).where(c.transaction_id == pk).order_by(c.timestamp, c.id)
    return [SignedValueRow.from_row(r) for r in conn.execute(q)]


def iter_costed_transactions(conn: Connection, ids: list[int]) -> Iterator[tuple[Any, CostRow | None]]:
    costs = latest_costs(conn, ids)
    q = select(transactions).where(transactions.c.id.in_(ids)).order_by(transactions.c.id)
    for r in conn.execute(q):
        yield r, costs.get(r.id)


# --- reports -------------------------------------------------------------------------------------

_PERIOD_FORMATS = {
    "sqlite": {"day": "%Y-%m-%d", "month": "%Y-%m"},
    "postgresql": {"day": "YYYY-MM-DD", "month": "YYYY-MM"},
}


def stopped_range(conn: Connection, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime] | None:
    """The first and last end of a finished transaction in [since, until) (two index seeks), None: none."""
    t = transactions.c
    q = select(t.stopped_at).where(t.stopped_at.is_not(None))
    if since is not None:
        q = q.where(t.stopped_at >= since)
    if until is not None:
        q = q.where(t.stopped_at < until)
    first = conn.execute(q.order_by(t.stopped_at).limit(1)).scalar()
    last = conn.execute(q.order_by(t.stopped_at.desc()).limit(1)).scalar()
    return (first, last) if first is not None and last is not None else None


def _offset_at(column: Any, offsets: Sequence[tuple[datetime | None, int]], shift: Any) -> Any:
    """The zone's offset at ``column`` as a CASE tree over the transitions: log2(n) comparisons a row."""
    if len(offsets) == 1:
        return shift(offsets[0][1])
    middle = len(offsets) // 2
    at = literal(offsets[middle][0], UTCDateTime())
    return case(
        (column < at, _offset_at(column, offsets[:middle], shift)), else_=_offset_at(column, offsets[middle:], shift)
    )


def _local_period(dialect: str, column: Any, offsets: Sequence[tuple[datetime | None, int]], period: str) -> Any:
    """The local day (YYYY-MM-DD) or month (YYYY-MM) of a UTC time: its date after adding the zone's
    offset at that instant, as the offsets list them (SQLite has no time zones; PostgreSQL does the same)."""
    fmt = _PERIOD_FORMATS[dialect][period]
    if dialect == "sqlite":
        # The stored text 'YYYY-MM-DD HH:MM:SS.ffffff' without its fraction (SQLite's date functions keep
        # milliseconds and would round 23:59:59.9999 into the next day), then a '+3600 seconds' modifier:
        # offsets are whole seconds, so the date is that of the exact time.
        shift = _offset_at(column, offsets, lambda s: literal(f"{s:+d} seconds"))
        return func.strftime(fmt, func.substr(column, 1, 19), shift)
    shift = _offset_at(column, offsets, lambda s: cast(literal(f"{s:+d} seconds"), Interval))
    return func.to_char(func.timezone("UTC", column).op("+")(shift), fmt)


def _microseconds(dialect: str, later: Any, earlier: Any) -> ColumnElement[int]:
    """Whole microseconds from ``earlier`` to ``later``, exact (sums of sessions' durations stay exact)."""
    if dialect == "sqlite":

        def epoch_us(column: Any) -> Any:
            micro = cast(func.substr(column, 21, 6), Integer)  # the .ffffff of the stored text
            return cast(func.strftime("%s", column), Integer) * 1_000_000 + micro

        return epoch_us(later) - epoch_us(earlier)
    return cast(extract("epoch", later - earlier) * 1_000_000, BigInteger)


def report_totals(
    conn: Connection,
    *,
    period: str,
    key: str | None,
    offsets: Sequence[tuple[datetime | None, int]],
    since: datetime | None,
    until: datetime | None,
    filters: dict[str, str | None],
    after: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[Any]:
    """Sums per (local period, ``key``, currency) of the finished transactions ended in [since, until),
    each with its latest cost; ``key``: site_id, station_id, group_id, id_token or None (per period
    only). Ordered by (period, key or "", currency or ""), compared as code points; ``after`` such a
    cursor: only the groups after it; ``limit``: at most that many (the database groups them all, then
    answers one page). ``offsets``: ``reports.offsets`` of the zone over the ends (local periods).

    Rows, in this order (``reports.total`` unpacks them): period, key (None without one), currency,
    transactions, energy_wh, duration_us, charging_s, parking_s, excl_vat_minor, incl_vat_minor (sums;
    0 when none of them has one)."""
    dialect = conn.dialect.name
    c = transaction_costs.c
    t = transactions.c
    newer = transaction_costs.alias("newer")
    latest = ~exists().where(newer.c.transaction_id == c.transaction_id, newer.c.id > c.id)
    keys = {"site_id": c.site_id, "station_id": t.station_id, "group_id": c.group_id, "id_token": t.id_token}
    seconds = _microseconds(dialect, t.stopped_at, t.started_at)
    columns = [
        _local_period(dialect, t.stopped_at, offsets, period).label("period"),
        *([keys[key].label("key")] if key else []),
        c.currency,
        func.coalesce(c.energy_wh, t.energy_wh).label("energy_wh"),
        case((t.stopped_at > t.started_at, seconds), else_=0).label("duration_us"),  # one computation a row
        c.charging_s,
        c.parking_s,
        c.excl_vat_minor,
        c.incl_vat_minor,
    ]
    rows = (
        select(*columns)
        .select_from(transaction_costs.join(transactions, t.id == c.transaction_id))
        .where(latest, t.stopped_at.is_not(None))
    )
    if since is not None:
        rows = rows.where(t.stopped_at >= since)
    if until is not None:
        rows = rows.where(t.stopped_at < until)
    for name, value in filters.items():
        if value is not None:
            rows = rows.where(keys[name] == value)
    each = rows.subquery("each")
    e = each.c

    def summed(column: Any) -> Any:
        return func.coalesce(func.sum(column), 0)

    groups = [e.period, e.key, e.currency] if key else [e.period, e.currency]
    # Code point order (as Python sorts): UTF-8 bytes on SQLite, the "C" collation on PostgreSQL; a
    # missing key or currency first, as "" (sorted as the groups are, so SQLite sorts only once)
    collated = groups if dialect != "postgresql" else [g.collate("C") for g in groups]
    order = [collated[0], *(g.nulls_first() for g in collated[1:])]
    cursor = [collated[0], *(func.coalesce(g, "") for g in collated[1:])]
    q = (
        select(
            e.period,
            (e.key if key else literal(None)).label("key"),
            e.currency,
            func.count().label("transactions"),
            summed(e.energy_wh).label("energy_wh"),
            summed(e.duration_us).label("duration_us"),
            summed(e.charging_s).label("charging_s"),
            summed(e.parking_s).label("parking_s"),
            summed(e.excl_vat_minor).label("excl_vat_minor"),
            summed(e.incl_vat_minor).label("incl_vat_minor"),
        )
        .group_by(*groups)
        .order_by(*order)
    )
    if after is not None:  # the cursor is (period, key or "", currency or ""); without a key, "" throughout
        q = q.having(tuple_(*cursor) > tuple_(*(literal(v) for v in (after if key else (after[0], after[2])))))
    if limit is not None:
        q = q.limit(limit)
    return list(conn.execute(q))


def export_page(
    conn: Connection,
    limit: int,
    before: tuple[datetime, int] | None = None,
    *,
    station_id: str | None = None,
    id_token: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    site_id: str | None = None,
    group_id: str | None = None,
) -> list[tuple[Any, CostRow | None]]:
    """One keyset page of transactions (newest first, ``since``/``until`` bound the start) with their
    latest cost; ``site_id``/``group_id`` filter on what the cost was priced for."""
    c = transaction_costs.c
    t = transactions.c
    newer = transaction_costs.alias("newer")
    latest = (
        select(func.max(newer.c.id)).where(newer.c.transaction_id == t.id).correlate(transactions).scalar_subquery()
    )
    joined = transactions.outerjoin(transaction_costs, (c.transaction_id == t.id) & (c.id == latest))
    q = select(transactions, *(col.label(f"cost_{col.name}") for col in transaction_costs.c)).select_from(joined)
    if before is not None:
        q = q.where(tuple_(t.started_at, t.id) < tuple_(literal(before[0], UTCDateTime()), literal(before[1])))
    filters = ((t.station_id, station_id), (t.id_token, id_token), (c.site_id, site_id), (c.group_id, group_id))
    for column, value in filters:
        if value is not None:
            q = q.where(column == value)
    if since is not None:
        q = q.where(t.started_at >= since)
    if until is not None:
        q = q.where(t.started_at < until)
    out = []
    for r in conn.execute(q.order_by(t.started_at.desc(), t.id.desc()).limit(limit)):
        m = r._mapping
        cost = None
        if m["cost_id"] is not None:
            cost = CostRow(**{f: m[f"cost_{f}"] for f in CostRow.__dataclass_fields__})
        out.append((r, cost))
    return out


def verify_results(conn: Connection, results: list[tuple[int, str, str]]) -> None:
    """Record (id, verification, detail) of kept signed values."""
    c = signed_meter_values.c
    for pk, status, detail in results:
        conn.execute(
            update(signed_meter_values).where(c.id == pk).values(verification=status, verification_detail=detail[:512])
        )


def station_signed_values(conn: Connection, station_id: str, verification: str) -> list[SignedValueRow]:
    """A station's kept signed values with this verdict (re-checked when its meter key arrives)."""
    c = signed_meter_values.c
    q = select(signed_meter_values).where(c.station_id == station_id, c.verification == verification)
    return [SignedValueRow.from_row(r) for r in conn.execute(q.order_by(c.id))]


# --- meter public keys -------------------------------------------------------------------------


def upsert_meter_keys(conn: Connection, station_id: str, keys: list[tuple[int, str, str]]) -> list[int]:
    """Store (evse_id, public key, where) as the EVSEs' current meter keys; returns the EVSEs whose key
    is new or changed."""
    known = {k.evse_id: k.public_key for k in meter_keys_of(conn, station_id)}
    changed = []
    now = utcnow()
    for evse_id, key, where in {evse: (evse, key, where) for evse, key, where in keys}.values():
        if known.get(evse_id) == key:
            continue
        stmt = _insert(conn, meter_public_keys).values(
            station_id=station_id, evse_id=evse_id, public_key=key, variable=where[:512], updated_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["station_id", "evse_id"],
            set_={"public_key": key, "variable": where[:512], "updated_at": now},
        )
        conn.execute(stmt)
        changed.append(evse_id)
    return changed


def meter_keys_of(conn: Connection, station_id: str) -> list[MeterKeyRow]:
    c = meter_public_keys.c
    q = select(meter_public_keys).where(c.station_id == station_id).order_by(c.evse_id)
    return [MeterKeyRow.from_row(r) for r in conn.execute(q)]


def meter_key_for(keys: list[MeterKeyRow], evse_id: int) -> MeterKeyRow | None:
    """Pure: the EVSE's own key, else the station's (evse 0)."""
    by_evse = {k.evse_id: k for k in keys}
    return by_evse.get(evse_id) or by_evse.get(0)


def signature_verdicts(conn: Connection, pks: list[int]) -> dict[int, str]:
    """Per transaction, its signed values' verdicts as "verified:2 failed:1" (for exports)."""
    if not pks:
        return {}
    c = signed_meter_values.c
    q = (
        select(c.transaction_id, c.verification, func.count().label("n"))
        .where(c.transaction_id.in_(pks))
        .group_by(c.transaction_id, c.verification)
        .order_by(c.transaction_id, c.verification)
    )
    out: dict[int, list[str]] = {}
    for r in conn.execute(q):
        out.setdefault(r.transaction_id, []).append(f"{r.verification or 'unchecked'}:{r.n}")
    return {pk: " ".join(parts) for pk, parts in out.items()}


# --- OCPP 2.1 tariffs held by stations, and the stations' own cost -----------------------------


@dataclass(frozen=True, slots=True)
class StationTariffRow(_RowMixin):
    id: int
    station_id: str
    evse_id: int
    tariff_id: str
    kind: str
    transaction_uid: str | None
    body: dict[str, Any]
    source_tariff_id: str | None
    source_version_id: int | None
    status: str
    detail: str | None
    held: bool
    set_at: datetime
    checked_at: datetime | None


@dataclass(frozen=True, slots=True)
class LocalCostRow(_RowMixin):
    id: int
    transaction_id: int | None
    station_id: str
    transaction_uid: str
    event_type: str
    seq_no: int
    tariff_id: str | None
    cost_details: dict[str, Any]
    station_incl_vat: str | None
    csms_incl_vat: str | None
    difference: str | None
    flagged: bool
    recorded_at: datetime


def add_station_tariff(conn: Connection, **fields: Any) -> StationTariffRow:
    row = {"transaction_uid": None, "source_tariff_id": None, "source_version_id": None, "detail": None,
           "checked_at": None, "set_at": utcnow(), **fields}  # fmt: skip
    pk = conn.execute(insert(station_tariffs).values(**row)).inserted_primary_key[0]
    return StationTariffRow(id=int(pk), **row)


def station_tariffs_of(conn: Connection, station_id: str, *, held_only: bool = False) -> list[StationTariffRow]:
    c = station_tariffs.c
    q = select(station_tariffs).where(c.station_id == station_id)
    if held_only:
        q = q.where(c.held.is_(True))
    return [StationTariffRow.from_row(r) for r in conn.execute(q.order_by(c.id))]


def transaction_tariff_version(conn: Connection, station_id: str, transaction_uid: str) -> int | None:
    """The tariff version the station last accepted for this transaction (2.1 ChangeTransactionTariff;
    kind "transaction" as csms/billing/station_tariffs.py records it), or None."""
    c = station_tariffs.c
    q = (
        select(c.source_version_id)
        .where(c.station_id == station_id, c.transaction_uid == transaction_uid, c.kind == "transaction")
        .where(c.status == "Accepted", c.source_version_id.is_not(None))
        .order_by(c.id.desc())
        .limit(1)
    )
    return conn.execute(q).scalar()


def update_station_tariffs(conn: Connection, ids: list[int], **values: Any) -> None:
    if ids:
        conn.execute(update(station_tariffs).where(station_tariffs.c.id.in_(ids)).values(**values))


def add_local_cost(conn: Connection, **fields: Any) -> LocalCostRow:
    row = {"recorded_at": utcnow(), **fields}
    pk = conn.execute(insert(station_local_costs).values(**row)).inserted_primary_key[0]
    return LocalCostRow(id=int(pk), **row)


def local_costs(conn: Connection, pk: int) -> list[LocalCostRow]:
    c = station_local_costs.c
    q = select(station_local_costs).where(c.transaction_id == pk).order_by(c.id)
    return [LocalCostRow.from_row(r) for r in conn.execute(q)]
