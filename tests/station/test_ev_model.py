"""The simulator's EV: phases, minimum current, taper near full, per-phase currents, the charger's delay."""

from __future__ import annotations

import pytest

from ocppd.smart.schedule import Profile, ProfileStore, format_time
from ocppd.station.model import EV, Connector, Transaction

T0 = 1_700_000_000.0


def charging(ev: EV, phases: int = 3, delay_s: float = 0.0) -> Connector:
    c = Connector(1, 1, 1, 22000, phases=phases)
    c.plugged, c.ev, c.delay_s = True, ev, delay_s
    c.tx = Transaction("t", "TAG", T0, 0.0)
    c.last_update = T0
    return c


def amps_profile(limit: float, start: float = T0, pid: int = 1) -> Profile:
    data = {"id": pid, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "startSchedule": format_time(start),
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}]}  # fmt: skip
    return Profile.from_ocpp(data, 0, start)


def test_single_phase_car_on_a_three_phase_station() -> None:
    store = ProfileStore()
    store.install(amps_profile(10))
    c = charging(EV(max_power_w=7400, phases=1))
    c.advance(T0 + 60, store, "2.x")
    assert c.current_a == pytest.approx(10) and c.power_w == pytest.approx(10 * 230)
    assert c.phase_currents() == [10.0, 0.0, 0.0]
    currents = [s for s in c.sample(["Current.Import"])]
    assert [(s["phase"], s["value"]) for s in currents] == [("L1", 10.0), ("L2", 0.0), ("L3", 0.0)]


def test_below_its_minimum_a_car_pauses() -> None:
    store = ProfileStore()
    store.install(amps_profile(5.5))
    c = charging(EV())
    c.advance(T0 + 60, store, "2.x")
    assert c.power_w == 0 and c.status == "SuspendedEVSE"
    store.install(amps_profile(6))
    c.advance(T0 + 120, store, "2.x")
    assert c.current_a == pytest.approx(6) and c.status == "Charging"


def test_a_car_that_draws_less_than_allowed() -> None:
    c = charging(EV(max_power_w=2000))
    c.advance(T0 + 10, ProfileStore(), "2.x")
    assert c.power_w == pytest.approx(2000) and c.current_a == pytest.approx(2000 / 690)


def test_taper_near_full() -> None:
    ev = EV(max_power_w=11000, soc_start=90, capacity_wh=50000, need_wh=10000, taper_soc=80)
    assert ev.max_current_a(0) == pytest.approx(11000 / 690 * 0.5)  # 90 %: half way down the taper
    assert ev.max_current_a(4000) == pytest.approx(11000 / 690 * 0.1)  # 98 %: the floor of a tenth
    assert EV().max_current_a(0) == pytest.approx(11000 / 690)


def test_the_charger_follows_a_new_limit_after_its_delay() -> None:
    store = ProfileStore()
    c = charging(EV(), delay_s=5)
    c.advance(T0 + 10, store, "2.x")
    assert c.current_a == pytest.approx(11000 / 690)
    store.install(amps_profile(8, start=T0 + 10))
    c.advance(T0 + 12, store, "2.x")
    assert c.current_a == pytest.approx(11000 / 690) and c.pending_at == pytest.approx(T0 + 15)
    before = c.energy_wh
    c.advance(T0 + 25, store, "2.x")
    assert c.current_a == pytest.approx(8) and c.pending_at is None
    # 3 s more at the old current, then 10 s at 8 A
    assert c.energy_wh - before == pytest.approx((11000 * 3 + 8 * 690 * 10) / 3600)


@pytest.mark.parametrize("register_wh", [1234.96, 1234.99, 1234.05, 999.951])
def test_an_energy_sample_never_reads_above_the_whole_wh_meter_stop_that_follows(register_wh: float) -> None:
    """1.6 meterStop is the register cut to whole Wh; a sample rounded up (1234.96 -> 1235.0) would
    read 1 Wh above it and the CSMS would flag the meter as going backwards."""
    c = charging(EV(max_power_w=7400))
    c.energy_wh = register_wh
    (sample,) = c.sample(["Energy.Active.Import.Register"])
    assert sample["value"] <= register_wh
    assert sample["value"] - int(c.energy_wh) < 1
