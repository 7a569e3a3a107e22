"""The simulator's monitors, sans-I/O: thresholds report crossing and clearing once each, Delta reports a
move of at least its delta, periodic ones report on their period, the level and the base are honoured."""

from __future__ import annotations

from typing import Any

from ocppd.station.monitors import Monitor, MonitorEngine

EVSE = {"name": "EVSE", "evse": {"id": 1}}
POWER = {"name": "Power"}


class Values:
    def __init__(self) -> None:
        self.power = "0"
        self.state = "Available"
        self.tx = False

    def read(self, component: dict[str, Any], variable: dict[str, Any]) -> tuple[str | None, bool]:
        return (self.power, True) if variable["name"] == "Power" else (self.state, False)

    def in_tx(self, component: dict[str, Any]) -> bool:
        return self.tx


def monitor(kind: str, value: float, severity: int = 5, **extra: Any) -> dict[str, Any]:
    return {"component": EVSE, "variable": POWER, "type": kind, "value": value, "severity": severity, **extra}


def test_upper_threshold_reports_the_crossing_and_the_clearing_once_each() -> None:
    engine, values = MonitorEngine(), Values()
    assert engine.set(monitor("UpperThreshold", 5000), True, True) == ("Accepted", 1)
    assert engine.evaluate(0, values.read, values.in_tx) == []
    values.power = "11000"
    [event] = engine.evaluate(1, values.read, values.in_tx)
    assert (event["trigger"], event["cleared"], event["actualValue"], event["variableMonitoringId"]) == (
        "Alerting", False, "11000", 1)  # fmt: skip
    assert engine.evaluate(2, values.read, values.in_tx) == []  # still above: nothing new
    values.power = "0"
    [event] = engine.evaluate(3, values.read, values.in_tx)
    assert event["cleared"] is True and event["eventNotificationType"] == "CustomMonitor"


def test_lower_threshold_delta_and_non_numeric_delta() -> None:
    engine, values = MonitorEngine(), Values()
    values.power = "100"
    engine.set(monitor("LowerThreshold", 50), True, True)
    engine.set(monitor("Delta", 1000, severity=6), True, True)
    engine.set({"component": EVSE, "variable": {"name": "AvailabilityState"}, "type": "Delta", "value": 1,
                "severity": 8}, False, True)  # fmt: skip
    assert engine.evaluate(0, values.read, values.in_tx) == []  # the first look sets the reference
    values.power, values.state = "40", "Occupied"
    triggers = sorted((e["trigger"], e["actualValue"]) for e in engine.evaluate(1, values.read, values.in_tx))
    assert triggers == [("Alerting", "40"), ("Delta", "Occupied")]  # 60 W moved: less than the delta
    values.power = "1200"
    triggers = sorted((e["trigger"], e.get("cleared")) for e in engine.evaluate(2, values.read, values.in_tx))
    assert triggers == [("Alerting", True), ("Delta", None)]


def test_periodic_and_clock_aligned_report_on_their_period() -> None:
    engine, values = MonitorEngine(), Values()
    engine.set(monitor("Periodic", 10), True, True)
    engine.set(monitor("PeriodicClockAligned", 60, severity=4), True, True)
    assert engine.evaluate(1000.0, values.read, values.in_tx) == []
    assert engine.next_due(1000.0) == 1010.0
    assert [e["trigger"] for e in engine.evaluate(1010.0, values.read, values.in_tx)] == ["Periodic"]
    assert len(engine.evaluate(1020.0, values.read, values.in_tx)) == 2  # 1020 is a whole minute too


def test_level_base_duplicates_and_refusals() -> None:
    engine, values = MonitorEngine(), Values()
    engine.add_preconfigured(Monitor(1000, {"name": "ChargingStation"}, {"name": "Temperature"}, "UpperThreshold",
                                     80.0, 4))  # fmt: skip
    assert engine.set(monitor("UpperThreshold", 10, severity=7), True, True)[0] == "Accepted"
    assert engine.set(monitor("UpperThreshold", 20, severity=7), True, True)[0] == "Duplicate"
    assert engine.set(monitor("UpperThreshold", 20, severity=7, id=99), True, True)[0] == "Rejected"
    assert engine.set(monitor("UpperThreshold", 20), False, True)[0] == "UnsupportedMonitorType"  # not a number
    assert engine.set(monitor("Periodic", 0), True, True)[0] == "Rejected"
    assert engine.set_level(10) == "Rejected" and engine.set_level(5) == "Accepted"
    values.power = "100"
    assert engine.evaluate(0, values.read, values.in_tx) == []  # severity 7 is above the level 5
    assert engine.clear(1000) == "Rejected" and engine.clear(1) == "Accepted" and engine.clear(1) == "NotFound"
    engine.set(monitor("Delta", 1), True, True)
    assert engine.set_base("HardWiredOnly") == "Accepted"
    assert engine.active() == [] and list(engine.monitors) == [1000]


def test_a_transaction_monitor_reports_only_during_one() -> None:
    engine, values = MonitorEngine(), Values()
    engine.set(monitor("UpperThreshold", 10, transaction=True), True, True)
    values.power = "100"
    assert engine.evaluate(0, values.read, values.in_tx) == []
    values.tx = True
    assert [e["cleared"] for e in engine.evaluate(1, values.read, values.in_tx)] == [False]
    values.tx = False
    assert [e["cleared"] for e in engine.evaluate(2, values.read, values.in_tx)] == [True]
