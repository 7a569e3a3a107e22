"""Meter values: turn 1.6 and 2.x sampled values into one normalised form (energy in Wh, power in W)."""
# Sample (store.rows) is the one normalised sampled value shared by the domain and the store.

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocppd.store.rows import Sample

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER_IMPORT = "Power.Active.Import"

# Unit scale factors onto the base unit we store (Wh, W, varh, var).
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


def _normalise(unit: str, value: float, multiplier: int = 0) -> tuple[str, float]:
    if multiplier:
        value *= 10.0**multiplier
    base = _SCALE.get(unit)
    if base is not None:
        return base[0], value * base[1]
    return unit, value


def samples_v16(meter_values: list[dict[str, Any]]) -> list[Sample]:
    out: list[Sample] = []
    for mv in meter_values:
        ts = parse_time(mv["timestamp"])
        for sv in mv["sampledValue"]:
            if sv.get("format") == "SignedData":
                continue  # opaque signed blob, kept in the message log only
            measurand = sv.get("measurand", ENERGY_REGISTER)
            default_unit = "Wh" if measurand.startswith("Energy") else ""
            try:
                raw = float(sv["value"])
            except ValueError:
                continue
            unit, value = _normalise(sv.get("unit", default_unit), raw)
            out.append(Sample(ts, measurand, sv.get("phase"), unit, value, sv.get("context"), sv.get("location")))
    return out


def samples_v2x(meter_values: list[dict[str, Any]]) -> list[Sample]:
    out: list[Sample] = []
    for mv in meter_values:
        ts = parse_time(mv["timestamp"])
        for sv in mv["sampledValue"]:
            measurand = sv.get("measurand", ENERGY_REGISTER)
            uom = sv.get("unitOfMeasure") or {}
            default_unit = "Wh" if measurand.startswith("Energy") else ""
            unit, value = _normalise(uom.get("unit", default_unit), float(sv["value"]), uom.get("multiplier", 0))
            out.append(Sample(ts, measurand, sv.get("phase"), unit, value, sv.get("context"), sv.get("location")))
    return out


def register_wh(samples: list[Sample], *, first: bool = False) -> float | None:
    """The (last, or first) whole-meter energy register reading, if the samples carry one."""
    readings = [s.value for s in samples if s.measurand == ENERGY_REGISTER and s.phase is None and s.unit == "Wh"]
    if not readings:
        return None
    return readings[0] if first else readings[-1]


def power_w(samples: list[Sample]) -> float | None:
    """Total active import power of the latest sample set (summing phases when no total is given)."""
    total = [s.value for s in samples if s.measurand == POWER_IMPORT and s.phase is None]
    if total:
        return total[-1]
    phases = [s.value for s in samples if s.measurand == POWER_IMPORT]
    return sum(phases) if phases else None
