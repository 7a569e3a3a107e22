"""``ocppd serve``: the store, the CSMS domain, the OCPP WebSocket endpoint and the HTTP API in one process."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from ocppd import metrics
from ocppd.api import create_app, start_runtime, stop_runtime
from ocppd.config import Settings
from ocppd.csms.service import Csms
from ocppd.store import Store
from ocppd.transport.websocket import OcppServer, ServerOptions

log = logging.getLogger("ocppd.server")

ADMIN_TOKEN_FILE = "admin.token"
T = TypeVar("T")


def admin_token(data_dir: Path) -> str:
    """The local operator token (like Jupyter's): created once, readable only by its owner."""
    path = data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    path.write_text(token + "\n")
    os.chmod(path, 0o600)
    return token


def open_store(settings: Settings) -> Store:
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    store = Store(settings.resolved_database_url)
    store.migrate()
    return store


def run_with_store(settings: Settings, fn: Callable[..., T], *args: Any, write: bool = False) -> T:
    """Run one store operation from a short-lived command (the admin CLI), then close the store."""

    async def run() -> T:
        store = open_store(settings)
        await store.start()
        try:
            return await (store.write(fn, *args) if write else store.read(fn, *args))
        finally:
            await store.close()

    return asyncio.run(run())


# Measured (docs/performance.md): with CPython's default thresholds (700, 10, 10) the cyclic
# collector walks every live object of 1,000 connected stations several times a second, which cost
# a third of the throughput and most of p99. OCPP message objects are acyclic and freed by reference
# counting, so collecting cycles rarely loses nothing but garbage that waits a little longer.
GC_THRESHOLDS = (100_000, 50, 1_000)


def tune_gc() -> None:
    """Move start-up objects out of the collector's sight and make collections rare."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    data_dir = Path(settings.data_dir)
    store = open_store(settings)
    store.on_commit(metrics.observe_commit)
    await store.start()
    csms = Csms(settings, store)
    await csms.start()
    o = settings.ocpp
    ssl_context = o.ssl_context()  # checked by Settings.validate(); built again here for the server
    ocpp = OcppServer(
        csms,
        ServerOptions(
            host=o.host,
            port=o.port,
            versions=o.version_preference(),
            ping_interval=o.ping_interval,
            ping_timeout=o.ping_timeout,
            max_frame_size=o.max_frame_size,
            ssl_context=ssl_context,
        ),
    )
    await ocpp.start()
    http: uvicorn.Server | None = None
    http_task: asyncio.Task[None] | None = None
    app = None
    if settings.http.enabled:
        app = create_app(csms, admin_token(data_dir))
        await start_runtime(app)
        http = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.http.host,
                port=settings.http.port,
                log_level="warning",
                lifespan="off",
                access_log=False,
                # Event streams end when the runtime stops; this bounds any other slow client.
                timeout_graceful_shutdown=5,
            )
        )
        http.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        http_task = asyncio.create_task(http.serve())
    log.info(
        "OCPP endpoint: %s://%s:%d/ocpp/<station-id>  (%s)",
        "wss" if ssl_context is not None else "ws",
        o.host,
        ocpp.port,
        ", ".join(v.value for v in o.version_preference()),
    )
    if o.security_profile == 3:
        log.info("Security profile 3: TLS %s+, client certificates signed by %s, CN = station id",
                 o.tls_min_version, o.tls_client_ca)  # fmt: skip
    elif o.security_profile == 2:
        log.info("Security profile 2: TLS %s+ (%s), Basic auth for stations with a password",
                 o.tls_min_version, o.tls_cert)  # fmt: skip
    if http is not None:
        log.info("Dashboard and API: http://%s:%d/  (docs at /api/docs)", settings.http.host, settings.http.port)
        log.info(
            "Dashboard login: a user from `ocppd users add NAME`, or the token in %s",
            data_dir.resolve() / ADMIN_TOKEN_FILE,
        )
    log.info("Database: %s", store.url.render_as_string(hide_password=True))

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await stop.wait()
    log.info("shutting down")
    await ocpp.stop()
    if app is not None:
        await stop_runtime(app)
    if http is not None and http_task is not None:
        http.should_exit = True
        await http_task
    await csms.stop()
    await store.close()
