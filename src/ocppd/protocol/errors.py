"""RPC error codes per OCPP version and the exception that carries one.

1.6 (OCPP-J 1.6 §4.2.3) keeps the misspelt ``OccurenceConstraintViolation`` and ``FormationViolation``
(errata: "do not fix"); 2.0.1 and 2.1 (Part 4 §4.3) spell ``OccurrenceConstraintViolation`` and use
``FormatViolation``, and add ``RpcFrameworkError``, ``MessageTypeNotSupported`` and others.
Code in ocppd raises errors with a version-neutral :class:`ErrorKind`; the wire code is chosen per
version when the CALLERROR is encoded, and both spellings are accepted from peers.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from ocppd.protocol.versions import OcppVersion


class ErrorKind(Enum):
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMAT_VIOLATION = "FormatViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"
    # 2.x only; mapped onto the nearest 1.6 code when the peer speaks 1.6.
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"


# Wire codes per family; a kind missing from 1.6 maps onto the closest 1.6 code.
_V16_CODES: dict[ErrorKind, str] = {
    ErrorKind.NOT_IMPLEMENTED: "NotImplemented",
    ErrorKind.NOT_SUPPORTED: "NotSupported",
    ErrorKind.INTERNAL_ERROR: "InternalError",
    ErrorKind.PROTOCOL_ERROR: "ProtocolError",
    ErrorKind.SECURITY_ERROR: "SecurityError",
    ErrorKind.FORMAT_VIOLATION: "FormationViolation",
    ErrorKind.PROPERTY_CONSTRAINT_VIOLATION: "PropertyConstraintViolation",
    ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION: "OccurenceConstraintViolation",
    ErrorKind.TYPE_CONSTRAINT_VIOLATION: "TypeConstraintViolation",
    ErrorKind.GENERIC_ERROR: "GenericError",
    ErrorKind.RPC_FRAMEWORK_ERROR: "FormationViolation",
    ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED: "ProtocolError",
}
_V2X_CODES: dict[ErrorKind, str] = {kind: kind.value for kind in ErrorKind}

V16_ERROR_CODES: frozenset[str] = frozenset(_V16_CODES.values())
V2X_ERROR_CODES: frozenset[str] = frozenset(_V2X_CODES.values()) | {"FormationViolation"}

# Codes accepted from peers, whatever their version, mapped back onto a kind.
_FROM_WIRE: dict[str, ErrorKind] = {code: kind for kind, code in _V2X_CODES.items()}
_FROM_WIRE.update(
    {
        "FormationViolation": ErrorKind.FORMAT_VIOLATION,
        "OccurenceConstraintViolation": ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    }
)

MAX_DESCRIPTION_LENGTH = 255


def wire_code(kind: ErrorKind, version: OcppVersion) -> str:
    """The error code string that ``version`` puts on the wire for ``kind``."""
    return (_V16_CODES if version is OcppVersion.V16 else _V2X_CODES)[kind]


def kind_from_wire(code: str) -> ErrorKind | None:
    """Map a received error code (either spelling, any version) onto a kind; None if unknown."""
    return _FROM_WIRE.get(code)


class OcppError(Exception):
    """An error that becomes (or came from) a CALLERROR.

    ``kind`` is version-neutral; ``code`` is what was received, when it came from a peer.
    """

    def __init__(
        self,
        kind: ErrorKind,
        description: str = "",
        details: dict[str, Any] | None = None,
        *,
        code: str | None = None,
    ) -> None:
        super().__init__(f"{code or kind.value}: {description}" if description else (code or kind.value))
        self.kind = kind
        self.description = description[:MAX_DESCRIPTION_LENGTH]
        self.details: dict[str, Any] = details if isinstance(details, dict) else {}
        self.code = code or kind.value
