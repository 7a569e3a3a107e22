"""The RPC session layer: one :class:`Session` per connection, for both ends."""

from ocppd.rpc.session import CallTimeout, Handler, Payload, Session, SessionClosed, SessionObserver

__all__ = ["CallTimeout", "Handler", "Payload", "Session", "SessionClosed", "SessionObserver"]
