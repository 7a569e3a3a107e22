"""Reading what a relay needs from an OCPP-J frame -- its message type, id and action -- without
parsing the JSON: a relayed frame goes on byte for byte, and most frames need nothing more."""

from __future__ import annotations

import re
from dataclasses import dataclass

# [type, "id"(, "Action")... ; the id may hold escaped characters; anything else is "not a frame we read"
_HEAD = re.compile(rb'\s*\[\s*([2-6])\s*,\s*"((?:[^"\\]|\\.){0,64})"\s*(?:,\s*"([A-Za-z0-9_]{1,64})")?')

CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND = 2, 3, 4, 5, 6


@dataclass(frozen=True, slots=True)
class Head:
    kind: int  # 2..6, or 0 when the frame cannot be read (relayed anyway: the receiver answers it)
    message_id: str = ""
    action: str = ""  # CALL and SEND only

    @property
    def is_call(self) -> bool:
        return self.kind in (CALL, SEND)

    @property
    def is_reply(self) -> bool:
        return self.kind in (CALLRESULT, CALLERROR)


UNREADABLE = Head(0)


def head(data: bytes) -> Head:
    """The frame's type, id and action from its first bytes (``UNREADABLE`` when it is no OCPP-J frame)."""
    m = _HEAD.match(data, 0, 200)
    if m is None:
        return UNREADABLE
    kind = int(m.group(1))
    raw_id = m.group(2)
    message_id = raw_id.decode("utf-8", "replace") if b"\\" not in raw_id else _unescape(raw_id)
    action = m.group(3).decode() if kind in (CALL, SEND) and m.group(3) else ""
    return Head(kind, message_id, action)


def _unescape(raw: bytes) -> str:
    import orjson

    try:
        return str(orjson.loads(b'"' + raw + b'"'))
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")
