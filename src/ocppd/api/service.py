"""What the operator sees, assembled from the CSMS (live connections) and the store (state, history).

Shared by the JSON API and the server-rendered dashboard so both always show the same thing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from ocppd.api.errors import ApiError
from ocppd.api.live import LiveState
from ocppd.csms.service import Csms, StationOffline
from ocppd.protocol.actions import csms_initiated
from ocppd.protocol.errors import OcppError
from ocppd.protocol.validation import schemas
from ocppd.protocol.versions import OcppVersion
from ocppd.rpc import CallErrorReceived, CallTimeout, SessionClosed
from ocppd.store import ConnectorStatusRow, StationRow, TokenRow, TxRow, repo
from ocppd.store.repo import ENERGY_REGISTER

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


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def station_version(csms: Csms, station_id: str, row: StationRow | None) -> str | None:
    session = csms.sessions.get(station_id)
    if session is not None:
        return session.version.label
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
    }


def token_dict(t: TokenRow) -> dict[str, Any]:
    expired = t.expiry is not None and t.expiry <= datetime.now(UTC)
    return {
        "id_token": t.id_token,
        "type": t.token_type,
        "status": "Expired" if expired and t.status == "Accepted" else t.status,
        "stored_status": t.status,
        "expiry": iso(t.expiry),
        "group_id": t.group_id,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
    }


def _connector_dict(c: ConnectorStatusRow, active: dict[int, TxRow]) -> dict[str, Any]:
    status = c.status
    tx = active.get(c.evse_id)
    # 2.x reports Occupied for the connector; the transaction's chargingState tells whether energy flows.
    if status == "Occupied" and tx is not None and tx.charging_state:
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


class OperatorService:
    def __init__(self, csms: Csms, live: LiveState) -> None:
        self.csms = csms
        self.store = csms.store
        self.live = live

    # ------------------------------------------------------------------ stations
    def _station_dict(
        self, row: StationRow, connectors: list[ConnectorStatusRow], active: list[TxRow]
    ) -> dict[str, Any]:
        sid = row.station_id
        connected = self.csms.is_connected(sid)
        by_evse = {t.evse_id or t.connector_id or 0: t for t in active}
        conns = [_connector_dict(c, by_evse) for c in connectors]
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
            "last_boot_at": iso(row.last_boot_at),
            "last_seen_at": iso(row.last_seen_at),
            "last_heartbeat_at": iso(row.last_heartbeat_at),
            "created_at": iso(row.created_at),
            "connectors": conns,
            "active_transactions": len(active),
            "power_w": self.live.station_power(sid) if connected else 0.0,
        }

    async def stations(self) -> list[dict[str, Any]]:
        def op(conn: Connection) -> list[tuple[StationRow, list[ConnectorStatusRow], list[TxRow]]]:
            active = repo.list_transactions(conn, active_only=True, limit=100_000)
            by_station: dict[str, list[TxRow]] = {}
            for t in active:
                by_station.setdefault(t.station_id, []).append(t)
            return [
                (s, repo.list_connector_status(conn, s.station_id), by_station.get(s.station_id, []))
                for s in repo.list_stations(conn)
            ]

        return [self._station_dict(*item) for item in await self.store.read(op)]

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
            return (
                row,
                repo.list_connector_status(conn, station_id),
                repo.list_transactions(conn, station_id=station_id, active_only=True, limit=1000),
                repo.list_variables(conn, station_id),
                repo.list_events(conn, station_id=station_id, limit=20),
            )

        found = await self.store.read(op)
        if found is None:
            raise ApiError(404, f"unknown station {station_id!r}", "unknown_station")
        row, connectors, active, variables, events = found
        out = self._station_dict(row, connectors, active)
        evses: dict[int, dict[str, Any]] = {}
        for c in out["connectors"]:
            evse = evses.setdefault(c["evse_id"], {"evse_id": c["evse_id"], "connectors": []})
            evse["connectors"].append(c)
        out["evses"] = list(evses.values())
        out["boot_info"] = row.boot_info
        out["transactions"] = [tx_dict(t) for t in active]
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

    async def overview(self) -> dict[str, Any]:
        stations = await self.stations()
        by_status: dict[str, int] = {}
        for s in stations:
            by_status[s["status"]] = by_status.get(s["status"], 0) + 1
        return {
            "stations": len(stations),
            "connected": sum(1 for s in stations if s["connected"]),
            "charging": sum(1 for s in stations if s["status"] == "Charging"),
            "faulted": sum(1 for s in stations if s["status"] == "Faulted"),
            "by_status": by_status,
            "active_transactions": sum(s["active_transactions"] for s in stations),
            "power_w": self.live.total_power(),
            # Stations connected but not yet registered in the table (e.g. before their first boot).
            "unregistered_connected": sorted(set(self.csms.sessions) - {s["station_id"] for s in stations}),
        }

    # ------------------------------------------------------------------ transactions
    async def transactions(self, **filters: Any) -> list[dict[str, Any]]:
        rows = await self.store.read(lambda conn: repo.list_transactions(conn, **filters))
        return [tx_dict(t) for t in rows]

    async def transaction(self, pk: int) -> dict[str, Any]:
        def op(conn: Connection) -> Any:
            tx = repo.get_transaction(conn, pk)
            if tx is None:
                return None
            return tx, repo.meter_samples(conn, pk), repo.list_tx_events(conn, tx.station_id, tx.transaction_uid)

        found = await self.store.read(op)
        if found is None:
            raise ApiError(404, f"unknown transaction {pk}", "unknown_transaction")
        tx, samples, events = found
        out = tx_dict(tx)
        if out["energy_wh"] is None:  # still running: energy so far from the register readings
            register = [
                m.value
                for m in samples
                if m.measurand == ENERGY_REGISTER and m.phase is None and m.unit in ("Wh", None)
            ]
            if register:
                start = tx.meter_start_wh if tx.meter_start_wh is not None else register[0]
                out["energy_wh"] = max(register) - start
        out["meter_samples"] = [
            {**asdict(s), "timestamp": iso(s.timestamp)}
            for s in samples  # type: ignore[call-overload]
        ]
        out["events"] = [
            {"seq_no": e.seq_no, "event_type": e.event_type, "recorded_at": iso(e.recorded_at), "payload": e.payload}
            for e in events
        ]
        return out

    @staticmethod
    def transactions_csv(rows: list[dict[str, Any]]) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, TX_CSV_FIELDS, extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()

    # ------------------------------------------------------------------ message log
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
        except OcppError as exc:  # the station's answer broke the schema
            raise ApiError(502, f"station sent an invalid {action} answer: {exc}", "invalid_answer") from None
