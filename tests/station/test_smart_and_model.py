"""Pure-model unit tests: composite schedules, meter integration, settings, local list."""

from __future__ import annotations

import pytest

from ocppd.smart.schedule import DAY, ActiveTx, Profile, ProfileStore, format_time
from ocppd.station.model import EV, Connector, LocalAuth
from ocppd.station.settings import Settings

T0 = 1_700_000_000.0  # a fixed instant; nothing here reads the clock


def profile(pid: int, purpose: str, level: int, periods: list[tuple[int, float]], *, unit: str = "W",
            kind: str = "Absolute", start: float = T0, evse: int = 0, duration: int | None = None,
            recurrency: str | None = None) -> Profile:  # fmt: skip
    schedule = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in periods],
    }
    if kind != "Relative":
        schedule["startSchedule"] = format_time(start)
    if duration is not None:
        schedule["duration"] = duration
    data = {"id": pid, "stackLevel": level, "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
            "chargingSchedule": [schedule]}  # fmt: skip
    if recurrency:
        data["recurrencyKind"] = recurrency
    return Profile.from_ocpp(data, evse, T0)


def test_stack_levels_and_max_cap() -> None:
    store = ProfileStore()
    store.install(profile(1, "TxDefaultProfile", 0, [(0, 11000)]))
    store.install(profile(2, "TxDefaultProfile", 1, [(0, 7000), (600, 9000)], duration=1200))
    store.install(profile(3, "ChargingStationMaxProfile", 0, [(0, 8000)]))
    assert store.limit_w(1, T0 + 10, None) == 7000  # higher stack level wins
    assert store.limit_w(1, T0 + 700, None) == 8000  # 9000 capped by the station max
    assert store.limit_w(1, T0 + 1300, None) == 8000  # level 1 expired: level 0's 11000, capped
    tx = ActiveTx("tx1", T0)
    store.install(profile(4, "TxProfile", 0, [(0, 3000)], evse=1, kind="Relative"))
    assert store.limit_w(1, T0 + 10, tx) == 3000  # TxProfile overrides TxDefault
    assert store.limit_w(2, T0 + 10, tx) == 7000  # but only on its own EVSE
    periods = store.composite(1, T0, 1800, "W", tx, 22000)
    assert periods == [{"startPeriod": 0, "limit": 3000.0}]
    store.clear_tx_profiles(1)
    assert store.composite(1, T0, 1800, "W", None, 22000) == [
        {"startPeriod": 0, "limit": 7000.0}, {"startPeriod": 600, "limit": 8000.0}]  # fmt: skip


def test_amps_convert_and_recurring_daily() -> None:
    store = ProfileStore(voltage=230, phases=3)
    midnight = T0 - T0 % DAY
    store.install(profile(1, "TxDefaultProfile", 0, [(0, 16), (6 * 3600, 32)], unit="A", kind="Recurring",
                          recurrency="Daily", start=midnight - 5 * DAY))  # fmt: skip
    assert store.limit_w(1, midnight + 3600, None) == pytest.approx(16 * 230 * 3)
    assert store.limit_w(1, midnight + 7 * 3600, None) == pytest.approx(32 * 230 * 3)
    assert store.next_change(1, midnight + 3600, None) == midnight + 6 * 3600
    amps = store.composite(1, midnight, DAY, "A", None, 50000)
    assert [p["limit"] for p in amps] == [16.0, 32.0]


def test_meter_follows_limit_piecewise() -> None:
    store = ProfileStore()
    store.install(profile(1, "TxDefaultProfile", 0, [(0, 6000), (1800, 0), (2700, 11000)]))
    c = Connector(1, 1, 1, 22000)
    c.plugged = True
    c.ev = EV(max_power_w=11000, need_wh=100000)
    from ocppd.station.model import Transaction

    c.tx = Transaction("t", "TAG", T0, 0.0)
    c.last_update = T0
    c.advance(T0 + 3600, store, "2.x")  # read once, after an hour
    # 30 min at 6 kW + 15 min at 0 + 15 min at 11 kW
    assert c.energy_wh == pytest.approx(3000 + 0 + 2750)
    assert c.status == "Charging" and c.power_w == 11000
    c.advance(T0 + 3600, store, "2.x")
    assert c.energy_wh == pytest.approx(5750)  # no time, no energy


def test_ev_stops_when_full() -> None:
    from ocppd.station.model import Transaction

    c = Connector(1, 1, 1, 22000, plugged=True, ev=EV(max_power_w=10000, need_wh=1000))
    c.tx = Transaction("t", "TAG", T0, 0.0)
    c.last_update = T0
    c.advance(T0 + 3600, ProfileStore(), "1.6")
    assert c.energy_wh == pytest.approx(1000)
    assert c.status == "SuspendedEV"


def test_settings_both_views() -> None:
    s = Settings()
    assert s.change_configuration("HeartbeatInterval", "42") == ("Accepted", "heartbeat_interval")
    assert s["heartbeat_interval"] == 42
    assert s.variable("OCPPCommCtrlr", "HeartbeatInterval", None).canonical == "heartbeat_interval"
    assert s.change_configuration("NumberOfConnectors", "3")[0] == "Rejected"
    assert s.change_configuration("AuthorizeRemoteTxRequests", "maybe")[0] == "Rejected"
    known, unknown = s.get_configuration(["AuthorizationKey", "X"])
    assert "value" not in known[0] and unknown == ["X"]  # write-only key never read back


def test_local_list_versions() -> None:
    auth = LocalAuth()
    assert auth.update("Full", 1, [("A", {"status": "Accepted"})], 10) == "Accepted"
    assert auth.update("Differential", 1, [("B", {"status": "Accepted"})], 10) == "VersionMismatch"
    assert auth.update("Differential", 2, [("B", {"status": "Accepted"}), ("A", None)], 10) == "Accepted"
    assert set(auth.entries) == {"B"}
    assert auth.update("Full", 3, [(str(i), {"status": "Accepted"}) for i in range(11)], 10) == "Failed"
