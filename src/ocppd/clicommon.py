"""What every ``ocppd`` admin command shares: finding the configuration, opening the store, telling
a running server about a change, and failing with one clear line."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from ocppd.config import Settings, load_settings

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

HOW_CONFIG_IS_FOUND = (
    "Configuration: --config FILE, else $OCPPD_CONFIG, else ~/.config/ocppd/ocppd.toml, else "
    "/etc/ocppd/ocppd.toml (none: defaults); then OCPPD_* environment variables. The data directory "
    "(SQLite database, admin.token) defaults to ~/.local/share/ocppd whatever folder you are in. "
    "`ocppd --verbose COMMAND` prints which file, data directory and database a command uses; "
    "commands that only read never create a database."
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (else $OCPPD_CONFIG, ~/.config/ocppd/ocppd.toml, /etc/ocppd/ocppd.toml; "
        "`ocppd --verbose ...` shows which).",
        exists=True,
        dir_okay=False,
    ),
]


class _State:
    verbose = False


state = _State()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one red line on stderr; ``raise fail(...)``."""
    err_console.print(f"[red]{message}[/red]", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings_for(config: Path | None) -> Settings:
    """The settings this command uses; exit 2 with the setting named when they cannot work."""
    try:
        settings = load_settings(config)
    except (ValueError, OSError) as exc:
        err_console.print(f"[red]configuration error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    for warning in settings.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    if state.verbose:
        for line in settings.describe():
            err_console.print(line, highlight=False, soft_wrap=True)
    return settings


def with_store(settings: Settings, fn: Callable[..., T], *args: Any, write: bool = False, create: bool = False) -> T:
    """Run one store operation; ``create`` for the commands that may make a new database."""
    from ocppd.server import StartupError, database_exists, run_with_store

    new = create and database_exists(settings) is False
    try:
        result = run_with_store(settings, fn, *args, write=write, create=create)
    except StartupError as exc:
        raise fail(str(exc)) from None
    if new:
        err_console.print(f"created a new database: {settings.describe()[-1].removeprefix('database: ')}",
                          highlight=False, soft_wrap=True)  # fmt: skip
    return result


def tell_server(settings: Settings) -> None:
    """After a change of credentials or registration: make the server on this data directory apply it
    now (it re-reads the station directory before it answers), so it holds when this command returns."""
    import httpx

    from ocppd.datadir import running_server
    from ocppd.server import ADMIN_TOKEN_FILE

    data_dir = Path(settings.data_dir)
    server = running_server(data_dir)
    if server is None:
        return  # the next `ocppd serve` reads the database at start
    if server.api_url is None:
        raise fail("saved, but the running server has no HTTP API to be told: it applies the change within 5 s", code=1)
    token_path = data_dir / ADMIN_TOKEN_FILE
    try:
        response = httpx.post(
            f"{server.api_url}/api/v1/directory/reload",
            headers={"Authorization": f"Bearer {token_path.read_text().strip()}"},
            timeout=30,
            verify=local_server_verify(settings),
        )
        response.raise_for_status()
    except (OSError, httpx.HTTPError) as exc:
        raise fail(
            f"saved, but the running server (pid {server.pid}, {server.api_url}) did not confirm it ({exc}); "
            "it applies the change within 5 s",
            code=1,
        ) from None
    if state.verbose:
        err_console.print(f"the running server (pid {server.pid}) applied it", highlight=False)


def local_server_verify(settings: Settings) -> ssl.SSLContext | bool:
    """How a command checks the HTTPS certificate of the ``ocppd serve`` on its data directory.

    It calls it at 127.0.0.1, a name the server certificate rarely holds, and reads the same
    configuration: so exactly the server's own certificate (``http.tls_cert``) is trusted, whatever
    names it has. Without HTTPS, or if that file cannot be read: the system's CAs.
    """
    if not settings.http.tls_cert:
        return True
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        leaf = x509.load_pem_x509_certificates(Path(settings.http.tls_cert).read_bytes())[0]
    except (OSError, ValueError, IndexError):
        return True
    context = ssl.create_default_context(cadata=leaf.public_bytes(serialization.Encoding.PEM).decode())
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the leaf itself is the trust anchor
    context.check_hostname = False  # that one certificate is pinned, not a name
    return context
