"""The protocol core: OCPP-J frames, versions, error codes, schema validation. Sans-I/O."""

from ocppd.protocol.compat import CompatProfile, Relaxation
from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.protocol.frames import Call, CallError, CallResult, CallResultError, FrameError, Send, parse_frame
from ocppd.protocol.validation import SchemaSet, schemas
from ocppd.protocol.versions import ALL_VERSIONS, OcppVersion

__all__ = [
    "ALL_VERSIONS",
    "Call",
    "CallError",
    "CallResult",
    "CallResultError",
    "CompatProfile",
    "ErrorKind",
    "FrameError",
    "OcppError",
    "OcppVersion",
    "Relaxation",
    "SchemaSet",
    "Send",
    "parse_frame",
    "schemas",
]
