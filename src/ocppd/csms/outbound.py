"""The outbound side: CSMS-initiated operations as version-neutral verbs.

A *verb* is a frozen dataclass in domain terms (``verbs.py``); each OCPP version family has an
*adapter* per verb (``adapters/v16_out.py``, ``adapters/v2x_out.py``) that turns it into a
:class:`Plan`: the CALLs to make, in order, and a ``decode`` that reads the answers back into the
verb's result dataclass. Adapters are pure functions of the verb and a :class:`Target` (the
station's version and the limits it reported), so they are tested without I/O.
``Csms.send(station_id, verb)`` runs the plan on the station's session (see ``service.py``).

Splitting: requests that carry lists go out in chunks that respect the station's own limits
(:func:`chunks`), and ``decode`` merges the answers.
"""

from __future__ import annotations

import itertools
import time
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import orjson

from ocppd.protocol.versions import OcppVersion

Payload = dict[str, Any]
R = TypeVar("R")
V = TypeVar("V", bound="Verb[Any]")
T = TypeVar("T")


class Verb(Generic[R]):
    """Base of every verb. ``name`` is the verb's stable name (API path, CLI, offline queue)."""

    name: ClassVar[str]


@dataclass(frozen=True, slots=True)
class Call:
    action: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class Exchange:
    """One CALL made and the station's answer, verbatim (what the API shows as ``calls``)."""

    action: str
    request: Payload
    response: Payload


@dataclass(frozen=True, slots=True)
class Plan(Generic[R]):
    calls: list[Call]
    decode: Callable[[list[Payload]], R]
    # (component, action): read this action's ItemsPerMessage/BytesPerMessage from the station first,
    # then plan again (set by adapters whose use case says so, e.g. 2.x N_18 ClearVariableMonitoring).
    read_limits_first: tuple[str, str] | None = None

    @staticmethod
    def single(action: str, payload: Payload, decode: Callable[[Payload], R]) -> Plan[R]:
        return Plan([Call(action, payload)], lambda answers: decode(answers[0]))


@dataclass(frozen=True, slots=True)
class Sent(Generic[R]):
    """What ``Csms.send`` returns: the verb's result and every exchange that produced it."""

    result: R
    exchanges: list[Exchange]
    version: OcppVersion


# --------------------------------------------------------------------------- station limits


@dataclass(frozen=True, slots=True)
class Limits:
    """List limits a station reported (read from its stored configuration / device model).

    ``items`` and ``bytes`` are keyed by the action they limit (2.x ``ItemsPerMessage[<action>]`` and
    ``BytesPerMessage[<action>]``; 1.6 ``GetConfigurationMaxKeys`` as ``items["GetConfiguration"]``,
    ``SendLocalListMaxLength`` as ``items["SendLocalList"]``). A missing entry means "not known":
    the request goes out whole, as the station never said it cannot take it.
    """

    items: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)

    def items_for(self, action: str) -> int | None:
        return self.items.get(action)

    def bytes_for(self, action: str) -> int | None:
        return self.bytes.get(action)


# What to read from the stored configuration to build Limits: (component, variable) -> (kind, action).
LIMIT_VARIABLES_V16: dict[tuple[str, str], tuple[str, str]] = {
    ("", "GetConfigurationMaxKeys"): ("items", "GetConfiguration"),
    ("", "SendLocalListMaxLength"): ("items", "SendLocalList"),
}
LIMIT_VARIABLES_V2X: dict[tuple[str, str], tuple[str, str]] = (
    {
        ("DeviceDataCtrlr", f"{kind}PerMessage[{action}]"): (kind.lower(), action)
        for kind in ("Items", "Bytes")
        for action in ("GetVariables", "SetVariables", "GetReport")
    }
    | {
        ("MonitoringCtrlr", f"{kind}PerMessage[{action}]"): (kind.lower(), action)
        for kind in ("Items", "Bytes")
        for action in ("ClearVariableMonitoring", "SetVariableMonitoring")
    }
    | {
        ("LocalAuthListCtrlr", "ItemsPerMessage"): ("items", "SendLocalList"),
        ("LocalAuthListCtrlr", "BytesPerMessage"): ("bytes", "SendLocalList"),
    }
)


def limit_variables(version: OcppVersion) -> dict[tuple[str, str], tuple[str, str]]:
    return LIMIT_VARIABLES_V16 if version is OcppVersion.V16 else LIMIT_VARIABLES_V2X


def limits_from(version: OcppVersion, values: dict[tuple[str, str], str | None]) -> Limits:
    """Limits from stored ``(component, variable) -> value``; values that are not positive integers are ignored."""
    items: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for key, (kind, action) in limit_variables(version).items():
        raw = values.get(key)
        try:
            n = int(str(raw).strip())
        except ValueError:
            continue
        if n > 0:
            (items if kind == "items" else sizes)[action] = n
    return Limits(items, sizes)


@dataclass(frozen=True, slots=True)
class Target:
    """What an adapter may know about the station it encodes for."""

    station_id: str
    version: OcppVersion
    limits: Limits = field(default_factory=Limits)

    @property
    def v16(self) -> bool:
        return self.version is OcppVersion.V16


def chunks(
    items: Sequence[T],
    *,
    max_items: int | None,
    max_bytes: int | None = None,
    envelope: Callable[[list[T]], Payload] | None = None,
) -> list[list[T]]:
    """Split ``items`` into consecutive chunks of at most ``max_items`` whose payload
    (``envelope(chunk)`` as JSON, plus the CALL frame around it) stays within ``max_bytes``.

    Order is kept. An empty list is one empty chunk (the request still goes out once). A single item
    that alone exceeds ``max_bytes`` goes out alone: the station then answers it, which is better than
    never sending it.
    """
    if not items:
        return [[]]
    out: list[list[T]] = []
    current: list[T] = []
    for item in items:
        candidate = [*current, item]
        too_many = max_items is not None and len(candidate) > max_items
        too_big = (
            max_bytes is not None and envelope is not None and current and _frame_size(envelope(candidate)) > max_bytes
        )
        if current and (too_many or too_big):
            out.append(current)
            candidate = [item]
        current = candidate
    out.append(current)
    return out


# [2,"<36-char id>","<action up to 40>",<payload>]: the frame's overhead beyond the payload.
_FRAME_OVERHEAD = 90


def _frame_size(payload: Payload) -> int:
    return len(orjson.dumps(payload)) + _FRAME_OVERHEAD


# --------------------------------------------------------------------------- adapters registry

Adapter = Callable[[Any, Target], Plan[Any]]


class NotExpressible(ValueError):
    """The verb cannot be said in the station's OCPP version (or not with these arguments)."""


class Adapters:
    """The outbound adapters of one version family: verb class -> adapter function."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._by_verb: dict[type[Any], Adapter] = {}

    def register(self, verb: type[V]) -> Callable[[Callable[[V, Target], Plan[Any]]], Callable[[V, Target], Plan[Any]]]:
        def add(fn: Callable[[V, Target], Plan[Any]]) -> Callable[[V, Target], Plan[Any]]:
            self._by_verb[verb] = fn
            return fn

        return add

    def plan(self, verb: Verb[R], target: Target) -> Plan[R]:
        adapter = self._by_verb.get(type(verb))
        if adapter is None:
            raise NotExpressible(f"{type(verb).__name__} has no OCPP {target.version.label} form")
        return adapter(verb, target)

    def supports(self, verb_type: type[Any]) -> bool:
        return verb_type in self._by_verb


# --------------------------------------------------------------------------- errors


class OutboundError(Exception):
    """A verb could not be carried out; subclasses say why (the API maps each to a status)."""


class StationOffline(OutboundError, LookupError):
    """The station has no open connection to this CSMS."""


class StationTimeout(OutboundError, TimeoutError):
    """The station did not answer in time."""


class StationCallError(OutboundError):
    """The station answered with a CALLERROR: the operation did not happen."""

    def __init__(self, action: str, code: str, description: str, details: dict[str, Any], after: int = 0) -> None:
        super().__init__(f"station answered {action} with CALLERROR {code}: {description}".rstrip(": "))
        self.action = action
        self.code = code
        self.description = description
        self.details = details
        self.after = after  # calls of the plan that had been answered before this one


class InvalidAnswer(OutboundError):
    """The station's answer broke the schema."""


# --------------------------------------------------------------------------- small helpers for adapters

# Request ids the CSMS picks (remoteStartId, requestId, ...) must be unique per station; seed from the
# clock so they stay unique across restarts without storage.
_request_ids = itertools.count(int(time.time()) % 1_000_000_000)


def next_request_id() -> int:
    return next(_request_ids) % 2_000_000_000 + 1


def iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_or_none(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def drop_none(d: Payload) -> Payload:
    return {k: v for k, v in d.items() if v is not None}


def flatten(parts: Iterable[list[T]]) -> list[T]:
    return [x for part in parts for x in part]


def jsonable(value: Any) -> Any:
    """A verb or result as JSON-ready data (dataclasses as dicts, datetimes as ISO text); a result's
    ``accepted`` property is included so callers need not know which statuses mean yes."""
    if is_dataclass(value) and not isinstance(value, type):
        out = {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
        accepted = getattr(type(value), "accepted", None)
        if isinstance(accepted, property):
            out["accepted"] = bool(value.accepted)
        return out
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, list | tuple):
        return [jsonable(x) for x in value]
    if isinstance(value, dict):
        return {k: jsonable(x) for k, x in value.items()}
    return value


def from_jsonable(tp: Any, data: Any) -> Any:
    """The inverse of :func:`jsonable` for the types verbs use (dataclasses, tuples, datetimes, unions)."""
    if data is None or tp is Any:
        return data
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(tp) if a is not type(None)]
        for option in options:  # the first option the data fits
            if (is_dataclass(option) and isinstance(data, dict)) or (option is datetime and isinstance(data, str)):
                return from_jsonable(option, data)
        return from_jsonable(options[0], data) if len(options) == 1 else data
    if origin is Literal or origin in (dict, list):
        return data
    if origin is tuple:
        return tuple(from_jsonable(get_args(tp)[0], x) for x in data)
    if tp is datetime:
        return datetime.fromisoformat(str(data).replace("Z", "+00:00"))
    if isinstance(tp, type) and is_dataclass(tp):
        hints = get_type_hints(tp)
        return tp(**{f.name: from_jsonable(hints[f.name], data[f.name]) for f in fields(tp) if f.name in data})
    return data
