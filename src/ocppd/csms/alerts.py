"""Alerts: what the station reports (NotifyEvent, StatusNotification errors, critical security events) or
what ocppd notices (a station gone silent) turned into alerts that open and clear.

The decisions are pure functions (:func:`from_notify_event`, :func:`from_status`, :func:`overdue`,
:class:`Budget`); :class:`Alerts` keeps the open alerts of every station in memory, so a repeat of an
open alert costs no database write at once (its count is flushed with the housekeeping), and a station
may open at most ``alerts.max_new_per_minute`` alerts: past that its new ones are counted into one
``Storm`` alert, so a NotifyEvent storm from one station costs the others nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ocppd.config import AlertSettings
from ocppd.csms.events import EventBus
from ocppd.store import Store
from ocppd.store import alerts_repo as arepo

log = logging.getLogger("ocppd.alerts")

# OCPP 2.x severity scale (lower is worse), used for every source.
DANGER, HARDWARE_FAILURE, SYSTEM_FAILURE, CRITICAL, ERROR, ALERT, WARNING, NOTICE, INFORMATIONAL = range(9)

# 1.6 StatusNotification error codes that mean the hardware itself is at fault.
_HARDWARE_ERRORS = {"GroundFailure", "HighTemperature", "OverCurrentFailure", "OverVoltage", "UnderVoltage",
                    "PowerSwitchFailure", "ConnectorLockFailure", "PowerMeterFailure", "ReaderFailure"}  # fmt: skip
_MINOR_ERRORS = {"WeakSignal", "LocalListConflict", "EVCommunicationError"}

# Sources whose alerts only an operator closes (the station never reports a "cleared").
ONE_SHOT = ("Security",)


@dataclass(frozen=True, slots=True)
class Change:
    """Open (or repeat) the alert ``key``, or clear it; ``prefix`` clears every key starting with it."""

    key: str
    opens: bool
    source: str
    at: datetime
    severity: int | None = None
    code: str | None = None
    message: str = ""
    evse_id: int | None = None
    connector_id: int | None = None
    details: dict[str, Any] | None = None
    prefix: bool = False


def _component_name(thing: dict[str, Any]) -> str:
    name = str(thing.get("name", "?"))
    if thing.get("instance"):
        name += f"[{thing['instance']}]"
    return name


def from_notify_event(
    event_data: list[dict[str, Any]], at: datetime, monitor_severity: dict[int, int] | None = None
) -> list[Change]:
    """NotifyEvent ``eventData`` into changes of the alert of each event's component/variable (EVSE and
    connector included). Opens: trigger Alerting (a threshold crossed), a manufacturer's notification
    (HardWiredNotification), or the standard ``Problem`` variable turning true. Clears: ``cleared``, or
    ``Problem`` turning false. Other Periodic and Delta reports are readings, not alerts. Severity: the
    event's own (2.1), else the monitor's when it is known, else Error for a problem."""
    changes = []
    for item in event_data:
        component = item.get("component", {})
        variable = item.get("variable", {})
        evse = component.get("evse") or {}
        evse_id, connector_id = evse.get("id"), evse.get("connectorId")
        where = f"{_component_name(component)}/{_component_name(variable)}"
        key = f"event/{evse_id or 0}/{connector_id or 0}/{where}"
        trigger = item.get("trigger")
        code = item.get("techCode")
        when = _time(item.get("timestamp"), at)
        value = item.get("actualValue")
        problem_variable = variable.get("name") == "Problem"
        if item.get("cleared") or (problem_variable and str(value).lower() == "false"):
            changes.append(Change(key, False, "NotifyEvent", when))
            continue
        problem = (problem_variable and str(value).lower() == "true") or (
            item.get("eventNotificationType") == "HardWiredNotification"
        )
        if trigger != "Alerting" and not problem:
            continue
        severity = item.get("severity")
        if severity is None and monitor_severity and item.get("variableMonitoringId") is not None:
            severity = monitor_severity.get(int(item["variableMonitoringId"]))
        if severity is None and problem:
            severity = ERROR
        text = f"{where} {'problem' if problem else str(trigger).lower()}" + (
            f": {value}" if value not in (None, "") else ""
        )
        if item.get("techInfo"):
            text += f" ({item['techInfo']})"
        details = {k: item[k] for k in ("eventId", "eventNotificationType", "variableMonitoringId", "cause",
                                         "transactionId", "actualValue", "techInfo") if k in item}  # fmt: skip
        changes.append(Change(key, True, "NotifyEvent", when, severity, code, text, evse_id, connector_id, details))
    return changes


def from_status(
    evse_id: int,
    connector_id: int,
    status: str,
    error_code: str | None,
    vendor_error_code: str | None,
    info: str | None,
    at: datetime,
) -> list[Change]:
    """A StatusNotification: a 1.6 error code other than NoError (with the vendor's code) or a Faulted
    status opens the connector's alert; NoError (and, in 2.x, any status but Faulted) clears it."""
    prefix = f"status/{evse_id}/{connector_id}/"
    clear = Change(prefix, False, "StatusNotification", at, prefix=True)
    failing = error_code not in (None, "NoError")
    if not failing and status != "Faulted":
        return [clear]
    code = vendor_error_code or (error_code if failing else None) or "Faulted"
    key = f"{prefix}{error_code or 'Faulted'}/{vendor_error_code or ''}"
    if error_code in _HARDWARE_ERRORS or (not failing and status == "Faulted"):
        severity = HARDWARE_FAILURE
    elif error_code in _MINOR_ERRORS:
        severity = WARNING
    else:
        severity = ERROR
    where = "station" if connector_id == 0 else f"connector {connector_id}"
    text = f"{where} {status}: {error_code or 'Faulted'}" + (f" / {vendor_error_code}" if vendor_error_code else "")
    if info:
        text += f" ({info})"
    details = {"status": status, "error_code": error_code, "vendor_error_code": vendor_error_code, "info": info}
    # Another error on the same connector replaces the one before (the station reports one at a time).
    return [clear, Change(key, True, "StatusNotification", at, severity, code, text, evse_id, connector_id, details)]


def monitor_rows(report: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NotifyMonitoringReport ``monitor`` entries as rows: one per variableMonitoring."""
    rows = []
    for item in report:
        component = item.get("component", {})
        evse = component.get("evse") or {}
        where = _component_name(component) + (f"@evse{evse['id']}" if evse.get("id") else "")
        for m in item.get("variableMonitoring", []):
            variable = _component_name(item.get("variable", {}))
            row = {"monitor_id": int(m["id"]), "component": where, "variable": variable, "type": str(m.get("type"))}
            row["value"] = float(m.get("value", 0))
            row["severity"] = int(m.get("severity", 9))
            row["transaction"] = bool(m.get("transaction", False))
            rows.append(row)
    return rows


def overdue(last_seen: datetime, now: datetime, interval_s: float, margin_s: float) -> bool:
    """A station is offline once nothing came from it for its heartbeat interval plus the margin."""
    return (now - last_seen).total_seconds() > interval_s + margin_s


@dataclass
class Budget:
    """A token bucket: ``per_minute`` new alerts a minute, as a burst or spread."""

    per_minute: int
    tokens: float = -1.0
    at: datetime | None = None
    suppressed: int = 0  # new alerts refused since the last time one was allowed

    def allow(self, now: datetime) -> bool:
        if self.at is None or self.tokens < 0:
            self.tokens, self.at = float(self.per_minute), now
        else:
            elapsed = max(0.0, (now - self.at).total_seconds())
            self.tokens = min(float(self.per_minute), self.tokens + elapsed * self.per_minute / 60.0)
            self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.suppressed += 1
        return False

    def calm(self, now: datetime) -> bool:
        """A full minute's budget is back: the storm, if any, is over."""
        if self.at is None:
            return True
        refill = (now - self.at).total_seconds() * self.per_minute / 60.0
        return self.tokens + refill >= self.per_minute


@dataclass
class _Open:
    id: int
    source: str
    count: int = 1
    last_at: datetime | None = None
    dirty: bool = False


@dataclass
class _Station:
    open: dict[str, _Open] = field(default_factory=dict)
    budget: Budget | None = None


def _time(value: Any, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return default
    return default


STORM_KEY = "storm"
OFFLINE_KEY = "offline"


class Alerts:
    def __init__(self, settings: AlertSettings, store: Store, events: EventBus) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self._stations: dict[str, _Station] = {}
        self.monitor_severity: dict[str, dict[int, int]] = {}  # station -> monitor id -> severity

    def _station(self, station_id: str) -> _Station:
        station = self._stations.get(station_id)
        if station is None:
            station = self._stations[station_id] = _Station()
        return station

    async def start(self) -> None:
        """Load the open alerts (they stay open across restarts) and the monitors' severities."""
        for row in await self.store.read(arepo.list_alerts, state="open", limit=1_000_000):
            self._station(row["station_id"]).open[row["key"]] = _Open(row["id"], row["source"], row["count"])
        for monitor in await self.store.read(arepo.monitors_of):
            self.monitor_severity.setdefault(monitor["station_id"], {})[monitor["monitor_id"]] = monitor["severity"]

    def open_keys(self, station_id: str) -> list[str]:
        station = self._stations.get(station_id)
        return sorted(station.open) if station else []

    # ------------------------------------------------------------------ inputs
    async def notify_event(self, station_id: str, payload: dict[str, Any]) -> None:
        changes = from_notify_event(payload.get("eventData", []), datetime.now(UTC),
                                    self.monitor_severity.get(station_id))  # fmt: skip
        await self.apply(station_id, changes)

    async def status(self, station_id: str, evse_id: int, connector_id: int, status: str, error_code: str | None,
                     vendor_error_code: str | None, info: str | None, at: datetime) -> None:  # fmt: skip
        await self.apply(
            station_id, from_status(evse_id, connector_id, status, error_code, vendor_error_code, info, at)
        )

    async def security(self, station_id: str, event_type: str, tech_info: str | None, at: datetime) -> None:
        """A critical security event: open until an operator acknowledges it."""
        text = f"security event {event_type}" + (f" ({tech_info})" if tech_info else "")
        change = Change(f"security/{event_type}", True, "Security", at, CRITICAL, event_type, text)
        await self.apply(station_id, [change])

    # ------------------------------------------------------------------ the state machine
    async def apply(self, station_id: str, changes: list[Change]) -> None:
        for change in changes:
            if change.opens:
                await self._open(station_id, change)
            else:
                await self._clear(station_id, change.key, change.at, change.prefix)

    async def _open(self, station_id: str, change: Change, *, budgeted: bool = True) -> None:
        station = self._station(station_id)
        existing = station.open.get(change.key)
        if existing is not None:  # a repeat: counted in memory, written at the next flush
            existing.count += 1
            existing.last_at = change.at
            existing.dirty = True
            return
        if budgeted:
            if station.budget is None:
                station.budget = Budget(self.settings.max_new_per_minute)
            if not station.budget.allow(datetime.now(UTC)):
                await self._storm(station_id, station, change.at)
                return
        row = {"station_id": station_id, "key": change.key, "source": change.source, "severity": change.severity,
               "code": change.code, "message": change.message or change.key, "evse_id": change.evse_id,
               "connector_id": change.connector_id, "opened_at": change.at, "last_at": change.at, "count": 1,
               "details": change.details}  # fmt: skip
        station.open[change.key] = _Open(0, change.source)  # taken before the write: a repeat meanwhile counts
        alert_id = await self.store.write(arepo.open_alert, row)
        station.open[change.key].id = alert_id
        log.log(logging.WARNING if (change.severity or 9) <= ERROR else logging.INFO, "%s: alert opened: %s",
                station_id, row["message"])  # fmt: skip
        self.events.publish("alert.opened", station_id, alert=_public({**row, "id": alert_id}))

    async def _storm(self, station_id: str, station: _Station, at: datetime) -> None:
        storm = station.open.get(STORM_KEY)
        if storm is not None:
            storm.count += 1
            storm.last_at = at
            storm.dirty = True
            return
        text = f"more than {self.settings.max_new_per_minute} new alerts a minute: further ones are counted here"
        await self._open(station_id, Change(STORM_KEY, True, "Storm", at, WARNING, None, text), budgeted=False)

    async def _clear(self, station_id: str, key: str, at: datetime, prefix: bool = False) -> None:
        station = self._stations.get(station_id)
        if station is None:
            return
        keys = [k for k in station.open if k.startswith(key)] if prefix else [key] if key in station.open else []
        for k in keys:
            gone = station.open.pop(k)
            if gone.dirty:
                await self.store.write(arepo.record_repeats, [(gone.id, gone.count, gone.last_at or at)])
            await self.store.write(arepo.clear_alerts, [gone.id], at)
            log.info("%s: alert cleared: %s", station_id, k)
            self.events.publish("alert.cleared", station_id, alert={"id": gone.id, "key": k, "source": gone.source,
                                                                     "cleared_at": at.isoformat()})  # fmt: skip

    # ------------------------------------------------------------------ housekeeping
    async def flush(self) -> None:
        """Write the repeat counts of open alerts; close storms that calmed down."""
        now = datetime.now(UTC)
        rows = []
        for station in self._stations.values():
            for alert in station.open.values():
                if alert.dirty and alert.id:
                    rows.append((alert.id, alert.count, alert.last_at or now))
                    alert.dirty = False
        await self.store.write(arepo.record_repeats, rows)
        for station_id, station in list(self._stations.items()):
            if STORM_KEY in station.open and station.budget is not None and station.budget.calm(now):
                await self._clear(station_id, STORM_KEY, now)

    async def check_offline(self, last_seen: dict[str, datetime], interval_s: float, now: datetime) -> None:
        """Open the offline alert of every station silent beyond its interval; clear it once it spoke."""
        margin = self.settings.offline_margin_s
        for station_id, seen in last_seen.items():
            silent = overdue(seen, now, interval_s, margin)
            is_open = OFFLINE_KEY in self.open_keys(station_id)
            if silent and not is_open:
                text = f"no message since {seen.isoformat(timespec='seconds')} (heartbeat interval {interval_s:g} s)"
                change = Change(OFFLINE_KEY, True, "Offline", seen + timedelta(seconds=interval_s + margin), CRITICAL,
                                None, text, details={"last_seen_at": seen.isoformat()})  # fmt: skip
                await self._open(station_id, change, budgeted=False)
            elif not silent and is_open:
                await self._clear(station_id, OFFLINE_KEY, seen)

    # ------------------------------------------------------------------ operator
    async def list(self, **filters: Any) -> list[dict[str, Any]]:
        return [_public(row) for row in await self.store.read(arepo.list_alerts, **filters)]

    async def acknowledge(self, alert_id: int, by: str) -> dict[str, Any] | None:
        """Acknowledged: seen by an operator. A one-shot alert (security) is also cleared by it."""
        row = await self.store.read(arepo.alert_by_id, alert_id)
        if row is None:
            return None
        now = datetime.now(UTC)
        clear = row["source"] in ONE_SHOT
        done = await self.store.write(arepo.acknowledge_alert, alert_id, by, now, clear)
        if done is None:
            return None
        if clear:
            station = self._stations.get(row["station_id"])
            if station is not None:
                station.open.pop(row["key"], None)
        log.info("%s: alert %d acknowledged by %s", row["station_id"], alert_id, by)
        self.events.publish("alert.acknowledged", row["station_id"], alert=_public(done))
        return _public(done)

    async def prune(self) -> None:
        days = self.settings.event_retention_days
        if days > 0:
            gone = await self.store.write(arepo.prune_events, datetime.now(UTC) - timedelta(days=days))
            if gone:
                log.info("pruned %d station events older than %g days", gone, days)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """An alert as the API, the event stream and webhooks show it (times as ISO 8601)."""
    out = dict(row)
    for name in ("opened_at", "last_at", "cleared_at", "acknowledged_at", "updated_at"):
        value = out.get(name)
        if isinstance(value, datetime):
            out[name] = value.isoformat()
    out["state"] = "open" if out.get("cleared_at") is None else "cleared"
    return out
