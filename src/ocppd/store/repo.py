"""Repository functions: the only SQL in ocppd. Each takes a ``sqlalchemy.Connection`` first.

Writers are meant to run inside ``Store.write`` (batch transaction + savepoint per call), readers
inside ``Store.read``. Functions never commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, and_, bindparam, delete, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from .engine import json_dumps
from .rows import (
    ConnectorStatusRow,
    EventRow,
    MessageLogRow,
    MeterSampleRow,
    Reading,
    Sample,
    SampleValue,
    StationRow,
    StatusHistoryRow,
    TokenRow,
    TxEventRow,
    TxRow,
    VariableRow,
)
from .schema import (
    connector_status,
    events,
    meter_values,
    stations,
    tokens,
    transactions,
    tx_events,
    variables,
)
from .schema import message_log as message_log_table
from .schema import status_history as status_history_table
from .types import UTCDateTime, as_utc, utcnow

__all__ = [
    "ENERGY_REGISTER",
    "add_meter_values",
    "connector_status_of",
    "delete_station",
    "delete_token",
    "find_transaction",
    "get_station",
    "get_token",
    "get_transaction",
    "insert_log_rows",
    "insert_meter_rows",
    "list_connector_status",
    "list_events",
    "list_stations",
    "list_tokens",
    "list_transactions",
    "list_tx_events",
    "list_variables",
    "message_log",
    "meter_connectors",
    "meter_samples",
    "network_state",
    "prune_message_log",
    "reading_row",
    "readings_of",
    "record_boot",
    "record_event",
    "record_last_seen",
    "record_status",
    "record_tx_event",
    "running_energy",
    "set_registration",
    "set_token_status",
    "start_transaction",
    "station_ids",
    "station_power_readings",
    "status_history",
    "stop_transaction",
    "touch_station",
    "transaction_power",
    "transactions_by_uid",
    "update_transaction",
    "upsert_station",
    "upsert_token",
    "upsert_variables",
    "variable_values",
]

ENERGY_REGISTER = "Energy.Active.Import.Register"
# OCPP defaults for omitted sampledValue fields; stored explicitly so duplicates compare equal.
_DEFAULT_CONTEXT = "Sample.Periodic"
_DEFAULT_LOCATION = "Outlet"
_MAX_TX_PK = 2**31 - 1  # OCPP 1.6 transactionId is a signed 32-bit integer

_STATION_FIELDS = frozenset(c.name for c in stations.c) - {"station_id", "created_at"}
_TX_FIELDS = frozenset(c.name for c in transactions.c) - {"id", "created_at", "dedupe_key"}


def _insert(conn: Connection, table: Table) -> Any:
    """Dialect-specific INSERT (needed for ON CONFLICT)."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported dialect {name!r}")


def _check_fields(fields: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown {what} field(s): {', '.join(sorted(unknown))}")


# --------------------------------------------------------------------------- stations


def get_station(conn: Connection, station_id: str) -> StationRow | None:
    row = conn.execute(select(stations).where(stations.c.station_id == station_id)).first()
    return StationRow.from_row(row) if row else None


def upsert_station(conn: Connection, station_id: str, **fields: Any) -> None:
    """Create the station or update only the given columns (see ``StationRow`` for names)."""
    _check_fields(fields, _STATION_FIELDS, "station")
    now = utcnow()
    fields.setdefault("updated_at", now)
    stmt = _insert(conn, stations).values(station_id=station_id, created_at=now, **fields)
    stmt = stmt.on_conflict_do_update(
        index_elements=[stations.c.station_id], set_={k: stmt.excluded[k] for k in fields}
    )
    conn.execute(stmt)


def _contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match with the LIKE wildcards of ``text`` taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


def list_stations(
    conn: Connection,
    *,
    search: str | None = None,
    registration: str | None = None,
    after: str | None = None,
    limit: int | None = None,
    station_ids: Sequence[str] | None = None,
) -> list[StationRow]:
    """Stations by id; ``search`` matches id, vendor or model (substring, any case); ``after`` is the
    last id of the previous page (keyset paging); ``station_ids`` limits to those stations."""
    s = stations.c
    q = _station_filters(select(stations), search, registration, after)
    if station_ids is not None:
        q = q.where(s.station_id.in_(station_ids))
    q = q.order_by(s.station_id)
    if limit is not None:
        q = q.limit(limit)
    return [StationRow.from_row(r) for r in conn.execute(q)]


def station_ids(
    conn: Connection, search: str | None = None, registration: str | None = None, after: str | None = None
) -> list[str]:
    """The ids ``list_stations`` would give, ids only (cheap for 10,000s of stations)."""
    q = _station_filters(select(stations.c.station_id), search, registration, after)
    return [r[0] for r in conn.execute(q.order_by(stations.c.station_id))]


def _station_filters(q: Any, search: str | None, registration: str | None, after: str | None) -> Any:
    s = stations.c
    if search:
        q = q.where(or_(_contains(s.station_id, search), _contains(s.vendor, search), _contains(s.model, search)))
    if registration is not None:
        q = q.where(s.registration_status == registration)
    if after is not None:
        q = q.where(s.station_id > after)
    return q


def network_state(
    conn: Connection,
) -> tuple[list[tuple[str, str | None]], list[tuple[str, int, int, str]], list[tuple[str, int, str | None]]]:
    """What the overview counts, as plain tuples (10,000s of stations on every load): ``(station_id,
    registration)`` of every station, ``(station_id, evse, connector, status)`` of every connector,
    ``(station_id, evse, charging_state)`` of every running transaction."""
    s, c, t = stations.c, connector_status.c, transactions.c
    rows = [(r[0], r[1]) for r in conn.execute(select(s.station_id, s.registration_status))]
    conns = [(r[0], r[1], r[2], r[3]) for r in conn.execute(select(c.station_id, c.evse_id, c.connector_id, c.status))]
    running = [
        (r[0], int(r[1] or r[2] or 0), r[3])
        for r in conn.execute(
            select(t.station_id, t.evse_id, t.connector_id, t.charging_state).where(t.stopped_at.is_(None))
        )
    ]
    return rows, conns, running


def station_directory(
    conn: Connection,
) -> list[tuple[str, str | None, str | None, str | None, str | None, int | None]]:
    """``(station_id, registration_status, auth_password_hash, vendor, model, security_profile)`` of every
    station: what the handshake needs, as plain tuples (the server re-reads it every few seconds, for
    10,000s of stations)."""
    s = stations.c
    rows = conn.execute(
        select(s.station_id, s.registration_status, s.auth_password_hash, s.vendor, s.model, s.security_profile)
    )
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def set_soap_endpoint(conn: Connection, station_id: str, record: dict[str, Any]) -> None:
    """Keep an OCPP-S station's callback endpoint (``attrs.soap``), creating the station if needed."""
    row = conn.execute(select(stations.c.attrs).where(stations.c.station_id == station_id)).first()
    if row is None:
        upsert_station(conn, station_id, attrs={"soap": record})
        return
    attrs = dict(row[0] or {})
    attrs["soap"] = record
    conn.execute(update(stations).where(stations.c.station_id == station_id).values(attrs=attrs))


def soap_stations(conn: Connection) -> list[tuple[str, dict[str, Any]]]:
    """``(station_id, attrs.soap)`` of every station that has spoken OCPP-S."""
    rows = conn.execute(select(stations.c.station_id, stations.c.attrs).where(stations.c.attrs.is_not(None)))
    return [(r[0], r[1]["soap"]) for r in rows if isinstance(r[1], dict) and isinstance(r[1].get("soap"), dict)]


def set_registration(conn: Connection, station_id: str, status: str) -> bool:
    """Set registration status; False if the station is unknown."""
    res = conn.execute(
        update(stations)
        .where(stations.c.station_id == station_id)
        .values(registration_status=status, updated_at=utcnow())
    )
    return res.rowcount > 0


def record_boot(
    conn: Connection,
    station_id: str,
    ocpp_version: str | None,
    vendor: str | None,
    model: str | None,
    serial_number: str | None,
    firmware_version: str | None,
    boot_info: dict[str, Any] | None,
    registration_status: str | None,
) -> None:
    """Upsert the station's identity from a BootNotification and mark it booted/seen now."""
    now = utcnow()
    upsert_station(
        conn,
        station_id,
        ocpp_version=ocpp_version,
        vendor=vendor,
        model=model,
        serial_number=serial_number,
        firmware_version=firmware_version,
        boot_info=boot_info,
        registration_status=registration_status,
        last_boot_at=now,
        last_seen_at=now,
        updated_at=now,
    )


def touch_station(conn: Connection, station_id: str, at: datetime, *, heartbeat: bool = False) -> bool:
    """Update last_seen_at (and last_heartbeat_at if ``heartbeat``); False if unknown station."""
    values: dict[str, Any] = {"last_seen_at": at}
    if heartbeat:
        values["last_heartbeat_at"] = at
    res = conn.execute(update(stations).where(stations.c.station_id == station_id).values(**values))
    return res.rowcount > 0


def record_heartbeats(conn: Connection, rows: list[tuple[str, datetime]]) -> None:
    """Bulk ``touch_station(..., heartbeat=True)``: one executemany for every heartbeat of a batch."""
    if rows:
        stmt = (
            update(stations)
            .where(stations.c.station_id == bindparam("sid"))
            .values(last_seen_at=bindparam("at"), last_heartbeat_at=bindparam("at"))
        )
        conn.execute(stmt, [{"sid": sid, "at": at} for sid, at in rows])


def record_last_seen(conn: Connection, rows: list[tuple[str, datetime]]) -> None:
    """Move ``last_seen_at`` of these ``(station_id, at)`` forward (never back) in one executemany."""
    if rows:
        s = stations.c
        stmt = (
            update(stations)
            .where(s.station_id == bindparam("sid"), or_(s.last_seen_at.is_(None), s.last_seen_at < bindparam("at")))
            .values(last_seen_at=bindparam("at"))
        )
        conn.execute(stmt, [{"sid": sid, "at": at} for sid, at in rows])


def delete_station(conn: Connection, station_id: str) -> bool:
    """Delete the station and its current state (status, variables); history is kept for audit."""
    conn.execute(delete(connector_status).where(connector_status.c.station_id == station_id))
    conn.execute(delete(variables).where(variables.c.station_id == station_id))
    res = conn.execute(delete(stations).where(stations.c.station_id == station_id))
    return res.rowcount > 0


# --------------------------------------------------------------------------- status


def record_status(
    conn: Connection,
    station_id: str,
    evse_id: int | None,
    connector_id: int | None,
    status: str,
    error_code: str | None,
    info: str | None,
    timestamp: datetime | None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Append to the status history and upsert the connector's current status.

    ``None`` evse/connector ids are stored as 0 (whole station / 1.6). The current row only moves
    forward in time, so late replays of queued notifications cannot overwrite a newer status.
    """
    evse = evse_id or 0
    conn_id = connector_id or 0
    now = utcnow()
    ts = timestamp or now
    values = {
        "station_id": station_id,
        "evse_id": evse,
        "connector_id": conn_id,
        "status": status,
        "error_code": error_code,
        "info": info,
        "timestamp": ts,
        "extra": extra,
    }
    conn.execute(status_history_table.insert().values(**values, recorded_at=now))
    stmt = _insert(conn, connector_status).values(**values, updated_at=now)
    ex = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            connector_status.c.station_id,
            connector_status.c.evse_id,
            connector_status.c.connector_id,
        ],
        set_={
            "status": ex.status,
            "error_code": ex.error_code,
            "info": ex.info,
            "timestamp": ex.timestamp,
            "extra": ex.extra,
            "updated_at": ex.updated_at,
        },
        where=connector_status.c.timestamp <= ex.timestamp,
    )
    conn.execute(stmt)


def list_connector_status(conn: Connection, station_id: str) -> list[ConnectorStatusRow]:
    c = connector_status.c
    rows = conn.execute(select(connector_status).where(c.station_id == station_id).order_by(c.evse_id, c.connector_id))
    return [ConnectorStatusRow.from_row(r) for r in rows]


def connector_status_of(conn: Connection, station_ids: Sequence[str] | None) -> dict[str, list[ConnectorStatusRow]]:
    """Current connector status of these stations (all when None) in one query, by station."""
    c = connector_status.c
    q = select(connector_status)
    if station_ids is not None:
        if not station_ids:
            return {}
        q = q.where(c.station_id.in_(station_ids))
    out: dict[str, list[ConnectorStatusRow]] = {}
    for r in conn.execute(q.order_by(c.station_id, c.evse_id, c.connector_id)):
        out.setdefault(r.station_id, []).append(ConnectorStatusRow.from_row(r))
    return out


def status_history(conn: Connection, station_id: str, limit: int = 100) -> list[StatusHistoryRow]:
    """Most recent first."""
    c = status_history_table.c
    rows = conn.execute(
        select(status_history_table).where(c.station_id == station_id).order_by(c.id.desc()).limit(limit)
    )
    return [StatusHistoryRow.from_row(r) for r in rows]


# --------------------------------------------------------------------------- tokens


def get_token(conn: Connection, id_token: str) -> TokenRow | None:
    row = conn.execute(select(tokens).where(tokens.c.id_token == id_token)).first()
    return TokenRow.from_row(row) if row else None


def upsert_token(
    conn: Connection,
    id_token: str,
    token_type: str | None,
    status: str,
    expiry: datetime | None = None,
    group_id: str | None = None,
) -> None:
    now = utcnow()
    values = {"token_type": token_type, "status": status, "expiry": expiry, "group_id": group_id}
    stmt = _insert(conn, tokens).values(id_token=id_token, created_at=now, updated_at=now, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[tokens.c.id_token],
        set_={**{k: stmt.excluded[k] for k in values}, "updated_at": now},
    )
    conn.execute(stmt)


def list_tokens(
    conn: Connection,
    *,
    search: str | None = None,
    status: str | None = None,
    group_id: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[TokenRow]:
    """Tokens by id. ``status`` is the effective one: an Accepted token past its expiry is Expired
    (as ``token_dict`` shows it). ``after`` is the last id of the previous page (keyset paging)."""
    t = tokens.c
    q = select(tokens)
    if search:
        q = q.where(or_(_contains(t.id_token, search), _contains(t.group_id, search)))
    if status is not None:
        now = utcnow()
        past = and_(t.expiry.is_not(None), t.expiry <= now)
        if status == "Expired":
            q = q.where(or_(t.status == "Expired", and_(t.status == "Accepted", past)))
        elif status == "Accepted":
            q = q.where(t.status == "Accepted", ~past)
        else:
            q = q.where(t.status == status)
    if group_id is not None:
        q = q.where(t.group_id == group_id)
    if after is not None:
        q = q.where(t.id_token > after)
    q = q.order_by(t.id_token)
    if limit is not None:
        q = q.limit(limit)
    return [TokenRow.from_row(r) for r in conn.execute(q)]


def set_token_status(conn: Connection, id_token: str, status: str) -> bool:
    """False if the token is unknown."""
    res = conn.execute(update(tokens).where(tokens.c.id_token == id_token).values(status=status, updated_at=utcnow()))
    return res.rowcount > 0


def delete_token(conn: Connection, id_token: str) -> bool:
    return conn.execute(delete(tokens).where(tokens.c.id_token == id_token)).rowcount > 0


# --------------------------------------------------------------------------- transactions


def start_transaction(
    conn: Connection,
    station_id: str,
    transaction_uid: str | None,
    evse_id: int | None,
    connector_id: int | None,
    id_token: str | None,
    started_at: datetime,
    meter_start_wh: float | None,
    ocpp_version: str | None,
    dedupe_key: str,
) -> tuple[int, bool]:
    """Create a transaction idempotently; returns ``(pk, created)``.

    A repeated ``dedupe_key`` (or, for 2.x, an existing ``(station_id, transaction_uid)``)
    returns the existing pk with ``created=False``. For 1.6 (``transaction_uid`` None) the uid
    becomes ``str(pk)``.
    """
    now = utcnow()
    t = transactions.c
    stmt = (
        _insert(conn, transactions)
        .values(
            station_id=station_id,
            transaction_uid=transaction_uid,
            evse_id=evse_id,
            connector_id=connector_id,
            id_token=id_token,
            started_at=started_at,
            meter_start_wh=meter_start_wh,
            energy_wh=None,
            ocpp_version=ocpp_version,
            dedupe_key=dedupe_key,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
        .returning(t.id)
    )
    pk = conn.execute(stmt).scalar()
    if pk is None:
        existing = conn.execute(select(t.id).where(t.dedupe_key == dedupe_key)).scalar()
        if existing is None and transaction_uid is not None:
            existing = conn.execute(
                select(t.id).where(t.station_id == station_id, t.transaction_uid == transaction_uid)
            ).scalar()
        if existing is None:  # only reachable via a concurrent delete; surface it rather than guess
            raise RuntimeError(f"transaction conflict for dedupe_key={dedupe_key!r} but no row found")
        return int(existing), False
    if pk > _MAX_TX_PK:
        # PostgreSQL's SERIAL already stops here; SQLite's rowid is 64-bit so guard explicitly.
        raise OverflowError(f"transaction id {pk} exceeds the OCPP 1.6 int32 range")
    if transaction_uid is None:
        conn.execute(update(transactions).where(t.id == pk).values(transaction_uid=str(pk)))
    return int(pk), True


def find_transaction(conn: Connection, station_id: str, transaction_uid: str) -> TxRow | None:
    t = transactions.c
    row = conn.execute(
        select(transactions).where(t.station_id == station_id, t.transaction_uid == transaction_uid)
    ).first()
    return TxRow.from_row(row) if row else None


def transactions_by_uid(conn: Connection, transaction_uid: str, station_id: str | None = None) -> list[TxRow]:
    """Transactions with this station-given id (1.6: the CSMS's number), on any station unless one is given."""
    t = transactions.c
    q = select(transactions).where(t.transaction_uid == transaction_uid)
    if station_id is not None:
        q = q.where(t.station_id == station_id)
    return [TxRow.from_row(r) for r in conn.execute(q.order_by(t.id))]


def get_transaction(conn: Connection, pk: int) -> TxRow | None:
    row = conn.execute(select(transactions).where(transactions.c.id == pk)).first()
    return TxRow.from_row(row) if row else None


def update_transaction(conn: Connection, pk: int, **fields: Any) -> bool:
    """Update the given columns (see ``TxRow``); recomputes energy_wh when a meter changes."""
    _check_fields(fields, _TX_FIELDS, "transaction")
    if not fields:
        return get_transaction(conn, pk) is not None
    fields.setdefault("updated_at", utcnow())
    res = conn.execute(update(transactions).where(transactions.c.id == pk).values(**fields))
    if res.rowcount and "energy_wh" not in fields and {"meter_start_wh", "meter_stop_wh"} & fields.keys():
        _refresh_energy(conn, pk)
    return res.rowcount > 0


def stop_transaction(
    conn: Connection,
    pk: int,
    stopped_at: datetime,
    meter_stop_wh: float | None,
    stop_reason: str | None,
    id_token: str | None = None,
) -> bool:
    """Mark stopped and compute energy; False if unknown or already stopped (replay)."""
    t = transactions.c
    res = conn.execute(
        update(transactions)
        .where(t.id == pk, t.stopped_at.is_(None))
        .values(
            stopped_at=stopped_at,
            meter_stop_wh=meter_stop_wh,
            stop_reason=stop_reason,
            stop_id_token=id_token,
            updated_at=utcnow(),
        )
    )
    if not res.rowcount:
        return False
    _refresh_energy(conn, pk)
    return True


def running_energy(conn: Connection, pks: Sequence[int]) -> dict[int, float]:
    """Energy so far (Wh) of transactions from their energy-register readings, as ``_refresh_energy``
    computes it at the stop: highest reading minus the meter start (or the lowest reading)."""
    mv, t = meter_values.c, transactions.c
    rows = conn.execute(
        select(t.id, t.meter_start_wh, func.max(mv.energy_wh), func.min(mv.energy_wh))
        .join(meter_values, mv.transaction_id == t.id)
        .where(t.id.in_(pks), mv.energy_wh.is_not(None))
        .group_by(t.id, t.meter_start_wh)
    )
    return {r[0]: r[2] - (r[1] if r[1] is not None else r[3]) for r in rows}


def _refresh_energy(conn: Connection, pk: int) -> None:
    """energy_wh = stop - start; a missing end (or start) is taken from the highest (lowest) register reading."""
    mv = meter_values.c
    of_tx = and_(mv.transaction_id == pk, mv.energy_wh.is_not(None))
    smax = select(func.max(mv.energy_wh)).where(of_tx).scalar_subquery()
    smin = select(func.min(mv.energy_wh)).where(of_tx).scalar_subquery()
    t = transactions.c
    conn.execute(
        update(transactions)
        .where(t.id == pk)
        .values(energy_wh=func.coalesce(t.meter_stop_wh, smax) - func.coalesce(t.meter_start_wh, smin))
    )


METER_COLUMNS = ("transaction_id", "station_id", "evse_id", "connector_id", "timestamp", "context", "energy_wh",
                 "power_w", "samples", "digest")  # fmt: skip
_TS = METER_COLUMNS.index("timestamp")


def reading_row(
    pk: int | None, station_id: str, evse_id: int | None, connector_id: int | None, reading: Reading
) -> tuple[Any, ...]:
    """One meter_values row (``METER_COLUMNS`` order); the digest of the samples recognises replays."""
    samples = orjson.dumps(reading.samples)
    digest = hashlib.blake2b(samples, digest_size=8).hexdigest()
    return (pk, station_id, evse_id or 0, connector_id or 0, reading.timestamp, reading.context, reading.energy_wh,
            reading.power_w, samples.decode(), digest)  # fmt: skip


def insert_meter_rows(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert prepared readings with one driver-level executemany, ignoring replays.

    The hot path: SQLAlchemy's per-row bind processing cost more than the database itself, so the
    statement goes straight to the driver; timestamps are stored exactly as ``UTCDateTime`` stores
    them. No RETURNING and no energy refresh: a transaction's energy is computed when it stops.
    """
    if not rows:
        return
    columns = ", ".join(METER_COLUMNS)
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" * len(METER_COLUMNS))
        sql = f"INSERT OR IGNORE INTO meter_values ({columns}) VALUES ({marks})"
        rows = [(*r[:_TS], sqlite_timestamp(r[_TS]), *r[_TS + 1 :]) for r in rows]
    else:
        marks = ", ".join(["%s"] * len(METER_COLUMNS))
        sql = f"INSERT INTO meter_values ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    conn.exec_driver_sql(sql, rows)


def readings_of(samples: Sequence[Sample | tuple[Any, ...]]) -> list[Reading]:
    """Group flat samples by timestamp into readings, filling the OCPP defaults of omitted fields."""
    grouped: dict[datetime, list[SampleValue]] = {}
    for ts, measurand, phase, unit, value, context, location in samples:
        grouped.setdefault(ts, []).append(
            (measurand or ENERGY_REGISTER, phase or "", unit, float(value), context or _DEFAULT_CONTEXT,
             location or _DEFAULT_LOCATION)
        )  # fmt: skip
    return [Reading.of(ts, values) for ts, values in grouped.items()]


def add_meter_values(
    conn: Connection,
    pk: int | None,
    station_id: str,
    evse_id: int | None,
    connector_id: int | None,
    samples: Sequence[Sample | tuple[Any, ...]],
) -> int:
    """Store samples as readings, ignoring replays; returns the number of new sampled values and
    refreshes the transaction's running energy."""
    inserted = 0
    for reading in readings_of(samples):
        row = dict(zip(METER_COLUMNS, reading_row(pk, station_id, evse_id, connector_id, reading), strict=True))
        stmt = _insert(conn, meter_values).values(**row).on_conflict_do_nothing().returning(meter_values.c.id)
        if conn.execute(stmt).first() is not None:
            inserted += len(reading.samples)
            if pk is not None and reading.energy_wh is not None:
                _refresh_energy(conn, pk)
    return inserted


def meter_samples(conn: Connection, pk: int) -> list[MeterSampleRow]:
    """Every sampled value of a transaction, oldest first (``id`` is that of the reading)."""
    mv = meter_values.c
    rows = conn.execute(select(meter_values).where(mv.transaction_id == pk).order_by(mv.timestamp, mv.id))
    out = []
    for r in rows:
        for measurand, phase, unit, value, context, location in orjson.loads(r.samples):
            out.append(
                MeterSampleRow(r.id, r.transaction_id, r.station_id, r.evse_id, r.connector_id, as_utc(r.timestamp),
                               measurand, phase or None, unit, value, context, location)
            )  # fmt: skip
    return out


def transaction_power(conn: Connection, pk: int) -> list[tuple[datetime, float | None, float | None]]:
    """``(timestamp, power_w, energy_wh)`` of a transaction's readings that have either, oldest first.

    Only the two figure columns (not the samples JSON), through the (transaction_id, timestamp) index.
    """
    mv = meter_values.c
    rows = conn.execute(
        select(mv.timestamp, mv.power_w, mv.energy_wh)
        .where(mv.transaction_id == pk, or_(mv.power_w.is_not(None), mv.energy_wh.is_not(None)))
        .order_by(mv.timestamp, mv.id)
    )
    return [(r[0], r[1], r[2]) for r in rows]


def meter_connectors(conn: Connection, station_id: str) -> list[int]:
    """The connector ids a station has readings for: a loose index scan of the unique index that
    starts (station_id, connector_id, ...), one index seek per connector instead of reading them all."""
    mv = meter_values.c
    found: list[int] = []
    while True:
        q = select(mv.connector_id).where(mv.station_id == station_id)
        if found:
            q = q.where(mv.connector_id > found[-1])
        nxt = conn.execute(q.order_by(mv.connector_id).limit(1)).scalar()
        if nxt is None:
            return found
        found.append(int(nxt))


def station_power_readings(
    conn: Connection, station_id: str, since: datetime, until: datetime
) -> list[tuple[datetime, int, float]]:
    """``(timestamp, evse, power_w)`` of a station's readings with power in [since, until), oldest first.

    ``evse`` is the EVSE id (the connector id where there is none, as in the live view). The range is
    searched per connector on the unique index (station_id, connector_id, timestamp, ...).
    """
    connectors = meter_connectors(conn, station_id)
    if not connectors:
        return []
    mv = meter_values.c
    rows = conn.execute(
        select(mv.timestamp, mv.evse_id, mv.connector_id, mv.power_w)
        .where(
            mv.station_id == station_id,
            mv.connector_id.in_(connectors),
            mv.timestamp >= since,
            mv.timestamp < until,
            mv.power_w.is_not(None),
        )
        .order_by(mv.timestamp)
    )
    return [(r[0], int(r[1] or r[2] or 0), float(r[3])) for r in rows]


LOG_COLUMNS = ("station_id", "direction", "message_type", "message_id", "action", "frame", "logged_at", "frame_bytes")


def log_frame_columns(frame: str) -> tuple[str, bytes | None]:
    """``(frame, frame_bytes)`` for a logged frame: the text alone when a text column holds it exactly
    (nearly always), else a readable rendering plus the exact bytes.

    ``frame`` may carry bytes that were not UTF-8 as lone surrogates (``surrogateescape``), and NUL,
    which PostgreSQL text refuses: both would otherwise lose the frame, or its whole log batch."""
    if frame.isascii():
        if "\x00" not in frame:
            return frame, None
    else:
        try:
            frame.encode()
            if "\x00" not in frame:
                return frame, None
        except UnicodeEncodeError:
            pass
    raw = frame.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00"), raw


def insert_log_rows(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert message-log rows (``LOG_COLUMNS`` order) with one driver-level executemany."""
    columns = ", ".join(LOG_COLUMNS)
    if conn.dialect.name == "sqlite":
        sql = f"INSERT INTO message_log ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        rows = [(*r[:6], sqlite_timestamp(r[6]), r[7]) for r in rows]
    else:
        sql = f"INSERT INTO message_log ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    conn.exec_driver_sql(sql, rows)


def sqlite_timestamp(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite DateTime uses, for naive UTC (see types.UTCDateTime)."""
    return as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


_TX_EVENT_COLUMNS = "station_id, transaction_uid, seq_no, event_type, payload, recorded_at"


def _tx_event_insert(conn: Connection) -> str:
    """INSERT of one tx_events row that ignores a replay (same station, transaction, seqNo)."""
    if conn.dialect.name == "sqlite":
        return f"INSERT OR IGNORE INTO tx_events ({_TX_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
    return f"INSERT INTO tx_events ({_TX_EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s::json, %s) ON CONFLICT DO NOTHING"


def tx_update_row(
    station_id: str,
    transaction_uid: str,
    seq_no: int,
    event_type: str,
    payload: dict[str, Any] | None,
    meter_rows: list[tuple[Any, ...]],
) -> tuple[Any, ...]:
    """One row for ``insert_tx_updates``: the event (``_TX_EVENT_COLUMNS`` order) and its readings."""
    body = None if payload is None else json_dumps(payload)
    return (station_id, transaction_uid, seq_no, event_type, body, utcnow(), meter_rows)


def insert_tx_updates(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Bulk form of ``record_tx_event`` + ``insert_meter_rows`` for running 2.x transactions: two
    executemany per batch instead of a statement (a round trip on PostgreSQL) per event.

    A replayed event is ignored by the (station, uid, seq_no) key and its readings by the meter
    table's (station, connector, timestamp, digest) key, so nothing is stored twice."""
    if not rows:
        return
    events = [r[:6] for r in rows]
    if conn.dialect.name == "sqlite":
        events = [(*e[:5], sqlite_timestamp(e[5])) for e in events]
    conn.exec_driver_sql(_tx_event_insert(conn), events)
    insert_meter_rows(conn, [m for r in rows for m in r[6]])


def record_tx_event(
    conn: Connection,
    station_id: str,
    transaction_uid: str,
    seq_no: int,
    event_type: str,
    payload: dict[str, Any] | None,
) -> bool:
    """Store a 2.x TransactionEvent; False if ``(station, uid, seq_no)`` was already seen (replay).

    On the hot path of 2.x metering, hence a driver-level statement (see ``insert_meter_rows``)."""
    body = None if payload is None else json_dumps(payload)
    now = utcnow()
    params = (station_id, transaction_uid, seq_no, event_type, body,
              sqlite_timestamp(now) if conn.dialect.name == "sqlite" else now)  # fmt: skip
    sql = _tx_event_insert(conn)
    return conn.exec_driver_sql(sql, params).rowcount == 1


def list_tx_events(conn: Connection, station_id: str, transaction_uid: str) -> list[TxEventRow]:
    e = tx_events.c
    rows = conn.execute(
        select(tx_events).where(e.station_id == station_id, e.transaction_uid == transaction_uid).order_by(e.seq_no)
    )
    return [TxEventRow.from_row(r) for r in rows]


def list_transactions(
    conn: Connection,
    station_id: str | None = None,
    id_token: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    active_only: bool = False,
    limit: int = 100,
    before: tuple[datetime, int] | None = None,
    station_ids: Sequence[str] | None = None,
) -> list[TxRow]:
    """Newest first; ``since``/``until`` bound ``started_at`` (inclusive / exclusive). ``before`` is
    the ``(started_at, id)`` of the last row of the previous page (keyset paging: every page is an
    index range, however deep); ``station_ids`` limits to several stations."""
    t = transactions.c
    q = select(transactions)
    if before is not None:
        q = q.where(tuple_(t.started_at, t.id) < tuple_(literal(before[0], UTCDateTime()), literal(before[1])))
    if station_ids is not None:
        q = q.where(t.station_id.in_(station_ids))
    if station_id is not None:
        q = q.where(t.station_id == station_id)
    if id_token is not None:
        q = q.where(t.id_token == id_token)
    if since is not None:
        q = q.where(t.started_at >= since)
    if until is not None:
        q = q.where(t.started_at < until)
    if active_only:
        q = q.where(t.stopped_at.is_(None))
    rows = conn.execute(q.order_by(t.started_at.desc(), t.id.desc()).limit(limit))
    return [TxRow.from_row(r) for r in rows]


# --------------------------------------------------------------------------- events


def record_event(
    conn: Connection,
    station_id: str | None,
    kind: str,
    timestamp: datetime | None,
    payload: dict[str, Any] | None,
) -> int:
    """Append a station event (DataTransfer, SecurityEventNotification, ...); returns its id."""
    now = utcnow()
    stmt = events.insert().values(
        station_id=station_id, kind=kind, timestamp=timestamp or now, payload=payload, recorded_at=now
    )
    return int(conn.execute(stmt.returning(events.c.id)).scalar_one())


def list_events(
    conn: Connection, station_id: str | None = None, kind: str | None = None, limit: int = 100
) -> list[EventRow]:
    """Most recent first."""
    e = events.c
    q = select(events)
    if station_id is not None:
        q = q.where(e.station_id == station_id)
    if kind is not None:
        q = q.where(e.kind == kind)
    return [EventRow.from_row(r) for r in conn.execute(q.order_by(e.id.desc()).limit(limit))]


# --------------------------------------------------------------------------- device model / configuration


def upsert_variables(
    conn: Connection,
    station_id: str,
    rows: Iterable[tuple[str | None, str, str | None, str | None, bool | None]],
) -> int:
    """Upsert ``(component, variable, attribute, value, readonly)`` rows; returns rows written.

    A None component is stored as '' (1.6 configuration keys) and a None attribute as 'Actual'
    (the OCPP 2.x default attributeType). A None readonly keeps what is stored (a GetVariables answer
    says nothing about it). Later duplicates in ``rows`` win.
    """
    now = utcnow()
    # Dedupe first: PostgreSQL refuses to ON CONFLICT DO UPDATE the same row twice in one statement.
    by_key: dict[tuple[str, str, str], dict[str, Any]] = {}
    for component, variable, attribute, value, readonly in rows:
        key = (component or "", variable, attribute or "Actual")
        by_key[key] = {
            "station_id": station_id,
            "component": key[0],
            "variable": key[1],
            "attribute": key[2],
            "value": value,
            "readonly": readonly,
            "updated_at": now,
        }
    if not by_key:
        return 0
    for known in (True, False):  # rows with a readonly flag, then those that keep the stored one
        values = [
            {**r, "readonly": bool(r["readonly"])} for r in by_key.values() if (r["readonly"] is not None) is known
        ]
        if not values:
            continue
        stmt = _insert(conn, variables)
        ex = stmt.excluded
        changes: dict[str, Any] = {"value": ex.value, "updated_at": ex.updated_at}
        if known:
            changes["readonly"] = ex.readonly
        stmt = stmt.on_conflict_do_update(
            index_elements=[
                variables.c.station_id,
                variables.c.component,
                variables.c.variable,
                variables.c.attribute,
            ],
            set_=changes,
        )
        conn.execute(stmt, values)
    return len(by_key)


def list_variables(conn: Connection, station_id: str) -> list[VariableRow]:
    v = variables.c
    rows = conn.execute(
        select(variables).where(v.station_id == station_id).order_by(v.component, v.variable, v.attribute)
    )
    return [VariableRow.from_row(r) for r in rows]


def variable_values(
    conn: Connection, station_id: str, names: Iterable[tuple[str, str]], attribute: str = "Actual"
) -> dict[tuple[str, str], str | None]:
    """The stored values of the given ``(component, variable)`` pairs (1.6 keys: component '')."""
    wanted = list(names)
    if not wanted:
        return {}
    v = variables.c
    rows = conn.execute(
        select(v.component, v.variable, v.value).where(
            v.station_id == station_id,
            v.attribute == attribute,
            v.variable.in_(sorted({name for _, name in wanted})),
        )
    )
    keys = set(wanted)
    return {(c, n): value for c, n, value in rows if (c, n) in keys}


# --------------------------------------------------------------------------- message log


def message_log(
    conn: Connection,
    station_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str | None = None,
    limit: int = 200,
    before: tuple[datetime, int] | None = None,
) -> list[MessageLogRow]:
    """Logged frames, most recent first; ``since`` inclusive, ``until`` exclusive; ``before`` is the
    ``(logged_at, id)`` of the last frame of the previous page (keyset paging)."""
    m = message_log_table.c
    q = select(message_log_table)
    if before is not None:
        q = q.where(tuple_(m.logged_at, m.id) < tuple_(literal(before[0], UTCDateTime()), literal(before[1])))
    if station_id is not None:
        q = q.where(m.station_id == station_id)
    if since is not None:
        q = q.where(m.logged_at >= since)
    if until is not None:
        q = q.where(m.logged_at < until)
    if action is not None:
        q = q.where(m.action == action)
    rows = conn.execute(q.order_by(m.logged_at.desc(), m.id.desc()).limit(limit))
    return [MessageLogRow.from_row(r) for r in rows]


def prune_message_log(conn: Connection, older_than: datetime) -> int:
    """Delete frames logged before ``older_than``; returns the number deleted."""
    res = conn.execute(delete(message_log_table).where(message_log_table.c.logged_at < older_than))
    return int(res.rowcount)
