"""``ocppd serve``: the store, the CSMS domain, the OCPP WebSocket endpoint and the HTTP API in one process."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from starlette.routing import Route

from ocppd import metrics
from ocppd.api import create_app, start_runtime, stop_runtime
from ocppd.config import Settings
from ocppd.csms.service import Csms
from ocppd.datadir import DataDirBusy, DataDirLock
from ocppd.http_limits import HttpLimits, guarded_protocol, raise_open_file_limit
from ocppd.store import Store
from ocppd.transport import tls
from ocppd.transport.soap import SoapEndpoint, SoapServerOptions
from ocppd.transport.websocket import OcppServer, ServerOptions

log = logging.getLogger("ocppd.server")

ADMIN_TOKEN_FILE = "admin.token"
T = TypeVar("T")


class StartupError(RuntimeError):
    """Something outside the configuration keeps ocppd from starting: one line for the operator."""


class NoDatabase(StartupError):
    """A command that only reads found no database (it never creates one implicitly)."""


def admin_token(data_dir: Path) -> str:
    """The local operator token (like Jupyter's): created once, readable only by its owner."""
    path = data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    path.write_text(token + "\n")
    os.chmod(path, 0o600)
    return token


def database_exists(settings: Settings) -> bool | None:
    """For SQLite whether the file exists; None for a server database (asked when connecting)."""
    from ocppd.store.engine import normalize_url

    url = normalize_url(settings.resolved_database_url)
    return Path(url.database or "").exists() if url.drivername == "sqlite" else None


def _database_problem(exc: Exception) -> str:
    """The driver's own first line (e.g. 'database "x" does not exist'), without SQLAlchemy's noise."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else type(orig).__name__


def open_store(settings: Settings, *, create: bool = True) -> Store:
    """Open and migrate the database; ``create=False`` refuses to make a new one (read commands)."""
    import sqlalchemy.exc

    shown = settings.describe()[-1].removeprefix("database: ")
    if not create and database_exists(settings) is False:
        raise NoDatabase(
            f"no database at {shown} (data directory {Path(settings.data_dir).resolve()}, "
            f"from {settings.data_dir_source}); a command that only reads does not create one: point "
            "--config, OCPPD_CONFIG or OCPPD_DATA_DIR at the server's configuration (see `ocppd --help`)"
        )
    if database_exists(settings) is not None:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    try:
        store = Store(settings.resolved_database_url)
        if not create and store.current_revision() is None:
            raise NoDatabase(
                f"the database {shown} has no ocppd tables; a command that only reads does not create them"
            )
        store.migrate()
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StartupError(f"cannot open the database {shown}: {_database_problem(exc)}") from None
    return store


def run_with_store(
    settings: Settings, fn: Callable[..., T], *args: Any, write: bool = False, create: bool = False
) -> T:
    """Run one store operation from a short-lived command (the admin CLI), then close the store.

    Only commands that create something (``create=True``) may create the database."""

    async def run() -> T:
        store = open_store(settings, create=create)
        await store.start()
        try:
            return await (store.write(fn, *args) if write else store.read(fn, *args))
        finally:
            await store.close()

    return asyncio.run(run())


def _bind(host: str, port: int, setting: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port} ({setting}): {exc.strerror}") from None
    return sock


def _check_port(host: str, port: int, setting: str) -> None:
    """Fail on a busy port before the database is opened and anything reports itself started (uvicorn
    would print a traceback and sys.exit). The servers bind for real later: the OCPP port once the
    station directory is loaded, so no station is admitted before its credentials are known; the HTTP
    port by uvicorn, whose own listening socket its connection limits were measured with."""
    if port:
        _bind(host, port, setting).close()


def _local_url(host: str, port: int, scheme: str = "http") -> str:
    return f"{scheme}://{'127.0.0.1' if host in ('', '0.0.0.0', '::') else host}:{port}"


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


def _http_server(app: Any, host: str, port: int) -> uvicorn.Server:
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    return server


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` (or SIGINT/SIGTERM); :class:`StartupError` when it cannot start."""
    data_dir = Path(settings.data_dir)
    lock = DataDirLock(data_dir)
    try:
        lock.acquire()
    except DataDirBusy as exc:
        raise StartupError(str(exc)) from None
    try:
        # Both ports and the database before any "started" line: a busy port is one line and exit 2.
        _check_port(settings.ocpp.host, settings.ocpp.port, "ocpp.port")
        if settings.http.enabled:
            _check_port(settings.http.host, settings.http.port, "http.port")
        await _serve(settings, data_dir, lock, stop)
    finally:
        lock.release()


async def _serve(settings: Settings, data_dir: Path, lock: DataDirLock, stop: asyncio.Event | None) -> None:
    soft, hard = raise_open_file_limit()
    if settings.http.enabled and settings.http.max_connections * 2 > soft:
        log.warning(
            "http.max_connections = %d is more than half the open-file limit (%d): HTTP clients could "
            "leave too few for the stations",
            settings.http.max_connections,
            soft,
        )
    store = open_store(settings)
    store.on_commit(metrics.observe_commit)
    try:
        await store.start()
    except Exception as exc:
        await store.close()
        raise StartupError(f"cannot open the database: {_database_problem(exc)}") from None
    # Only now: a start-up failure above is one line, nothing before it.
    log.info("Open-file limit: %s (hard limit %s)", soft, hard)
    csms = Csms(settings, store)
    # Failed TLS handshakes: one line with the cause, counted (docs/security.md).
    failures = tls.HandshakeFailures(lambda cause: metrics.CONNECTIONS_REFUSED.labels("tls_handshake").inc())
    asyncio.get_running_loop().set_exception_handler(failures.handle)
    try:
        csms.security.load()  # the CA: created in the data directory on first start
    except ValueError as exc:  # operator CA files that cannot be used
        await store.close()
        raise StartupError(f"configuration error: {exc}") from None
    await csms.start()
    o = settings.ocpp
    # Checked by Settings.validate(); built again here with the CA's certificates trusted for stations.
    # Revocation in the handshake (docs/security.md): the built-in CA's CRL, reloaded on every revocation.
    crl_pem = csms.security.crl_pem()
    ssl_context = o.ssl_context(csms.security.trust_pem(), crl_pem)
    csms.security.check_crl_in(ssl_context)
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
            write_stall_timeout=o.write_stall_timeout,
        ),
    )
    # A plain ws:// port next to the TLS one, for security profile 0/1 stations (docs/security.md).
    plain = (
        OcppServer(csms, dataclasses.replace(ocpp.options, port=o.plain_port, ssl_context=None))
        if ssl_context is not None and o.plain_port
        else None
    )
    try:
        await ocpp.start()
        if plain is not None:
            await plain.start()
    except OSError as exc:
        await ocpp.stop()
        await csms.stop()
        await store.close()
        raise StartupError(f"cannot listen on {o.host} (ocpp.port / ocpp.plain_port): {exc.strerror or exc}") from None
    http: uvicorn.Server | None = None
    http_task: asyncio.Task[None] | None = None
    app = None
    soap = settings.soap
    soap_endpoint = SoapEndpoint(csms.soap, SoapServerOptions("cs", soap.max_body, soap.read_timeout))
    soap_server: uvicorn.Server | None = None
    soap_task: asyncio.Task[None] | None = None
    # HTTPS for the dashboard, API and OCPP-S (http.tls_*): checked by Settings.validate(), built again
    # here with the built-in CA trusted for SOAP stations' client certificates.
    h = settings.http
    http_ssl = h.server_ssl_context("http", csms.security.trust_pem(), crl_pem=crl_pem) if h.enabled else None
    csms.security.check_crl_in(http_ssl)
    http_scheme = "https" if http_ssl is not None else "http"
    if settings.http.enabled:
        app = create_app(csms, admin_token(data_dir))
        if soap.enabled and soap.port == 0:
            # The path itself, and below it (chargers configured with .../CentralSystemService or their id)
            app.router.routes.append(Route(soap.path, soap_endpoint))
            app.mount(soap.path, soap_endpoint)
        await start_runtime(app)
        http = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.http.host,
                port=settings.http.port,
                log_level="warning",
                lifespan="off",
                access_log=False,
                http=guarded_protocol(
                    HttpLimits(settings.http.max_connections, settings.http.header_timeout, settings.http.body_timeout)
                ),
                timeout_keep_alive=settings.http.keep_alive_timeout,  # type: ignore[arg-type]  # a float works
                # Event streams end when the runtime stops; this bounds any other slow client.
                timeout_graceful_shutdown=5,
                ssl_context_factory=(lambda config, default: http_ssl) if http_ssl is not None else None,
            )
        )
        http.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        http_task = asyncio.create_task(http.serve())
        lock.publish(_local_url(settings.http.host, settings.http.port, http_scheme))
    if soap.enabled and soap.port != 0:
        soap_server = _http_server(soap_endpoint, soap.host, soap.port)
        soap_task = asyncio.create_task(soap_server.serve())
    if soap.enabled:
        soap_port = soap.port or settings.http.port
        soap_host = soap.host if soap.port else settings.http.host
        soap_scheme = http_scheme if not soap.port else "http"
        log.info(
            "OCPP-S endpoint: %s://%s:%d%s  (1.2, 1.5, 1.6 over SOAP)", soap_scheme, soap_host, soap_port, soap.path
        )
    log.info(
        "OCPP endpoint: %s://%s:%d/ocpp/<station-id>  (%s)",
        "wss" if ssl_context is not None else "ws",
        o.host,
        ocpp.port,
        ", ".join(v.value for v in o.version_preference()),
    )
    if plain is not None:
        log.info("OCPP endpoint: ws://%s:%d/ocpp/<station-id>  (plain, for security profile 0/1 stations)",
                 o.host, plain.port)  # fmt: skip
    if ssl_context is not None:
        trusted = [name for name, on in ((o.tls_client_ca, bool(o.tls_client_ca)),
                                         ("the built-in CA", csms.security.builtin is not None)) if on]  # fmt: skip
        log.info("Security profiles 2 and 3: TLS %s+ (%s); client certificates (CN = station id) signed by %s; "
                 "stations without a stored profile need profile %d",
                 o.tls_min_version, o.tls_cert, " or ".join(trusted) or "nobody", o.default_profile())  # fmt: skip
    if csms.security.builtin is not None:
        log.info("Certificate authority: %s (root %s)", csms.security.directory.resolve(),
                 csms.security.builtin.root.subject.rfc4514_string())  # fmt: skip
    if http is not None:
        log.info("Dashboard and API: %s://%s:%d/  (docs at /api/docs)", http_scheme, settings.http.host,
                 settings.http.port)  # fmt: skip
        if http_ssl is not None:
            log.info("HTTPS: TLS %s+ (%s); SOAP client certificates (CN = chargeBoxIdentity) signed by %s",
                     settings.http.tls_min_version, settings.http.tls_cert,
                     " or ".join(n for n, on in ((settings.http.tls_client_ca, bool(settings.http.tls_client_ca)),
                                                 ("the built-in CA", csms.security.builtin is not None)) if on)
                     or "nobody")  # fmt: skip
        log.info(
            "Dashboard login: a user from `ocppd users add NAME`, or the token in %s",
            data_dir.resolve() / ADMIN_TOKEN_FILE,
        )
    log.info("Database: %s", store.url.render_as_string(hide_password=True))
    log.info("Data directory: %s (%s); configuration file: %s", data_dir.resolve(), settings.data_dir_source,
             settings.config_file or "none")  # fmt: skip

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
    if plain is not None:
        await plain.stop()
    if app is not None:
        await stop_runtime(app)
    if http is not None and http_task is not None:
        http.should_exit = True
        await http_task
    if soap_server is not None and soap_task is not None:
        soap_server.should_exit = True
        await soap_task
    await csms.stop()
    await store.close()
