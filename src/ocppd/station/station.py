"""One simulated charging station: connection, boot, heartbeat, meter loop, transactions, queue.

The behaviour lives here once; :mod:`ocppd.station.v16` and :mod:`ocppd.station.v2x` translate it
into messages of their version and CSMS-initiated messages back into calls on this class.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import math
import random
import ssl
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ocppd.protocol.errors import OcppError
from ocppd.protocol.soap.wsdl import SoapVersion
from ocppd.protocol.v20 import V20Dialect
from ocppd.protocol.versions import OcppVersion
from ocppd.rpc.session import CallTimeout, Payload, Session, SessionClosed, SessionObserver
from ocppd.smart.schedule import DAY, ProfileStore, format_time
from ocppd.station.metering import FiscalMeters, load_private_key
from ocppd.station.model import EV, Connector, LocalAuth, Reservation, Transaction, default_id_tags
from ocppd.station.security import StationSecurity
from ocppd.station.settings import Settings
from ocppd.station.store import QueuedMessage, Store
from ocppd.transport.tls import client_context
from ocppd.transport.websocket import HandshakeRefused, Link, connect

if TYPE_CHECKING:
    from ocppd.station.adapter import Adapter

log = logging.getLogger("ocppd.station")

RECONNECT = "reconnect"  # _reboot marker: come back at once, as after a reset, but it is no reset
STOP_FLUSH_TIMEOUT = 10.0  # seconds stop() gives queued transaction messages to reach the CSMS


_REFUSALS = {
    400: "the CSMS refused the station id or every OCPP version offered",
    401: "wrong or missing password",
    403: "certificate or station refused",
    404: "unknown station",
    409: "the station is connected already",
}


def connect_failure(exc: BaseException) -> str:
    """Why a connection attempt failed, in words an operator can act on."""
    if isinstance(exc, HandshakeRefused) and exc.status is not None:
        reason = _REFUSALS.get(exc.status)
        return f"HTTP {exc.status}" + (f" ({reason})" if reason else "")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError) or "ssl" in type(exc).__name__.lower():
        return f"TLS handshake failed: {exc}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(slots=True)
class StationConfig:
    """Everything that describes a station before it runs (one template entry, one station)."""

    identity: str
    url: str  # the CSMS endpoint *without* the identity: ws://host:port/ocpp
    version: OcppVersion = OcppVersion.V16
    vendor: str = "ocppd"
    model: str = "SimCharger"
    serial: str = ""
    firmware: str = "1.0.0"
    evses: list[int] = field(default_factory=lambda: [1])  # connectors per EVSE
    max_power_w: float = 22000.0  # per connector
    connector_type: str = "cType2"
    password: str | None = None  # security profile 1/2: HTTP basic auth
    ssl_context: ssl.SSLContext | None = None  # wss://; None: built from the three files below when any is set
    ca_file: str | None = None  # wss://: PEM CA(s) that signed the CSMS certificate (default: the system's)
    cert_file: str | None = None  # security profile 3: PEM client certificate, subject CN = identity
    key_file: str | None = None  # its unencrypted private key (default: in cert_file)
    contract_certificate: str | None = None  # 2.x plug & charge: PEM contract chain (leaf first); CN = eMAID
    settings: dict[str, Any] = field(default_factory=dict)  # canonical setting overrides
    call_timeout: float = 30.0
    boot_retry: float = 10.0  # when the CSMS gives interval 0 with Pending/Rejected
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    reboot_delay: float = 1.0
    step_delay: float = 1.0  # firmware/diagnostics status steps
    firmware_fault: str | None = None  # fail firmware updates on purpose: see station/firmware.py
    auto_plug: bool = True  # a remote start finds a car at the connector (a simulator's convenience)
    id_tags: list[str] = field(default_factory=lambda: default_id_tags(1))
    ev: EV = field(default_factory=EV)
    iso15118_share: float = 0.0  # 2.0.1/2.1: the share of arriving cars that speak ISO 15118 (0..1)
    # OCPP-S: the SOAP version (version stays 1.6, the shape the station model speaks); url is then the
    # CSMS's Central System service (http://host:8180/ocpp/soap) and soap_listen where this process
    # serves the stations' Charge Point service (port 0: any free port)
    soap: SoapVersion | None = None
    soap_listen: str = "127.0.0.1:0"
    # billing evidence: sign every energy register reading (OCMF) with a test key per EVSE meter, or with
    # the EC P-256 private key in meter_key_file; the public key is in the device model / configuration
    signed_meter_values: bool = False
    meter_key_file: str | None = None
    # 2.1: a limit the station sets itself on every transaction (TransactionLimitType keys: maxEnergy Wh,
    # maxTime s, maxCost, maxSoC %), reported with LimitSet after the start; a CSMS's limit overrides it
    tx_limit: dict[str, float] | None = None


def _security_profile(config: StationConfig) -> int:
    """What the station reports as SecurityProfile: 3 with a client certificate, 2 with TLS and a password."""
    if config.cert_file:
        return 3
    if config.password:
        return 2 if config.url.lower().startswith("wss:") else 1
    return 0


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


class Station:
    """A simulated charging station; use as ``async with Station(config) as st: ...``."""

    def __init__(
        self,
        config: StationConfig,
        *,
        store: Store | None = None,
        observer: SessionObserver | None = None,
        on_event: Callable[[Station, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.identity = config.identity
        self.ssl_context = config.ssl_context
        if self.ssl_context is None and (config.ca_file or config.cert_file or config.key_file):
            self.ssl_context = client_context(config.ca_file, config.cert_file, config.key_file)
        self.version = config.version
        self.family = config.version.family
        self.store = store if store is not None else Store()
        self._own_store = store is None
        self.observer = observer
        self.on_event = on_event
        self.settings = Settings(
            {
                "vendor": config.vendor, "model": config.model, "serial": config.serial,
                "firmware": config.firmware, "security_profile": _security_profile(config),
                **config.settings,
            }
        )  # fmt: skip
        self.security = StationSecurity(self)
        self.connectors: list[Connector] = []
        number = itertools.count(1)
        for evse_id, count in enumerate(config.evses, start=1):
            for cid in range(1, count + 1):
                self.connectors.append(Connector(next(number), evse_id, cid, config.max_power_w, config.connector_type))
        self.settings.force("number_of_connectors", len(self.connectors))
        for c in self.connectors:
            c.delay_s = float(self.settings["profile_delay_s"])
        self.profiles = ProfileStore(max_stack_level=self.settings["max_stack_level"])
        self.auth = LocalAuth()
        self.operative = True
        self.session: Session | None = None
        self.link: Link | None = None
        self.online = False
        self.booted = asyncio.Event()
        self.last_connect_error: str | None = None  # why the last connection attempt failed
        self.boot_status: str | None = None
        self.firmware_status = "Idle"
        self.firmware_outcome = "Installed"  # what the boot after a firmware update reports
        self.diagnostics_status = "Idle"
        self.counters: dict[str, int] = {"sessions": 0, "errors": 0, "reconnects": 0, "dropped": 0}
        self.display_messages: dict[int, dict[str, Any]] = {}
        # the cost the CSMS tells, per transaction ref: {"total", "source", "final", "updates", "at"}
        self.costs: dict[str, dict[str, Any]] = {}
        self.meters: FiscalMeters | None = None
        if config.signed_meter_values:
            key = load_private_key(config.meter_key_file) if config.meter_key_file else None
            ids = [c.number if self.family == "1.6" else c.evse_id for c in self.connectors]
            self.meters = FiscalMeters(sorted(set(ids)), config.serial, key)
        self._queue: deque[QueuedMessage] = self.store.load_queue(self.identity)
        self._tx_map: dict[str, str] = self.store.tx_map(self.identity)
        self._queue_wake = asyncio.Event()
        self._queue_changed = asyncio.Event()  # a queued message left the queue, or we went on/offline
        self._meter_wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._online_tasks: list[asyncio.Task[Any]] = []
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self._reboot: str | None = None  # boot reason for the next connection, set by Reset/firmware
        self._reset_when_idle: str | None = None
        self._after_boot: list[Callable[[], Awaitable[None]]] = []
        self._next_aligned: float | None = None
        self._tx_counter = itertools.count(1)
        self._restore_state()
        from ocppd.station.adapter import make_adapter

        self.adapter: Adapter = make_adapter(self)
        self.settings.listeners.append(self._on_setting)

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Station:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start connecting (and reconnecting) in the background."""
        if self._runner is None:
            self._stopping = False
            self._runner = asyncio.create_task(self._run(), name=f"station-{self.identity}")
            self._spawn(self._meter_loop())

    async def stop(self, flush_timeout: float = STOP_FLUSH_TIMEOUT) -> None:
        """Deliver the queued transaction messages, then disconnect and stop every task.

        While the station is connected, ``stop`` first waits up to ``flush_timeout`` seconds for the
        queue to drain (see :meth:`flush`), so a StopTransaction or TransactionEvent Ended queued just
        before is not lost with the default in-memory store. Whatever is still queued afterwards (the
        station was offline, the CSMS did not answer in time, ``flush_timeout=0``) stays in the store
        and is sent on the next start, if the store is a file.
        """
        if self._runner is not None and not self._stopping and flush_timeout > 0:
            delivered = await self.flush(flush_timeout)
            if not delivered:
                log.warning("%s: stopping with %d undelivered transaction message(s)", self.identity, len(self._queue))
        self._stopping = True
        self._save_state()
        if self.link is not None:
            self.link.close("station stopping")
        tasks = {t for t in (self._runner, *self._tasks, *self._online_tasks) if t is not None}
        # Python 3.11's wait_for can swallow a cancellation that races with a result (fixed in
        # 3.12), so cancel again until every task is really gone instead of awaiting forever.
        while tasks:
            for task in tasks:
                task.cancel()
            _, tasks = await asyncio.wait(tasks, timeout=0.5)
        self._runner = None
        if self._own_store:
            self.store.close()

    async def wait_booted(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.booted.wait(), timeout)

    async def flush(self, timeout: float = STOP_FLUSH_TIMEOUT) -> bool:
        """Wait until every queued transaction message has been answered by the CSMS.

        True once the queue is empty; False if ``timeout`` seconds pass first or the station is (or
        goes) offline, because nothing can be delivered then. A connected station that is still
        booting gets the same time to finish its boot and send the queue.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._queue:
            remaining = deadline - loop.time()
            if not self.online or remaining <= 0:
                return False
            self._queue_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue_changed.wait(), remaining)
        return True

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as one of the station's tasks (cancelled when it stops); the task, to cancel it."""
        return self._spawn(coro)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("%s: task failed: %r", self.identity, exc, exc_info=exc)
            self.counters["errors"] += 1

    def meter_id(self, c: Connector) -> int:
        """Which fiscal meter measures this connector: its EVSE (2.x), the connector (1.6)."""
        return c.number if self.family == "1.6" else c.evse_id

    def cost_received(self, tx_ref: str, total: float, source: str, final: bool = False) -> None:
        """The CSMS told the driver's cost (2.x CostUpdated, TransactionEventResponse.totalCost): shown
        in the live view and the summary."""
        entry = self.costs.setdefault(tx_ref, {"total": None, "source": None, "final": False, "updates": 0})
        entry.update(total=total, source=source, final=final or entry["final"], at=time.time())
        entry["updates"] += 1
        self.counters["cost_messages"] = self.counters.get("cost_messages", 0) + 1
        self.event("cost", transaction=tx_ref, total=total, source=source, final=entry["final"])

    def event(self, kind: str, **data: Any) -> None:
        """Report something observable (scenario steps, status changes) to whoever listens."""
        if self.on_event is not None:
            self.on_event(self, kind, data)

    # ------------------------------------------------------------------ connection
    async def _run(self) -> None:
        if self.config.soap is not None:
            await self._run_soap(self.config.soap)
            return
        failures = 0
        while not self._stopping:
            # Credentials and URL are read per connection: the CSMS may rotate the password, sign a
            # certificate or move the station to another security profile (station/security.py).
            basic, ssl_context = self.security.credentials()
            self._reboot = None if self._reboot == RECONNECT else self._reboot
            url = self.security.url.rstrip("/") + "/" + self.identity
            try:
                link = await connect(
                    url, [self.version], self._on_open, basic_auth=basic, ssl_context=ssl_context,
                    ping_interval=float(self.settings["ws_ping_interval"]), timeout=self.config.call_timeout,
                )  # fmt: skip
            except Exception as exc:  # OSError, TLS, HandshakeRefused, and picows' own handshake errors
                failures += 1
                self.last_connect_error = connect_failure(exc)
                self.event("connect_failed", error=self.last_connect_error)
                log.info("%s: connect failed (%s)", self.identity, self.last_connect_error)
                await asyncio.sleep(self._backoff(failures))
                continue
            self.link = link
            booted = await self._connected(link)
            if booted:
                failures = 0
            if self._stopping:
                break
            self.counters["reconnects"] += 1
            if self._reboot is not None:
                await asyncio.sleep(self.config.reboot_delay)  # the station is "rebooting"
                continue
            failures += 1
            await asyncio.sleep(self._backoff(failures))

    async def _run_soap(self, version: SoapVersion) -> None:
        """OCPP-S: no connection; the station is "connected" until it stops or reboots, and boots again
        after a reboot or when the CSMS could not be reached (with the same backoff as a reconnect)."""
        from ocppd.station.soap import SoapLink, callback_server, soap_session

        server = await callback_server(self.config.soap_listen)
        server.stations[self.identity] = self
        failures = 0
        try:
            while not self._stopping:
                session = soap_session(self, server, version)
                link = SoapLink()
                session.on_unreachable = link.close  # like a lost connection: boot again when it answers
                self.session = session  # type: ignore[assignment]
                self.link = link  # type: ignore[assignment]
                booted = await self._connected(link)  # type: ignore[arg-type]
                if self._stopping:
                    break
                self.counters["reconnects"] += 1
                if self._reboot is not None:
                    await asyncio.sleep(self.config.reboot_delay)
                    failures = 0
                    continue
                failures = 0 if booted else failures + 1
                await asyncio.sleep(self._backoff(max(failures, 1)))
        finally:
            if server.stations.get(self.identity) is self:
                del server.stations[self.identity]

    def _backoff(self, failures: int) -> float:
        """Exponential backoff with full jitter (2.0.1 B10: RetryBackOff* variables)."""
        base = max(self.config.reconnect_min, float(self.settings["retry_backoff_min"]) if self.family != "1.6"
                   else self.config.reconnect_min)  # fmt: skip
        delay = min(self.config.reconnect_max, base * 2 ** min(failures - 1, 16))
        return delay * (0.5 + random.random() / 2)

    def _on_open(self, link: Link) -> Callable[[bytes], None]:
        session = Session(
            identity=self.identity, version=link.version, send=link.send,
            handlers=self.adapter.handlers, call_timeout=self.config.call_timeout, observer=self.observer,
            dialect=V20Dialect("station") if link.version is OcppVersion.V20 else None,
        )  # fmt: skip
        session.context["station"] = self
        self.session = session
        return session.receive

    async def _connected(self, link: Link) -> bool:
        """Run one connection to its end; True if the station got through boot."""
        session = self.session
        assert session is not None
        self.online = True
        self.event("connected")
        booted = False
        closer = asyncio.ensure_future(link.wait_closed())
        boot = asyncio.ensure_future(self._boot(session))
        try:
            await asyncio.wait({closer, boot}, return_when=asyncio.FIRST_COMPLETED)
            if boot.done() and not boot.cancelled() and boot.exception() is None:
                booted = True
                self._online_tasks = [
                    asyncio.ensure_future(self._heartbeat_loop(session)),
                    asyncio.ensure_future(self._queue_loop(session)),
                    *(asyncio.ensure_future(loop) for loop in self.adapter.online_loops()),
                ]
                for action in self._after_boot:
                    self._spawn(action())
                self._after_boot.clear()
                await closer
        finally:
            self.online = False
            self.booted.clear()
            self._queue_changed.set()
            session.connection_lost()
            for task in (boot, closer, *self._online_tasks):
                task.cancel()
            # a boot cut short by the connection is not an error worth a traceback
            boot.add_done_callback(_retrieve)
            self._online_tasks = []
            self.link = None
            self.event("disconnected")
        return booted

    async def _boot(self, session: Session) -> None:
        reason = self._reboot
        self._reboot = None
        while True:
            try:
                answer = await session.call("BootNotification", self.adapter.boot_payload(reason))
            except (CallTimeout, OcppError) as exc:
                log.warning("%s: BootNotification failed: %s", self.identity, exc)
                self.counters["errors"] += 1
                await asyncio.sleep(self.config.boot_retry)
                continue
            self.boot_status = answer["status"]
            interval = int(answer.get("interval", 0))
            self.event("boot", status=self.boot_status, interval=interval)
            if self.boot_status == "Accepted":
                if interval > 0:
                    self.settings.force("heartbeat_interval", interval)
                break
            # Pending/Rejected: try again after the interval the CSMS gave (1.6 §4.2, 2.0.1 B02/B03)
            await asyncio.sleep(interval if interval > 0 else self.config.boot_retry)
        self.booted.set()
        for connector in self.station_connectors_for_boot():
            self.adapter.send_status(connector, force=True)
        self._queue_wake.set()

    def station_connectors_for_boot(self) -> list[Connector | None]:
        """1.6 also reports connector 0 (the station as a whole)."""
        return ([None] if self.family == "1.6" else []) + list(self.connectors)

    async def _heartbeat_loop(self, session: Session) -> None:
        while not self._stopping:
            await asyncio.sleep(max(1, int(self.settings["heartbeat_interval"])))
            await self.call("Heartbeat", {})

    async def call(self, action: str, payload: Payload) -> Payload | None:
        """Send a non-transaction message now if online; log failures and carry on."""
        session = self.session
        if session is None or not self.online:
            return None
        try:
            return await session.call(action, payload)
        except SessionClosed:  # never swallow CancelledError: stop() waits for tasks to end
            return None
        except (CallTimeout, OcppError) as exc:
            self.counters["errors"] += 1
            log.warning("%s: %s failed: %s", self.identity, action, exc)
            self.event("error", action=action, error=str(exc))
            return None

    def send_later(self, action: str, payload: Payload) -> None:
        """Fire a message without waiting (status notifications, triggered messages)."""
        if self.online and self.booted.is_set():
            self._spawn(self.call(action, payload))

    # ------------------------------------------------------------------ transaction queue
    def enqueue(self, action: str, payload: Payload, tx_ref: str | None) -> None:
        """A transaction message: stored durably, delivered in order, retried (1.6 §4.10, E04)."""
        self._queue.append(self.store.push(self.identity, action, payload, tx_ref))
        self._queue_wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def _queue_loop(self, session: Session) -> None:
        while not self._stopping:
            if not self._queue:
                self._queue_wake.clear()
                await self._queue_wake.wait()
                continue
            message = self._queue[0]
            payload = self.adapter.prepare_queued(message, self._tx_map)
            if payload is None:
                log.warning("%s: %s for an unknown transaction dropped", self.identity, message.action)
                self._drop_head(message)
                continue
            try:
                answer = await session.call(message.action, payload)
            except SessionClosed:
                return
            except (CallTimeout, OcppError) as exc:
                self.counters["errors"] += 1
                message.attempts += 1
                self.store.set_attempts(message.seq, message.attempts)
                self.event("error", action=message.action, error=str(exc))
                if message.attempts >= max(1, int(self.settings["tx_message_attempts"])):
                    log.warning("%s: %s given up after %d attempts", self.identity, message.action,
                                message.attempts)  # fmt: skip
                    self._drop_head(message)
                    continue
                await asyncio.sleep(float(self.settings["tx_message_retry_interval"]) * message.attempts)
                continue
            self._queue.popleft()
            self.store.pop(message.seq)
            self.adapter.on_queued_answer(message, answer)
            self._queue_changed.set()

    def _drop_head(self, message: QueuedMessage) -> None:
        self.counters["dropped"] += 1
        self._queue.popleft()
        self.store.pop(message.seq)
        self._queue_changed.set()

    def map_transaction(self, tx_ref: str, real_id: str) -> None:
        """1.6: the CSMS assigned its id to a transaction started under a local reference."""
        self._tx_map[tx_ref] = real_id
        self.store.map_tx(self.identity, tx_ref, real_id)
        for c in self.connectors:
            if c.tx is not None and c.tx.ref == tx_ref:
                c.tx.id = real_id

    # ------------------------------------------------------------------ state persistence
    def _save_state(self) -> None:
        data = {
            "meters": [c.energy_wh for c in self.connectors],
            "local_list": {"version": self.auth.version, "entries": self.auth.entries},
            "tx": [
                None if c.tx is None else {
                    "ref": c.tx.ref, "id_tag": c.tx.id_tag, "start": c.tx.start,
                    "meter_start_wh": c.tx.meter_start_wh, "id": c.tx.id, "seq_no": c.tx.seq_no,
                    "energy_wh": c.tx.energy_wh,
                }
                for c in self.connectors
            ],
        }  # fmt: skip
        self.store.save_state(self.identity, data)

    def _restore_state(self) -> None:
        data = self.store.load_state(self.identity)
        if not data:
            return
        for c, energy in zip(self.connectors, data.get("meters", []), strict=False):
            c.energy_wh = float(energy)
        local = data.get("local_list") or {}
        self.auth.version = int(local.get("version", 0))
        self.auth.entries = dict(local.get("entries", {}))
        # A transaction that was running when the simulator went down ended with the power loss;
        # the station reports it once it is back (1.6 §4.10 "PowerLoss", 2.0.1 E06 "PowerLoss").
        self._interrupted = [
            (c, tx) for c, tx in zip(self.connectors, data.get("tx", []), strict=False) if tx is not None
        ]

    # ------------------------------------------------------------------ meter loop
    def _on_setting(self, name: str) -> None:
        if name in ("aligned_interval", "meter_sample_interval", "aligned_enabled", "sampled_enabled"):
            self._next_aligned = None
            self._meter_wake.set()

    def _aligned_next(self, now: float) -> float | None:
        """The next clock-aligned instant: multiples of the interval counted from UTC midnight."""
        interval = int(self.settings["aligned_interval"])
        if interval <= 0 or not self.settings["aligned_enabled"]:
            return None
        midnight = math.floor(now / DAY) * DAY
        return midnight + (math.floor((now - midnight) / interval) + 1) * interval

    def update_meters(self, now: float | None = None) -> None:
        """Bring every meter and status up to now (cheap; called before anything reads them)."""
        now = time.time() if now is None else now
        for c in self.connectors:
            c.advance(now, self.profiles, self.family)
            self.refresh(c)

    def wake_meters(self) -> None:
        """Look at the meters (and the transactions' limits) now rather than at the next deadline."""
        self._meter_wake.set()

    async def _meter_loop(self) -> None:
        if getattr(self, "_interrupted", None):
            for connector, tx in self._interrupted:
                self.adapter.report_interrupted(connector, tx)
            self._interrupted = []
            self._save_state()
        while not self._stopping:
            now = time.time()
            self.update_meters(now)
            if self._next_aligned is None:
                self._next_aligned = self._aligned_next(now)
            elif now >= self._next_aligned - 0.001:
                for c in self.connectors:  # stamped with the aligned instant itself, as meters do
                    self.adapter.meter_values(c, "Sample.Clock", at=self._next_aligned)
                self._next_aligned = self._aligned_next(now + 0.01)
            sample_interval = int(self.settings["meter_sample_interval"])
            deadlines = [now + 60.0]
            if self._next_aligned is not None:
                deadlines.append(self._next_aligned)
            for c in self.connectors:
                tx = c.tx
                if tx is None:
                    continue
                if tx.limit:  # 2.1: stop when the limit is reached, look again when it may be
                    reason, again = self.adapter.limit_reached(c, tx, now)
                    if reason is not None:
                        self.stop_transaction(c.number, reason)
                        continue
                    if again is not None:
                        deadlines.append(again)
                if sample_interval > 0 and self.settings["sampled_enabled"]:
                    if tx.next_sample == 0.0:
                        tx.next_sample = tx.start + sample_interval
                    if now >= tx.next_sample - 0.001:
                        self.adapter.meter_values(c, "Sample.Periodic")
                        tx.next_sample += sample_interval * max(1, math.ceil((now - tx.next_sample) /
                                                                             sample_interval))  # fmt: skip
                    deadlines.append(tx.next_sample)
                if self.profiles.profiles:
                    nxt = self.profiles.next_change(c.evse_key(self.family), now, c.active_tx())
                    if nxt is not None:
                        deadlines.append(nxt)
                if c.pending_at is not None:  # a delayed limit change lands
                    deadlines.append(c.pending_at)
                if c.ev is not None and c.power_w > 0:  # when the car will be full
                    deadlines.append(now + max(0.5, (c.ev.need_wh - tx.energy_wh) * 3600 / c.power_w))
            self._meter_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._meter_wake.wait(), max(0.01, min(deadlines) - time.time()))

    # ------------------------------------------------------------------ status
    def connector(self, number: int) -> Connector:
        """By 1.6 connector number (1..N)."""
        for c in self.connectors:
            if c.number == number:
                return c
        raise KeyError(f"{self.identity}: no connector {number}")

    def evse_connectors(self, evse_id: int) -> list[Connector]:
        return [c for c in self.connectors if c.evse_id == evse_id]

    def refresh(self, c: Connector) -> None:
        """Send a StatusNotification if the connector's derived status changed."""
        status = c.status
        if status != c.reported_status:
            old = c.reported_status
            c.reported_status = status
            self.adapter.status_changed(c, old, status)
            self.event("status", connector=c.number, status=status)

    # ------------------------------------------------------------------ what drivers do
    def plug_in(self, number: int = 1, ev: EV | None = None) -> None:
        c = self.connector(number)
        c.plugged = True
        c.finishing = False
        if ev is None:  # each plug-in its own car, like the template's
            ev = dataclasses.replace(self.config.ev)
            if self.config.iso15118_share > 0 and random.random() < self.config.iso15118_share:
                ev.iso15118 = True
        c.ev = ev
        self.update_meters()
        self.adapter.plugged(c)
        self._meter_wake.set()

    def unplug(self, number: int = 1) -> None:
        """The driver takes the cable: the transaction ends (StopTxOnEVSideDisconnect)."""
        c = self.connector(number)
        self.update_meters()
        c.plugged = False
        c.preparing = False
        if c.tx is not None and self.settings["stop_tx_on_ev_disconnect"]:
            self.stop_transaction(number, "EVDisconnected")
        c.finishing = False
        c.ev = None
        self.update_meters()

    def set_fault(self, number: int, error_code: str = "GroundFailure") -> None:
        c = self.connector(number)
        if c.tx is not None:
            self.stop_transaction(number, "Other")
        c.faulted = True
        c.error_code = error_code
        c.reported_status = None  # resend even if it was already Faulted
        self.update_meters()

    def clear_fault(self, number: int) -> None:
        c = self.connector(number)
        c.faulted = False
        c.error_code = "NoError"
        self.update_meters()

    async def authorize(self, id_tag: str) -> str:
        """Authorise an id tag as a real station would (local list, cache, CSMS, offline rules)."""
        use_cache = bool(self.settings["auth_cache_enabled"])
        local = self.auth.lookup(id_tag, use_cache) if self.settings["local_list_enabled"] or use_cache else None
        if local is not None and self.settings["local_pre_authorize"] and local.get("status") == "Accepted":
            return "Accepted"
        if self.online and self.booted.is_set():
            status, info = await self.adapter.authorize(id_tag)
            if status is not None:
                if use_cache and info is not None:
                    self.auth.cache[id_tag] = info
                return status
        if self.settings["local_authorize_offline"] and local is not None:
            return str(local.get("status", "Invalid"))
        return "Accepted" if self.settings["offline_tx_unknown"] else "Invalid"

    def can_start(self, c: Connector, id_tag: str) -> bool:
        if c.tx is not None or c.faulted or not c.operative or not self.operative:
            return False
        r = c.reservation
        return r is None or id_tag in (r.id_tag, r.parent_id_tag)

    def begin_transaction(
        self,
        number: int,
        id_tag: str,
        *,
        remote_start_id: int | None = None,
        trigger: str = "Authorized",
    ) -> Transaction:
        """Start a transaction now (authorisation already done). Used by local and remote starts."""
        c = self.connector(number)
        if not c.plugged:
            if not self.config.auto_plug:
                raise RuntimeError("no cable")
            self.plug_in(number)
        self.update_meters()
        now = time.time()
        ref = uuid.uuid4().hex if self.family != "1.6" else f"L{self.identity}-{int(now)}-{next(self._tx_counter)}"
        reservation_id = c.reservation.id if c.reservation is not None else None
        c.reservation = None
        c.preparing = False
        c.tx = Transaction(ref, id_tag, now, c.energy_wh, id=ref if self.family != "1.6" else None,
                           remote_start_id=remote_start_id, reservation_id=reservation_id)  # fmt: skip
        c.last_update = now
        self.counters["sessions"] += 1
        self.adapter.tx_started(c, c.tx, trigger)
        self.update_meters(now)
        self._save_state()
        self._meter_wake.set()
        self.event("tx_started", connector=number, tx=ref, id_tag=id_tag)
        return c.tx

    async def start_transaction(self, number: int = 1, id_tag: str | None = None) -> Transaction | None:
        """A driver presents a card at the connector: authorise, then start (local start)."""
        id_tag = id_tag or random.choice(self.config.id_tags)
        c = self.connector(number)
        if not self.can_start(c, id_tag):
            return None
        status = await self.authorize(id_tag)
        if status != "Accepted":
            self.event("auth_rejected", connector=number, id_tag=id_tag, status=status)
            return None
        if not self.can_start(c, id_tag):
            return None
        return self.begin_transaction(number, id_tag)

    def stop_transaction(self, number: int, reason: str = "Local") -> Transaction | None:
        """End the transaction on a connector; ``reason`` uses the 1.6 vocabulary."""
        c = self.connector(number)
        tx = c.tx
        if tx is None:
            return None
        self.update_meters()
        tx.stop_reason = reason
        self.adapter.tx_ended(c, tx, reason)
        c.tx = None
        c.finishing = c.plugged
        self.profiles.clear_tx_profiles(c.evse_key(self.family))
        if c.pending_inoperative:
            c.pending_inoperative = False
            c.operative = False
        self.update_meters()
        self._save_state()
        self.event("tx_stopped", connector=number, tx=tx.ref, energy_wh=tx.energy_wh, reason=reason)
        if self._reset_when_idle and all(x.tx is None for x in self.connectors):
            kind, self._reset_when_idle = self._reset_when_idle, None
            self.reboot(kind)
        return tx

    def find_tx(self, tx_id: str) -> Connector | None:
        for c in self.connectors:
            if c.tx is not None and tx_id in (c.tx.id, c.tx.ref):
                return c
        return None

    # ------------------------------------------------------------------ CSMS-driven actions
    def reboot(self, reason: str, stop_reason: str = "Reboot") -> None:
        """Reset: end transactions, drop the connection, come back and boot again."""
        for c in self.connectors:
            if c.tx is not None:
                self.stop_transaction(c.number, stop_reason)
        self._reboot = reason
        self.event("reset", reason=reason)
        if self.link is not None:
            self.link.close("rebooting")

    def reconnect(self, why: str) -> None:
        """Drop the connection and come straight back (new credentials), without a reboot's boot."""
        self._reboot = self._reboot or RECONNECT
        self.event("reconnect", reason=why)
        if self.link is not None:
            self.link.close(why)

    def change_availability(self, targets: list[Connector], operative: bool, whole: bool) -> str:
        scheduled = False
        if whole:
            self.operative = operative
            self.settings.force("availability", "Available" if operative else "Unavailable")
        for c in targets:
            if not operative and c.tx is not None:
                c.pending_inoperative = True
                scheduled = True
            else:
                c.pending_inoperative = False
                c.operative = operative
        self.update_meters()
        return "Scheduled" if scheduled else "Accepted"

    def reserve(self, c: Connector, reservation: Reservation) -> str:
        if not self.settings["reservation_enabled"]:
            return "Rejected"
        if c.faulted:
            return "Faulted"
        if not c.operative:
            return "Unavailable"
        if c.tx is not None or c.plugged or (c.reservation is not None and c.reservation.id != reservation.id):
            return "Occupied"
        c.reservation = reservation
        self.update_meters()
        self._spawn(self._expire_reservation(c, reservation))
        return "Accepted"

    async def _expire_reservation(self, c: Connector, reservation: Reservation) -> None:
        await asyncio.sleep(max(0.0, reservation.expiry - time.time()))
        if c.reservation is reservation:
            c.reservation = None
            self.update_meters()
            self.adapter.reservation_ended(reservation, "Expired")

    def cancel_reservation(self, reservation_id: int) -> bool:
        for c in self.connectors:
            if c.reservation is not None and c.reservation.id == reservation_id:
                c.reservation = None
                self.update_meters()
                return True
        return False

    def after(self, delay: float, action: Callable[[], Any]) -> None:
        """Run ``action`` (sync or async) later, e.g. the messages that follow a CSMS request."""

        async def later() -> None:
            await asyncio.sleep(delay)
            result = action()
            if asyncio.iscoroutine(result):
                await result

        self._spawn(later())

    def run_after_boot(self, action: Callable[[], Awaitable[None]]) -> None:
        self._after_boot.append(action)

    def now_iso(self) -> str:
        return format_time(time.time())
