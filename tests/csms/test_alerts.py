"""The pure decisions of alerts (csms/alerts.py): NotifyEvent and StatusNotification into alert changes,
the per-station budget, offline detection. Time is passed in: nothing here depends on the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocppd.csms.alerts import HARDWARE_FAILURE, WARNING, Budget, from_notify_event, from_status, overdue

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _event(**fields: object) -> dict[str, object]:
    return {
        "eventId": 1,
        "timestamp": "2026-12-01T10:00:00Z",
        "trigger": "Alerting",
        "actualValue": "85",
        "eventNotificationType": "HardWiredMonitor",
        "component": {"name": "EVSE", "evse": {"id": 1}},
        "variable": {"name": "Temperature"},
        **fields,
    }


def test_tc_n_21_hard_wired_alerting_event_opens_an_alert_of_its_component() -> None:
    [change] = from_notify_event([_event(techCode="T42", severity=2)], T0)
    assert change.opens and change.source == "NotifyEvent"
    assert change.key == "event/1/0/EVSE/Temperature"
    assert (change.severity, change.code, change.evse_id) == (2, "T42", 1)
    assert "85" in change.message and change.details["eventNotificationType"] == "HardWiredMonitor"


def test_tc_n_49_cleared_event_closes_the_same_alert() -> None:
    opened = from_notify_event([_event()], T0)[0]
    [cleared] = from_notify_event([_event(cleared=True, trigger="Alerting")], T0)
    assert not cleared.opens and cleared.key == opened.key


def test_tc_n_50_periodic_and_delta_events_are_readings_not_alerts() -> None:
    assert from_notify_event([_event(trigger="Periodic"), _event(trigger="Delta")], T0) == []


def test_tc_n_48_write_only_variable_event_without_value() -> None:
    [change] = from_notify_event([_event(actualValue="")], T0)
    assert change.opens and change.message.endswith("alerting")


def test_severity_from_the_monitor_when_the_event_has_none() -> None:
    [change] = from_notify_event([_event(variableMonitoringId=7)], T0, {7: 3})
    assert change.severity == 3
    [problem] = from_notify_event([_event(trigger="Delta", eventNotificationType="HardWiredNotification")], T0)
    assert problem.opens and problem.severity is not None


def test_problem_variable_true_opens_and_false_clears() -> None:
    flag = {"trigger": "Delta", "variable": {"name": "Problem"}, "eventNotificationType": "PreconfiguredMonitor"}
    [opened] = from_notify_event([_event(**flag, actualValue="true")], T0)
    [cleared] = from_notify_event([_event(**flag, actualValue="false")], T0)
    assert opened.opens and not cleared.opens and opened.key == cleared.key


def test_16_error_code_with_vendor_code_opens_and_no_error_clears() -> None:
    clear, opened = from_status(1, 1, "Faulted", "GroundFailure", "E42", "leak", T0)
    assert not clear.opens and clear.prefix and opened.key.startswith(clear.key)
    assert (opened.code, opened.severity) == ("E42", HARDWARE_FAILURE)
    assert "GroundFailure" in opened.message and "E42" in opened.message
    [back] = from_status(1, 1, "Available", "NoError", None, None, T0)
    assert not back.opens and opened.key.startswith(back.key)
    # another connector's NoError does not clear connector 1
    [other] = from_status(2, 2, "Available", "NoError", None, None, T0)
    assert not opened.key.startswith(other.key)


def test_minor_error_is_a_warning_and_2x_faulted_is_an_alert() -> None:
    assert from_status(0, 0, "Available", "WeakSignal", None, None, T0)[1].severity == WARNING
    assert from_status(1, 2, "Faulted", None, None, None, T0)[1].opens
    assert len(from_status(1, 2, "Occupied", None, None, None, T0)) == 1


def test_budget_allows_a_burst_then_refills_with_time() -> None:
    budget = Budget(per_minute=3)
    assert [budget.allow(T0) for _ in range(5)] == [True, True, True, False, False]
    assert budget.suppressed == 2 and not budget.calm(T0)
    assert budget.allow(T0 + timedelta(seconds=20))  # one new token in 20 s at 3 a minute
    assert not budget.allow(T0 + timedelta(seconds=20))
    assert budget.calm(T0 + timedelta(seconds=80))


def test_offline_after_interval_plus_margin() -> None:
    assert not overdue(T0, T0 + timedelta(seconds=360), 300, 60)
    assert overdue(T0, T0 + timedelta(seconds=361), 300, 60)
