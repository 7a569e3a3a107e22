"""The ``ocppd`` command line: run the CSMS, administer stations and tokens, talk to stations.

Admin commands (stations, tokens, transactions, log) work on the database directly, with or
without a running server; ``ocppd call`` goes through the running server's API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ocppd.api.cli import register as register_auth_commands
from ocppd.config import Settings, load_settings
from ocppd.logs import setup_logging

app = typer.Typer(
    help="ocppd: an OCPP 1.6J / 2.0.1 / 2.1 charging station management system and station simulator.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
stations_app = typer.Typer(help="Register, approve and list charging stations.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage id tokens (RFID cards, app tokens) used for authorization.", no_args_is_help=True)
transactions_app = typer.Typer(help="Charging transactions with their energy.", no_args_is_help=True)
app.add_typer(stations_app, name="stations")
app.add_typer(tokens_app, name="tokens")
app.add_typer(transactions_app, name="transactions")
register_auth_commands(app)  # ocppd apikeys ..., ocppd users ...

console = Console()
T = TypeVar("T")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file (also: OCPPD_CONFIG).", exists=True, dir_okay=False),
]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        settings = load_settings(config)
    except (ValueError, OSError) as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, name = key.partition("__")
        target = getattr(settings, section) if name else settings
        setattr(target, name or section, value)
    return settings


def _with_store(settings: Settings, fn: Callable[..., T], *args: Any, write: bool = False) -> T:
    from ocppd.server import run_with_store

    return run_with_store(settings, fn, *args, write=write)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.0f}"
    return str(value)


# ---------------------------------------------------------------------------------------- serve
@app.command()
def serve(
    config: ConfigOption = None,
    port: Annotated[int | None, typer.Option(help="OCPP WebSocket port (default 9000).")] = None,
    http_port: Annotated[int | None, typer.Option(help="Dashboard and API port (default 8180).")] = None,
    data_dir: Annotated[str | None, typer.Option(help="Where the SQLite database and token live.")] = None,
    database_url: Annotated[str | None, typer.Option(help="e.g. postgresql+psycopg://user@host/db")] = None,
    unknown_stations: Annotated[str | None, typer.Option(help="accept | pending | reject")] = None,
) -> None:
    """Run the CSMS: OCPP endpoint ws://HOST:PORT/ocpp/<station-id>, dashboard and API on HTTP."""
    from ocppd.server import serve as run
    from ocppd.server import tune_gc

    settings = _settings(
        config,
        ocpp__port=port,
        http__port=http_port,
        data_dir=data_dir,
        database_url=database_url,
        ocpp__unknown_stations=unknown_stations,
    )
    try:
        settings.validate()
    except ValueError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    setup_logging(settings.log_level, settings.log_format)
    tune_gc()  # a long-lived server process: see GC_THRESHOLDS
    asyncio.run(run(settings))


# ---------------------------------------------------------------------------------------- stations
@stations_app.command("list")
def stations_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigOption = None,
) -> None:
    """All stations known to the CSMS, with registration state and last contact."""
    from ocppd.store import repo

    rows = _with_store(_settings(config), repo.list_stations)
    if as_json:
        keys = (
            "station_id",
            "registration_status",
            "ocpp_version",
            "vendor",
            "model",
            "serial_number",
            "firmware_version",
            "last_boot_at",
            "last_seen_at",
        )
        typer.echo(json.dumps([{k: _jsonable(getattr(r, k)) for k in keys} for r in rows], indent=2))
        return
    table = Table("station", "registration", "version", "vendor", "model", "serial", "last boot", "last seen")
    for r in rows:
        table.add_row(
            r.station_id,
            _fmt(r.registration_status),
            _fmt(r.ocpp_version),
            _fmt(r.vendor),
            _fmt(r.model),
            _fmt(r.serial_number),
            _fmt(r.last_boot_at),
            _fmt(r.last_seen_at),
        )
    console.print(table)


@stations_app.command("add")
def stations_add(
    station_id: str,
    password: Annotated[str | None, typer.Option(help="Basic-auth password (security profile 1).")] = None,
    config: ConfigOption = None,
) -> None:
    """Register a station as accepted (optionally with a basic-auth password)."""
    from ocppd.csms.provisioning import hash_password
    from ocppd.store import repo

    if password is not None and not 16 <= len(password) <= 40:
        console.print("[red]password must be 16 to 40 characters (OCPP 2.0.1 BasicAuthPassword)[/red]")
        raise typer.Exit(2)
    fields: dict[str, Any] = {"registration_status": "accepted"}
    if password is not None:
        fields["auth_password_hash"] = hash_password(password)
        fields["security_profile"] = 1
    _with_store(_settings(config), lambda conn: repo.upsert_station(conn, station_id, **fields), write=True)
    console.print(f"station [bold]{station_id}[/bold] registered (accepted)")


def _set_registration(station_id: str, status: str, config: Path | None) -> None:
    from ocppd.store import repo

    if not _with_store(_settings(config), repo.set_registration, station_id, status, write=True):
        console.print(f"[red]unknown station {station_id!r}[/red]")
        raise typer.Exit(1)
    console.print(f"station [bold]{station_id}[/bold] {status}")


@stations_app.command("approve")
def stations_approve(station_id: str, config: ConfigOption = None) -> None:
    """Accept a station that booted while unknown (it gets Accepted at its next boot)."""
    _set_registration(station_id, "accepted", config)


@stations_app.command("reject")
def stations_reject(station_id: str, config: ConfigOption = None) -> None:
    """Reject a station: its boots are answered Rejected."""
    _set_registration(station_id, "rejected", config)


# ---------------------------------------------------------------------------------------- tokens
@tokens_app.command("add")
def tokens_add(
    id_tokens: Annotated[list[str], typer.Argument(help="One or more id tokens, e.g. $(seq -f TAG%04g 1 50)")],
    token_type: Annotated[str, typer.Option("--type", help="ISO14443, ISO15693, eMAID, Central, ...")] = "ISO14443",
    expiry: Annotated[datetime | None, typer.Option(help="Expiry (UTC), e.g. 2027-01-01T00:00:00")] = None,
    group: Annotated[str | None, typer.Option(help="Parent / group id token.")] = None,
    config: ConfigOption = None,
) -> None:
    """Create (or update) accepted id tokens, all in one transaction."""
    from ocppd.store import repo

    when = expiry.replace(tzinfo=UTC) if expiry is not None and expiry.tzinfo is None else expiry

    def add_all(conn: Any) -> None:
        for id_token in id_tokens:
            repo.upsert_token(conn, id_token, token_type, "Accepted", when, group)

    _with_store(_settings(config), add_all, write=True)
    first, last = id_tokens[0], id_tokens[-1]
    label = f"token {first}" if len(id_tokens) == 1 else f"{len(id_tokens)} tokens, {first}..{last},"
    console.print(f"[bold]{label}[/bold] accepted")


@tokens_app.command("block")
def tokens_block(id_token: str, config: ConfigOption = None) -> None:
    """Block a token: Authorize and transactions with it get Blocked."""
    from ocppd.store import repo

    if not _with_store(_settings(config), repo.set_token_status, id_token, "Blocked", write=True):
        console.print(f"[red]unknown token {id_token!r}[/red]")
        raise typer.Exit(1)
    console.print(f"token [bold]{id_token}[/bold] blocked")


@tokens_app.command("list")
def tokens_list(config: ConfigOption = None) -> None:
    """All id tokens with status, expiry and group."""
    from ocppd.store import repo

    table = Table("id token", "type", "status", "expiry", "group")
    for t in _with_store(_settings(config), repo.list_tokens):
        table.add_row(t.id_token, _fmt(t.token_type), t.status, _fmt(t.expiry), _fmt(t.group_id))
    console.print(table)


# ---------------------------------------------------------------------------------------- transactions
@transactions_app.command("list")
def transactions_list(
    station: Annotated[str | None, typer.Option(help="Only this station.")] = None,
    active: Annotated[bool, typer.Option(help="Only transactions still running.")] = False,
    limit: int = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigOption = None,
) -> None:
    """Transactions, newest first, with the energy delivered (Wh) for billing."""
    from ocppd.store import repo

    rows = _with_store(
        _settings(config),
        lambda conn: repo.list_transactions(conn, station_id=station, active_only=active, limit=limit),
    )
    if as_json:
        out = [
            {
                "id": r.id,
                "transaction_id": r.transaction_uid,
                "station_id": r.station_id,
                "connector_id": r.connector_id,
                "id_token": r.id_token,
                "started_at": _iso(r.started_at),
                "stopped_at": _iso(r.stopped_at),
                "meter_start_wh": r.meter_start_wh,
                "meter_stop_wh": r.meter_stop_wh,
                "energy_wh": r.energy_wh,
                "stop_reason": r.stop_reason,
            }
            for r in rows
        ]
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table("id", "station", "conn", "id token", "started", "stopped", "energy Wh", "reason")
    for r in rows:
        table.add_row(
            r.transaction_uid,
            r.station_id,
            _fmt(r.connector_id),
            _fmt(r.id_token),
            _fmt(r.started_at),
            _fmt(r.stopped_at),
            _fmt(r.energy_wh),
            _fmt(r.stop_reason),
        )
    console.print(table)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ---------------------------------------------------------------------------------------- call / log
@app.command()
def call(
    station: str,
    action: str,
    payload: Annotated[str, typer.Argument(help="The message payload as JSON.")] = "{}",
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait for the station.")] = None,
    url: Annotated[str | None, typer.Option(help="API base URL (default http://127.0.0.1:<http.port>).")] = None,
    config: ConfigOption = None,
) -> None:
    """Send any CSMS-initiated message (e.g. Reset '{"type":"Soft"}') to a connected station."""
    import httpx

    from ocppd.server import admin_token

    settings = _settings(config)
    try:
        body = json.loads(payload)
    except json.JSONDecodeError as exc:
        console.print(f"[red]payload is not valid JSON:[/red] {exc}")
        raise typer.Exit(2) from None
    base = url or f"http://127.0.0.1:{settings.http.port}"
    token = admin_token(Path(settings.data_dir))
    params = {"timeout": timeout} if timeout is not None else {}
    try:
        response = httpx.post(
            f"{base}/api/v1/stations/{station}/call/{action}",
            json=body,
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=(timeout or 30) + 5,
        )
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach the server at {base}:[/red] {exc}")
        raise typer.Exit(1) from None
    if response.status_code != 200:
        detail = response.json().get("detail", response.text) if response.content else response.reason_phrase
        console.print(f"[red]{response.status_code}:[/red] {detail}")
        raise typer.Exit(1)
    typer.echo(json.dumps(response.json(), indent=2))


@app.command("log")
def message_log(
    station: str,
    limit: int = 50,
    action: Annotated[str | None, typer.Option(help="Only frames of this action.")] = None,
    config: ConfigOption = None,
) -> None:
    """The station's message log: every frame in and out, oldest of the selection first."""
    from ocppd.store import repo

    rows = _with_store(_settings(config), lambda conn: repo.message_log(conn, station, action=action, limit=limit))
    for r in reversed(rows):  # the store gives newest first; a log reads oldest first
        arrow = "→" if r.direction == "in" else "←"
        console.print(f"{_fmt(r.logged_at)} {arrow} {r.frame}", markup=False, highlight=False)


try:  # the station simulator's command lives with the station side
    from ocppd.station.cli import simulate

    app.command(help="Run simulated charging stations against a CSMS (ocppd or any other).")(simulate)
except ImportError:  # pragma: no cover - station side not installed
    pass


if __name__ == "__main__":
    app()
