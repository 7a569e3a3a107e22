"""Meter values: 1.6 and 2.x sampled values into readings (store.rows.Reading), energy in Wh, power in W.

A reading is every sampled value of one timestamp; it is also the unit of storage, so a 1.6
MeterValues with ten sampled values is one row, not ten.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from ocppd.store.rows import Reading, SampleValue

ENERGY_REGISTER = "Energy.Active.Import.Register"
_DEFAULT_CONTEXT = "Sample.Periodic"
_DEFAULT_LOCATION = "Outlet"

# Unit scale factors onto the base unit we store (Wh, W, varh, var, VA).
_SCALE = {
    "kWh": ("Wh", 1000.0),
    "kW": ("W", 1000.0),
    "kvarh": ("varh", 1000.0),
    "kvar": ("var", 1000.0),
    "kVA": ("VA", 1000.0),
}


def parse_time(value: str) -> datetime:
    """RFC 3339 to an aware UTC datetime; a time without an offset (sloppy chargers) is taken as UTC."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _value(measurand: str, unit: str | None, value: float, sv: dict[str, Any]) -> SampleValue | None:
    """The normalised sample, or None for a value that is no number (NaN, infinite, or beyond a float once
    scaled): a 1.6 value is a decimal string and a 2.x one a decimal, and "NaN", "Infinity" or "1e400"
    is neither. Such a sample is ignored like any unreadable one; the frame stays in the message log.
    (Refusing the message would make the station resend a transaction message that can never pass.)"""
    if unit is None:
        unit = "Wh" if measurand.startswith("Energy") else ""
    scale = _SCALE.get(unit)
    if scale is not None:
        unit, value = scale[0], value * scale[1]
    if not math.isfinite(value):
        return None
    return (measurand, sv.get("phase", ""), unit, value, sv.get("context", _DEFAULT_CONTEXT),
            sv.get("location", _DEFAULT_LOCATION))  # fmt: skip


def readings_v16(meter_values: list[dict[str, Any]]) -> list[Reading]:
    out: list[Reading] = []
    for mv in meter_values:
        values: list[SampleValue] = []
        for sv in mv["sampledValue"]:
            if sv.get("format") == "SignedData":
                continue  # an opaque signed blob: kept in the message log only
            try:
                raw = float(sv["value"])
            except ValueError:
                continue
            sample = _value(sv.get("measurand", ENERGY_REGISTER), sv.get("unit"), raw, sv)
            if sample is not None:
                values.append(sample)
        if values:
            out.append(Reading.of(parse_time(mv["timestamp"]), values))
    return out


def readings_v2x(meter_values: list[dict[str, Any]]) -> list[Reading]:
    out: list[Reading] = []
    for mv in meter_values:
        values: list[SampleValue] = []
        for sv in mv["sampledValue"]:
            raw = float(sv["value"])
            uom = sv.get("unitOfMeasure")
            unit = None
            if uom is not None:
                unit = uom.get("unit")
                if uom.get("multiplier"):
                    try:
                        raw *= 10.0 ** uom["multiplier"]
                    except OverflowError:  # a multiplier of 400: no number (dropped in _value)
                        raw = math.inf
            sample = _value(sv.get("measurand", ENERGY_REGISTER), unit, raw, sv)
            if sample is not None:
                values.append(sample)
        if values:
            out.append(Reading.of(parse_time(mv["timestamp"]), values))
    return out


def register_wh(readings: list[Reading], *, first: bool = False) -> float | None:
    """The (last, or first) whole-meter energy register reading in Wh, if any reading carries one."""
    values = [r.energy_wh for r in readings if r.energy_wh is not None]
    if not values:
        return None
    return values[0] if first else values[-1]


def power_w(readings: list[Reading]) -> float | None:
    """Total active import power of the latest reading that reports it."""
    for reading in reversed(readings):
        if reading.power_w is not None:
            return reading.power_w
    return None


def currents_a(readings: list[Reading]) -> list[float] | None:
    """Current.Import per phase (L1, L2, L3) of the latest reading that has all three; else None."""
    for reading in reversed(readings):
        phases: dict[str, float] = {}
        for measurand, phase, _unit, value, _, location in reading.samples:
            if measurand == "Current.Import" and phase and location in ("Outlet", "EV", ""):
                phases[phase[:2]] = value
        if {"L1", "L2", "L3"} <= phases.keys():
            return [phases["L1"], phases["L2"], phases["L3"]]
    return None
