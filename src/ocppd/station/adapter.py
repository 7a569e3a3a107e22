"""The interface between the version-neutral station and the messages of one OCPP version."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from ocppd.rpc.session import Handler, Payload, Session
from ocppd.station.model import Connector, Reservation, Transaction
from ocppd.station.store import QueuedMessage

if TYPE_CHECKING:
    from ocppd.station.station import Station


class Adapter:
    """Base class: the station calls these; subclasses build and parse their version's payloads."""

    handlers: dict[str, Handler]

    def __init__(self, station: Station) -> None:
        self.station = station
        self.settings = station.settings
        # Every ``on_<Action>`` method, of this class or a subclass, answers that CSMS request.
        self.handlers = {
            name[3:]: getattr(self, name) for name in dir(self) if name.startswith("on_") and name[3:4].isupper()
        }

    # CSMS -> station, the same in every version
    async def on_DataTransfer(self, session: Session, p: Payload) -> Payload:
        """Vendor-specific data: this simulator answers its own vendor id, and echoes ``Echo`` messages."""
        if p["vendorId"] != self.station.config.vendor:
            return {"status": "UnknownVendorId"}
        if p.get("messageId") not in (None, "Echo"):
            return {"status": "UnknownMessageId"}
        answer: Payload = {"status": "Accepted"}
        if "data" in p:
            answer["data"] = p["data"]
        return answer

    # station -> CSMS
    def boot_payload(self, reason: str | None) -> Payload:
        raise NotImplementedError

    def send_status(self, connector: Connector | None, *, force: bool = False) -> None:
        raise NotImplementedError

    def status_changed(self, c: Connector, old: str | None, new: str) -> None:
        raise NotImplementedError

    def plugged(self, c: Connector) -> None:
        """The cable went in (2.x may report it inside a transaction)."""

    async def authorize(self, id_tag: str) -> tuple[str | None, dict[str, Any] | None]:
        raise NotImplementedError

    def tx_started(self, c: Connector, tx: Transaction, trigger: str) -> None:
        raise NotImplementedError

    def tx_ended(self, c: Connector, tx: Transaction, reason: str) -> None:
        raise NotImplementedError

    def meter_values(self, c: Connector, context: str, at: float | None = None) -> None:
        raise NotImplementedError

    def report_interrupted(self, c: Connector, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def prepare_queued(self, message: QueuedMessage, tx_map: dict[str, str]) -> Payload | None:
        return message.payload

    def on_queued_answer(self, message: QueuedMessage, answer: Payload) -> None:
        """React to the CSMS's answer to a queued transaction message."""

    def limit_reached(self, c: Connector, tx: Transaction, now: float) -> tuple[str | None, float | None]:
        """(the stop reason when a transaction limit is reached, when to look again); OCPP 1.6 and 2.0.1
        have no transaction limits: never."""
        return None, None

    def reservation_ended(self, reservation: Reservation, status: str) -> None:
        """A reservation expired or was used up."""

    def now(self) -> float:
        return time.time()

    def online_loops(self) -> list[Coroutine[Any, Any, None]]:
        """Work the version does while connected and booted (2.x: evaluating its monitors)."""
        return []


def make_adapter(station: Station) -> Adapter:
    if station.family == "1.6":
        from ocppd.station.v16 import Adapter16

        return Adapter16(station)
    from ocppd.station.v2x import Adapter2x

    return Adapter2x(station)
