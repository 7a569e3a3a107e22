"""OCPP-S on the station side: simulated 1.2, 1.5 and 1.6 SOAP stations.

A SOAP station has no connection. It calls the CSMS's Central System service with HTTP requests
(its :class:`~ocppd.transport.soap.SoapSession` with ``own_side="cp"``), and serves its own Charge
Point service, whose address it puts in ``From`` on every request so the CSMS can call it back. All
SOAP stations of a process share one callback server (:func:`callback_server`): one port, one path
per station (``/ocpp-cp/<id>``), the station told by ``chargeBoxIdentity`` (the path only helps
humans). The station model, scenarios and templates are the JSON ones: the 1.6 adapter speaks to
the session, and :mod:`ocppd.protocol.soap.dialect` translates for 1.2 and 1.5.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import uvicorn

from ocppd.protocol.soap.wsdl import SoapVersion
from ocppd.protocol.versions import OcppVersion
from ocppd.transport.soap import Endpoint, SoapClient, SoapEndpoint, SoapServerOptions, SoapSession

if TYPE_CHECKING:
    from ocppd.station.station import Station

log = logging.getLogger("ocppd.station.soap")


class SoapLink:
    """What the station's connection loop needs from a link, for OCPP-S: there is no connection, so
    the "link" lasts until the station stops or reboots (``close``)."""

    version = OcppVersion.V16

    def __init__(self) -> None:
        self._closed = asyncio.Event()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def close(self, reason: str = "") -> None:
        self._closed.set()


class CallbackServer:
    """The Charge Point service of every SOAP station in this process (an ASGI app on uvicorn)."""

    def __init__(self, host: str, port: int, advertised_host: str | None = None) -> None:
        self.host = host
        self.port = port
        self.advertised_host = advertised_host or (host if host not in ("0.0.0.0", "::", "") else "127.0.0.1")
        self.stations: dict[str, Station] = {}
        self.client = SoapClient()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def url_for(self, identity: str) -> str:
        return f"http://{self.advertised_host}:{self.port}/ocpp-cp/{quote(identity, safe='')}"

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        app = SoapEndpoint(self, SoapServerOptions(side="cp"))
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the reason
            await asyncio.sleep(0.01)
        log.info("OCPP-S Charge Point service for simulated stations: http://%s:%d/ocpp-cp/<id>",
                 self.advertised_host, self.port)  # fmt: skip

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        await self.client.close()

    # ------------------------------------------------------------------ SoapApplication
    def soap_admit(self, identity: str, headers: Mapping[str, str], remote: str, peer: Any = None) -> int | None:
        return None

    def soap_session(self, identity: str, version: SoapVersion, remote: str) -> SoapSession | None:
        station = self.stations.get(identity)
        session = station.session if station is not None else None
        return session if isinstance(session, SoapSession) else None

    def soap_learnt(self, session: SoapSession) -> None:
        """The CSMS's address is configured, not learnt: nothing to keep."""


_servers: dict[tuple[int, str, int], CallbackServer] = {}
_lock: asyncio.Lock | None = None


async def callback_server(listen: str) -> CallbackServer:
    """The process's callback server for ``host:port`` (port 0: any free port), started once per loop."""
    global _lock
    host, _, port_text = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    port = int(port_text or 0)
    loop_id = id(asyncio.get_running_loop())
    key = (loop_id, host, port)
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        server = _servers.get(key)
        if server is None or server._task is None or server._task.done():
            server = CallbackServer(host, port)
            await server.start()
            _servers[key] = server
    return server


async def stop_callback_servers() -> None:
    for key, server in list(_servers.items()):
        if key[0] == id(asyncio.get_running_loop()):
            await server.stop()
            del _servers[key]


def soap_session(station: Station, server: CallbackServer, version: SoapVersion) -> SoapSession:
    """The station's session: it calls the CSMS at ``config.url`` and gives its callback URL as From."""
    session = SoapSession(
        identity=station.identity,
        soap_version=version,
        own_side="cp",
        handlers=station.adapter.handlers,
        client=server.client,
        call_timeout=station.config.call_timeout,
        observer=station.observer,
        own_address=server.url_for(station.identity),
    )
    session.endpoint = Endpoint(station.config.url)
    if station.config.password:
        session.basic_auth = (station.identity, station.config.password)
    session.context["station"] = station
    return session
