"""The load balancer, a pure function: node capacities and charging demands in, current per EVSE out.

Policy (docs/smart-charging.md):

- Every charging EV gets at least its minimum current (6 A unless the EV or station says otherwise)
  or nothing. EVs are admitted in queue order until the next one's minimum no longer fits: higher
  weight first, then the EVs admitted less than ``rotation_s`` ago, then the waiting ones (longest
  wait first), then the EVs that have had their turn (served longest last). So when capacity is
  short, the waiting EVs take turns instead of starving.
- Above the minimum, capacity is shared by weighted max-min fairness (progressive filling): every
  admitted EV's current rises in proportion to its weight until the EV reaches its own maximum or a
  node on its path (site, sub-circuit, station, EVSE) is full on one of the phases it loads, or in
  watts. Capacity one EV cannot use goes to the others.
- Phases are grid phases: a station's rotation maps its L1/L2/L3 onto the site's phases, so
  single-phase EVs on differently wired stations load different site phases.
- A demand marked ``fixed`` (a station that refuses profiles) is not balanced: its worst case is
  reserved first and everything else is shared around it.
- Departure time and energy need (ISO 15118 charging needs, or the operator): above the minimums,
  capacity goes first to what those EVs need to be full when they leave, earliest departure first
  (when not all fit, those leaving soonest are on time), planned over time by
  ``ocppd.smart.planner``; then the rest is shared as above, the planned currents counting as the
  EVs' minimums. Admission and rotation do not change: a departure never pauses another EV or
  jumps the queue.

Everything is in amperes per phase; a node's power limit becomes an ampere limit on the sum of its
phases (``watts / voltage``). Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

INF = math.inf
NOMINAL_VOLTAGE = 230.0
DEFAULT_MIN_A = 6.0
RESOLUTION_A = 0.1  # OCPP limits are multiples of 0.1
_EPS = 1e-9

# why an EVSE got what it got
SHARE = "share"  # its fair share: a node on its path is full
FULL = "full"  # everything it can take
MINIMUM = "minimum"  # admitted at its minimum, nothing more fits
WAITING = "waiting"  # its minimum does not fit now; it waits for its turn
RESERVED = "reserved"  # not balanced (refuses profiles): its worst case is reserved
DEPARTURE = "departure"  # what it needs to be full by its departure, more than its fair share
IDLE = "idle"  # it takes nothing (no demand)


@dataclass(frozen=True, slots=True)
class Capacity:
    """What one node of the limit tree may carry at the instant of the allocation."""

    amps: tuple[float, float, float] = (INF, INF, INF)  # per grid phase L1, L2, L3
    watts: float = INF
    voltage: float = NOMINAL_VOLTAGE


@dataclass(frozen=True, slots=True)
class Demand:
    """One EV that wants current, and what the balancer needs to know about it."""

    evse: str
    path: tuple[str, ...]  # the nodes whose capacity its current counts against (site .. EVSE)
    phases: tuple[int, ...] = (0, 1, 2)  # the grid phases it loads, after the station's rotation
    max_a: float = 32.0  # per phase: the least of EV, cable, EVSE and any learned cap
    min_a: float = DEFAULT_MIN_A
    weight: float = 1.0
    since: float = 0.0  # when it was admitted (admitted) or started waiting (not admitted)
    admitted: bool = False  # it had current in the previous allocation
    fixed: bool = False  # not balanced: ``max_a`` is reserved for it whatever the others need
    departure: float | None = None  # when the EV leaves (epoch seconds), if known
    energy_wh: float | None = None  # the energy it still needs by then, if known
    voltage: float = NOMINAL_VOLTAGE  # phase voltage, to turn the energy need into current


def need_a(d: Demand, now: float) -> float | None:
    """The current per phase the EV needs from ``now`` to get its energy by its departure (None: no
    departure or energy known; INF: it is due or past due and still needs energy)."""
    if d.departure is None or d.energy_wh is None:
        return None
    if d.energy_wh <= 0:
        return 0.0
    hours = (d.departure - now) / 3600.0
    if hours <= 0:
        return INF
    return d.energy_wh / hours / (d.voltage * len(d.phases))


@dataclass(frozen=True, slots=True)
class Grant:
    evse: str
    amps: float  # per phase, on each of the demand's phases; 0 means paused
    reason: str
    need_a: float | None = None  # what it needs to be full by its departure (None: not known)
    planned_wh: float | None = None  # what its plan delivers by its departure (ocppd.smart.planner)
    energy_wh: float | None = None  # what it needs by then

    @property
    def on_time(self) -> bool | None:
        """Whether its plan gets it its energy by its departure (None: no departure known)."""
        if self.need_a is None:
            return None
        if self.planned_wh is not None and self.energy_wh is not None:
            return self.planned_wh + 0.01 >= self.energy_wh
        return self.amps + 1e-6 >= self.need_a

    @property
    def admitted(self) -> bool:
        return self.amps > 0


class _Ledger:
    """The constraints the demands touch, and how much of each is in use."""

    def __init__(self, capacity: Mapping[str, Capacity], demands: Sequence[Demand], prune: bool = False) -> None:
        self.cap: list[float] = []
        self.used: list[float] = []
        index: dict[tuple[str, int], int] = {}
        self.coefs: list[list[tuple[int, float]]] = []
        for d in demands:
            row: list[tuple[int, float]] = []
            for node in d.path:
                c = capacity.get(node)
                if c is None:
                    continue
                for p in d.phases:
                    if c.amps[p] < INF:
                        row.append((self._index(index, (node, p), c.amps[p]), 1.0))
                if c.watts < INF:
                    row.append((self._index(index, (node, 3), c.watts / c.voltage), float(len(d.phases))))
            self.coefs.append(row)
        if prune:
            # A constraint that every demand at its maximum cannot fill never binds: leave it out, so
            # the filling only tracks the nodes that can (a station rated for all its EVSEs, ...).
            most = [0.0] * len(self.cap)
            for d, row in zip(demands, self.coefs, strict=True):
                for c, a in row:
                    most[c] += a * max(d.max_a, d.min_a)
            self.coefs = [[(c, a) for c, a in row if most[c] > self.cap[c] + 1e-9] for row in self.coefs]

    def copy(self) -> _Ledger:
        other = object.__new__(_Ledger)
        other.cap, other.used, other.coefs = self.cap, list(self.used), self.coefs
        return other

    def _index(self, index: dict[tuple[str, int], int], key: tuple[str, int], cap: float) -> int:
        i = index.get(key)
        if i is None:
            i = index[key] = len(self.cap)
            self.cap.append(max(cap, 0.0))
            self.used.append(0.0)
        return i

    def room(self, i: int) -> float:
        """How much more current demand ``i`` could take before a constraint on its path is full."""
        return min(((self.cap[c] - self.used[c]) / a for c, a in self.coefs[i] if a > 0), default=INF)

    def fits(self, i: int, amps: float) -> bool:
        return all(self.used[c] + a * amps <= self.cap[c] + 1e-6 for c, a in self.coefs[i])

    def add(self, i: int, amps: float) -> None:
        for c, a in self.coefs[i]:
            self.used[c] += a * amps


def _queue_key(d: Demand, now: float, rotation_s: float) -> tuple[float, int, float]:
    if d.admitted and now - d.since < rotation_s:
        return (-d.weight, 0, d.since)  # keeps its turn
    if not d.admitted:
        return (-d.weight, 1, d.since)  # waiting: longest first
    return (-d.weight, 2, -d.since)  # had its turn: served longest goes last


def _floor(amps: float) -> float:
    return math.floor(amps / RESOLUTION_A + 1e-6) * RESOLUTION_A


def allocate(
    capacity: Mapping[str, Capacity], demands: Sequence[Demand], now: float, rotation_s: float = 900.0
) -> dict[str, Grant]:
    """The current per phase for every demand (see the module's policy), with the capacity constant
    from now on: departures are planned by :func:`ocppd.smart.planner.plan`, which this is."""
    from ocppd.smart.planner import Step, plan  # the planner builds on this module's filling

    return plan([Step(now, capacity)], demands, now, rotation_s)[0]


def admit(
    ledger: _Ledger, demands: Sequence[Demand], now: float, rotation_s: float
) -> tuple[dict[str, Grant], list[int]]:
    """Reserve the fixed demands' worst case and admit the others at their minimum in queue order
    (``ledger`` counts both). Returns the grants decided already (reserved, idle, waiting) and the
    admitted demands."""
    grants: dict[str, Grant] = {}
    for i, d in enumerate(demands):
        if d.fixed:
            ledger.add(i, d.max_a)
            grants[d.evse] = Grant(d.evse, d.max_a, RESERVED)
    admitted: list[int] = []
    order = sorted((i for i, d in enumerate(demands) if not d.fixed),
                   key=lambda i: _queue_key(demands[i], now, rotation_s))  # fmt: skip
    for i in order:
        d = demands[i]
        lo = min(d.min_a, d.max_a)
        if lo <= 0:
            grants[d.evse] = Grant(d.evse, 0.0, IDLE)
        elif ledger.fits(i, lo):
            ledger.add(i, lo)
            admitted.append(i)
        else:
            grants[d.evse] = Grant(d.evse, 0.0, WAITING)
    return grants, admitted


_TIGHT, _CAP, _ACTIVATE = 0, 1, 2  # event kinds; at equal level a full node acts first
_PINNED, _GROWING, _FROZEN = 0, 1, 2


def _fill(ledger: _Ledger, demands: Sequence[Demand], admitted: list[int]) -> dict[int, tuple[float, str]]:
    """Weighted progressive filling above the minimums already in the ledger.

    At level ``lam`` an admitted EV carries ``clamp(weight * lam, min, max)``. Each constraint's use
    is ``fixed[c] + lam * slope[c]``; events (an EV leaves its minimum, reaches its maximum, a
    constraint fills up) are taken from a heap in level order, so the work is proportional to the
    number of (EV, constraint) pairs, not EVs squared.
    """
    cap = ledger.cap
    fixed = list(ledger.used)
    slope = [0.0] * len(cap)
    version = [0] * len(cap)
    members: list[list[int]] = [[] for _ in cap]
    state: dict[int, int] = {}
    result: dict[int, tuple[float, str]] = {}
    heap: list[tuple[float, int, int, int]] = []
    for i in admitted:
        d = demands[i]
        lo, hi = min(d.min_a, d.max_a), d.max_a
        for c, _ in ledger.coefs[i]:
            members[c].append(i)
        if hi <= lo + _EPS or d.weight <= 0:
            state[i] = _FROZEN
            result[i] = (lo, FULL if hi <= lo + _EPS else MINIMUM)
        else:
            state[i] = _PINNED
            heapq.heappush(heap, (lo / d.weight, _ACTIVATE, i, 0))

    def reschedule(c: int) -> None:
        version[c] += 1
        if slope[c] > _EPS:
            heapq.heappush(heap, ((cap[c] - fixed[c]) / slope[c], _TIGHT, c, version[c]))

    def freeze(i: int, amps: float, reason: str) -> None:
        state[i] = _FROZEN
        result[i] = (amps, reason)
        w = demands[i].weight
        for c, a in ledger.coefs[i]:
            fixed[c] += a * amps
            slope[c] -= a * w
            reschedule(c)

    while heap:
        lam, kind, k, v = heapq.heappop(heap)
        if kind == _ACTIVATE:
            if state[k] != _PINNED:
                continue
            d = demands[k]
            state[k] = _GROWING
            lo = min(d.min_a, d.max_a)
            for c, a in ledger.coefs[k]:
                fixed[c] -= a * lo
                slope[c] += a * d.weight
                reschedule(c)
            heapq.heappush(heap, (d.max_a / d.weight, _CAP, k, 0))
        elif kind == _CAP:
            if state[k] == _GROWING:
                freeze(k, demands[k].max_a, FULL)
        elif v == version[k]:
            for i in members[k]:
                if state[i] == _GROWING:
                    d = demands[i]
                    freeze(i, max(min(d.min_a, d.max_a), min(d.weight * lam, d.max_a)), SHARE)
                elif state[i] == _PINNED:
                    state[i] = _FROZEN  # its minimum is already in ``fixed``
                    result[i] = (min(demands[i].min_a, demands[i].max_a), MINIMUM)
    return result


def stabilise(
    capacity: Mapping[str, Capacity],
    demands: Sequence[Demand],
    grants: Mapping[str, Grant],
    previous: Mapping[str, float],
    threshold_a: float = 1.0,
    hold_increases: Collection[str] = (),
    hold_small: Collection[str] | None = None,
) -> dict[str, Grant]:
    """Hysteresis: keep an EVSE's previous current where the new one differs by less than ``threshold_a``.

    A smaller increase is always held (it is safe); a smaller decrease is held only while every
    constraint still holds. Increases of the EVSEs in ``hold_increases`` (rate-limited: changed too
    recently) are held whatever their size. With ``hold_small``, only those EVSEs' small changes are
    held (the others' last change is old enough for a small step to be worth sending), so held
    capacity is not lost for good. Starting or pausing an EV is never held.
    """
    ledger = _Ledger(capacity, demands)
    out = dict(grants)
    for i, d in enumerate(demands):
        g = grants.get(d.evse)
        if g is not None:
            ledger.add(i, g.amps)
    increases: list[tuple[int, float]] = []
    decreases: list[tuple[int, float]] = []
    for i, d in enumerate(demands):
        g = grants.get(d.evse)
        before = previous.get(d.evse)
        if g is None or before is None or d.fixed or before <= 0 or g.amps <= 0 or before == g.amps:
            continue
        delta = g.amps - before
        small = abs(delta) < threshold_a and (hold_small is None or d.evse in hold_small)
        if delta > 0 and (small or d.evse in hold_increases):
            increases.append((i, before))
        elif delta < 0 and small:
            decreases.append((i, before))
    for i, before in increases:
        d = demands[i]
        ledger.add(i, before - grants[d.evse].amps)
        out[d.evse] = replace(grants[d.evse], amps=before)
    for i, before in decreases:
        d = demands[i]
        extra = before - grants[d.evse].amps
        if ledger.fits(i, extra):
            ledger.add(i, extra)
            out[d.evse] = replace(grants[d.evse], amps=before)
    return out


def usage(
    capacity: Mapping[str, Capacity], demands: Sequence[Demand], grants: Mapping[str, Grant]
) -> dict[str, tuple[float, float, float, float]]:
    """Per node: the allocated current on each grid phase and the allocated power (W)."""
    out: dict[str, list[float]] = {}
    for d in demands:
        g = grants.get(d.evse)
        if g is None or g.amps <= 0:
            continue
        for node in d.path:
            row = out.setdefault(node, [0.0, 0.0, 0.0, 0.0])
            voltage = capacity[node].voltage if node in capacity else NOMINAL_VOLTAGE
            for p in d.phases:
                row[p] += g.amps
            row[3] += g.amps * len(d.phases) * voltage
    return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}


# ---------------------------------------------------------------------- what an EV actually takes


@dataclass(frozen=True, slots=True)
class Draw:
    """What the balancer has learned about an EV's draw: a cap below its maximum when it takes less."""

    cap_a: float | None = None  # None: the EV may have everything up to its maximum
    below_since: float | None = None  # since when it draws clearly less than it is allocated


def learn_draw(
    state: Draw,
    allocated_a: float,
    measured_a: float | None,
    now: float,
    *,
    min_a: float = DEFAULT_MIN_A,
    settle_s: float = 60.0,
    below_a: float = 1.0,
    headroom_a: float = 2.0,
    release_a: float = 0.5,
) -> Draw:
    """Update what an EV is known to take from one measurement of its current (highest phase).

    A car that draws more than ``below_a`` under its allocation for ``settle_s`` gets a cap of its
    draw plus ``headroom_a``, so the rest goes to others; as soon as it draws within ``release_a`` of
    its allocation again (it wants more) the cap goes. A measurement that makes no sense (unknown,
    NaN, negative, well above the allocation) changes nothing.
    """
    if measured_a is None or not math.isfinite(measured_a) or measured_a < 0 or allocated_a <= 0:
        return state
    if measured_a > allocated_a * 1.1 + headroom_a:
        return state
    if measured_a >= allocated_a - release_a:
        return Draw()
    if measured_a < allocated_a - below_a:
        since = state.below_since if state.below_since is not None else now
        if now - since >= settle_s:
            return Draw(max(min_a, _floor(measured_a + headroom_a)), since)
        return Draw(state.cap_a, since)
    return state
