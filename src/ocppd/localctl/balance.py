"""The CSMS's balancing service (``ocppd.csms.smart.balancing``), run by the local controller.

``Balancing`` asks its host for five things: ``events`` (the domain's event bus), ``is_connected``,
``send`` (a domain verb to a station), ``store`` (running transactions, for a resync) and
``smart.profiles`` (the profile history). :class:`RelayHost` gives it the first three over the
relays -- a verb goes through the same per-version adapters as the CSMS's, as the controller's
own CALLs -- and :class:`ControllerBalancing` replaces the two store reads with what the
controller saw relayed. Policy, hysteresis, fallbacks, exclusion: all the CSMS's, unchanged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, TypeVar

from ocppd.csms.adapters import v2x_out, v16_out
from ocppd.csms.events import EventBus
from ocppd.csms.outbound import (
    Exchange,
    InvalidAnswer,
    NotExpressible,
    Sent,
    StationCallError,
    StationOffline,
    StationTimeout,
    Target,
    Verb,
)
from ocppd.csms.smart.balancing import EVSE_DEFAULT_ID, Balancing, Charging
from ocppd.protocol.errors import OcppError
from ocppd.protocol.v20 import V20Dialect
from ocppd.protocol.validation import schemas
from ocppd.protocol.versions import OcppVersion
from ocppd.rpc.session import CallErrorReceived, CallTimeout, SessionClosed

if TYPE_CHECKING:
    from ocppd.config import SmartSettings
    from ocppd.csms.smart.sites import Sites
    from ocppd.localctl.observe import Tracker
    from ocppd.localctl.relay import Relay

log = logging.getLogger("ocppd.localctl")
R = TypeVar("R")
_V20 = V20Dialect("csms")


class RelayHost:
    """What ``Balancing`` calls on its CSMS, answered by the controller's relays."""

    def __init__(self, relays: dict[str, Relay], events: EventBus) -> None:
        self.relays = relays
        self.events = events

    def is_connected(self, station_id: str) -> bool:
        relay = self.relays.get(station_id)
        return relay is not None and not relay.closed

    async def send(self, station_id: str, verb: Verb[R], *, timeout: float | None = None) -> Sent[R]:
        """Carry out a verb on a station with the controller's own CALLs (the CSMS's adapters plan them)."""
        relay = self.relays.get(station_id)
        if relay is None or relay.closed:
            raise StationOffline(f"station {station_id!r} is not connected")
        wire = relay.version
        domain = OcppVersion.V201 if wire is OcppVersion.V20 else wire
        adapters = v16_out.ADAPTERS if domain is OcppVersion.V16 else v2x_out.ADAPTERS
        plan = adapters.plan(verb, Target(station_id, domain))
        checker = schemas(domain)
        for c in plan.calls:
            try:
                checker.validate(c.action, c.payload)
            except OcppError as exc:
                raise NotExpressible(f"invalid {c.action} payload: {exc}") from None
        exchanges: list[Exchange] = []
        for c in plan.calls:
            payload = _V20.request_out(c.action, c.payload) if wire is OcppVersion.V20 else c.payload
            try:
                answer = await relay.call(c.action, payload, timeout)
            except SessionClosed as exc:
                raise StationOffline(f"station {station_id!r} is not connected ({exc})") from None
            except CallTimeout as exc:
                raise StationTimeout(f"station {station_id!r} did not answer in time: {exc}") from None
            except CallErrorReceived as exc:
                raise StationCallError(c.action, exc.code, exc.description, exc.details, len(exchanges)) from None
            except OcppError as exc:
                raise InvalidAnswer(f"station sent an invalid {c.action} answer: {exc}") from None
            if wire is OcppVersion.V20:
                answer = _V20.response_in(c.action, answer)
            exchanges.append(Exchange(c.action, c.payload, answer))
        result = plan.decode([e.response for e in exchanges])
        log.info("%s %s: %s", station_id, verb.name, getattr(result, "status", result))
        return Sent(result, exchanges, wire)


class ControllerBalancing(Balancing):
    """``Balancing`` with the controller's knowledge in place of the CSMS's store."""

    def __init__(self, host: RelayHost, sites: Sites, settings: SmartSettings, tracker: Tracker) -> None:
        super().__init__(host, sites, settings)  # type: ignore[arg-type]  # RelayHost is the part of Csms it uses
        self.tracker = tracker

    async def resync(self) -> None:
        """Make the tracked EVs match the transactions seen relayed (events may have been missed)."""
        try:
            await self.sites.refresh()
        except Exception:
            log.exception("reading the limit tree failed")
        stations = {s.id for s in self.sites.tree.stations()}
        running = {k: r for k, r in self.tracker.running.items() if r.station_id in stations}
        for key in list(self.charging):
            if key not in running or running[key].transaction_id != self.charging[key].transaction_id:
                del self.charging[key]
        for key, r in running.items():
            if key not in self.charging:
                self.charging[key] = Charging(r.station_id, r.evse, r.transaction_id, r.started)
        self.poke()

    async def _ended(self, c: Charging) -> None:
        """The balancer's EVSE TxDefault goes with the transaction (the CSMS also records the end)."""
        if c.mode != "tx" and self.csms.is_connected(c.station_id):
            from ocppd.csms import verbs as v

            try:
                await self.csms.send(c.station_id, v.ClearChargingProfile(profile_id=EVSE_DEFAULT_ID + c.evse))
            except Exception as exc:  # OutboundError, NotExpressible
                log.info("%s: clearing the balancer's TxDefault on EVSE %s failed: %s", c.station_id, c.evse, exc)

    def summary(self) -> dict[str, Any]:
        return {
            "charging": len(self.charging),
            "excluded": dict(self.excluded),
            "profiles_sent": self.sent_total,
            "sites": {site: self.view(site) for site in self.views},
        }
