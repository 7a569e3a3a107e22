"""OCPP versions spoken over JSON/WebSocket and the per-version facts the RPC layer needs."""

from __future__ import annotations

from enum import StrEnum


class OcppVersion(StrEnum):
    """A JSON (OCPP-J) protocol version; the value is the WebSocket subprotocol name."""

    V16 = "ocpp1.6"
    V20 = "ocpp2.0"  # OCPP 2.0 (2018): on the wire only; the domain reads it as 2.0.1 (protocol/v20.py)
    V201 = "ocpp2.0.1"
    V21 = "ocpp2.1"

    @property
    def family(self) -> str:
        """ "1.6" or "2.x": the two families differ in error codes and message shapes."""
        return "1.6" if self is OcppVersion.V16 else "2.x"

    @property
    def is_2x(self) -> bool:
        return self is not OcppVersion.V16

    @property
    def schema_dir(self) -> str:
        return {OcppVersion.V16: "v16", OcppVersion.V20: "v20", OcppVersion.V201: "v201", OcppVersion.V21: "v21"}[self]

    @property
    def label(self) -> str:
        return self.value.removeprefix("ocpp")

    @classmethod
    def from_subprotocol(cls, name: str) -> OcppVersion | None:
        try:
            return cls(name.strip().lower())
        except ValueError:
            return None


ALL_VERSIONS: tuple[OcppVersion, ...] = (OcppVersion.V21, OcppVersion.V201, OcppVersion.V20, OcppVersion.V16)
