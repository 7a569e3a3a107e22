"""Departure planning, a pure function: the limits over time and the charging demands in, a current
per EVSE for every stretch of time out (the balancer's allocation now is its first stretch).

Policy (docs/smart-charging.md, "How departures are planned"):

- Time is cut into stretches where nothing changes: where a limit changes (a time-of-use window, an
  external limit starting or ending: the ``steps``) and after every departure, at the next multiple
  of ``grid_s`` (15 min): an EV's room is held until then, which is safe, and a site where hundreds
  of EVs have a departure is planned in a few dozen stretches, not hundreds. The EVs admitted now are
  taken as charging in every stretch (admission and rotation are decided for now only, as in
  :func:`ocppd.smart.balancer.allocate`); a fixed EV has its worst case reserved throughout.
- EVs with a departure and an energy need are planned earliest departure first. Each takes, in every
  stretch before its departure, at most what every node on its path still has room for (after the
  minimums and the EVs leaving sooner) and its own maximum, at a level as low and as even as meets
  its energy ("water filling": the least peak current that gets it full in time; where a stretch has
  less room it takes the room, and more where there is more). An EV that cannot be full in time
  even with all that room gets no priority: it shares like the others.
- In every stretch the rest is then shared as the balancer shares it (weighted max-min fairness
  above the minimums, the planned currents counting as those EVs' minimums).
- A plan says what it delivers: ``planned_wh`` against the energy needed. ``Grant.on_time`` is
  that comparison.

Everything is in amperes per phase and POSIX seconds; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ocppd.smart.balancer import (
    _EPS,
    DEPARTURE,
    MINIMUM,
    RESOLUTION_A,
    Capacity,
    Demand,
    Grant,
    _fill,
    _floor,
    _Ledger,
    admit,
    need_a,
)


@dataclass(frozen=True, slots=True)
class Step:
    """From ``start`` on (until the next step), every node may carry ``capacity``."""

    start: float
    capacity: Mapping[str, Capacity]


@dataclass(frozen=True, slots=True)
class Plan:
    """One EV's schedule until its departure: ``periods`` are (start, amps per phase), the first at now."""

    evse: str
    periods: tuple[tuple[float, float], ...]
    end: float  # its departure: the plan covers [periods[0][0], end)
    planned_wh: float  # what the periods deliver by then
    need_wh: float  # what it needs by then

    @property
    def on_time(self) -> bool:
        return self.planned_wh + 0.01 >= self.need_wh

    def amps_at(self, t: float) -> float | None:
        """The planned current at ``t`` (None outside the plan)."""
        if t < self.periods[0][0] or t >= self.end:
            return None
        return amps_at(self.periods, t)


def amps_at(periods: Sequence[tuple[float, float]], t: float) -> float:
    """The current of the (start, amps) period covering ``t``; the first one's before they start,
    the last one's after (a profile's last period lasts until the profile ends)."""
    return periods[max(0, bisect.bisect_right([p[0] for p in periods], t) - 1)][1]


def moved(
    sent: Sequence[tuple[float, float]], new: Sequence[tuple[float, float]], after: float, threshold_a: float
) -> bool:
    """Whether a plan differs materially from the one sent: by ``threshold_a`` or more at some instant
    after ``after`` (a plan that drifts by tenths as the EV charges is not worth sending again)."""
    points = {t for t, _ in (*sent, *new) if t > after}
    return any(abs(amps_at(new, t) - amps_at(sent, t)) >= threshold_a - 1e-9 for t in points)


def _ceil(amps: float) -> float:
    return math.ceil(amps / RESOLUTION_A - 1e-6) * RESOLUTION_A


def _level(lo: float, caps: Sequence[float], durations: Sequence[float], need_as: float) -> float | None:
    """The least level L >= lo with sum(max(lo, min(cap, L)) * duration) >= need_as (ampere-seconds);
    None when even every cap falls short."""
    if sum(max(lo, c) * t for c, t in zip(caps, durations, strict=True)) < need_as - 1e-6:
        return None

    def delivered(level: float) -> float:
        return sum(max(lo, min(c, level)) * t for c, t in zip(caps, durations, strict=True))

    low, high = lo, max([lo, *caps])
    if delivered(low) >= need_as:
        return lo
    for _ in range(60):  # bisection to well below the 0.1 A a profile carries
        mid = (low + high) / 2
        if delivered(mid) >= need_as:
            high = mid
        else:
            low = mid
    return high


def plan(
    steps: Sequence[Step], demands: Sequence[Demand], now: float, rotation_s: float = 900.0, grid_s: float = 900.0
) -> tuple[dict[str, Grant], dict[str, Plan]]:
    """The allocation now (as :func:`~ocppd.smart.balancer.allocate`) and a plan for every admitted EV
    with a departure and an energy need (see the module's policy)."""
    ordered = sorted(steps, key=lambda s: s.start)
    current = [s for s in ordered if s.start <= now] or ordered[:1]

    def capacity_at(t: float) -> Mapping[str, Capacity]:
        chosen = current[-1].capacity
        for s in ordered:
            if s.start <= t:
                chosen = s.capacity
        return chosen

    cuts = [math.ceil(d.departure / grid_s) * grid_s for d in demands
            if d.departure is not None and d.energy_wh is not None]  # fmt: skip
    horizon = max([now + 1.0, *cuts])
    edges = sorted({now, horizon, *(s.start for s in ordered if now < s.start < horizon),
                    *(t for t in cuts if now < t < horizon)})  # fmt: skip
    spans = list(itertools.pairwise(edges))

    first = _Ledger(capacity_at(now), demands, prune=True)
    grants, admitted = admit(first, demands, now, rotation_s)
    admitted_only = first.copy()  # the minimums and reservations, before any plan
    ledgers = [first]
    for start, _ in spans[1:]:
        if capacity_at(start) is capacity_at(now):  # the same limits: the same constraints
            ledgers.append(admitted_only.copy())
            continue
        ledger = _Ledger(capacity_at(start), demands, prune=True)
        for i, d in enumerate(demands):
            if d.fixed:
                ledger.add(i, d.max_a)
        for i in admitted:
            ledger.add(i, min(demands[i].min_a, demands[i].max_a))
        ledgers.append(ledger)

    # earliest departure first: the least even level that gets each EV full in time
    raised: dict[int, dict[int, float]] = {}  # EV -> span -> its planned current (above its minimum)
    for i in sorted((i for i in admitted if need_a(demands[i], now) is not None),
                    key=lambda i: (demands[i].departure, demands[i].since, demands[i].evse)):  # fmt: skip
        d = demands[i]
        lo = min(d.min_a, d.max_a)
        energy, departure = d.energy_wh or 0.0, d.departure or now
        before = [k for k, (start, _) in enumerate(spans) if start < departure]
        if energy <= 0 or not before or d.max_a <= lo + _EPS:
            continue
        caps = [max(lo, _floor(min(d.max_a, lo + max(0.0, ledgers[k].room(i))))) for k in before]
        durations = [min(spans[k][1], departure) - spans[k][0] for k in before]
        level = _level(lo, caps, durations, energy * 3600.0 / (d.voltage * len(d.phases)))
        if level is None:
            continue  # it cannot be full in time whatever it gets here: it shares like the others
        level = _ceil(level)  # rounded up to what a profile carries, so that it stays on time
        mine = {}
        for k, cap in zip(before, caps, strict=True):
            amps = max(lo, min(cap, level))
            if amps > lo + _EPS:
                ledgers[k].add(i, amps - lo)
                mine[k] = amps
        if mine:
            raised[i] = mine

    # every span shared as the balancer shares: the planned currents count as those EVs' minimums
    per_span: list[dict[int, float]] = []
    for k, ledger in enumerate(ledgers):
        filling = [replace(d, min_a=raised[i][k]) if k in raised.get(i, {}) else d for i, d in enumerate(demands)]
        result = _fill(ledger, filling, admitted)
        amounts = {}
        for i, (amps, reason) in result.items():
            d = demands[i]
            lo = min(filling[i].min_a, d.max_a)
            amounts[i] = max(_floor(amps), lo) if amps > lo else lo
            if k == 0:
                if i in raised and 0 in raised[i] and reason == MINIMUM:
                    reason = DEPARTURE  # held at what its departure needs: nothing more fits
                grants[d.evse] = Grant(d.evse, amounts[i], reason, need_a(d, now))
        per_span.append(amounts)

    plans: dict[str, Plan] = {}
    for i, d in enumerate(demands):
        need = need_a(d, now)
        if need is None or d.evse not in grants:
            continue
        departure = d.departure or now
        periods: list[tuple[float, float]] = []
        delivered = 0.0
        for k, (start, end) in enumerate(spans):
            if start >= departure:
                break
            amps = per_span[k].get(i, 0.0)
            delivered += amps * (min(end, departure) - start)
            if not periods or abs(periods[-1][1] - amps) > 1e-9:
                periods.append((start, amps))
        planned_wh = delivered * d.voltage * len(d.phases) / 3600.0
        g = grants[d.evse]
        grants[d.evse] = replace(g, need_a=need, planned_wh=planned_wh, energy_wh=d.energy_wh)
        if periods:
            plans[d.evse] = Plan(d.evse, tuple(periods), departure, planned_wh, d.energy_wh or 0.0)
    return grants, plans


def cap_after(periods: Sequence[tuple[float, float]], at: float, cap: float) -> tuple[tuple[float, float], ...]:
    """The (start, amps) periods with every instant from ``at`` on at most ``cap``: a period that
    straddles ``at`` is split there; a capped period equal to the one before it is merged into it."""
    out: list[tuple[float, float]] = []
    for i, (t, a) in enumerate(periods):
        pieces = [(t, min(a, cap))] if t >= at else [(t, a)]
        if t < at and (i + 1 == len(periods) or periods[i + 1][0] > at):
            pieces.append((at, min(a, cap)))
        for piece in pieces:
            if not out or abs(out[-1][1] - piece[1]) > _EPS:
                out.append(piece)
    return tuple(out)


def fit_periods(periods: Sequence[tuple[float, float]], most: int | None) -> tuple[tuple[float, float], ...]:
    """At most ``most`` periods for a station or EV that holds no more: the last one kept is the
    lowest of those it stands for (lower is always within the limits; the CSMS sends the next part
    when its time comes)."""
    if most is None or len(periods) <= most:
        return tuple(periods)
    if most <= 1:
        return (periods[0],)  # now's current only; the CSMS sends the next one when its time comes
    head = list(periods[: most - 1])
    tail = periods[most - 1 :]
    head.append((tail[0][0], min(a for _, a in tail)))
    return tuple(head)
