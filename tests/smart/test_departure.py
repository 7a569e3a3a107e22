"""Departure time and energy need in the pure balancer: properties over random trees, then cases."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from ocppd.smart.balancer import DEPARTURE, INF, SHARE, WAITING, Capacity, Demand, allocate, need_a
from tests.smart.test_balancer import T0, check_limits, random_case, three


def with_departures(rng: random.Random, demands: list[Demand]) -> list[Demand]:
    """Give about half the EVs a departure within 0.5-8 h and an energy need of 2-60 kWh."""
    out = []
    for d in demands:
        if rng.random() < 0.5:
            d = replace(d, departure=T0 + rng.uniform(1800, 8 * 3600), energy_wh=rng.uniform(2000, 60000))
        out.append(d)
    return out


@pytest.mark.parametrize("seed", range(300))
def test_departures_keep_every_limit_min_or_nothing_and_admission(seed: int) -> None:
    rng = random.Random(seed)
    capacity, plain = random_case(rng)
    demands = with_departures(rng, plain)
    grants = allocate(capacity, demands, T0)
    check_limits(capacity, demands, grants)
    without = allocate(capacity, plain, T0)
    for d in demands:
        g = grants[d.evse]
        assert g.amps == 0 or min(d.min_a, d.max_a) - 1e-9 <= g.amps <= d.max_a + 1e-9
        # admission (and so rotation) is the same with or without departures: nobody is paused for them
        assert g.admitted == without[d.evse].admitted, d.evse
        assert (g.need_a is None) == (d.departure is None)


@pytest.mark.parametrize("seed", range(300))
def test_a_departure_gets_what_it_needs_when_that_fits(seed: int) -> None:
    """When every admitted EV's reachable need (at most its maximum; the others at their minimum) fits
    together, each such EV gets at least its need."""
    rng = random.Random(seed)
    capacity, plain = random_case(rng)
    demands = with_departures(rng, plain)
    grants = allocate(capacity, demands, T0)
    admitted = [d for d in demands if grants[d.evse].admitted]

    def reachable(d: Demand) -> float | None:
        need = need_a(d, T0)
        return need if need is not None and need <= d.max_a else None

    wanted = {d.evse: replace(grants[d.evse], amps=max(min(d.min_a, d.max_a), reachable(d) or 0.0)) for d in admitted}
    try:
        check_limits(capacity, admitted, wanted)
    except AssertionError:
        return  # not all needs fit: the earliest departures first (the cases below)
    for d in admitted:
        need = reachable(d)
        if need is not None:
            assert grants[d.evse].amps >= need - 1e-6, (d.evse, need, grants[d.evse])
            assert grants[d.evse].on_time is True


@pytest.mark.parametrize("seed", range(200))
def test_without_departures_nothing_changes(seed: int) -> None:
    rng = random.Random(seed)
    capacity, demands = random_case(rng)
    far = [replace(d, departure=T0 + 10 * 86400, energy_wh=1.0) for d in demands]  # needs nothing: no effect
    a, b = allocate(capacity, demands, T0), allocate(capacity, far, T0)
    assert {k: (g.amps, g.reason) for k, g in a.items()} == {k: (g.amps, g.reason) for k, g in b.items()}


@pytest.mark.parametrize("seed", range(200))
def test_others_keep_fairness_among_themselves(seed: int) -> None:
    """EVs without a departure under one common limit still share in the ratio of their weights."""
    rng = random.Random(seed)
    n = rng.randint(3, 10)
    capacity = {"site": Capacity(three(rng.uniform(6 * n, 32 * n * 0.9)))}
    demands = [
        Demand(f"e{i}", ("site",), max_a=32, weight=rng.choice([1, 2]), since=T0 - i, admitted=True) for i in range(n)
    ]
    demands[0] = replace(demands[0], departure=T0 + 3600, energy_wh=rng.uniform(5000, 30000))
    grants = allocate(capacity, demands, T0)
    check_limits(capacity, demands, grants)
    shared = [(grants[d.evse].amps, d.weight) for d in demands[1:] if grants[d.evse].reason == SHARE]
    if len(shared) >= 2:
        per_weight = [a / w for a, w in shared]
        assert max(per_weight) - min(per_weight) <= 0.1 + 1e-6
    for d in demands[1:]:
        assert grants[d.evse].amps >= 6.0 or grants[d.evse].reason == WAITING


def test_an_ev_leaving_soon_is_preferred_within_the_site() -> None:
    capacity = {"site": Capacity(three(40))}
    soon = Demand("soon", ("site",), max_a=32, since=T0, admitted=True, departure=T0 + 3600, energy_wh=20000)
    later = Demand("later", ("site",), max_a=32, since=T0, admitted=True)
    grants = allocate(capacity, [soon, later], T0)
    need = 20000 / 1 / (230 * 3)  # 29.0 A for an hour on three phases
    assert need_a(soon, T0) == pytest.approx(need)
    assert grants["soon"].amps == pytest.approx(28.9, abs=0.11) and grants["soon"].on_time in (True, False)
    assert grants["soon"].amps >= need - 0.1
    assert grants["later"].amps == pytest.approx(40 - grants["soon"].amps, abs=0.11)
    assert grants["later"].reason == SHARE
    # without the departure both would get 20 A
    assert allocate(capacity, [replace(soon, departure=None), later], T0)["soon"].amps == 20.0


ON_GRID = 1_700_000_100.0  # a multiple of the planner's 15 min


def test_when_not_all_fit_now_the_next_departure_is_planned_around_the_earlier_one() -> None:
    """Earliest departure first; the next one takes what is left now and more once the first has left
    (from the quarter hour after its departure: now is on one here, so exactly then)."""
    capacity = {"site": Capacity(three(40))}
    soon = Demand("soon", ("site",), max_a=32, admitted=True, departure=ON_GRID + 3600, energy_wh=11040)  # 16 A
    later = Demand("later", ("site",), max_a=32, admitted=True, departure=ON_GRID + 7200, energy_wh=27600)  # 20 A
    plain = Demand("plain", ("site",), max_a=32, admitted=True)
    grants = allocate(capacity, [later, plain, soon], ON_GRID)
    # 16 A for the earliest; the 20 A of the next do not fit beside it and a minimum (40 - 16 - 6 = 18),
    # but after the first hour 40 - 6 - 6 = 28 A are free for it: 18 A + 22 A over two hours = 40 Ah,
    # 27.6 kWh on three phases at 230 V: on time
    assert grants["soon"].amps == 16.0 and grants["soon"].on_time is True and grants["soon"].reason == DEPARTURE
    assert grants["later"].amps == 18.0 and grants["later"].on_time is True
    assert grants["later"].planned_wh == pytest.approx(27600, abs=1)
    assert grants["plain"].amps == 6.0


def test_a_departure_that_cannot_be_met_gets_no_priority() -> None:
    capacity = {"site": Capacity(three(40))}
    hopeless = Demand("hopeless", ("site",), max_a=32, admitted=True, departure=T0 + 3600, energy_wh=30000)  # 43 A
    plain = Demand("plain", ("site",), max_a=32, admitted=True)
    grants = allocate(capacity, [hopeless, plain], T0)
    assert grants["hopeless"].amps == grants["plain"].amps == 20.0
    assert grants["hopeless"].on_time is False and grants["hopeless"].reason == SHARE


def test_past_due_needs_everything_and_a_full_ev_needs_nothing() -> None:
    capacity = {"site": Capacity(three(40))}
    late = Demand("late", ("site",), max_a=16, admitted=True, departure=T0 - 60, energy_wh=5000)
    full = Demand("full", ("site",), max_a=32, admitted=True, departure=T0 + 60, energy_wh=0)
    assert need_a(late, T0) == INF and need_a(full, T0) == 0.0
    grants = allocate(capacity, [late, full], T0)
    assert grants["late"].amps == 16.0 and grants["late"].on_time is False
    assert grants["full"].amps == 24.0 and grants["full"].on_time is True


def test_a_single_phase_need_counts_its_one_phase() -> None:
    d = Demand("x", ("site",), phases=(1,), departure=T0 + 7200, energy_wh=7360)
    assert need_a(d, T0) == pytest.approx(16.0)


def test_a_waiting_ev_with_a_departure_still_waits_its_turn() -> None:
    """Capacity for one minimum only: the EV within its turn keeps it, the departure does not jump the queue."""
    capacity = {"site": Capacity(three(10))}
    serving = Demand("serving", ("site",), max_a=32, since=T0 - 60, admitted=True)
    urgent = Demand("urgent", ("site",), max_a=32, since=T0 - 30, departure=T0 + 1800, energy_wh=10000)
    grants = allocate(capacity, [serving, urgent], T0)
    assert grants["serving"].amps == 10.0 and grants["urgent"].reason == WAITING
    assert grants["urgent"].need_a is not None and grants["urgent"].on_time is False
