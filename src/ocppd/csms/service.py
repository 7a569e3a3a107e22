"""The CSMS: wires connections to sessions, sessions to per-version adapters, adapters to the domain.

``Csms`` is also the transport's :class:`~ocppd.transport.websocket.LinkApp` and the session
observer that feeds the per-station message log and the metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ocppd import metrics
from ocppd.config import Settings
from ocppd.csms import verbs
from ocppd.csms.adapters import v2x, v2x_out, v16, v16_out
from ocppd.csms.alerts import Alerts
from ocppd.csms.authorization import Authorization
from ocppd.csms.autoprovision import AutoProvisioning
from ocppd.csms.availability import Availability
from ocppd.csms.billing.credit import Credit
from ocppd.csms.billing.service import Billing
from ocppd.csms.billing.station_tariffs import StationTariffs
from ocppd.csms.campaigns import Campaigns
from ocppd.csms.credentials import Credentials
from ocppd.csms.customer_info import CustomerInfo
from ocppd.csms.device_model import DeviceModel
from ocppd.csms.display_messages import DisplayMessages
from ocppd.csms.events import EventBus
from ocppd.csms.firmware import Firmware
from ocppd.csms.limits import TransactionLimits, with_remote_start_id
from ocppd.csms.local_lists import LocalLists
from ocppd.csms.logs import LogUploads
from ocppd.csms.monitoring import Monitoring
from ocppd.csms.outbound import (
    Adapters,
    Exchange,
    InvalidAnswer,
    Limits,
    NotExpressible,
    OutboundError,
    Plan,
    R,
    Sent,
    StationCallError,
    StationOffline,
    StationTimeout,
    Target,
    Verb,
    limit_variables,
    limits_from,
    next_request_id,
)
from ocppd.csms.presence import Presence
from ocppd.csms.provisioning import Provisioning, StationDirectory
from ocppd.csms.queue import CommandQueue
from ocppd.csms.registration import Registration
from ocppd.csms.reporting import Reporting, qualified
from ocppd.csms.reservations import Reservations
from ocppd.csms.resets import Resets
from ocppd.csms.security import Security
from ocppd.csms.smart import SmartCharging
from ocppd.csms.soap import SoapStations
from ocppd.csms.transactions import Transactions
from ocppd.csms.verbs import GetVariables, VariableRef
from ocppd.logs import RateLimitedLog
from ocppd.protocol.actions import csms_initiated
from ocppd.protocol.compat import Relaxation
from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.protocol.v20 import V20Dialect
from ocppd.protocol.validation import schemas
from ocppd.protocol.versions import OcppVersion
from ocppd.rpc import CallErrorReceived, CallTimeout, Handler, Payload, Session, SessionClosed
from ocppd.store import Store, alerts_repo, repo
from ocppd.transport import tls
from ocppd.transport.websocket import Link, Receiver, WSCloseCode

log = logging.getLogger("ocppd.csms")
_station_log = RateLimitedLog(log)  # connects, disconnects, refused messages: at INFO/WARNING, bounded

__all__ = ["Csms", "StationOffline"]

# CALLs whose request and answer the smart-charging domain records (whichever path sent them)
_SMART_ACTIONS = frozenset({"SetChargingProfile", "ClearChargingProfile", "GetChargingProfiles"})
# CALLs whose request and answer csms/availability.py, resets.py, display_messages.py, customer_info.py keep
_OPERATIONS = frozenset({"ChangeAvailability", "Reset", "SetDisplayMessage", "GetDisplayMessages",
                         "ClearDisplayMessage", "CustomerInformation"})  # fmt: skip


def outbound_adapters(version: OcppVersion) -> Adapters:
    return v16_out.ADAPTERS if version is OcppVersion.V16 else v2x_out.ADAPTERS


class Csms:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.events = EventBus()
        self.directory = StationDirectory(store)
        self.presence = Presence()
        self.provisioning = Provisioning(settings, store, self.events, self.directory)
        self.availability = Availability(store, self.events)
        tx_settings = settings.transactions
        self.authorization = Authorization(
            store,
            master_pass_group=tx_settings.master_pass_group,
            concurrent_default=tx_settings.concurrent_tx,
        )
        self.billing = Billing(store, settings.billing)
        self.credit = Credit(store)  # prepaid balances of tokens and groups
        self.tx_limits = TransactionLimits(store)  # OCPP 2.1 transaction limits
        self.station_tariffs = StationTariffs(store, self.send, self.billing)  # OCPP 2.1 tariffs on stations
        self.transactions = Transactions(store, self.events, tx_settings, self.authorization, self.is_connected)
        self.authorization.in_use_on_other_station = self.transactions.in_use_on_other_station
        self.transactions.remote_stop = self._remote_stop
        self.transactions.ask_status = self._transaction_status
        self.reservations = Reservations(store, self.events, self.send)
        self.transactions.every_sweep.append(self.reservations.expire)
        self.transactions.ended_listeners.append(self.billing.transaction_ended)
        self.local_lists = LocalLists(store, self.events, self.send, self._target_of, self.is_connected)
        self.reporting = Reporting(store, self.events)
        self.device_model = DeviceModel(store, self.reporting)
        self.smart = SmartCharging(self)
        self.credentials = Credentials(settings, store, self.events, self.directory)
        self.security = Security(self)
        self.alerts = Alerts(settings.alerts, store, self.events)
        self.monitoring = Monitoring(store, self.alerts)
        self.logs = LogUploads(settings, store, self.events)
        self.firmware = Firmware(settings, store, self.events, self.logs.public_url)
        self.campaigns = Campaigns(self)
        # issue 13 operations with a state: observed on whichever path sends them (_call_observed)
        self.availability.send = self.send
        self.resets = Resets(store, self.events, settings.ocpp.reset_observe_s)
        self.transactions.every_sweep.append(self.resets.sweep)
        self.display_messages = DisplayMessages(store, self.events)
        self.customer_info = CustomerInfo(store, self.events)
        self.customer_info.cleared_listeners.append(
            lambda station_id, token: self._in_background(self.local_lists.forget_token(station_id, token))
        )
        self._stored_last_seen: dict[str, datetime] = {}
        self.sessions: dict[str, Session] = {}
        self.connected_at: dict[str, datetime] = {}
        unknown = {"accept": "Accepted", "pending": "Pending", "reject": "Rejected"}[settings.ocpp.unknown_stations]
        self.registration = Registration(self.directory, unknown)
        self.registration.attach(self.send)
        self.directory.registration_listeners.append(
            lambda station_id: self.registration.changed(self.sessions.get(station_id))
        )
        # A deleted station must not stay connected, answering commands while invisible in every list.
        self.directory.removal_listeners.append(
            lambda station_id: self.disconnect(station_id, "station deleted by the operator")
        )
        self.queue = CommandQueue(store, self.send)
        self.autoprovision = AutoProvisioning(settings.provisioning, self)
        self.registration.accepted_listeners.append(self._connection_accepted)
        guard = self.registration.guard
        self._handlers: dict[OcppVersion, dict[str, Handler]] = {
            OcppVersion.V16: guard(v16.handlers(self)),
            OcppVersion.V201: guard(v2x.handlers(self, OcppVersion.V201)),
            OcppVersion.V21: guard(v2x.handlers(self, OcppVersion.V21)),
        }
        # 2.0 (2018) is translated to and from the 2.0.1 shape by its session (protocol/v20.py)
        self._handlers[OcppVersion.V20] = self._handlers[OcppVersion.V201]
        self._by_link: dict[Link, Session] = {}
        self._links: dict[str, Link] = {}  # the open connection of each station (its remote address)
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._housekeeping: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._limits: dict[tuple[str, OcppVersion], Limits] = {}
        self.reporting.variables_listeners.append(self._forget_limits)
        self.reporting.rows_listeners.append(self.billing.meter_keys_reported)
        # OCPP-S stations: 1.6S (and 1.2/1.5 through the dialect) share the 1.6 adapter
        self.soap = SoapStations(self, self._handlers[OcppVersion.V16])
        self._supervision: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self.directory.refresh()
        await self.security.start()
        await self.queue.start()
        await self.alerts.start()
        await self.campaigns.start_up()
        await self.availability.start()
        await self.resets.start()
        self._stored_last_seen = await self.store.read(alerts_repo.last_seen_of_all)
        await self.soap.restore()
        self._housekeeping = asyncio.create_task(self._housekeep())
        await self.smart.start()
        self._supervision = asyncio.create_task(self.transactions.supervise())
        self.billing.start(self.send, self.is_connected)

    async def stop(self) -> None:
        for task in (self._housekeeping, self._supervision):
            if task is not None:
                task.cancel()
        self.billing.stop()
        await self.security.stop()
        await self.campaigns.stop()
        await self.smart.stop()
        try:
            await self.alerts.flush()
            await self.presence.flush(self.store)
        except Exception:
            log.exception("last-seen times not stored at shutdown")
        await self.soap.close()

    async def _housekeep(self) -> None:
        """Refresh the station directory (the CLI may have changed it), store last-seen times, prune the
        message log."""
        retention = timedelta(days=self.settings.message_log_retention_days)
        last_prune = datetime.min.replace(tzinfo=UTC)
        while True:
            await asyncio.sleep(5)
            try:
                await self.directory.refresh()
                await self.presence.flush(self.store)
                await self.security.refresh_revocations()
                self.credentials.expire()
                now = datetime.now(UTC)
                if now - last_prune > timedelta(hours=1):
                    last_prune = now
                    await self.store.prune_message_log(now - retention)
                    await self.security.prune_security_events()
                    await self.alerts.prune()
                await self._watch_alerts(now)
                await self.security.warn_expiring()  # at most every ca.expiry_check_interval_s
                await self.security.refresh_expiry_metric()  # when what stations hold changed
            except Exception:
                log.exception("housekeeping failed")

    async def _watch_alerts(self, now: datetime) -> None:
        """Repeat counts of open alerts to the store; offline stations (stored last-seen times until a
        station speaks to this process)."""
        await self.alerts.flush()
        seen = {**self._stored_last_seen, **self.presence.all_heard()}
        await self.alerts.check_offline(seen, self.settings.ocpp.heartbeat_interval, now)

    # ------------------------------------------------------------------ transport callbacks
    def admit(
        self, identity: str, version: OcppVersion, headers: Mapping[str, str], remote: str, peer: tls.Peer | None
    ) -> int | None:
        live = self._links.get(identity)
        return self.admit_peer(identity, headers, remote, peer, live.remote if live is not None else None)

    def admit_peer(
        self, identity: str, headers: Mapping[str, str], remote: str, peer: tls.Peer | None,
        live_remote: str | None = None,
    ) -> int | None:  # fmt: skip
        """Admit a station over OCPP-J or OCPP-S: ``peer`` is None without TLS, else the client certificate
        the transport verified (and whose CN it checked); a revoked one is refused with 403."""
        certificate = peer is not None and peer.certificate is not None
        if peer is not None and peer.certificate is not None:
            problem = self.security.peer_problem(peer.certificate)
            if problem is not None:
                metrics.CONNECTIONS_REFUSED.labels("certificate_revoked").inc()
                log.warning("%s: refused with 403 (%s)%s", identity, problem, f" from {remote}" if remote else "")
                return 403
        refusal = self.credentials.admit(identity, headers, tls=peer is not None, certificate=certificate,
                                         remote=remote, live_remote=live_remote)  # fmt: skip
        if refusal is None and peer is not None and peer.certificate is not None:
            self.security.presented(identity, peer.certificate)
        return refusal

    def opened(self, link: Link) -> Receiver:
        session = Session(
            identity=link.identity,
            version=link.version,
            send=link.send,
            handlers=self._handlers[link.version],
            call_timeout=self.settings.ocpp.call_timeout,
            validate=self.settings.ocpp.validate,
            compat=self.provisioning.compat_for(link.identity),
            observer=self,
            max_in_flight=self.settings.ocpp.max_calls_in_flight,
            hold=link.hold,
            dialect=V20Dialect("csms") if link.version is OcppVersion.V20 else None,
        )
        old = self.sessions.get(link.identity)
        if old is not None:
            old.connection_lost()
        self.sessions[link.identity] = session
        self._by_link[link] = session
        self._links[link.identity] = link
        self.connected_at[link.identity] = datetime.now(UTC)
        metrics.CONNECTED.labels(link.version.label).inc()
        _station_log.log(logging.INFO, "connect", "%s connected (%s) from %s", link.identity, link.version.value,
                         link.remote)  # fmt: skip
        self.transactions.connected(link.identity, link.version is not OcppVersion.V16)
        self.events.publish("station.connected", link.identity, ocpp_version=link.version.label)
        return session.receive

    def disconnect(self, station_id: str, reason: str) -> bool:
        """Close the station's connection (it was deleted, say); False if it has none."""
        link = self._links.get(station_id)
        if link is None:
            return False
        _station_log.log(logging.INFO, "disconnect", "%s disconnected by the CSMS: %s", station_id, reason)
        link.close(reason, WSCloseCode.POLICY_VIOLATION)
        return True

    def closed(self, link: Link) -> None:
        metrics.CONNECTED.labels(link.version.label).dec()
        session = self._by_link.pop(link, None)
        if session is None:
            return
        session.connection_lost()
        if self.sessions.get(link.identity) is session:  # not yet replaced by a newer connection
            del self.sessions[link.identity]
            self.connected_at.pop(link.identity, None)
            self.events.publish("station.disconnected", link.identity)
        if self._links.get(link.identity) is link:
            del self._links[link.identity]
        rebooting = self.resets.disconnected(link.identity)
        if rebooting:
            self._in_background(self.resets.mark_disconnected(rebooting))
        _station_log.log(logging.INFO, "disconnect", "%s disconnected (from %s)", link.identity, link.remote)

    def _connection_accepted(self, session: Session, booted: bool) -> None:
        """The station is accepted on this connection: after a boot, the switched-on provisioning
        steps; then what was queued for it."""
        if booted and self.autoprovision.enabled():
            task = asyncio.get_running_loop().create_task(self._provision(session.identity, session.version))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        else:
            self.queue.deliver_soon(session.identity)

    async def _provision(self, station_id: str, version: OcppVersion) -> None:
        try:
            await self.autoprovision.after_boot(station_id, version)
        except Exception:
            log.exception("%s: provisioning after boot failed", station_id)
        self.queue.deliver_soon(station_id)

    async def known_values(self, station_id: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """What the CSMS last read (or saw accepted) of these (component, variable) pairs."""
        return await self.store.read(repo.variable_values, station_id, keys)

    # ------------------------------------------------------------------ session observer
    def on_frame(
        self,
        session: Session,
        direction: str,
        text: str,
        message_type: int | None,
        message_id: str | None,
        action: str | None,
    ) -> None:
        if direction == "in":
            self.presence.heard(session.identity)
        # message type 0 marks a frame that could not be parsed at all
        self.store.log_frame(session.identity, direction, message_type or 0, message_id, action, text)

    def on_relaxation(self, session: Session, action: str, relaxation: Relaxation) -> None:
        metrics.RELAXATIONS.labels(relaxation.value, action).inc()

    def on_call_done(self, session: Session, action: str, seconds: float, outcome: str) -> None:
        metrics.CALL_LATENCY.labels(action).observe(seconds)
        self._message_counter("out", action, outcome).inc()

    def on_inbound_done(self, session: Session, action: str, outcome: str) -> None:
        self._message_counter("in", action, outcome).inc()
        if outcome != "ok":
            who = session.identity
            line = "%s: %s answered with CALLERROR %s (`ocppd log %s --action %s`)"
            _station_log.log(logging.WARNING, "refused", line, who, action, outcome, who, action)

    def _message_counter(self, direction: str, action: str, outcome: str) -> Any:
        # labels() costs a lock and a tuple hash per message; the children never change, so keep them.
        key = (direction, action, outcome)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = metrics.MESSAGES.labels(direction, action, outcome)
        return child

    # ------------------------------------------------------------------ domain helpers
    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    @staticmethod
    def now_iso() -> str:
        return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def recorder(self, kind: str, answer: Payload | None = None) -> Handler:
        """A handler that records a notification for the operator and acknowledges it."""
        reply = answer or {}

        async def record(session: Session, payload: Payload) -> Payload:
            await self.reporting.record(session.identity, kind, payload, payload.get("timestamp"))
            return dict(reply)

        return record

    def log_status_recorder(self, kind: str) -> Handler:
        """(Log|Diagnostics)StatusNotification: recorded, and the status of the upload job it is about."""

        async def record(session: Session, payload: Payload) -> Payload:
            await self.reporting.record(session.identity, kind, payload, payload.get("timestamp"))
            await self.logs.status(session.identity, str(payload.get("status")), payload.get("requestId"))
            return {}

        return record

    def firmware_status_recorder(self, kind: str) -> Handler:
        """(Signed)FirmwareStatusNotification: recorded, and the status of the update job it is about."""

        async def record(session: Session, payload: Payload) -> Payload:
            await self.reporting.record(session.identity, kind, payload, payload.get("timestamp"))
            await self.firmware.status(session.identity, str(payload.get("status")), payload.get("requestId"))
            return {}

        return record

    def is_connected(self, station_id: str) -> bool:
        return station_id in self.sessions

    # ------------------------------------------------------------------ CSMS-initiated messages
    async def target(self, station_id: str, version: OcppVersion) -> Target:
        """What the adapters may know about the station: its version and the list limits it reported
        (cached per station until its stored configuration changes)."""
        limits = self._limits.get((station_id, version))
        if limits is None:
            values = await self.store.read(repo.variable_values, station_id, limit_variables(version))
            limits = self._limits[(station_id, version)] = limits_from(version, values)
        return Target(station_id, version, limits)

    def _forget_limits(self, station_id: str) -> None:
        for version in OcppVersion:
            self._limits.pop((station_id, version), None)

    async def _target_of(self, station_id: str) -> Target:
        session = self.sessions.get(station_id)
        if session is None:
            raise StationOffline(f"station {station_id!r} is not connected")
        return await self.target(station_id, session.version)

    def station_booted(self, station_id: str) -> None:
        """An accepted BootNotification: open transactions get their grace; a managed local list is
        reconciled (GetLocalListVersion) once the boot has been answered."""
        self.transactions.booted(station_id)
        self.availability.booted(station_id)
        self._in_background(self.local_lists.reconcile(station_id))

    def _in_background(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _remote_stop(self, tx: Any) -> verbs.Status:
        return (await self.send(tx.station_id, verbs.RemoteStop(transaction_id=tx.transaction_uid))).result

    async def _transaction_status(self, station_id: str, transaction_id: str) -> verbs.TransactionStatus:
        return (await self.send(station_id, verbs.GetTransactionStatus(transaction_id=transaction_id))).result

    async def send(
        self, station_id: str, verb: Verb[R], *, timeout: float | None = None, by: str | None = None
    ) -> Sent[R]:
        """Carry out ``verb`` on a connected station: the version's adapter plans the CALLs, they go out
        in order, and the answers come back as the verb's result (plus every exchange, verbatim).
        ``by``: who asked (the API's principal), kept where the verb leaves a record (a remote start's limit).

        Raises NotExpressible (before anything was sent), StationOffline, StationTimeout,
        StationCallError (the station's CALLERROR; earlier calls of the plan stay done) and InvalidAnswer.
        """
        limited: int | None = None  # the remoteStartId whose limit goes if the station refuses the start
        if isinstance(verb, verbs.RemoteStart) and verb.limit is not None:
            verb = with_remote_start_id(verb, next_request_id)  # type: ignore[assignment]
            limited = verb.remote_start_id  # type: ignore[attr-defined]
        try:
            sent = await self._carry_out(station_id, verb, timeout, by)
        except OutboundError as exc:
            metrics.VERBS.labels(verb.name, _OUTCOME.get(type(exc), "error")).inc()
            if limited is not None and isinstance(exc, StationCallError):
                await self.tx_limits.refused_remote_start(station_id, limited)
            raise
        except NotExpressible:
            metrics.VERBS.labels(verb.name, "not_expressible").inc()
            raise
        agreed = getattr(sent.result, "accepted", True)
        if limited is not None and not agreed:
            await self.tx_limits.refused_remote_start(station_id, limited)
        metrics.VERBS.labels(verb.name, "accepted" if agreed else "refused").inc()
        return sent

    async def _carry_out(self, station_id: str, verb: Verb[R], timeout: float | None, by: str | None) -> Sent[R]:
        session = self.sessions.get(station_id)
        if session is None:
            raise StationOffline(f"station {station_id!r} is not connected")
        target = await self.target(station_id, session.version)
        plan = self._checked_plan(session, verb, target)
        if isinstance(verb, verbs.RemoteStart) and verb.limit is not None and verb.remote_start_id is not None:
            # kept before sending: the station's Started event may arrive before its answer
            await self.tx_limits.expect_remote_start(station_id, verb.remote_start_id, verb.limit, by)
        if plan.read_limits_first is not None:
            component, action = plan.read_limits_first
            await self._read_limits(session, component, action, target, timeout)
            target = await self.target(station_id, session.version)
            plan = self._checked_plan(session, verb, target)
        try:
            exchanges = await self._run(session, plan, timeout)
        except StationCallError as exc:
            # A list the station refused while its limits were unknown: read them, split, once more.
            if exc.after or not await self._learn_limits(session, plan, target, timeout):
                raise
            plan = self._checked_plan(session, verb, await self.target(station_id, session.version))
            exchanges = await self._run(session, plan, timeout)
        result = plan.decode([e.response for e in exchanges])
        log.info("%s %s: %s", station_id, verb.name, _summary(result))
        return Sent(result, exchanges, session.version)

    @staticmethod
    def _checked_plan(session: Session, verb: Verb[R], target: Target) -> Plan[R]:
        plan = outbound_adapters(session.version).plan(verb, target)
        checker = schemas(session.version)
        for c in plan.calls:  # every payload is checked before the first goes out: all or nothing
            try:
                checker.validate(c.action, c.payload)
            except OcppError as exc:
                raise NotExpressible(f"invalid {c.action} payload: {exc}") from None
            try:
                session.check_expressible(c.action, c.payload)  # OCPP-S 1.2/1.5 lack some operations
            except OcppError as exc:
                raise NotExpressible(exc.description) from None
        return plan

    async def _run(self, session: Session, plan: Plan[Any], timeout: float | None) -> list[Exchange]:
        station_id = session.identity
        exchanges: list[Exchange] = []
        for c in plan.calls:
            try:
                answer = await self._call_observed(session, c.action, c.payload, timeout)
            except SessionClosed as exc:
                raise StationOffline(f"station {station_id!r} is not connected ({exc})") from None
            except CallTimeout as exc:
                raise StationTimeout(f"station {station_id!r} did not answer in time: {exc}") from None
            except CallErrorReceived as exc:
                log.info("%s %s: CALLERROR %s %s", station_id, c.action, exc.code, exc.description)
                raise StationCallError(c.action, exc.code, exc.description, exc.details, len(exchanges)) from None
            except OcppError as exc:
                raise InvalidAnswer(f"station sent an invalid {c.action} answer: {exc}") from None
            exchanges.append(Exchange(c.action, c.payload, answer))
            await self._remember(station_id, c.action, c.payload, answer)
        return exchanges

    async def _learn_limits(self, session: Session, plan: Plan[Any], target: Target, timeout: float | None) -> bool:
        """2.x: after a refused list request whose limits were unknown, ask the station for
        ``DeviceDataCtrlr.ItemsPerMessage/BytesPerMessage[<action>]``; True if that taught us a limit."""
        first = plan.calls[0]
        if session.version is OcppVersion.V16 or first.action not in _LIST_FIELD:
            return False
        if len(first.payload.get(_LIST_FIELD[first.action], [])) < 2 or target.limits.items_for(first.action):
            return False
        if not await self._read_limits(session, "DeviceDataCtrlr", first.action, target, timeout):
            return False
        learned = await self.target(session.identity, session.version)
        return learned.limits.items_for(first.action) is not None or learned.limits.bytes_for(first.action) is not None

    async def _read_limits(
        self, session: Session, component: str, action: str, target: Target, timeout: float | None
    ) -> bool:
        """GetVariables of ``component.ItemsPerMessage[action]`` and ``BytesPerMessage[action]`` (kept
        as the station's configuration like every answer); False if the station refused."""
        refs = tuple(VariableRef(component, kind, instance=action) for kind in ("ItemsPerMessage", "BytesPerMessage"))
        try:
            await self._run(session, self._checked_plan(session, GetVariables(refs), target), timeout)
        except OutboundError:
            return False
        return True

    async def call(self, station_id: str, action: str, payload: Payload, *, timeout: float | None = None) -> Payload:
        """Send any CSMS-initiated message of the station's version verbatim and return its answer.

        Raises StationOffline, OcppError (unknown action for this version, invalid payload, or the
        station's CALLERROR) and CallTimeout.
        """
        session = self.sessions.get(station_id)
        if session is None:
            raise StationOffline(f"station {station_id!r} is not connected")
        if action not in csms_initiated(session.version):
            raise OcppError(
                ErrorKind.NOT_SUPPORTED,
                f"{action} is not a CSMS-initiated message in OCPP {session.version.label}",
            )
        result = await self._call_observed(session, action, payload, timeout)
        await self._remember(station_id, action, payload, result)
        return result

    async def _call_observed(self, session: Session, action: str, payload: Payload, timeout: float | None) -> Payload:
        """One CALL on the session; smart-charging ones are recorded with their answer or failure."""
        # What the call invites the station to send is allowed before the answer arrives: the station
        # may send it right behind its answer, before this coroutine resumes.
        invited = self.registration.invite(session, action, payload)
        if action in _OPERATIONS:
            await self._before_operation(session.identity, action, payload)
        try:
            result = await session.call(action, payload, timeout=timeout)
        except Exception as exc:
            self.registration.exchanged(session, action, payload, None, invited)
            failure = str(exc) or type(exc).__name__
            if action in _SMART_ACTIONS:
                await self.smart.profiles.observe(session.identity, action, payload, None, failure)
            if action in _OPERATIONS:
                await self._observe_operation(session, action, payload, None, failure)
            raise
        self.registration.exchanged(session, action, payload, result, invited)
        if action in _SMART_ACTIONS:
            await self.smart.profiles.observe(session.identity, action, payload, result)
        if action in _OPERATIONS:
            await self._observe_operation(session, action, payload, result, None)
        return result

    async def _before_operation(self, station_id: str, action: str, payload: Payload) -> None:
        if action == "CustomerInformation":
            await self.customer_info.before(station_id, payload)
        elif action == "Reset":
            self.resets.before(station_id)
        else:
            self.display_messages.before(station_id, action, payload)

    async def _observe_operation(
        self, session: Session, action: str, payload: Payload, result: Payload | None, failure: str | None
    ) -> None:
        """Availability, resets, display messages, customer information keep what was asked and answered."""
        station_id = session.identity
        try:
            if action == "ChangeAvailability":
                v16 = session.version is OcppVersion.V16
                await self.availability.observe(station_id, v16, payload, result, failure)
            elif action == "Reset":
                await self.resets.observe(station_id, payload, result, failure)
            elif action == "CustomerInformation":
                await self.customer_info.observe(station_id, payload, result, failure)
            elif result is not None:
                await self.display_messages.observe(station_id, action, payload, result)
            else:
                self.display_messages.failed(station_id, action, payload)
        except Exception:  # the station did it; a failure to record it must not turn into the caller's error
            log.exception("%s: %s not recorded", station_id, action)

    async def _remember(self, station_id: str, action: str, request: Payload, result: Payload) -> None:
        """Keep what a station told us about its settings (read, or accepted as set) for later:
        the operator sees it, and the adapters read the station's limits from it."""
        rows = remembered_variables(action, request, result)
        if rows:
            await self.reporting.variables(station_id, rows)
        await self.device_model.observe(station_id, action, request, result)
        await self.monitoring.observe(station_id, action, request, result)


_OUTCOME: dict[type[Exception], str] = {
    StationOffline: "offline",
    StationTimeout: "timeout",
    StationCallError: "call_error",
    InvalidAnswer: "invalid_answer",
}

# 2.x list requests whose size limits a station reports, and the field that holds the list.
_LIST_FIELD = {"GetVariables": "getVariableData", "SetVariables": "setVariableData"}


def remembered_variables(
    action: str, request: Payload, result: Payload
) -> list[tuple[str, str, str, str | None, bool | None]]:
    """(component, variable, attribute, value, readonly) rows an exchange tells about the station
    (readonly None: not told, the stored flag stays)."""
    if action == "GetConfiguration":
        return [
            ("", k["key"], "Actual", k.get("value"), bool(k.get("readonly")))
            for k in result.get("configurationKey", [])
        ]
    if action == "ChangeConfiguration" and result.get("status") in ("Accepted", "RebootRequired"):
        return [("", request["key"], "Actual", request["value"], False)]
    if action == "GetVariables":
        return [
            (
                qualified(r["component"]),
                qualified(r["variable"]),
                r.get("attributeType") or "Actual",
                r.get("attributeValue"),
                None,  # a read says nothing about mutability: the stored flag stays
            )
            for r in result.get("getVariableResult", [])
            if r.get("attributeStatus") == "Accepted"
        ]
    if action == "SetVariables":
        asked = {
            (qualified(d["component"]), qualified(d["variable"]), d.get("attributeType") or "Actual"): d
            for d in request.get("setVariableData", [])
        }
        rows = []
        for r in result.get("setVariableResult", []):
            key = (qualified(r["component"]), qualified(r["variable"]), r.get("attributeType") or "Actual")
            if r.get("attributeStatus") in ("Accepted", "RebootRequired") and key in asked:
                rows.append((*key, asked[key]["attributeValue"], False))  # it took a value: not read-only
        return rows
    return []


def _summary(result: object) -> str:
    status = getattr(result, "status", None)
    return str(status) if status is not None else type(result).__name__
