"""The departure planner, pure: limits over time and demands in, schedules out (hand-calculated cases).

Three phases at 230 V throughout: 1 A for an hour is 690 Wh.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from ocppd.smart.balancer import SHARE, Capacity, Demand
from ocppd.smart.planner import Step, amps_at, cap_after, fit_periods, moved, plan
from ocppd.smart.tree import Node, Tree, Window
from tests.smart.test_balancer import three

H = 3600.0
T16 = datetime(2026, 12, 1, 16, 0, tzinfo=UTC).timestamp()  # now: 16:00
TOU = [Step(T16, {"site": Capacity(three(32))}), Step(T16 + 2 * H, {"site": Capacity(three(16))})]  # 16 A from 18:00


def energy(periods: tuple[tuple[float, float], ...], end: float) -> float:
    """Wh delivered by (start, amps) periods until ``end``, on three phases at 230 V."""
    ends = [p[0] for p in periods[1:]] + [end]
    return sum(a * (e - s) for (s, a), e in zip(periods, ends, strict=True)) * 690 / H


def test_two_cars_with_departures_under_a_time_of_use_limit() -> None:
    """32 A until 18:00, then 16 A. A leaves at 19:00 needing 31.05 kWh (45 Ah), B at 20:00 needing
    24.15 kWh (35 Ah); both at least 6 A.

    A first (earliest departure): room 32 - 6 - 6 = 20 A above its minimum until 18:00 (up to 26 A),
    16 - 6 - 6 = 4 A after (up to 10 A): 2 h x L + 1 h x 10 A = 45 Ah gives L = 17.5 A.
    B then: up to 32 - 17.5 - 6 + 6 = 14.5 A until 18:00, its 6 A until 19:00, up to 10 A until 20:00
    (A's minimum still counted): 2 L + 6 + L = 35 Ah gives L = 9.67, 9.7 A rounded up.
    The rest is shared: until 18:00 the 4.8 A left go to B (14.5 A), from 19:00 the 0.3 A left to A.
    """
    a = Demand("A", ("site",), admitted=True, departure=T16 + 3 * H, energy_wh=31050)
    b = Demand("B", ("site",), admitted=True, departure=T16 + 4 * H, energy_wh=24150)
    grants, plans = plan(TOU, [b, a], T16)
    assert plans["A"].periods == (pytest.approx((T16, 17.5)), pytest.approx((T16 + 2 * H, 10.0)))
    assert plans["A"].end == T16 + 3 * H
    assert plans["A"].planned_wh == pytest.approx((2 * 17.5 + 10) * 690) == energy(plans["A"].periods, T16 + 3 * H)
    assert plans["A"].on_time and grants["A"].on_time is True and grants["A"].amps == pytest.approx(17.5)
    got = [(round(s - T16), round(x, 1)) for s, x in plans["B"].periods]
    assert got == [(0, 14.5), (7200, 6.0), (10800, 9.7)]
    assert plans["B"].planned_wh == pytest.approx((2 * 14.5 + 6 + 9.7) * 690)  # 30.8 kWh >= 24.15
    assert grants["B"].on_time is True and grants["B"].amps == pytest.approx(14.5)
    # every stretch within the site: 17.5 + 14.5 = 32 until 18:00, 10 + 6 = 16 until 19:00
    assert plans["A"].amps_at(T16) + plans["B"].amps_at(T16) == pytest.approx(32)
    assert plans["A"].amps_at(T16 + 2.5 * H) + plans["B"].amps_at(T16 + 2.5 * H) == pytest.approx(16)
    assert plans["A"].amps_at(T16 + 3 * H) is None  # gone


def test_a_car_that_cannot_be_full_in_time_says_so_and_shares() -> None:
    """``late`` needs 40.02 kWh (58 Ah) by 19:00: alone beside another car's minimum (26 A for 2 h and
    10 A for 1 h, 62 Ah) it would fit, but the car leaving sooner takes its room first."""
    first = Demand("first", ("site",), admitted=True, departure=T16 + 2 * H, energy_wh=22080)  # 16 A for 2 h
    late = Demand("late", ("site",), admitted=True, departure=T16 + 3 * H, energy_wh=40020)  # 58 Ah
    grants, plans = plan(TOU, [late, first], T16)
    # first: 16 A until 18:00 (room 20 A above its 6); late: at most 32 - 16 = 16 A until 18:00 and 10 A
    # until 19:00: 42 Ah < 58 Ah. No priority: it shares, 16 A until 18:00, then half of 16 A with
    # first (still counted once gone: it may still be plugged in): 2 h x 16 + 1 h x 8 = 40 Ah.
    assert grants["first"].amps == 16.0 and grants["first"].on_time is True
    assert grants["late"].on_time is False and grants["late"].reason == SHARE
    assert plans["late"].planned_wh == pytest.approx((2 * 16 + 8) * 690)
    assert not plans["late"].on_time


def test_a_constant_limit_plans_the_constant_need() -> None:
    """Without a change of limit the plan is one period: the need over the time left (20 A)."""
    car = Demand("car", ("site",), admitted=True, departure=T16 + 2 * H, energy_wh=27600)
    other = Demand("other", ("site",), admitted=True)
    grants, plans = plan([Step(T16, {"site": Capacity(three(32))})], [car, other], T16)
    assert plans["car"].periods == ((T16, 20.0),) and grants["other"].amps == 12.0
    assert "other" not in plans


def test_the_site_freer_later_lets_the_car_take_less_now() -> None:
    """16 A until 18:00, 32 A after: 30 Ah by 20:00 is 15 A even over four hours, whatever the step."""
    steps = [Step(T16, {"site": Capacity(three(16))}), Step(T16 + 2 * H, {"site": Capacity(three(32))})]
    car = Demand("car", ("site",), admitted=True, departure=T16 + 4 * H, energy_wh=20700)  # 30 Ah
    other = Demand("other", ("site",), admitted=True)
    _, plans = plan(steps, [car, other], T16)
    # until 18:00 at most 16 - 6 = 10 A; then L: 2 h x 10 + 2 h x L = 30 Ah, L = 5 < 6: its minimum
    # would do, but the others' share is larger: it gets 8 A (half of 16) then 16 A (half of 32)
    assert [(round(s - T16), a) for s, a in plans["car"].periods] == [(0, 8.0), (7200, 16.0)]
    assert plans["car"].on_time


def test_a_departure_frees_its_room_at_the_next_quarter_hour() -> None:
    """A leaves at 17:10 needing 20 A until then (16.1 kWh); B, leaving at 19:00, has A's room from
    17:15 (the planner's 15 min grid: held a little longer, never given too early)."""
    site = [Step(T16, {"site": Capacity(three(32))})]
    a = Demand("A", ("site",), admitted=True, departure=T16 + H + 600, energy_wh=16100)
    b = Demand("B", ("site",), admitted=True, departure=T16 + 3 * H, energy_wh=24150)  # 35 Ah
    _, plans = plan(site, [a, b], T16)
    assert plans["A"].periods == ((T16, 20.0),) and plans["A"].end == T16 + H + 600
    # B: up to 32 - 20 = 12 A until 17:15, 26 A after; 1.25 h x L + 1.75 h x L = 35 Ah: 11.7 A, then
    # the rest shared: 12 A (the 0.3 A left) until 17:15, then half of 32 A beside A's minimum
    assert plans["B"].periods == ((T16, 12.0), (T16 + 4500, 16.0))
    assert plans["B"].on_time


def test_fit_periods_keeps_now_and_the_lowest_of_the_rest() -> None:
    periods = ((0.0, 24.0), (100.0, 16.0), (200.0, 20.0), (300.0, 10.0))
    assert fit_periods(periods, None) == periods and fit_periods(periods, 4) == periods
    assert fit_periods(periods, 2) == ((0.0, 24.0), (100.0, 10.0))
    assert fit_periods(periods, 3) == ((0.0, 24.0), (100.0, 16.0), (200.0, 10.0))
    assert fit_periods(periods, 1) == ((0.0, 24.0),)


def test_after_the_lease_a_plan_is_capped_at_the_fallback_share() -> None:
    """The worked example's car A (17.5 A until 18:00, 10 A until 19:00) with a 15 min lease from
    16:00 and a fallback of 8 A (16 A at the site's lowest, two stations): 17.5 A until 16:15, then
    8 A. The lease window delivers the plan's energy; no instant after it is above the fallback."""
    periods = ((T16, 17.5), (T16 + 2 * H, 10.0))
    lease_end, end = T16 + 900, T16 + 3 * H
    capped = cap_after(periods, lease_end, 8.0)
    assert capped == ((T16, 17.5), (lease_end, 8.0))  # split at the lease end; the equal 8 A merged

    def within_lease(ps: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        return tuple(x for x in ps if x[0] < lease_end)

    assert energy(within_lease(capped), lease_end) == energy(within_lease(periods), lease_end) == 17.5 * 0.25 * 690
    assert all(amps_at(capped, t) == min(amps_at(periods, t), 8.0) for t in range(int(lease_end), int(end), 60))
    # a lease ending on a period's start, and a fallback above the plan: nothing to cap
    assert cap_after(periods, T16 + 2 * H, 8.0) == ((T16, 17.5), (T16 + 2 * H, 8.0))
    assert cap_after(periods, lease_end, 20.0) == periods


@pytest.mark.parametrize("seed", range(200))
def test_a_capped_plan_is_the_plan_before_the_lease_end_and_within_the_fallback_after(seed: int) -> None:
    import random

    rng = random.Random(seed)
    starts = sorted(rng.sample(range(1, 7200), rng.randint(0, 6)))
    periods = tuple((float(t), round(rng.uniform(0, 32), 1)) for t in [0, *starts])
    lease_end, cap = float(rng.randint(0, 7300)), round(rng.uniform(0, 16), 1)
    capped = cap_after(periods, lease_end, cap)
    assert capped[0][0] == 0.0 and [t for t, _ in capped] == sorted({t for t, _ in capped})
    for t in {x for x, _ in (*periods, *capped)} | {lease_end - 1, lease_end, 7300.0}:
        want = amps_at(periods, t) if t < lease_end else min(amps_at(periods, t), cap)
        assert amps_at(capped, t) == want, (t, periods, capped)


def test_a_plan_is_sent_again_only_when_it_moves_materially() -> None:
    """1 A (the default hysteresis) or more at a later instant; now's current is the hysteresis's."""
    sent = ((0.0, 24.3), (1500.0, 10.0))
    assert amps_at(sent, -5) == 24.3 and amps_at(sent, 1499) == 24.3 and amps_at(sent, 9999) == 10.0
    # the next run: the same plan from a later now, its first period a tenth higher (the EV drew less)
    assert not moved(sent, ((60.0, 24.4), (1500.0, 10.0)), 60.0, 1.0)
    assert not moved(sent, ((60.0, 30.0), (1500.0, 10.0)), 60.0, 1.0)  # now's current: not this check
    assert moved(sent, ((60.0, 24.3), (1500.0, 9.0)), 60.0, 1.0)  # later 1 A lower
    assert moved(sent, ((60.0, 24.3), (1800.0, 10.0)), 60.0, 1.0)  # the drop moved: 24.3 vs 10 between
    assert moved(sent, ((60.0, 24.3), (1500.0, 10.0), (3000.0, 16.0)), 60.0, 1.0)  # a new step
    assert not moved(sent, ((2000.0, 10.0),), 2000.0, 1.0)  # the past no longer counts


def test_tree_steps_follow_time_of_use_and_external_limits() -> None:
    from ocppd.smart.tree import ExternalLimit

    tree = Tree.build(
        [Node("site", "site", amps=three(32), windows=(Window(time(18), time(22), amps=three(16)),), timezone="UTC")]
    )
    steps = tree.steps(T16, T16 + 8 * H, [ExternalLimit("site", "api", three(10), None, T16 + H, T16 + H + 600)])
    got = [(round(t - T16), c["site"].amps[0]) for t, c in steps]
    assert got == [(0, 32.0), (3600, 10.0), (4200, 32.0), (7200, 16.0), (21600, 32.0)]
