"""The simulator's variable monitors (OCPP 2.0.1 N04-N08), sans-I/O.

``MonitorEngine.evaluate`` is given the time and a reader of the current values and returns the events
to send as NotifyEvent ``eventData``: a threshold monitor reports once when its value crosses the
threshold (trigger Alerting) and once when it is back (cleared), a Delta monitor whenever the value moved
by at least its delta since the last report (any change for a value that is not a number), a Periodic
monitor every ``value`` seconds and a PeriodicClockAligned one at multiples of ``value`` seconds after
midnight UTC. Only monitors with a severity at or below the monitoring level report (SetMonitoringLevel);
SetMonitoringBase HardWiredOnly removes the custom monitors and stops the preconfigured ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DAY = 86400.0
THRESHOLDS = ("UpperThreshold", "LowerThreshold")
TYPES_201 = ("UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned")
PRECONFIGURED_FROM = 1000  # ids of the station's own monitors; the CSMS's get 1, 2, ...


def number(value: str | None) -> float | None:
    try:
        x = float(str(value))
    except ValueError:
        return None
    return x if math.isfinite(x) else None


@dataclass(slots=True)
class Monitor:
    id: int
    component: dict[str, Any]
    variable: dict[str, Any]
    type: str
    value: float
    severity: int
    transaction: bool = False
    preconfigured: bool = False
    # evaluation state
    tripped: bool = False  # a threshold is crossed (reported, not cleared yet)
    reference: str | None = None  # the value last reported (Delta)
    next_at: float | None = None  # the next periodic report

    def key(self) -> tuple[Any, ...]:
        evse = self.component.get("evse") or {}
        return (self.component["name"], self.component.get("instance"), evse.get("id"), evse.get("connectorId"),
                self.variable["name"], self.variable.get("instance"))  # fmt: skip

    def report(self, v21: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.id, "transaction": self.transaction, "value": self.value,
                                "type": self.type, "severity": self.severity}  # fmt: skip
        if v21:
            item["eventNotificationType"] = "PreconfiguredMonitor" if self.preconfigured else "CustomMonitor"
        return item


# Reads (component, variable) -> (current value, is it numeric, transaction running there).
Reader = Callable[[dict[str, Any], dict[str, Any]], tuple[str | None, bool]]


@dataclass(slots=True)
class MonitorEngine:
    monitors: dict[int, Monitor] = field(default_factory=dict)
    level: int = 9  # report monitors of this severity or worse (lower)
    base: str = "All"
    _next_id: int = 1
    _event_id: int = 1

    def add_preconfigured(self, monitor: Monitor) -> None:
        monitor.preconfigured = True
        self.monitors[monitor.id] = monitor

    def set(self, item: dict[str, Any], numeric: bool, supports_monitoring: bool) -> tuple[str, int | None]:
        """SetMonitoringData: (status, id). The variable exists (the caller looked it up)."""
        kind = item["type"]
        if kind not in TYPES_201 or (kind in THRESHOLDS and not numeric) or not supports_monitoring:
            return "UnsupportedMonitorType", None
        value = float(item["value"])
        if (kind in ("Periodic", "PeriodicClockAligned") and value <= 0) or (kind == "Delta" and value < 0):
            return "Rejected", None
        if not 0 <= int(item["severity"]) <= 9:
            return "Rejected", None
        wanted = item.get("id")
        monitor = Monitor(0, item["component"], item["variable"], kind, value, int(item["severity"]),
                          bool(item.get("transaction", False)))  # fmt: skip
        if wanted is not None:
            existing = self.monitors.get(int(wanted))
            if existing is None or (existing.preconfigured and monitor.key() != existing.key()):
                return "Rejected", None  # N04.FR.?: an id the station does not have
            monitor.id = int(wanted)
            monitor.preconfigured = existing.preconfigured
        else:
            for m in self.monitors.values():
                if m.key() == monitor.key() and m.type == kind and m.severity == monitor.severity:
                    return "Duplicate", None
            monitor.id = self._next_id
            self._next_id += 1
        self.monitors[monitor.id] = monitor
        return "Accepted", monitor.id

    def clear(self, monitor_id: int) -> str:
        monitor = self.monitors.get(monitor_id)
        if monitor is None:
            return "NotFound"
        if monitor.preconfigured:
            return "Rejected"  # the station's own monitors are changed, never removed
        del self.monitors[monitor_id]
        return "Accepted"

    def set_base(self, base: str) -> str:
        self.base = base
        if base == "HardWiredOnly":
            for monitor_id in [i for i, m in self.monitors.items() if not m.preconfigured]:
                del self.monitors[monitor_id]
        return "Accepted"

    def set_level(self, severity: int) -> str:
        if not 0 <= severity <= 9:
            return "Rejected"
        self.level = severity
        return "Accepted"

    def active(self) -> list[Monitor]:
        return [m for m in self.monitors.values() if not (m.preconfigured and self.base == "HardWiredOnly")]

    def matching(self, criteria: list[str] | None, wanted: list[dict[str, Any]] | None) -> list[Monitor]:
        """GetMonitoringReport: the monitors of these criteria and component/variables."""
        kinds: set[str] = set()
        for c in criteria or ():
            kinds |= {"ThresholdMonitoring": set(THRESHOLDS), "DeltaMonitoring": {"Delta"},
                      "PeriodicMonitoring": {"Periodic", "PeriodicClockAligned"}}.get(c, set())  # fmt: skip
        found = []
        for m in self.active():
            if criteria and m.type not in kinds:
                continue
            if wanted and not any(_names(m, w) for w in wanted):
                continue
            found.append(m)
        return found

    def evaluate(self, now: float, read: Reader, in_transaction: Callable[[dict[str, Any]], bool]) -> list[dict]:
        """The eventData of every monitor that reports now (component/variable/actualValue...)."""
        events = []
        for m in self.active():
            if m.severity > self.level:
                continue
            if m.transaction and not in_transaction(m.component):
                if m.tripped:  # the transaction ended: the condition no longer applies
                    m.tripped = False
                    events.append(self._event(m, "Alerting", None, now, cleared=True))
                continue
            value, numeric = read(m.component, m.variable)
            x = number(value) if numeric else None
            if m.type in THRESHOLDS:
                if x is None:
                    continue
                beyond = x > m.value if m.type == "UpperThreshold" else x < m.value
                if beyond != m.tripped:
                    m.tripped = beyond
                    events.append(self._event(m, "Alerting", value, now, cleared=not beyond))
            elif m.type == "Delta":
                if m.reference is None:
                    m.reference = value
                    continue
                ref = number(m.reference)
                moved = (x is not None and ref is not None and abs(x - ref) >= m.value) if numeric else (
                    value != m.reference)  # fmt: skip
                if moved:
                    m.reference = value
                    events.append(self._event(m, "Delta", value, now))
            else:
                if m.next_at is None:
                    m.next_at = _next_periodic(m, now)
                if now >= m.next_at - 1e-6:
                    events.append(self._event(m, "Periodic", value, now))
                    m.next_at = _next_periodic(m, now, m.next_at)
        return events

    def next_due(self, now: float) -> float:
        """When ``evaluate`` must run next at the latest for periodic monitors."""
        due = [m.next_at for m in self.active() if m.next_at is not None and m.severity <= self.level]
        return min(due, default=now + 1.0)

    def _event(self, m: Monitor, trigger: str, value: str | None, now: float, cleared: bool = False) -> dict:
        event: dict[str, Any] = {
            "eventId": self._event_id, "trigger": trigger, "actualValue": "" if value is None else str(value)[:2500],
            "component": m.component, "variable": m.variable, "variableMonitoringId": m.id,
            "eventNotificationType": "PreconfiguredMonitor" if m.preconfigured else "CustomMonitor",
            "_severity": m.severity, "_at": now,
        }  # fmt: skip
        if trigger == "Alerting":
            event["cleared"] = cleared
        self._event_id += 1
        return event


def _names(m: Monitor, wanted: dict[str, Any]) -> bool:
    component = wanted.get("component") or {}
    if component.get("name") != m.component["name"]:
        return False
    evse = component.get("evse")
    if evse and (m.component.get("evse") or {}).get("id") != evse.get("id"):
        return False
    variable = wanted.get("variable")
    return variable is None or variable.get("name") == m.variable["name"]


def _next_periodic(m: Monitor, now: float, last: float | None = None) -> float:
    """The next report after ``now``: on the period from the last one (no drift), or on the clock."""
    if m.type == "PeriodicClockAligned":
        midnight = math.floor(now / DAY) * DAY
        return midnight + (math.floor((now - midnight + 1e-6) / m.value) + 1) * m.value
    nxt = (last if last is not None else now) + m.value
    while nxt <= now + 1e-6:  # reports missed while the station was busy or offline are not caught up
        nxt += m.value
    return nxt
