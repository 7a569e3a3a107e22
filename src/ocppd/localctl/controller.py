"""The local controller process: the stations' endpoint, one relay per station, the balancer."""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from picows import WSCloseCode

from ocppd import metrics
from ocppd.config import Settings
from ocppd.csms.events import EventBus
from ocppd.csms.smart.sites import Sites
from ocppd.localctl.balance import ControllerBalancing, RelayHost
from ocppd.localctl.observe import INTERESTING, Tracker
from ocppd.localctl.relay import Relay
from ocppd.localctl.status import CONFIGURED, OPERATOR, History
from ocppd.protocol.versions import OcppVersion
from ocppd.store import Store
from ocppd.transport import tls
from ocppd.transport.websocket import Link, OcppServer, Receiver, ServerOptions

log = logging.getLogger("ocppd.localctl")

STOP_TIMEOUT_S = 5.0
DATABASE_FILE = "local-controller.db"  # the controller's limit tree and external limits, in data_dir


class StartupError(RuntimeError):
    """Something keeps the controller from starting: one line for the operator."""


def upstream_context(settings: Settings, identity: str | None = None) -> ssl.SSLContext:
    """The TLS context towards the CSMS; with ``{identity}`` in upstream_cert, the station's own
    certificate (security profile 3 upstream: the CSMS sees each station's certificate)."""
    lc = settings.local_controller
    cert, key = lc.upstream_cert, lc.upstream_key
    if "{identity}" in cert:
        if identity is None:  # checking the configuration: the CA alone
            cert = key = ""
        else:
            cert, key = cert.replace("{identity}", identity), key.replace("{identity}", identity)
    try:
        return tls.client_context(lc.upstream_ca or None, cert or None, key or None)
    except tls.TlsFileError as exc:
        raise ValueError(f"local_controller.upstream_{exc.role}: {exc}") from None
    except ssl.SSLError as exc:
        raise ValueError(f"local_controller.upstream_cert / upstream_key: {exc}") from None


def server_context(settings: Settings) -> ssl.SSLContext | None:
    lc = settings.local_controller
    if not lc.tls_cert:
        return None
    try:
        return tls.server_context(lc.tls_cert, lc.tls_key or None, lc.tls_client_ca or None)
    except tls.TlsFileError as exc:
        setting = {"key": "tls_key", "ca": "tls_client_ca"}.get(exc.role, "tls_cert")
        raise ValueError(f"local_controller.{setting}: {exc}") from None


class LocalController:
    """Accepts stations, relays each to the CSMS, balances the group (an ``OcppServer`` app)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lc = settings.local_controller
        self.events = EventBus()
        self.relays: dict[str, Relay] = {}
        self.tracker = Tracker(self.events, settings.smart.stack_level)
        self.upstream_ssl = upstream_context(settings)
        self.store: Store | None = None
        self.sites: Sites | None = None
        self.balancing: ControllerBalancing | None = None
        self.identity: Any = None  # ocppd.localctl.identity.ControllerStation when configured
        self.started_at = time.time()
        self.history = History()  # the group's draw against its limit, for the status page
        self.limit_set_by = CONFIGURED
        self._sampler: asyncio.Task[None] | None = None
        versions = [v for v in (OcppVersion.from_subprotocol(n) for n in self.lc.versions) if v is not None]
        self.server = OcppServer(
            self,
            ServerOptions(
                host=self.lc.host,
                port=self.lc.port,
                versions=versions,
                ping_interval=self.lc.ping_interval,
                max_frame_size=self.lc.max_frame_size,
                ssl_context=server_context(settings),
            ),
        )
        self._joining: set[asyncio.Task[None]] = set()
        self._join_lock = asyncio.Lock()  # one tree change at a time: each upsert rewrites the whole tree

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        data_dir = Path(self.settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        # its own SQLite file, never database_url: a CSMS's configuration file may sit next to it
        url = f"sqlite:///{(data_dir / DATABASE_FILE).resolve()}"
        try:
            self.store = Store(url)
            self.store.migrate()
            await self.store.start()
        except Exception as exc:
            raise StartupError(f"cannot open the controller's database {url}: {exc}") from None
        self.sites = Sites(self.store)
        smart = self.settings.smart
        await self.sites.load(smart.sites_file or None)
        await self._ensure_site()
        self.balancing = ControllerBalancing(RelayHost(self.relays, self.events), self.sites, smart, self.tracker)
        if smart.enabled:
            self.balancing.start()
        self._sampler = asyncio.create_task(self._sample())
        if self.lc.identity:
            from ocppd.localctl.identity import ControllerStation

            try:
                upstream_ssl = upstream_context(self.settings, self.lc.identity)
            except ValueError as exc:
                raise StartupError(f"the controller's identity {self.lc.identity}: {exc}") from None
            self.identity = ControllerStation(self.settings, self.sites, upstream_ssl)
            self.identity.start()
        try:
            await self.server.start()
        except OSError as exc:
            await self.stop()
            raise StartupError(
                f"cannot listen on {self.lc.host}:{self.lc.port} (local_controller.port): {exc.strerror or exc}"
            ) from None
        log.info("local controller on %s://%s:%d, relaying to %s; group %s", "wss" if self.lc.tls_cert else "ws",
                 self.lc.host, self.server.port, self.lc.upstream_url, self.lc.site)  # fmt: skip

    async def stop(self) -> None:
        await self.server.stop()
        if self._sampler is not None:
            self._sampler.cancel()
        if self.identity is not None:
            await self.identity.stop()
        if self.balancing is not None:
            await self.balancing.stop()
        if self.store is not None:
            await self.store.close()

    async def _ensure_site(self) -> None:
        """The group's site with the configured limit, unless the limit tree file defines it."""
        assert self.sites is not None
        lc = self.lc
        existing = self.sites.specs.get(lc.site)
        if self.settings.smart.sites_file and existing is not None:
            return
        spec: dict[str, Any] = {"id": lc.site, "kind": "site"}
        if lc.group_amps:
            spec["amps"] = lc.group_amps
        if lc.group_watts:
            spec["watts"] = lc.group_watts
        if existing != spec:
            await self.sites.upsert(spec)

    async def _sample(self) -> None:
        """One sample of the group's draw and limit per balancing interval (the status page's plot)."""
        while True:
            if self.balancing is not None:
                site = self.lc.site
                self.history.add(time.time(), self.balancing.view(site), self.balancing.measured(site))
            await asyncio.sleep(self.settings.smart.interval_s)

    # ------------------------------------------------------------------ operator verbs
    async def set_group_limit(self, amps: float | None, watts: float | None) -> dict[str, Any]:
        """The group's own limit, as an operator sets it: replaces the configured one until the
        controller restarts (the configuration applies again at start). ValueError names the field."""
        if amps is None and watts is None:
            raise ValueError("amps / watts: give at least one (0 removes that limit)")
        for name, value in (("amps", amps), ("watts", watts)):
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name}: a number of 0 or more is required")
        assert self.sites is not None
        site = self.lc.site
        spec = dict(self.sites.specs.get(site) or {"id": site, "kind": "site"})
        for name, value in (("amps", amps), ("watts", watts)):
            if value is not None:
                if value:
                    spec[name] = value
                else:
                    spec.pop(name, None)
        await self.sites.upsert(spec)
        self.limit_set_by = OPERATOR
        if self.balancing is not None:
            self.balancing.poke()
        log.warning("group %s: limit set by the operator to %s A, %s W (until the controller restarts)",
                    site, spec.get("amps"), spec.get("watts"))  # fmt: skip
        return {"site": site, "amps": spec.get("amps"), "watts": spec.get("watts")}

    # ------------------------------------------------------------------ LinkApp
    def admit(
        self, identity: str, version: OcppVersion, headers: Mapping[str, str], remote: str, peer: tls.Peer | None
    ) -> int | None:
        return None  # the CSMS decides who may connect: its refusal closes the station's connection

    def _upstream_ssl_for(self, identity: str) -> ssl.SSLContext | None:
        if "{identity}" not in self.lc.upstream_cert:
            return self.upstream_ssl
        try:
            return upstream_context(self.settings, identity)
        except ValueError as exc:
            log.warning("%s: no upstream certificate (%s); closing its connection", identity, exc)
            return None

    def opened(self, link: Link) -> Receiver:
        upstream_ssl = self._upstream_ssl_for(link.identity)
        if upstream_ssl is None:
            link.close("no certificate for this station towards the CSMS", WSCloseCode.POLICY_VIOLATION)
            return lambda data: None
        relay = Relay(link, self.lc, self.tracker, upstream_ssl, INTERESTING)
        metrics.LC_STATIONS.labels(relay.state).inc()
        previous = self.relays.get(link.identity)
        if previous is not None:
            previous.close("replaced by a new connection")
        self.relays[link.identity] = relay
        log.info("%s: connected from %s as %s, path %s", link.identity, link.remote, link.version.value, link.path)
        relay.start()
        self._join(link.identity)
        self.events.publish("station.connected", link.identity)
        return relay.from_station

    def closed(self, link: Link) -> None:
        relay = self.relays.get(link.identity)
        if relay is None or relay.station is not link:
            return
        relay.close("station connection closed")
        del self.relays[link.identity]
        self.events.publish("station.disconnected", link.identity)

    def _join(self, station_id: str) -> None:
        """A station not in the limit tree joins the group's site (so the balancer steers it)."""
        sites = self.sites
        if sites is None or station_id in sites.tree.nodes or self.lc.site not in sites.tree.nodes:
            return

        async def join() -> None:
            assert sites is not None
            async with self._join_lock:
                if station_id in sites.tree.nodes:
                    return
                try:
                    await sites.upsert({"id": station_id, "kind": "station", "parent": self.lc.site})
                    log.info("%s: joined the group %s", station_id, self.lc.site)
                except Exception as exc:
                    log.warning("%s: cannot join the group %s: %s", station_id, self.lc.site, exc)
            if self.balancing is not None:
                self.balancing.poke()

        task = asyncio.get_running_loop().create_task(join())
        self._joining.add(task)
        task.add_done_callback(self._joining.discard)


async def run(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` (or SIGINT/SIGTERM); :class:`StartupError` when it cannot start."""
    lc = settings.local_controller
    controller = LocalController(settings)
    metrics_server = None
    if lc.metrics_port:
        from prometheus_client import start_http_server

        try:
            metrics_server, _ = start_http_server(lc.metrics_port, addr=lc.metrics_host)
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {lc.metrics_host}:{lc.metrics_port} (local_controller.metrics_port): "
                f"{exc.strerror or exc}"
            ) from None
    try:
        await controller.start()
    except BaseException:
        if metrics_server is not None:
            metrics_server.shutdown()
        raise
    status_server = None
    if lc.http_port:
        from ocppd.localctl.http import StatusServer

        status_server = StatusServer(controller)
        try:
            await status_server.start()
        except BaseException:
            await controller.stop()
            if metrics_server is not None:
                metrics_server.shutdown()
            raise
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await stop.wait()
    finally:
        log.info("local controller stopping")
        if status_server is not None:
            await status_server.stop()
        stopping = asyncio.ensure_future(controller.stop())
        done, _ = await asyncio.wait({stopping}, timeout=STOP_TIMEOUT_S)  # bounded, whatever a task does
        if not done:
            import io

            out = io.StringIO()
            for task in asyncio.all_tasks():
                task.print_stack(limit=6, file=out)
            log.warning("stopping took over %g s; leaving anyway. Still running:\n%s", STOP_TIMEOUT_S, out.getvalue())
        if metrics_server is not None:
            metrics_server.shutdown()
        log.info("local controller stopped")
