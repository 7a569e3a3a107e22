"""OSCP 2.0 (the Open Charge Alliance's Open Smart Charging Protocol), sans-I/O.

The messages a Flexibility Provider exchanges with a Capacity Provider (and a Capacity Optimizer),
their validation, and the conversion of a capacity forecast into limits for the limit tree.
Followed: OSCP 2.0 (final, 2020-10-12) as described in docs/smart-charging.md#oscp-20: HTTP POST of a
JSON body to ``{base_url}/{message}`` where ``message`` is the snake_case name of the message, the
sender's token in ``Authorization: Token <token>``, a fresh ``X-Request-ID`` on every request and
``X-Correlation-ID`` when it answers an earlier request; 204 No Content when the receiver took the
message, 400 for a malformed one, 401 for a missing or unknown token.

Every ``parse_*`` function takes the decoded JSON and returns a typed message or raises
:class:`OscpInvalid` whose ``field`` names the offending field (``forecasted_blocks[2].end_time``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

VERSION = "2.0"

# The endpoints (message names as path segments) each role offers under its base URL.
REGISTER = "register"
HANDSHAKE = "handshake"
HANDSHAKE_ACKNOWLEDGEMENT = "handshake_acknowledgement"
HEARTBEAT = "heartbeat"
UPDATE_GROUP_CAPACITY_FORECAST = "update_group_capacity_forecast"
ADJUST_GROUP_CAPACITY_FORECAST = "adjust_group_capacity_forecast"
GROUP_CAPACITY_COMPLIANCE_ERROR = "group_capacity_compliance_error"
UPDATE_GROUP_MEASUREMENTS = "update_group_measurements"

FLEXIBILITY_PROVIDER_ENDPOINTS = (
    REGISTER,
    HANDSHAKE,
    HANDSHAKE_ACKNOWLEDGEMENT,
    HEARTBEAT,
    UPDATE_GROUP_CAPACITY_FORECAST,
    ADJUST_GROUP_CAPACITY_FORECAST,  # from a Capacity Optimizer
)

PHASES = ("UNKNOWN", "ONE", "TWO", "THREE", "ALL")
BLOCK_UNITS = ("A", "W", "KW", "WH", "KWH")
CAPACITY_UNITS = ("A", "W", "KW")  # WH / KWH are energy, not a capacity a node can be limited to
FORECAST_TYPES = ("CONSUMPTION", "GENERATION", "FALLBACK_CONSUMPTION", "FALLBACK_GENERATION", "OPTIMUM")
MEASUREMENT_CONFIGURATIONS = ("CONTINUOUS", "INTERMITTENT")
ENERGY_UNITS = ("WH", "KWH")
ENERGY_DIRECTIONS = ("NET", "IMPORT", "EXPORT")
ENERGY_TYPES = ("FLEXIBLE", "NONFLEXIBLE", "TOTAL")
MAX_TEXT = 2048  # a token, a URL or a message longer than this is refused (bad input, not a store burden)


class OscpInvalid(ValueError):
    """A message that does not follow OSCP 2.0; ``field`` names where (answered with 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --------------------------------------------------------------------------- datatypes


@dataclass(frozen=True, slots=True)
class VersionUrl:
    version: str
    base_url: str


@dataclass(frozen=True, slots=True)
class Register:
    token: str
    version_url: tuple[VersionUrl, ...]

    def supported(self) -> VersionUrl | None:
        """The entry for the version this implementation speaks, if the sender offers it."""
        return next((v for v in self.version_url if v.version == VERSION), None)


@dataclass(frozen=True, slots=True)
class RequiredBehaviour:
    heartbeat_interval: int | None  # seconds the sender wants between the receiver's heartbeats
    measurement_configuration: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Handshake:
    required_behaviour: RequiredBehaviour


@dataclass(frozen=True, slots=True)
class HandshakeAcknowledgement:
    required_behaviour: RequiredBehaviour | None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    offline_mode_at: float  # POSIX seconds: when the receiver may consider the sender offline


@dataclass(frozen=True, slots=True)
class ForecastedBlock:
    capacity: float
    phase: str
    unit: str
    start_time: float
    end_time: float

    def to_json(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "phase": self.phase,
            "unit": self.unit,
            "start_time": format_time(self.start_time),
            "end_time": format_time(self.end_time),
        }


@dataclass(frozen=True, slots=True)
class GroupCapacityForecast:
    """UpdateGroupCapacityForecast and AdjustGroupCapacityForecast share this shape."""

    group_id: str
    type: str
    forecasted_blocks: tuple[ForecastedBlock, ...] = field(default=())


# --------------------------------------------------------------------------- times


def parse_time(value: Any, where: str) -> float:
    """An RFC 3339 date-time with an explicit offset (OSCP requires one) as POSIX seconds."""
    if not isinstance(value, str) or not value:
        raise OscpInvalid(where, "a date-time string is required")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise OscpInvalid(where, f"{value!r} is not an RFC 3339 date-time") from None
    if dt.tzinfo is None:
        raise OscpInvalid(where, f"{value!r} has no time zone (Z or +HH:MM is required)")
    return dt.timestamp()


def format_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- parsing


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise OscpInvalid(where, "a JSON object is required")
    return value


def _text(body: Mapping[str, Any], name: str, where: str = "") -> str:
    value = body.get(name)
    key = f"{where}{name}"
    if value is None:
        raise OscpInvalid(key, "is required")
    if not isinstance(value, str) or not value.strip():
        raise OscpInvalid(key, "a non-empty string is required")
    if len(value) > MAX_TEXT:
        raise OscpInvalid(key, f"longer than {MAX_TEXT} characters")
    return value


def _choice(body: Mapping[str, Any], name: str, allowed: Sequence[str], where: str = "") -> str:
    value = _text(body, name, where)
    if value not in allowed:
        raise OscpInvalid(f"{where}{name}", f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _number(body: Mapping[str, Any], name: str, where: str = "") -> float:
    value = body.get(name)
    key = f"{where}{name}"
    if value is None:
        raise OscpInvalid(key, "is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OscpInvalid(key, "a finite number is required")
    return float(value)


def _list(body: Mapping[str, Any], name: str, where: str = "", *, required: bool = True) -> list[Any]:
    value = body.get(name)
    key = f"{where}{name}"
    if value is None:
        if required:
            raise OscpInvalid(key, "is required")
        return []
    if not isinstance(value, list):
        raise OscpInvalid(key, "an array is required")
    return value


def _url(value: str, where: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise OscpInvalid(where, "an http:// or https:// URL is required")
    return value.rstrip("/")


def parse_register(body: Any) -> Register:
    body = _object(body, "(body)")
    token = _text(body, "token")
    entries = _list(body, "version_url")
    if not entries:
        raise OscpInvalid("version_url", "at least one version is required")
    versions = []
    for i, entry in enumerate(entries):
        where = f"version_url[{i}]."
        entry = _object(entry, where.rstrip("."))
        versions.append(
            VersionUrl(_text(entry, "version", where), _url(_text(entry, "base_url", where), where + "base_url"))
        )
    return Register(token, tuple(versions))


def parse_required_behaviour(value: Any, where: str) -> RequiredBehaviour:
    body = _object(value, where)
    interval = body.get("heartbeat_interval")
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not math.isfinite(interval):
            raise OscpInvalid(f"{where}.heartbeat_interval", "a number of seconds is required")
        if interval < 1:
            raise OscpInvalid(f"{where}.heartbeat_interval", "must be 1 or more seconds")
    configs = _list(body, "measurement_configuration", f"{where}.", required=False)
    for i, c in enumerate(configs):
        if c not in MEASUREMENT_CONFIGURATIONS:
            raise OscpInvalid(
                f"{where}.measurement_configuration[{i}]",
                f"{c!r} is not one of {', '.join(MEASUREMENT_CONFIGURATIONS)}",
            )
    return RequiredBehaviour(None if interval is None else math.ceil(interval), tuple(configs))


def parse_handshake(body: Any) -> Handshake:
    body = _object(body, "(body)")
    if body.get("required_behaviour") is None:
        raise OscpInvalid("required_behaviour", "is required")
    return Handshake(parse_required_behaviour(body["required_behaviour"], "required_behaviour"))


def parse_handshake_acknowledgement(body: Any) -> HandshakeAcknowledgement:
    body = _object(body, "(body)")
    rb = body.get("required_behaviour")
    return HandshakeAcknowledgement(None if rb is None else parse_required_behaviour(rb, "required_behaviour"))


def parse_heartbeat(body: Any) -> Heartbeat:
    body = _object(body, "(body)")
    if body.get("offline_mode_at") is None:
        raise OscpInvalid("offline_mode_at", "is required")
    return Heartbeat(parse_time(body["offline_mode_at"], "offline_mode_at"))


def parse_block(value: Any, where: str) -> ForecastedBlock:
    body = _object(value, where)
    prefix = f"{where}."
    capacity = _number(body, "capacity", prefix)
    if capacity < 0:
        raise OscpInvalid(f"{prefix}capacity", "must not be negative")
    phase = _choice(body, "phase", PHASES, prefix)
    unit = _choice(body, "unit", BLOCK_UNITS, prefix)
    start = parse_time(body.get("start_time"), f"{prefix}start_time")
    end = parse_time(body.get("end_time"), f"{prefix}end_time")
    if end <= start:
        raise OscpInvalid(f"{prefix}end_time", "must be after start_time")
    return ForecastedBlock(capacity, phase, unit, start, end)


def parse_forecast(body: Any) -> GroupCapacityForecast:
    """UpdateGroupCapacityForecast / AdjustGroupCapacityForecast."""
    body = _object(body, "(body)")
    group = _text(body, "group_id")
    kind = _choice(body, "type", FORECAST_TYPES)
    raw = _list(body, "forecasted_blocks")
    blocks = tuple(parse_block(b, f"forecasted_blocks[{i}]") for i, b in enumerate(raw))
    return GroupCapacityForecast(group, kind, blocks)


# --------------------------------------------------------------------------- building


def register(token: str, base_url: str) -> dict[str, Any]:
    return {"token": token, "version_url": [{"version": VERSION, "base_url": base_url}]}


def required_behaviour(heartbeat_interval: int | None, measurement: Iterable[str] = ("CONTINUOUS",)) -> dict[str, Any]:
    out: dict[str, Any] = {"measurement_configuration": list(measurement)}
    if heartbeat_interval is not None:
        out["heartbeat_interval"] = int(heartbeat_interval)
    return out


def heartbeat(offline_mode_at: float) -> dict[str, Any]:
    return {"offline_mode_at": format_time(offline_mode_at)}


def compliance_error(group_id: str, message: str, blocks: Iterable[ForecastedBlock]) -> dict[str, Any]:
    out: dict[str, Any] = {"group_id": group_id, "message": message[:MAX_TEXT]}
    listed = [b.to_json() for b in blocks]
    if listed:
        out["forecasted_blocks"] = listed
    return out


@dataclass(frozen=True, slots=True)
class EnergyReading:
    """One accumulated energy register of a group, on one phase (or ALL)."""

    value_wh: float
    phase: str
    measure_time: float
    initial_measure_time: float


def group_measurements(group_id: str, readings: Iterable[EnergyReading]) -> dict[str, Any]:
    return {
        "group_id": group_id,
        "measurements": [
            {
                "value": round(r.value_wh, 3),
                "phase": r.phase,
                "unit": "WH",
                "direction": "IMPORT",
                "energy_type": "FLEXIBLE",
                "measure_time": format_time(r.measure_time),
                "initial_measure_time": format_time(r.initial_measure_time),
            }
            for r in readings
        ],
    }


# --------------------------------------------------------------------------- forecast -> limits


@dataclass(frozen=True, slots=True)
class BlockLimit:
    """What one stretch of a forecast allows a node: per-phase amps and/or watts, from start to end."""

    start: float
    end: float
    amps: tuple[float, float, float] | None
    watts: float | None
    blocks: tuple[ForecastedBlock, ...]  # the blocks it was made of (for a compliance error)


_PHASE_INDEX = {"ONE": 0, "TWO": 1, "THREE": 2}


def block_limits(
    blocks: Sequence[ForecastedBlock], voltage: float, node_amps: tuple[float, float, float] | None, where: str = ""
) -> list[BlockLimit]:
    """The limits a capacity forecast sets on its node, one per distinct time span.

    ``ALL`` (and ``UNKNOWN``, taken conservatively as every phase) in A limits each phase; in W / kW
    it limits the node's total power. ``ONE``/``TWO``/``THREE`` limit that phase (power per phase is
    converted to amps at the node's voltage); phases a span leaves out keep the node's configured
    per-phase limit, so a node without one must get all three. Blocks of one span and phase may not
    be given twice; spans may not overlap.
    """
    spans: dict[tuple[float, float], list[tuple[int, ForecastedBlock]]] = {}
    for i, b in enumerate(blocks):
        if b.unit not in CAPACITY_UNITS:
            raise OscpInvalid(f"{where}forecasted_blocks[{i}].unit", f"{b.unit} is energy; a capacity is A, W or KW")
        spans.setdefault((b.start_time, b.end_time), []).append((i, b))
    ordered = sorted(spans)
    for (_, e1), (s2, e2) in itertools.pairwise(ordered):
        if s2 < e1:
            i = spans[(s2, e2)][0][0]
            raise OscpInvalid(f"{where}forecasted_blocks[{i}].start_time", "overlaps another block's time span")
    out = []
    for span in ordered:
        amps: list[float | None] = [None, None, None]
        watts: float | None = None
        seen: set[tuple[str, str]] = set()
        for i, b in spans[span]:
            kind = "A" if b.unit == "A" else "W"
            key = (b.phase if b.phase != "UNKNOWN" else "ALL", kind)
            if key in seen:
                raise OscpInvalid(
                    f"{where}forecasted_blocks[{i}].phase", f"{b.phase} in {kind} given twice for one time span"
                )
            seen.add(key)
            value = b.capacity * (1000.0 if b.unit == "KW" else 1.0)
            if key[0] == "ALL":
                if kind == "A":
                    amps = [value if a is None else min(a, value) for a in amps]
                else:
                    watts = value if watts is None else min(watts, value)
            else:
                phase = _PHASE_INDEX[key[0]]
                per_phase = value if kind == "A" else value / voltage
                current = amps[phase]
                amps[phase] = per_phase if current is None else min(current, per_phase)
        if any(a is not None for a in amps) and any(a is None for a in amps):
            if node_amps is None:
                i = spans[span][0][0]
                raise OscpInvalid(
                    f"{where}forecasted_blocks[{i}].phase",
                    "only some phases are given for this time span and the node has no per-phase limit for the others",
                )
            amps = [node_amps[k] if a is None else a for k, a in enumerate(amps)]
        full = None if amps[0] is None else (float(amps[0]), float(amps[1] or 0.0), float(amps[2] or 0.0))
        out.append(BlockLimit(span[0], span[1], full, watts, tuple(b for _, b in spans[span])))
    return out


def blocks_from_json(values: Iterable[Mapping[str, Any]]) -> tuple[ForecastedBlock, ...]:
    """Blocks kept as JSON (the store) back into :class:`ForecastedBlock` (already validated once)."""
    return tuple(parse_block(v, f"stored[{i}]") for i, v in enumerate(values))
