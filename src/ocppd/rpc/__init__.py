"""The RPC session layer: one :class:`Session` per connection, for both ends."""

from ocppd.rpc.session import (
    CallErrorReceived,
    CallTimeout,
    Handler,
    Payload,
    Session,
    SessionClosed,
    SessionObserver,
)

__all__ = [
    "CallErrorReceived",
    "CallTimeout",
    "Handler",
    "Payload",
    "Session",
    "SessionClosed",
    "SessionObserver",
]
