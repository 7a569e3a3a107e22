"""OCPP-J RPC frames: parse text into frames and encode frames into text, without any I/O.

A frame is a JSON array whose first element is the message type id:
CALL ``[2, id, action, payload]``, CALLRESULT ``[3, id, payload]``, CALLERROR
``[4, id, code, description, details]`` and, in 2.1 only, CALLRESULTERROR ``[5, id, code, description,
details]`` and SEND ``[6, id, action, payload]``.

:func:`parse_frame` never raises anything but :class:`FrameError`, which says how the frame must be
answered (a CALLERROR, with message id "-1" when the id could not be read) or that it must be ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import orjson

from ocppd.protocol.errors import MAX_DESCRIPTION_LENGTH, ErrorKind, OcppError, kind_from_wire, wire_code
from ocppd.protocol.versions import OcppVersion

MAX_MESSAGE_ID_LENGTH = 36
UNKNOWN_MESSAGE_ID = "-1"


class MessageType(IntEnum):
    CALL = 2
    CALLRESULT = 3
    CALLERROR = 4
    CALLRESULTERROR = 5
    SEND = 6


def message_types(version: OcppVersion) -> frozenset[int]:
    """The message type ids ``version`` defines; 2.1 adds CALLRESULTERROR and SEND."""
    if version is OcppVersion.V21:
        return _V21_TYPES
    return _BASE_TYPES


_BASE_TYPES = frozenset({2, 3, 4})
_V21_TYPES = frozenset({2, 3, 4, 5, 6})


@dataclass(slots=True)
class Call:
    message_id: str
    action: str
    payload: dict[str, Any]

    def encode(self) -> str:
        return _dumps([2, self.message_id, self.action, self.payload])


@dataclass(slots=True)
class Send:
    """2.1 SEND: an unconfirmed message; it is never answered."""

    message_id: str
    action: str
    payload: dict[str, Any]

    def encode(self) -> str:
        return _dumps([6, self.message_id, self.action, self.payload])


@dataclass(slots=True)
class CallResult:
    message_id: str
    payload: dict[str, Any]

    def encode(self) -> str:
        return _dumps([3, self.message_id, self.payload])


@dataclass(slots=True)
class CallError:
    message_id: str
    error_code: str
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> ErrorKind | None:
        return kind_from_wire(self.error_code)

    def encode(self) -> str:
        return _dumps([4, self.message_id, self.error_code, self.description, self.details])

    def to_exception(self) -> OcppError:
        return OcppError(self.kind or ErrorKind.GENERIC_ERROR, self.description, self.details, code=self.error_code)

    @classmethod
    def from_exception(cls, message_id: str, error: OcppError, version: OcppVersion) -> CallError:
        return cls(message_id, wire_code(error.kind, version), error.description, error.details)


@dataclass(slots=True)
class CallResultError(CallError):
    """2.1 CALLRESULTERROR: the answer to a CALLRESULT that could not be processed."""

    def encode(self) -> str:
        return _dumps([5, self.message_id, self.error_code, self.description, self.details])


Frame = Call | CallResult | CallError | CallResultError | Send


class FrameError(Exception):
    """A frame that cannot be accepted.

    ``answer`` is the CALLERROR (or CALLRESULTERROR) to send back, or None when the frame must be
    dropped silently (e.g. an unknown message type in 1.6 or 2.1, or a broken CALLRESULT in 2.0.1).
    """

    def __init__(self, reason: str, answer: CallError | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.answer = answer


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _error(version: OcppVersion, message_id: str, kind: ErrorKind, description: str, reply_type: int = 4) -> CallError:
    cls = CallResultError if reply_type == 5 else CallError
    return cls(message_id, wire_code(kind, version), description[:MAX_DESCRIPTION_LENGTH], {})


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_MESSAGE_ID_LENGTH


def _brief(value: Any) -> str:
    """A short, safe rendering of a frame element for a description (never recurses into it)."""
    if value is None or isinstance(value, bool | int | float):
        return str(value)[:20]
    if isinstance(value, str):
        return repr(value[:20])
    return "an array" if isinstance(value, list) else "an object"


# U+0000 in a JSON text can only be the escape sequence (JSON forbids raw control characters), so this
# cheap search on the raw text decides whether the parsed payload needs looking at.
_NUL_ESCAPE_TEXT = re.compile(r"\\u0000")
_NUL_ESCAPE_BYTES = re.compile(rb"\\u0000")


def _nul_path(value: Any) -> str | None:
    """The path of the first string (value or key) in ``value`` that contains U+0000, if any."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path or "payload"
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    return f"{path}/{key!r}".lstrip("/")
                stack.append((child, f"{path}/{key}".lstrip("/")))
        elif isinstance(item, list):
            stack.extend((child, f"{path}/{i}".lstrip("/")) for i, child in enumerate(item))
    return None


# Far beyond any OCPP message (the deepest schemas nest about 10 levels) and below the limits of the
# JSON encoder (254) and the schema validator, which would otherwise fail on such a payload.
MAX_PAYLOAD_DEPTH = 64


def _bracket_count(data: str | bytes | bytearray | memoryview) -> int:
    """An upper bound of the nesting depth, in two C-speed scans."""
    if isinstance(data, str):
        return data.count("[") + data.count("{")
    raw = data if isinstance(data, bytes | bytearray) else bytes(data)
    return raw.count(b"[") + raw.count(b"{")


def _deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, dict | list))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, dict | list))
    return False


def _has_nul_escape(data: str | bytes | bytearray | memoryview) -> bool:
    pattern = _NUL_ESCAPE_TEXT if isinstance(data, str) else _NUL_ESCAPE_BYTES
    return pattern.search(data) is not None  # type: ignore[arg-type]


def parse_frame(data: str | bytes | bytearray | memoryview, version: OcppVersion) -> Frame:
    """Parse one WebSocket text message into a frame, or raise :class:`FrameError`."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise FrameError(
            "not valid JSON",
            _error(version, UNKNOWN_MESSAGE_ID, ErrorKind.RPC_FRAMEWORK_ERROR, "Frame is not valid JSON"),
        ) from None
    if not isinstance(value, list) or not value:
        raise FrameError(
            "not a JSON array",
            _error(version, UNKNOWN_MESSAGE_ID, ErrorKind.RPC_FRAMEWORK_ERROR, "Frame is not a JSON array"),
        )
    type_id = value[0]
    raw_id = value[1] if len(value) > 1 else None
    message_id = raw_id if _valid_id(raw_id) else UNKNOWN_MESSAGE_ID

    if not isinstance(type_id, int) or isinstance(type_id, bool) or type_id not in message_types(version):
        # J201 §4.4 answers an unknown type; J16 and J21 say to ignore it. The element may be anything,
        # e.g. an array nested 1,000 deep: describe it without walking it.
        shown = _brief(type_id)
        if version is OcppVersion.V201 or version is OcppVersion.V20:
            raise FrameError(
                f"unknown message type {shown}",
                _error(
                    version, message_id, ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED, f"Message type {shown} is not supported"
                ),
            )
        raise FrameError(f"unknown message type {shown} ignored", None)

    if type_id in (2, 6):
        frame = _parse_call(value, type_id, message_id, raw_id, version)
    else:
        frame = _parse_reply(value, type_id, message_id, raw_id, version)
    if isinstance(frame, Call | Send | CallResult):
        _check_payload(frame, data, version)
    return frame


def _check_payload(
    frame: Call | Send | CallResult, data: str | bytes | bytearray | memoryview, version: OcppVersion
) -> None:
    """Refuse what no OCPP payload holds and the layers above could not store: nesting deeper than
    ``MAX_PAYLOAD_DEPTH`` and U+0000. Both are found by a cheap search of the raw text first, so the
    payload is walked only for frames that might hold them (never for the hot-path messages).

    A CALL gets the CALLERROR naming the problem; a SEND is dropped; a CALLRESULT is treated like any
    broken one (dropped; 2.1 answers CALLRESULTERROR)."""
    problem: tuple[ErrorKind, str] | None = None
    if _bracket_count(data) > MAX_PAYLOAD_DEPTH and _deeper_than(frame.payload, MAX_PAYLOAD_DEPTH):
        problem = ErrorKind.FORMAT_VIOLATION, f"Payload nested deeper than {MAX_PAYLOAD_DEPTH} levels"
    elif _has_nul_escape(data):
        path = _nul_path(frame.payload)
        if path is not None:
            problem = ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, f"{path}: a string contains U+0000 (NUL)"
    if problem is None:
        return
    kind, description = problem
    if type(frame) is Call:
        answer: CallError | None = _error(version, frame.message_id, kind, description)
    elif type(frame) is CallResult and version is OcppVersion.V21:
        answer = _error(version, frame.message_id, kind, description, reply_type=5)
    else:
        answer = None
    raise FrameError(description, answer)


def _parse_call(value: list[Any], type_id: int, message_id: str, raw_id: Any, version: OcppVersion) -> Frame:
    # A broken SEND is never answered (SEND has no answer); a broken CALL gets a CALLERROR.
    def fail(kind: ErrorKind, description: str, mid: str = message_id) -> FrameError:
        return FrameError(description, None if type_id == 6 else _error(version, mid, kind, description))

    if not _valid_id(raw_id):
        raise fail(ErrorKind.RPC_FRAMEWORK_ERROR, "Message id missing, not a string or longer than 36")
    if len(value) != 4:
        raise fail(ErrorKind.RPC_FRAMEWORK_ERROR, f"A CALL has 4 elements, this one has {len(value)}")
    action, payload = value[2], value[3]
    if not isinstance(action, str) or not action:
        raise fail(ErrorKind.RPC_FRAMEWORK_ERROR, "Action is not a string")
    if not isinstance(payload, dict):
        raise fail(ErrorKind.FORMAT_VIOLATION, "Payload is not a JSON object")
    if type_id == 6:
        return Send(raw_id, action, payload)
    return Call(raw_id, action, payload)


def _parse_reply(value: list[Any], type_id: int, message_id: str, raw_id: Any, version: OcppVersion) -> Frame:
    # Replies are never answered with a CALLERROR; 2.1 answers a broken CALLRESULT with CALLRESULTERROR.
    def fail(description: str) -> FrameError:
        answer = None
        if version is OcppVersion.V21 and type_id == 3 and _valid_id(raw_id):
            answer = _error(version, message_id, ErrorKind.FORMAT_VIOLATION, description, reply_type=5)
        return FrameError(description, answer)

    if not _valid_id(raw_id):
        raise fail("Reply without a readable message id")
    if type_id == 3:
        if len(value) != 3 or not isinstance(value[2], dict):
            raise fail("A CALLRESULT is [3, id, {payload}]")
        return CallResult(raw_id, value[2])
    if len(value) not in (4, 5) or not isinstance(value[2], str):
        raise fail("A CALLERROR is [4, id, code, description, {details}]")
    description = value[3] if isinstance(value[3], str) else str(value[3])
    details = value[4] if len(value) == 5 and isinstance(value[4], dict) else {}
    cls = CallResultError if type_id == 5 else CallError
    return cls(raw_id, value[2], description, details)
