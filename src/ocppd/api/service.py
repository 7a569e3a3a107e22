"""What the operator sees, assembled from the CSMS (live connections) and the store (state, history).

Shared by the JSON API and the server-rendered dashboard so both always show the same thing.
"""

from __future__ import annotations

import bisect
import csv
import inspect
import io
import math
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, TypeVar

from sqlalchemy import Connection

from ocppd.api.errors import ApiError, outbound_errors
from ocppd.api.live import LiveState
from ocppd.csms.outbound import (
    NotExpressible,
    R,
    Sent,
    StationOffline,
    Target,
    Verb,
)
from ocppd.csms.provisioning import credentials_of
from ocppd.csms.queue import queued_dict
from ocppd.csms.service import Csms, outbound_adapters
from ocppd.protocol.actions import csms_initiated
from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.protocol.validation import schemas
from ocppd.protocol.versions import OcppVersion
from ocppd.rpc import CallErrorReceived, CallTimeout, SessionClosed
from ocppd.store import ConnectorStatusRow, StationRow, TokenRow, TxRow, queue_repo, repo

T = TypeVar("T")

# Which connector status wins when summarising a station in one word (most important first).
_STATUS_RANK = [
    "Faulted",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "EVConnected",
    "Occupied",
    "Preparing",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Available",
]
TX_CSV_FIELDS = [
    "id",
    "transaction_id",
    "station_id",
    "evse_id",
    "connector_id",
    "id_token",
    "started_at",
    "stopped_at",
    "meter_start_wh",
    "meter_stop_wh",
    "energy_wh",
    "stop_reason",
    "ocpp_version",
]


# Station power history from the stored readings (see ``OperatorService.station_power``).
EXPORT_BATCH = 2000  # transactions per read of the CSV export
POWER_WINDOW_S = 3600  # what the station chart shows by default
MAX_POWER_BUCKETS = 10_000
MAX_HOLD_S = 900.0  # a reading's power holds until the EVSE's next one, but never longer than this
_NICE_BUCKETS_S = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
_HISTORY_TTL_S = 30.0  # how long stored history is reused before it is read again (late readings)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def station_version(csms: Csms, station_id: str, row: StationRow | None) -> str | None:
    session = csms.sessions.get(station_id)
    if session is not None:
        return session.label
    return row.ocpp_version if row is not None else None


def tx_dict(t: TxRow) -> dict[str, Any]:
    return {
        "id": t.id,
        "transaction_id": t.transaction_uid,
        "station_id": t.station_id,
        "evse_id": t.evse_id,
        "connector_id": t.connector_id,
        "id_token": t.id_token,
        "started_at": iso(t.started_at),
        "stopped_at": iso(t.stopped_at),
        "active": t.active,
        "meter_start_wh": t.meter_start_wh,
        "meter_stop_wh": t.meter_stop_wh,
        "energy_wh": t.energy_wh,
        "stop_reason": t.stop_reason,
        "charging_state": t.charging_state,
        "ocpp_version": t.ocpp_version,
        "remote_start_id": t.remote_start_id,
        "reservation_id": t.reservation_id,
        "offline": t.offline,
        "trigger_reason": t.trigger_reason,
        "closed_by": t.closed_by,
        "close_reason": t.close_reason,
        "flagged": t.flagged,
        "deauthorized_at": iso(t.deauthorized_at),
    }


def tx_dicts(
    conn: Connection, rows: Sequence[TxRow], stale: Callable[[TxRow], str | None] | None = None
) -> list[dict[str, Any]]:
    """``tx_dict`` of each row; a running transaction's ``energy_wh`` is the energy so far (from its
    register readings, one grouped query for all of them), as the detail and the CSV show it;
    ``stale`` says why an open one may not be live any more."""
    out = [tx_dict(t) for t in rows]
    if stale is not None:
        for d, t in zip(out, rows, strict=True):
            d["stale"] = stale(t)
    running = [t.id for t in rows if t.energy_wh is None]
    if running:
        so_far = repo.running_energy(conn, running)
        for d in out:
            if d["energy_wh"] is None and d["id"] in so_far:
                d["energy_wh"] = so_far[d["id"]]
    return out


def _csv_lines(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    csv.DictWriter(buffer, TX_CSV_FIELDS, extrasaction="ignore", lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


def token_dict(t: TokenRow) -> dict[str, Any]:
    return {
        "id_token": t.id_token,
        "type": t.token_type,
        "status": t.effective_status(datetime.now(UTC)),
        "stored_status": t.status,
        "expiry": iso(t.expiry),
        "group_id": t.group_id,
        "concurrent_tx": t.concurrent_tx,
        "language1": t.language1,
        "language2": t.language2,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
    }


def _connector_dict(c: ConnectorStatusRow, active: dict[int, TxRow], connected: bool) -> dict[str, Any]:
    status = c.status
    tx = active.get(c.evse_id)
    if not connected:
        # What an offline station last said is no news about now (SteVe/CitrineOS show it as offline too);
        # connector_status keeps the last report.
        status = "Offline"
    elif status == "Occupied" and tx is not None and tx.charging_state:
        # 2.x reports Occupied for the connector; the transaction's chargingState tells whether energy flows.
        status = tx.charging_state
    return {
        "evse_id": c.evse_id,
        "connector_id": c.connector_id,
        "status": status,
        "connector_status": c.status,
        "error_code": c.error_code,
        "info": c.info,
        "timestamp": iso(c.timestamp),
        "transaction_id": tx.transaction_uid if tx is not None else None,
    }


def summarise(connectors: Sequence[dict[str, Any]], connected: bool) -> str:
    if not connected:
        return "Offline"
    statuses = {c["status"] for c in connectors if c["connector_id"] != 0 or len(connectors) == 1}
    if not statuses:
        statuses = {c["status"] for c in connectors}
    for status in _STATUS_RANK:
        if status in statuses:
            return status
    return next(iter(statuses), "Unknown")


def default_bucket(window_s: int) -> int:
    """A round bucket giving at most about 180 points for the window."""
    raw = window_s / 180
    return next((b for b in _NICE_BUCKETS_S if b >= raw), _NICE_BUCKETS_S[-1])


def power_buckets(
    readings: Sequence[tuple[datetime, int, float]], since: datetime, until: datetime, bucket_s: int
) -> list[tuple[datetime, float]]:
    """Station power per time bucket from stored readings ``(timestamp, evse, power_w)`` (oldest first).

    Each EVSE's power holds from one reading to its next, but at most about 2.5 of its usual reading
    intervals (so an EVSE that stopped reporting, e.g. because its transaction ended, drops to zero);
    a bucket is the time-weighted mean of the sum over EVSEs. Buckets are aligned to multiples of
    ``bucket_s`` since the epoch; the first one returned is the first with any reading, the last one
    ends at ``until``. Readings before ``since`` only set the level the window starts at.
    """
    start = math.floor(since.timestamp() / bucket_s) * bucket_s
    end = until.timestamp()
    if end <= start or not readings:
        return []
    n = math.ceil((end - start) / bucket_s)
    energy = [0.0] * n  # W·s per bucket
    touched = [False] * n
    by_evse: dict[int, list[tuple[float, float]]] = {}
    for at, evse, watts in readings:
        by_evse.setdefault(evse, []).append((at.timestamp(), watts))
    if len(by_evse) > 1:
        by_evse.pop(0, None)  # the main meter already contains the outlets (see live.outlets_total)
    for points in by_evse.values():
        gaps = [b[0] - a[0] for a, b in pairwise(points) if b[0] > a[0]]
        hold = min(max(2.5 * statistics.median(gaps), 1.0), MAX_HOLD_S) if gaps else 60.0
        for i, (t, watts) in enumerate(points):
            t_end = min(points[i + 1][0], t + hold) if i + 1 < len(points) else t + hold
            lo, hi = max(t, start), min(t_end, end)
            if hi <= lo:
                continue
            k = int((lo - start) // bucket_s)
            while k < n:
                b_lo = start + k * bucket_s
                overlap = min(hi, b_lo + bucket_s) - max(lo, b_lo)
                if overlap <= 0:
                    break
                energy[k] += watts * overlap
                touched[k] = True
                k += 1
    if not any(touched):
        return []
    first = touched.index(True)
    out = []
    for k in range(first, n):
        b_lo = start + k * bucket_s
        length = min(bucket_s, end - b_lo)
        out.append((datetime.fromtimestamp(b_lo, UTC), energy[k] / length if length > 0 else 0.0))
    return out


def downsample(
    series: list[tuple[datetime, float | None, float | None]], points: int
) -> list[tuple[datetime, float | None, float | None]]:
    """At most ``points`` readings ``(at, power_w, energy_wh)``: equal time slices, each with the time
    of its first reading, the mean power and the last energy."""
    if len(series) <= points:
        return series
    t0, t1 = series[0][0].timestamp(), series[-1][0].timestamp()
    width = (t1 - t0) / points or 1.0
    slices: dict[int, list[tuple[datetime, float | None, float | None]]] = {}
    for row in series:
        slices.setdefault(min(int((row[0].timestamp() - t0) / width), points - 1), []).append(row)
    out = []
    for rows in slices.values():
        powers = [r[1] for r in rows if r[1] is not None]
        energies = [r[2] for r in rows if r[2] is not None]
        out.append((rows[0][0], sum(powers) / len(powers) if powers else None, energies[-1] if energies else None))
    return out


class OperatorService:
    def __init__(self, csms: Csms, live: LiveState) -> None:
        self.csms = csms
        self.store = csms.store
        self.live = live
        # station -> (from, to, bucket_s, monotonic time read, points): stored power history
        self._history: dict[str, tuple[datetime, datetime, int, float, list[tuple[datetime, float]]]] = {}
        self._network: tuple[float, Any] | None = None  # (monotonic time read, repo.network_state)

    # ------------------------------------------------------------------ stations
    def _station_dict(
        self, row: StationRow, connectors: list[ConnectorStatusRow], active: list[TxRow]
    ) -> dict[str, Any]:
        sid = row.station_id
        connected = self.csms.is_connected(sid)
        by_evse = {t.evse_id or t.connector_id or 0: t for t in active}
        conns = [_connector_dict(c, by_evse, connected) for c in connectors]
        return {
            "station_id": sid,
            "connected": connected,
            "connected_since": iso(self.csms.connected_at.get(sid)),
            "status": summarise(conns, connected),
            "ocpp_version": station_version(self.csms, sid, row),
            "registration": row.registration_status,
            "vendor": row.vendor,
            "model": row.model,
            "serial_number": row.serial_number,
            "firmware_version": row.firmware_version,
            "security_profile": row.security_profile,
            "credentials": credentials_of(row.auth_password_hash, self.csms.credentials.required_profile(sid)),
            "last_boot_at": iso(row.last_boot_at),
            "last_seen_at": iso(self.csms.presence.newest(sid, row.last_seen_at)),
            "last_heartbeat_at": iso(row.last_heartbeat_at),
            "created_at": iso(row.created_at),
            "connectors": conns,
            "active_transactions": len(active),
            "power_w": self.live.station_power(sid) if connected else 0.0,
            "soap": self.csms.soap.describe(sid, row.attrs),
        }

    def _stations_with_state(
        self, conn: Connection, rows: list[StationRow]
    ) -> list[tuple[StationRow, list[ConnectorStatusRow], list[TxRow]]]:
        """The rows with their connectors and active transactions: three queries for any number."""
        ids = [r.station_id for r in rows]
        connectors = repo.connector_status_of(conn, ids)
        active: dict[str, list[TxRow]] = {}
        for t in repo.list_transactions(conn, active_only=True, station_ids=ids, limit=max(1000, 20 * len(ids))):
            active.setdefault(t.station_id, []).append(t)
        return [(r, connectors.get(r.station_id, []), active.get(r.station_id, [])) for r in rows]

    async def station_page(
        self,
        *,
        search: str | None = None,
        registration: str | None = None,
        connected: bool | None = None,
        status: str | None = None,
        after: str | None = None,
        limit: int = 100,
        station_ids: list[str] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of stations by id and the id to continue after (None: last page); with
        ``station_ids`` only those of them that pass the filters (the dashboard's live rows).

        ``search`` and ``registration`` filter in SQL; ``connected`` and ``status`` are live state, so
        they filter the rows read, batch by batch, until the page is full. ``connected`` picks the
        candidates first (the ids with a session, or the stored ids without one), so only rows that
        can match are read in full."""
        if status is not None and connected is None:
            # Only a station without a connection is Offline, and only a connected one is anything else.
            connected = status != "Offline"
        batch = limit + 1 if connected is None and status is None else max(limit + 1, 500)
        live: list[str] | None = None  # the candidate ids, when the connection state picks them
        if station_ids is None and connected is True:
            live = sorted(self.csms.sessions)
        elif station_ids is None and connected is False:
            ids = await self.store.read(repo.station_ids, search, registration, after)
            live = [i for i in ids if not self.csms.is_connected(i)]
        found: list[dict[str, Any]] = []
        cursor = after
        while len(found) <= limit:
            if live is not None:
                start = bisect.bisect_right(live, cursor) if cursor is not None else 0
                ids = live[start : start + batch]
                if not ids:
                    break
                cursor = ids[-1]

                def op(conn: Connection, ids: list[str] = ids) -> Any:
                    rows = repo.list_stations(conn, search=search, registration=registration, station_ids=ids)
                    return self._stations_with_state(conn, rows), len(ids)

            else:

                def op(conn: Connection, cursor: str | None = cursor) -> Any:
                    rows = repo.list_stations(
                        conn,
                        search=search,
                        registration=registration,
                        after=cursor,
                        limit=batch,
                        station_ids=station_ids,
                    )
                    return self._stations_with_state(conn, rows), len(rows)

            items, read = await self.store.read(op)
            for item in items:
                d = self._station_dict(*item)
                if connected is not None and d["connected"] is not connected:
                    continue
                if status is not None and d["status"] != status:
                    continue
                found.append(d)
            if live is None:
                if not items:
                    break
                cursor = items[-1][0].station_id
            if read < batch:
                break
        if len(found) > limit:
            return found[:limit], found[limit - 1]["station_id"]
        return found, None

    async def station_row(self, station_id: str) -> StationRow:
        row = await self.store.read(repo.get_station, station_id)
        if row is None:
            raise ApiError(404, f"unknown station {station_id!r}", "unknown_station")
        return row

    async def station(self, station_id: str) -> dict[str, Any]:
        def op(conn: Connection) -> Any:
            row = repo.get_station(conn, station_id)
            if row is None:
                return None
            active = repo.list_transactions(conn, station_id=station_id, active_only=True, limit=1000)
            return (
                row,
                repo.list_connector_status(conn, station_id),
                active,
                repo.list_variables(conn, station_id),
                repo.list_events(conn, station_id=station_id, limit=20),
                tx_dicts(conn, active, self.csms.transactions.stale_reason),
            )

        found = await self.store.read(op)
        if found is None:
            raise ApiError(404, f"unknown station {station_id!r}", "unknown_station")
        row, connectors, active, variables, events, transactions = found
        out = self._station_dict(row, connectors, active)
        evses: dict[int, dict[str, Any]] = {}
        for c in out["connectors"]:
            evse = evses.setdefault(c["evse_id"], {"evse_id": c["evse_id"], "connectors": []})
            evse["connectors"].append(c)
        out["evses"] = list(evses.values())
        out["boot_info"] = row.boot_info
        out["transactions"] = transactions  # with the energy so far
        out["configuration"] = [
            {
                "component": v.component or None,
                "variable": v.variable,
                "attribute": v.attribute,
                "value": v.value,
                "readonly": v.readonly,
                "updated_at": iso(v.updated_at),
            }
            for v in variables
        ]
        out["notifications"] = [
            {"id": e.id, "kind": e.kind, "timestamp": iso(e.timestamp), "payload": e.payload} for e in events
        ]
        out["energy_wh"] = self.live.energy.get(station_id, {})
        return out

    async def register(self, station_id: str, registration: str, password_hash: str | None) -> bool:
        """Create or update a station's registration; True if it was new."""
        fields: dict[str, Any] = {"registration_status": registration}
        if password_hash is not None:
            fields["auth_password_hash"] = password_hash
            fields["security_profile"] = 1

        def op(conn: Connection) -> bool:
            created = repo.get_station(conn, station_id) is None
            repo.upsert_station(conn, station_id, **fields)
            return created

        created = await self.store.write(op)
        await self.csms.directory.refresh()  # the connection path reads the directory, not the table
        return created

    async def set_registration(self, station_id: str, registration: str) -> None:
        if not await self.store.write(repo.set_registration, station_id, registration):
            raise ApiError(404, f"unknown station {station_id!r}", "unknown_station")
        await self.csms.directory.refresh()

    async def delete_station(self, station_id: str) -> None:
        if not await self.store.write(repo.delete_station, station_id):
            raise ApiError(404, f"unknown station {station_id!r}", "unknown_station")
        await self.csms.directory.refresh()

    async def overview(self, sample: int = 0, max_age_s: float = 0.0) -> dict[str, Any]:
        """Network counts from three plain-tuple reads (no per-station detail), and with ``sample`` up
        to that many stations of each list the overview page shows: ``busy`` (charging or drawing
        power) and ``attention`` (faulted, unavailable or waiting for approval)."""
        # Every open overview page refreshes on events: at 10,000 stations one read may serve them all
        # for ``max_age_s`` (the API always reads afresh).
        cached = self._network
        if cached is not None and time.monotonic() - cached[0] < max_age_s:
            rows, conns, running = cached[1]
        else:
            rows, conns, running = state = await self.store.read(repo.network_state)
            self._network = (time.monotonic(), state)
        charging_state: dict[tuple[str, int], str | None] = {}
        sessions: dict[str, int] = {}
        for sid, evse, state in running:
            charging_state[(sid, evse)] = state
            sessions[sid] = sessions.get(sid, 0) + 1
        by_station: dict[str, list[dict[str, Any]]] = {}
        for sid, evse, connector, status in conns:
            state = charging_state.get((sid, evse))
            shown = state if status == "Occupied" and state else status
            by_station.setdefault(sid, []).append({"connector_id": connector, "status": shown})
        by_status: dict[str, int] = {}
        busy: list[str] = []
        attention: list[str] = []
        connected = 0
        for sid, registration in rows:
            online = self.csms.is_connected(sid)
            connected += online
            status = summarise(by_station.get(sid, []), online)
            by_status[status] = by_status.get(status, 0) + 1
            if sessions.get(sid) or (online and self.live.station_power(sid)):
                busy.append(sid)
            if status in ("Faulted", "Unavailable") or registration == "pending":
                attention.append(sid)
        known = {sid for sid, _ in rows}
        out = {
            "stations": len(rows),
            "connected": connected,
            "charging": by_status.get("Charging", 0),
            "faulted": by_status.get("Faulted", 0),
            "by_status": by_status,
            "active_transactions": len(running),
            "power_w": self.live.total_power(),
            # Stations connected but not yet registered in the table (e.g. before their first boot).
            "unregistered_connected": sorted(set(self.csms.sessions) - known),
        }
        if sample:
            out["busy"], out["busy_total"] = await self.stations_by_id(busy[:sample]), len(busy)
            out["attention"], out["attention_total"] = await self.stations_by_id(attention[:sample]), len(attention)
        return out

    async def stations_by_id(self, station_ids: list[str]) -> list[dict[str, Any]]:
        if not station_ids:
            return []

        def op(conn: Connection) -> Any:
            return self._stations_with_state(conn, repo.list_stations(conn, station_ids=station_ids))

        return [self._station_dict(*item) for item in await self.store.read(op)]

    # ------------------------------------------------------------------ transactions
    async def transactions(self, **filters: Any) -> list[dict[str, Any]]:
        """Transactions newest first (``repo.list_transactions`` filters), with the energy so far of
        those still running."""

        def op(conn: Connection) -> list[dict[str, Any]]:
            return tx_dicts(conn, repo.list_transactions(conn, **filters), self.csms.transactions.stale_reason)

        return await self.store.read(op)

    async def transaction_page(
        self, *, limit: int, before: tuple[datetime, int] | None = None, **filters: Any
    ) -> tuple[list[dict[str, Any]], tuple[datetime, int] | None]:
        """One page and the key to continue before (None: last page)."""
        rows = await self.transactions(limit=limit + 1, before=before, **filters)
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], (datetime.fromisoformat(last["started_at"]), last["id"])

    async def transactions_csv(self, limit: int | None = None, **filters: Any) -> AsyncIterator[bytes]:
        """Every matching transaction as CSV, read in keyset batches of ``EXPORT_BATCH`` rows: memory
        stays constant however many there are, and no database connection waits on a slow client."""
        yield _csv_lines([dict(zip(TX_CSV_FIELDS, TX_CSV_FIELDS, strict=True))])
        before: tuple[datetime, int] | None = None
        left = limit
        while left is None or left > 0:
            want = EXPORT_BATCH if left is None else min(EXPORT_BATCH, left)

            def op(conn: Connection, before: Any = before, want: int = want) -> list[dict[str, Any]]:
                return tx_dicts(conn, repo.list_transactions(conn, limit=want, before=before, **filters))

            rows = await self.store.read(op)
            if rows:
                yield _csv_lines(rows)
            if len(rows) < want:
                return
            before = (datetime.fromisoformat(rows[-1]["started_at"]), rows[-1]["id"])
            if left is not None:
                left -= len(rows)

    async def transaction(self, pk: int) -> dict[str, Any]:
        def op(conn: Connection) -> Any:
            tx = repo.get_transaction(conn, pk)
            if tx is None:
                return None
            events = repo.list_tx_events(conn, tx.station_id, tx.transaction_uid)
            return tx_dicts(conn, [tx], self.csms.transactions.stale_reason)[0], repo.meter_samples(conn, pk), events

        found = await self.store.read(op)
        if found is None:
            raise ApiError(404, f"unknown transaction {pk}", "unknown_transaction")
        out, samples, events = found
        out["meter_samples"] = [
            {**asdict(s), "timestamp": iso(s.timestamp)}
            for s in samples  # type: ignore[call-overload]
        ]
        out["events"] = [
            {"seq_no": e.seq_no, "event_type": e.event_type, "recorded_at": iso(e.recorded_at), "payload": e.payload}
            for e in events
        ]
        out["cost"] = await self.csms.billing.cost_of(pk)
        return out

    # ------------------------------------------------------------------ power charts
    async def station_power(
        self, station_id: str, window_s: int = POWER_WINDOW_S, bucket_s: int | None = None
    ) -> dict[str, Any]:
        """Power now and the station's total power over the last ``window_s`` seconds.

        The live series (in memory, filled by meter events) is used where it reaches; before its first
        point (e.g. after a restart, or beyond what it keeps) the stored readings fill in, bucketed by
        ``power_buckets``. The stored part is cached briefly, so a chart refreshing on every meter event
        does not read the database each time.
        """
        await self.station_row(station_id)
        bucket = bucket_s or default_bucket(window_s)
        if window_s / bucket > MAX_POWER_BUCKETS:
            raise ApiError(400, f"at most {MAX_POWER_BUCKETS} buckets: make 'bucket' larger", "invalid_input")
        now = datetime.now(UTC)
        since = now - timedelta(seconds=window_s)
        live = self.live.points(station_id)
        before = [p for p in live if p[0] <= since]
        recent = [p for p in live if p[0] > since]
        series: list[dict[str, Any]] = []
        history_until = None
        if before:  # the live series covers the window: start it at the level it had then
            series.append({"at": iso(since), "power_w": before[-1][1], "source": "live"})
        else:
            until = recent[0][0] if recent else now
            stored = await self._stored_power(station_id, since, now, bucket, until if recent else None)
            first, step = since - timedelta(seconds=bucket), timedelta(seconds=bucket)
            # Only buckets that end before the live series begins (no reading counted twice); without
            # a live series the last, still open bucket is the mean of its elapsed part.
            series.extend(
                {"at": iso(at), "power_w": watts, "source": "stored"}
                for at, watts in stored
                if first < at and (at + step <= until or (not recent and at < until))
            )
            if series:
                history_until = until
        series.extend({"at": iso(at), "power_w": watts, "source": "live"} for at, watts in recent)
        return {
            "station_id": station_id,
            "power_w": self.live.station_power(station_id),
            "window_s": window_s,
            "bucket_s": bucket,
            "history_until": iso(history_until),
            "series": series,
        }

    async def _stored_power(
        self, station_id: str, since: datetime, until: datetime, bucket_s: int, needed_until: datetime | None
    ) -> list[tuple[datetime, float]]:
        """Bucketed stored power of [since, until); a cached result serves if it starts early enough,
        reaches ``needed_until`` (where the live series takes over) and is younger than the TTL."""
        cached = self._history.get(station_id)
        if cached is not None:
            c_from, c_to, c_bucket, read_at, points = cached
            fresh = time.monotonic() - read_at < _HISTORY_TTL_S
            if fresh and c_bucket == bucket_s and c_from <= since and (needed_until is None or needed_until <= c_to):
                return points
        lookback = since - timedelta(seconds=MAX_HOLD_S)
        readings = await self.store.read(repo.station_power_readings, station_id, lookback, until)
        points = power_buckets(readings, since, until, bucket_s)
        if len(self._history) > 1000:  # a view cache, not a second store
            self._history.clear()
        self._history[station_id] = (since, until, bucket_s, time.monotonic(), points)
        return points

    async def transaction_power(self, pk: int, points: int | None = None) -> dict[str, Any]:
        """A transaction's power (W) and energy so far (Wh from its start) at each stored reading."""

        def op(conn: Connection) -> Any:
            tx = repo.get_transaction(conn, pk)
            return None if tx is None else (tx, repo.transaction_power(conn, pk))

        found = await self.store.read(op)
        if found is None:
            raise ApiError(404, f"unknown transaction {pk}", "unknown_transaction")
        tx, rows = found
        registers = [e for _, _, e in rows if e is not None]
        start = tx.meter_start_wh if tx.meter_start_wh is not None else (registers[0] if registers else None)
        energy = tx.energy_wh
        if energy is None and registers and start is not None:
            energy = max(registers) - start
        if points is not None:
            rows = downsample(rows, points)
        powers = [w for _, w, _ in rows if w is not None]
        return {
            "id": tx.id,
            "transaction_id": tx.transaction_uid,
            "station_id": tx.station_id,
            "started_at": iso(tx.started_at),
            "stopped_at": iso(tx.stopped_at),
            "active": tx.active,
            "meter_start_wh": start,
            "energy_wh": energy,
            "max_power_w": max(powers) if powers else None,
            "series": [
                {
                    "at": iso(at),
                    "power_w": watts,
                    "energy_wh": None if register is None or start is None else register - start,
                }
                for at, watts, register in rows
            ],
        }

    # ------------------------------------------------------------------ message log
    async def message_page(
        self, *, limit: int, before: tuple[datetime, int] | None = None, **filters: Any
    ) -> tuple[list[dict[str, Any]], tuple[datetime, int] | None]:
        """One page of the message log, newest first, and the key to continue before (None: last)."""
        rows = await self.messages(limit=limit + 1, before=before, **filters)
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], (datetime.fromisoformat(last["logged_at"]), last["id"])

    async def token_page(
        self, *, limit: int, after: str | None = None, **filters: Any
    ) -> tuple[list[dict[str, Any]], str | None]:
        rows = await self.store.read(lambda conn: repo.list_tokens(conn, after=after, limit=limit + 1, **filters))
        out = [token_dict(t) for t in rows[:limit]]
        return out, (out[-1]["id_token"] if len(rows) > limit else None)

    async def messages(self, **filters: Any) -> list[dict[str, Any]]:
        rows = await self.store.read(lambda conn: repo.message_log(conn, **filters))
        return [
            {
                "id": r.id,
                "station_id": r.station_id,
                "direction": r.direction,
                "message_type": r.message_type,
                "message_id": r.message_id,
                "action": r.action,
                "frame": r.frame,
                "logged_at": iso(r.logged_at),
            }
            for r in rows
        ]

    # ------------------------------------------------------------------ commands
    async def version_of(self, station_id: str) -> OcppVersion:
        """The connected station's OCPP version; 404 for an unknown station, 409 when it is offline."""
        session = self.csms.sessions.get(station_id)
        if session is not None:
            return session.version
        await self.station_row(station_id)
        raise ApiError(409, f"station {station_id!r} is not connected", "station_offline")

    async def enqueue(
        self, station_id: str, verb: Verb[Any], expiry_s: float, created_by: str | None
    ) -> dict[str, Any]:
        """Queue a verb for an offline station; 400 if its last known version cannot say it."""
        row = await self.station_row(station_id)
        version = OcppVersion.from_subprotocol(f"ocpp{row.ocpp_version}") if row.ocpp_version else None
        if version is not None:
            try:
                outbound_adapters(version).plan(verb, Target(station_id, version))
            except NotExpressible as exc:
                raise ApiError(400, f"{verb.name}: {exc}", "invalid_input") from None
        queued = await self.csms.queue.enqueue(station_id, verb, timedelta(seconds=expiry_s), created_by)
        return queued_dict(queued)

    async def queued(self, station_id: str | None, status: str | None) -> list[dict[str, Any]]:
        rows = await self.csms.queue.listed(station_id, (status,) if status else None)
        return [queued_dict(r) for r in rows]

    async def cancel_queued(self, station_id: str, command_id: int) -> dict[str, Any]:
        outcome = await self.csms.queue.cancel(command_id, station_id)
        if outcome is None:
            raise ApiError(404, f"no queued command {command_id} for station {station_id!r}", "unknown_command")
        cancelled, status = outcome
        if not cancelled:
            raise ApiError(409, f"command {command_id} is already {status}", "not_queued")
        row = await self.store.read(queue_repo.get, command_id)
        assert row is not None
        return queued_dict(row)

    async def send(
        self, station_id: str, verb: Verb[R], timeout: float | None = None, *, name: str = "", by: str | None = None
    ) -> Sent[R]:
        """Carry out a domain verb (``by``: who asked); map every failure to the right HTTP status."""
        sending = self.csms.send(station_id, verb, timeout=timeout, by=by)
        return await self.carry_out(station_id, sending, name or verb.name)

    async def carry_out(self, station_id: str, operation: Awaitable[T], name: str) -> T:
        """Await a domain operation that sends verbs to the station; map every failure to its HTTP status."""
        try:
            await self.version_of(station_id)
        except ApiError:
            if inspect.iscoroutine(operation):
                operation.close()  # never started: no "never awaited" warning
            raise
        with outbound_errors(name):
            return await operation

    async def call(
        self, station_id: str, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """Validate and send a CSMS-initiated message; map every failure to the right HTTP status."""
        version = await self.version_of(station_id)
        if action not in csms_initiated(version):
            raise ApiError(400, f"{action} is not a CSMS-initiated message of OCPP {version.label}", "unknown_action")
        try:
            schemas(version).validate(action, payload)
        except OcppError as exc:
            raise ApiError(400, f"invalid {action} payload: {exc}", "invalid_payload", exc.details) from None
        try:
            return await self.csms.call(station_id, action, payload, timeout=timeout)
        except (StationOffline, SessionClosed) as exc:
            raise ApiError(409, f"station {station_id!r} is not connected ({exc})", "station_offline") from None
        except (TimeoutError, CallTimeout) as exc:
            raise ApiError(504, f"station {station_id!r} did not answer in time: {exc}", "station_timeout") from None
        except CallErrorReceived as exc:
            raise ApiError(
                502,
                f"station answered {action} with CALLERROR {exc.code}: {exc}",
                "call_error",
                {"error_code": exc.code, "error_details": exc.details},
            ) from None
        except OcppError as exc:
            if exc.kind is ErrorKind.NOT_SUPPORTED:  # refused before sending: not in this OCPP-S version
                raise ApiError(400, exc.description, "unknown_action") from None
            # the station's answer broke the schema
            raise ApiError(502, f"station sent an invalid {action} answer: {exc}", "invalid_answer") from None
