"""What the balancer needs to know, read from the traffic the controller relays.

The CSMS's balancing service follows domain events (``transaction.started``, ``meter.values``...);
here the same events come from the relayed frames, so the service runs unchanged: a transaction
starts when the station says so (2.x TransactionEvent) or when the CSMS accepts it (1.6
StartTransaction: the CSMS gives the id); it ends when the station says so, even while the CSMS
is unreachable (the car has left, whoever hears of it later).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocppd.csms.events import EventBus
from ocppd.csms.metering import currents_a, readings_v2x, readings_v16
from ocppd.localctl.relay import Observer, Relay
from ocppd.protocol.v20 import V20Dialect
from ocppd.protocol.versions import OcppVersion

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("ocppd.localctl")
_V20 = V20Dialect("csms")

INTERESTING = frozenset(
    {"BootNotification", "StatusNotification", "StartTransaction", "StopTransaction", "MeterValues", "TransactionEvent"}
)


@dataclass(slots=True)
class Running:
    station_id: str
    evse: int
    transaction_id: str
    started: float


class Tracker(Observer):
    """Turns relayed frames into the balancer's events and keeps the running transactions."""

    def __init__(self, events: EventBus, stack_level: int = 6, on_state: Callable[[Relay], None] | None = None) -> None:
        self.events = events
        self.running: dict[tuple[str, int], Running] = {}
        self.reserved_levels = (stack_level, stack_level + 1)  # the balancer's (smart.stack_level)
        self._on_state = on_state

    def csms_call(self, relay: Relay, action: str, p: dict[str, Any]) -> None:
        """An operator profile from the CSMS is relayed as it is; one at the balancer's reserved stack
        levels would replace (or be replaced by) the controller's profiles, so the operator hears of it."""
        profile = p.get("csChargingProfiles") or p.get("chargingProfile") or {}
        purpose, level = profile.get("chargingProfilePurpose"), profile.get("stackLevel")
        if purpose in ("TxProfile", "TxDefaultProfile") and level in self.reserved_levels:
            log.warning("%s: the CSMS sent a %s at stack level %s, reserved for the controller's balancer "
                        "(smart.stack_level); relayed as it is, the balancer's next profile may replace it",
                        relay.identity, purpose, level)  # fmt: skip

    def state_changed(self, relay: Relay) -> None:
        if self._on_state is not None:
            self._on_state(relay)

    # ------------------------------------------------------------------ station CALLs
    def station_call(self, relay: Relay, action: str, p: dict[str, Any]) -> None:
        try:
            if relay.version is OcppVersion.V16:
                self._v16(relay.identity, action, p)
            else:
                if relay.version is OcppVersion.V20:  # read in 2.0.1's shape (transactionData -> transactionInfo)
                    p = _V20.request_in(action, p)
                self._v2x(relay.identity, action, p)
        except (KeyError, TypeError, ValueError) as exc:  # a malformed message: the CSMS answers it; we skip it
            log.info("%s: %s not understood for balancing (%s)", relay.identity, action, exc)

    def _v16(self, station: str, action: str, p: dict[str, Any]) -> None:
        if action == "StatusNotification":
            self.events.publish("status.changed", station, evse_id=int(p["connectorId"]), status=p.get("status"))
        elif action == "StopTransaction":
            self._ended(station, str(p["transactionId"]))
        elif action == "MeterValues":
            connector = int(p["connectorId"])
            tx = p.get("transactionId")
            self.events.publish("meter.values", station, evse_id=connector, connector_id=connector,
                                transaction_id=None if tx is None else str(tx),
                                current_a=currents_a(readings_v16(p.get("meterValue") or [])))  # fmt: skip

    def _v2x(self, station: str, action: str, p: dict[str, Any]) -> None:
        if action == "StatusNotification":
            self.events.publish("status.changed", station, evse_id=int(p["evseId"]), status=p.get("connectorStatus"))
        elif action == "MeterValues":
            evse = int(p["evseId"])
            self.events.publish("meter.values", station, evse_id=evse, transaction_id=None,
                                current_a=currents_a(readings_v2x(p.get("meterValue") or [])))  # fmt: skip
        elif action == "TransactionEvent":
            tx = str(p["transactionInfo"]["transactionId"])
            evse = int((p.get("evse") or {}).get("id") or 0)
            kind = p["eventType"]
            if kind == "Ended":
                self._ended(station, tx)
                return
            known = next((r for r in self.running.values() if (r.station_id, r.transaction_id) == (station, tx)), None)
            if known is None and evse:
                self._started(station, evse, tx)
                known = self.running[(station, evse)]
            if p.get("meterValue") and known is not None:
                self.events.publish("meter.values", station, evse_id=known.evse, transaction_id=tx,
                                    current_a=currents_a(readings_v2x(p["meterValue"])))  # fmt: skip

    # ------------------------------------------------------------------ the CSMS's answers
    def csms_answer(self, relay: Relay, action: str, request: dict[str, Any], answer: dict[str, Any]) -> None:
        station = relay.identity
        if action == "BootNotification" and answer.get("status") == "Accepted":
            self.events.publish("station.booted", station)
        # counted as the CSMS counts it: a transaction id was given (a station told Invalid stops it itself)
        elif action == "StartTransaction" and relay.version is OcppVersion.V16 and "transactionId" in answer:
            self._started(station, int(request.get("connectorId") or 0), str(answer["transactionId"]))

    # ------------------------------------------------------------------ transactions
    def _started(self, station: str, evse: int, tx: str) -> None:
        self.running[(station, evse)] = Running(station, evse, tx, time.time())
        log.info("%s EVSE %d: transaction %s charging", station, evse, tx)
        self.events.publish("transaction.started", station, evse_id=evse, connector_id=evse, transaction_id=tx)

    def _ended(self, station: str, tx: str) -> None:
        for key, r in list(self.running.items()):
            if (r.station_id, r.transaction_id) == (station, tx):
                del self.running[key]
                log.info("%s EVSE %d: transaction %s ended", station, r.evse, tx)
        self.events.publish("transaction.ended", station, transaction_id=tx)
