"""The pure cost calculator: a session's readings and times + a tariff -> cost with its breakdown.

No I/O. Money is Decimal throughout; each line is rounded half-up to the currency's minor unit once,
and the totals are sums of rounded lines, so the breakdown always adds up to the total.

Readings are whole-meter register values (Wh). Only trustworthy ones are priced: a reading is trusted
when no later reading of the session is lower (a value that is later contradicted, a spike, or the
readings before a register reset, are not). Energy between trusted readings is interpolated linearly,
so a tariff period boundary inside a sampling interval splits its energy by time. Whatever was not
trusted, and a missing stop, is named in ``flags`` for the operator to review; the cost is never
negative and never above what the trusted readings support.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any

from ocppd.csms.billing.tariff import DAYS, Restrictions, Tariff

HOUR = Decimal(3600)
KWH = Decimal(1000)
RESOLUTION_WH = Decimal(1)  # whole Wh: the coarsest register a reading may be rounded to (1.6 meterStop)

# Review flags
BACKWARDS = "meter_went_backwards"  # some readings were lower than an earlier one: those are not priced
MISSING_STOP_READING = "missing_stop_reading"  # energy up to the last trusted reading
MISSING_STOP_TIME = "missing_stop_time"  # time up to the last reading
NO_READINGS = "no_energy_readings"  # no two trusted readings: no energy priced


@dataclass(frozen=True, slots=True)
class MeterPoint:
    timestamp: datetime
    energy_wh: Decimal


@dataclass(frozen=True, slots=True)
class SessionData:
    """What the store knows about one transaction. ``charging`` lists (from, is_charging) changes; when
    empty, an interval is charging when energy flowed in it and parking otherwise."""

    started_at: datetime
    stopped_at: datetime | None = None
    meter_start_wh: Decimal | None = None
    meter_stop_wh: Decimal | None = None
    readings: Sequence[MeterPoint] = ()
    charging: Sequence[tuple[datetime, bool]] = ()


@dataclass(frozen=True, slots=True)
class CostLine:
    dimension: str  # ENERGY, TIME, PARKING_TIME, FLAT, MIN_PRICE, MAX_PRICE
    element: int | None  # index into tariff.elements
    quantity: Decimal  # kWh, hours, or 1
    unit_price: Decimal
    excl_vat: Decimal
    vat_percent: Decimal

    def to_json(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "element": self.element,
            "quantity": str(self.quantity),
            "unit": {"ENERGY": "kWh", "TIME": "h", "PARKING_TIME": "h"}.get(self.dimension, "session"),
            "unit_price": str(self.unit_price),
            "excl_vat": str(self.excl_vat),
            "vat_percent": str(self.vat_percent),
        }


@dataclass(frozen=True, slots=True)
class Period:
    """A stretch of the session with one set of applicable elements (OCPI's charging period)."""

    start: datetime
    end: datetime
    energy_wh: Decimal
    charging: bool
    elements: dict[str, int]  # dimension -> element index


@dataclass(frozen=True, slots=True)
class Cost:
    currency: str
    lines: tuple[CostLine, ...]
    energy_wh: Decimal
    charging_s: Decimal
    parking_s: Decimal
    periods: tuple[Period, ...] = ()
    flags: tuple[str, ...] = ()
    ended_at: datetime | None = None  # the end the session was priced to
    digits: int = 2
    excl_vat: Decimal = field(init=False)
    vat_by_rate: tuple[tuple[Decimal, Decimal, Decimal], ...] = field(init=False)  # (percent, base, vat)

    def __post_init__(self) -> None:
        object.__setattr__(self, "excl_vat", sum((line.excl_vat for line in self.lines), Decimal(0)))
        bases: dict[Decimal, Decimal] = {}
        for line in self.lines:
            bases[line.vat_percent] = bases.get(line.vat_percent, Decimal(0)) + line.excl_vat
        # VAT per rate on the rate's total (as an invoice does), not per line: no rounding drift
        by_rate = tuple((rate, base, _money(base * rate / 100, self.digits)) for rate, base in sorted(bases.items()))
        object.__setattr__(self, "vat_by_rate", by_rate)

    @property
    def vat(self) -> Decimal:
        return sum((vat for _, _, vat in self.vat_by_rate), Decimal(0))

    @property
    def incl_vat(self) -> Decimal:
        return self.excl_vat + self.vat

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "excl_vat": str(self.excl_vat),
            "vat": str(self.vat),
            "incl_vat": str(self.incl_vat),
            "energy_kwh": str((self.energy_wh / KWH).quantize(Decimal("0.001"))),
            "charging_s": int(self.charging_s),
            "parking_s": int(self.parking_s),
            "vat_by_rate": [{"percent": str(r), "base": str(b), "vat": str(v)} for r, b, v in self.vat_by_rate],
            "lines": [line.to_json() for line in self.lines],
            "periods": [
                {
                    "start": p.start.isoformat(),
                    "end": p.end.isoformat(),
                    "energy_wh": str(p.energy_wh.quantize(Decimal("0.001"))),
                    "charging": p.charging,
                    "elements": p.elements,
                }
                for p in self.periods
            ],
            "flags": list(self.flags),
            "priced_to": self.ended_at.isoformat() if self.ended_at else None,
        }


def _seconds(delta: timedelta) -> Decimal:
    return Decimal(delta // timedelta(microseconds=1)) / Decimal(1_000_000)


class _Energy:
    """The session's trusted energy so far as a function of time (piecewise linear, non-decreasing)."""

    def __init__(self, points: list[MeterPoint]) -> None:
        self.points = points
        self.base = points[0].energy_wh if points else Decimal(0)

    def at(self, t: datetime) -> Decimal:
        pts = self.points
        if not pts or t <= pts[0].timestamp:
            return Decimal(0)
        for a, b in pairwise(pts):
            if t <= b.timestamp:
                span = _seconds(b.timestamp - a.timestamp)
                if span == 0:
                    return b.energy_wh - self.base
                return a.energy_wh - self.base + (b.energy_wh - a.energy_wh) * _seconds(t - a.timestamp) / span
        return pts[-1].energy_wh - self.base

    def time_of(self, wh: Decimal) -> datetime | None:
        """When the session's energy reached ``wh`` (for kWh restrictions), or None if it never did."""
        for a, b in pairwise(self.points):
            low, high = a.energy_wh - self.base, b.energy_wh - self.base
            if low < wh <= high:
                fraction = (wh - low) / (high - low)
                offset = _seconds(b.timestamp - a.timestamp) * fraction
                return a.timestamp + timedelta(microseconds=int(offset * 1_000_000))
        return None


def _trusted(points: list[MeterPoint]) -> tuple[list[MeterPoint], bool]:
    """The readings no later reading contradicts (the suffix minima), and whether any was dropped.

    A reading above a later one by less than the register's resolution is rounding, not a meter going
    backwards (1.6 meterStop is whole Wh, samples may carry decimals): it is kept at the later value."""
    kept: list[MeterPoint] = []
    floor: Decimal | None = None
    dropped = False
    for point in reversed(points):
        if floor is None or point.energy_wh <= floor:
            kept.append(point)
            floor = point.energy_wh
        elif point.energy_wh - floor < RESOLUTION_WH:
            kept.append(MeterPoint(point.timestamp, floor))
        else:
            dropped = True
    kept.reverse()
    return kept, dropped


@dataclass(frozen=True, slots=True)
class _Moment:
    local: datetime
    kwh: Decimal
    elapsed_s: Decimal
    power_kw: Decimal | None


def _matches(r: Restrictions, m: _Moment) -> bool:
    if r.start_time is not None and r.end_time is not None:
        now = m.local.time()
        inside = r.start_time <= now < r.end_time if r.start_time < r.end_time else not r.end_time <= now < r.start_time
        if not inside:
            return False
    day = m.local.date()
    if (r.start_date and day < r.start_date) or (r.end_date and day >= r.end_date):
        return False
    if r.day_of_week and DAYS[m.local.weekday()] not in r.day_of_week:
        return False
    if (r.min_kwh is not None and m.kwh < r.min_kwh) or (r.max_kwh is not None and m.kwh >= r.max_kwh):
        return False
    if (r.min_duration_s is not None and m.elapsed_s < r.min_duration_s) or (
        r.max_duration_s is not None and m.elapsed_s >= r.max_duration_s
    ):
        return False
    if m.power_kw is not None:
        if r.min_power_kw is not None and m.power_kw < r.min_power_kw:
            return False
        if r.max_power_kw is not None and m.power_kw >= r.max_power_kw:
            return False
    return True


def _element_for(tariff: Tariff, dimension: str, moment: _Moment) -> int | None:
    for index, element in enumerate(tariff.elements):
        if element.component(dimension) is not None and _matches(element.restrictions, moment):
            return index
    return None


def _boundaries(tariff: Tariff, start: datetime, end: datetime, energy: _Energy) -> list[datetime]:
    """Every instant at which the applicable element may change, within (start, end)."""
    zone = tariff.zone
    found: set[datetime] = set()
    day = start.astimezone(zone).date()
    last_day = end.astimezone(zone).date()
    while day <= last_day:
        found.add(datetime.combine(day, datetime.min.time(), zone).astimezone(UTC))
        for element in tariff.elements:
            r = element.restrictions
            for t in (r.start_time, r.end_time):
                if t is not None:
                    found.add(datetime.combine(day, t, zone).astimezone(UTC))
        day += timedelta(days=1)
    for element in tariff.elements:
        r = element.restrictions
        for seconds in (r.min_duration_s, r.max_duration_s):
            if seconds is not None:
                found.add(start + timedelta(seconds=seconds))
        for kwh in (r.min_kwh, r.max_kwh):
            if kwh is not None and (at := energy.time_of(kwh * KWH)) is not None:
                found.add(at)
    return sorted(t for t in found if start < t < end)


def _charging_at(changes: Sequence[tuple[datetime, bool]], t: datetime) -> bool | None:
    state = None
    for when, charging in changes:
        if when > t:
            break
        state = charging
    return state


def _money(value: Decimal, digits: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def price_session(tariff: Tariff, session: SessionData, *, now: datetime | None = None) -> Cost:
    """The session's cost under ``tariff``. ``now`` prices a running session up to that instant."""
    flags: list[str] = []
    start = session.started_at
    end = session.stopped_at or now
    points = [p for p in session.readings if p.energy_wh is not None]
    if session.meter_start_wh is not None:
        points.insert(0, MeterPoint(start, Decimal(session.meter_start_wh)))
    if session.stopped_at is not None and session.meter_stop_wh is not None:
        points.append(MeterPoint(session.stopped_at, Decimal(session.meter_stop_wh)))
    elif session.stopped_at is not None:
        flags.append(MISSING_STOP_READING)
    if end is None:
        end = max((p.timestamp for p in points), default=start)
        flags.append(MISSING_STOP_TIME)
    points = sorted((p for p in points if start <= p.timestamp <= end), key=lambda p: p.timestamp)
    trusted, dropped = _trusted(points)
    if dropped:
        flags.append(BACKWARDS)
    if len(trusted) < 2 and now is None:
        flags.append(NO_READINGS)
    energy = _Energy(trusted)
    changes = sorted(session.charging, key=lambda c: c[0])

    # slices: between tariff boundaries, readings (energy rate changes) and charging state changes
    inner = {*_boundaries(tariff, start, end, energy), *(p.timestamp for p in trusted), *(c[0] for c in changes)}
    instants = [start, *sorted(t for t in inner if start < t < end), end] if end > start else [start]
    quantities: dict[tuple[str, int], Decimal] = {}  # (dimension, element) -> Wh or seconds
    last_used: dict[str, int] = {}
    flat_candidates: set[int] = set()
    periods: list[Period] = []
    charging_s = parking_s = Decimal(0)
    for a, b in pairwise(instants):
        seconds = _seconds(b - a)
        if seconds <= 0:
            continue
        wh = energy.at(b) - energy.at(a)
        middle = a + (b - a) / 2
        state = _charging_at(changes, middle)
        charging = state if state is not None else wh > 0
        moment = _Moment(
            local=middle.astimezone(tariff.zone),
            kwh=energy.at(middle) / KWH,
            elapsed_s=_seconds(middle - start),
            power_kw=wh / KWH / (seconds / HOUR),
        )
        used: dict[str, int] = {}
        time_dimension = "TIME" if charging else "PARKING_TIME"
        for dimension, amount in (("ENERGY", wh), (time_dimension, seconds)):
            if amount <= 0:
                continue
            index = _element_for(tariff, dimension, moment)
            if index is not None:
                quantities[(dimension, index)] = quantities.get((dimension, index), Decimal(0)) + amount
                last_used[dimension] = index
                used[dimension] = index
        flat = _element_for(tariff, "FLAT", moment)
        if flat is not None:
            flat_candidates.add(flat)
        if charging:
            charging_s += seconds
        else:
            parking_s += seconds
        if periods and periods[-1].elements == used and periods[-1].charging == charging:
            prev = periods[-1]
            periods[-1] = Period(prev.start, b, prev.energy_wh + wh, charging, used)
        else:
            periods.append(Period(a, b, wh, charging, used))
    if end <= start:
        first = _Moment(start.astimezone(tariff.zone), Decimal(0), Decimal(0), None)
        if (flat := _element_for(tariff, "FLAT", first)) is not None:
            flat_candidates.add(flat)

    # step_size: the last step of each dimension is billed whole, on the component used last (OCPI)
    for dimension, index in last_used.items():
        component = tariff.elements[index].component(dimension)
        assert component is not None
        total = sum((q for (d, _), q in quantities.items() if d == dimension), Decimal(0))
        steps = (total / component.step_size).to_integral_value(rounding=ROUND_CEILING)
        quantities[(dimension, index)] += steps * component.step_size - total

    digits = tariff.digits
    lines: list[CostLine] = []

    def add(dimension: str, element: int | None, quantity: Decimal, unit_price: Decimal, vat: Decimal) -> None:
        lines.append(CostLine(dimension, element, quantity, unit_price, _money(quantity * unit_price, digits), vat))

    if flat_candidates:
        index = min(flat_candidates)
        component = tariff.elements[index].component("FLAT")
        assert component is not None
        add("FLAT", index, Decimal(1), component.price, tariff.vat if component.vat is None else component.vat)
    for (dimension, index), amount in sorted(quantities.items(), key=lambda kv: (kv[0][0] != "ENERGY", kv[0])):
        component = tariff.elements[index].component(dimension)
        assert component is not None
        quantity = amount / (KWH if dimension == "ENERGY" else HOUR)
        add(dimension, index, quantity, component.price, tariff.vat if component.vat is None else component.vat)

    subtotal = sum((line.excl_vat for line in lines), Decimal(0))
    if tariff.min_price is not None and subtotal < tariff.min_price:
        add("MIN_PRICE", None, Decimal(1), tariff.min_price - subtotal, tariff.vat)
    elif tariff.max_price is not None and subtotal > tariff.max_price:
        add("MAX_PRICE", None, Decimal(1), tariff.max_price - subtotal, tariff.vat)

    return Cost(
        currency=tariff.currency,
        lines=tuple(lines),
        energy_wh=energy.at(end),
        charging_s=charging_s,
        parking_s=parking_s,
        periods=tuple(periods),
        flags=tuple(flags),
        ended_at=end,
        digits=digits,
    )
