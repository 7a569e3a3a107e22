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
from rich.table import Table

from ocppd.api.billing_cli import register as register_tariffs_commands
from ocppd.api.cli import register as register_auth_commands
from ocppd.api.oscp_cli import register as register_oscp_commands
from ocppd.api.smart_cli import register as register_sites_commands
from ocppd.cli_certificates import register as register_certificate_commands
from ocppd.cli_transactions import register as register_transaction_commands
from ocppd.cli_verbs import register as register_verb_commands
from ocppd.clicommon import (
    HOW_CONFIG_IS_FOUND,
    ConfigOption,
    console,
    fail,
    local_server_verify,
    settings_for,
    state,
    tell_server,
    with_store,
)
from ocppd.config import Settings
from ocppd.localctl.cli import register as register_local_controller
from ocppd.logs import setup_logging

app = typer.Typer(
    help="ocppd: an OCPP 1.6J / 2.0.1 / 2.1 charging station management system and station simulator.\n\n"
    + HOW_CONFIG_IS_FOUND,
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
register_sites_commands(app)  # ocppd sites ...
register_oscp_commands(app)  # ocppd oscp ...
register_tariffs_commands(app)  # ocppd tariffs ...
register_verb_commands(app)  # ocppd command ..., ocppd queue ...
register_transaction_commands(app)  # ocppd reservations ..., ocppd local-list ...
register_local_controller(app)  # ocppd local-controller
register_certificate_commands(app)  # ocppd certificates ...

T = TypeVar("T")


@app.callback()
def main(
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Say which configuration file, data directory and database are used."),
    ] = False,
) -> None:
    state.verbose = verbose


def _settings(config: Path | None, **overrides: Any) -> Settings:
    settings = settings_for(config)
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, name = key.partition("__")
        target = getattr(settings, section) if name else settings
        setattr(target, name or section, value)
        if key == "data_dir":
            settings.data_dir_source = "--data-dir"
    return settings


def _with_store(settings: Settings, fn: Callable[..., T], *args: Any, write: bool = False, create: bool = False) -> T:
    return with_store(settings, fn, *args, write=write, create=create)


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
    data_dir: Annotated[
        str | None, typer.Option(help="Where the SQLite database and admin.token live (default ~/.local/share/ocppd).")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="e.g. postgresql+psycopg://user@host/db")] = None,
    unknown_stations: Annotated[str | None, typer.Option(help="accept | pending | reject")] = None,
) -> None:
    """Run the CSMS: OCPP endpoint ws://HOST:PORT/ocpp/<station-id>, dashboard and API on HTTP."""
    from ocppd.server import StartupError, tune_gc
    from ocppd.server import serve as run

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
        raise fail(f"configuration error: {exc}") from None
    setup_logging(settings.log_level, settings.log_format)
    tune_gc()  # a long-lived server process: see GC_THRESHOLDS
    try:
        asyncio.run(run(settings))
    except StartupError as exc:
        raise fail(f"cannot start: {exc}") from None


# ---------------------------------------------------------------------------------------- stations
def _credentials(row: Any, settings: Settings) -> str:
    from ocppd.csms.profiles import required_profile
    from ocppd.csms.provisioning import credentials_of

    has_password = bool(row.auth_password_hash)
    required = required_profile(row.security_profile, settings.ocpp.default_profile(), has_password)
    return credentials_of(row.auth_password_hash, required)


@stations_app.command("list")
def stations_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigOption = None,
) -> None:
    """All stations known to the CSMS, with registration state, credentials and last contact."""
    from ocppd.store import repo

    settings = _settings(config)
    rows = _with_store(settings, repo.list_stations)
    if as_json:
        typer.echo(json.dumps([_station_json(r, settings) for r in rows], indent=2))
        return
    table = Table("station", "registration", "credentials", "version", "vendor", "model", "last boot", "last seen")
    for r in rows:
        table.add_row(
            r.station_id,
            _fmt(r.registration_status),
            _credentials(r, settings),
            _fmt(r.ocpp_version),
            _fmt(r.vendor),
            _fmt(r.model),
            _fmt(r.last_boot_at),
            _fmt(r.last_seen_at),
        )
    console.print(table)


_STATION_KEYS = (
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


def _station_json(row: Any, settings: Settings) -> dict[str, Any]:
    return {**{k: _jsonable(getattr(row, k)) for k in _STATION_KEYS}, "credentials": _credentials(row, settings)}


@stations_app.command("show")
def stations_show(station_id: str, config: ConfigOption = None) -> None:
    """One station: registration, credentials, boot information and connector states (JSON)."""
    from ocppd.store import repo

    def read(conn: Any) -> tuple[Any, Any]:
        return repo.get_station(conn, station_id), repo.list_connector_status(conn, station_id)

    settings = _settings(config)
    row, connectors = _with_store(settings, read)
    if row is None:
        raise fail(f"unknown station {station_id!r}", code=1)
    out = _station_json(row, settings)
    out["boot_info"] = row.boot_info
    out["connectors"] = [
        {
            "evse_id": c.evse_id,
            "connector_id": c.connector_id,
            "status": c.status,
            "updated_at": _jsonable(c.updated_at),
        }
        for c in connectors
    ]
    typer.echo(json.dumps(out, indent=2, default=str))


@stations_app.command("monitors")
def stations_monitors(
    station_id: Annotated[str | None, typer.Argument(help="One station; all stations when left out.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigOption = None,
) -> None:
    """The 2.x variable monitors: set (accepted) or reported ones, and the ones a station refused with
    its answer (state refused)."""
    from ocppd.store import alerts_repo

    rows = _with_store(_settings(config), alerts_repo.monitor_view, station_id)
    if as_json:
        typer.echo(json.dumps([{k: _jsonable(v) for k, v in r.items()} for r in rows], indent=2))
        return
    table = Table("station", "id", "component", "variable", "type", "value", "severity", "state", "answer")
    for r in rows:
        answer = r["status"] or ""
        if r.get("reason"):
            answer += f" ({r['reason']})"
        if r.get("clear_status"):
            answer += f"; clear {r['clear_status']}" + (f" ({r['clear_reason']})" if r.get("clear_reason") else "")
        table.add_row(r["station_id"], _fmt(r["monitor_id"]), r["component"], r["variable"], r["type"],
                      f"{r['value']:g}", str(r["severity"]), r["state"], answer)  # fmt: skip
    console.print(table)


@stations_app.command("add")
def stations_add(
    station_id: str,
    password: Annotated[str | None, typer.Option(help="Basic-auth password (security profile 1).")] = None,
    config: ConfigOption = None,
) -> None:
    """Register a station as accepted (optionally with a basic-auth password); a running server
    enforces it before this command returns."""
    from ocppd.csms.provisioning import hash_password
    from ocppd.store import repo

    if password is not None and not 16 <= len(password) <= 40:
        raise fail("password must be 16 to 40 characters (OCPP 2.0.1 BasicAuthPassword)")
    fields: dict[str, Any] = {"registration_status": "accepted"}
    if password is not None:
        fields["auth_password_hash"] = hash_password(password)
        fields["security_profile"] = 1
    settings = _settings(config)
    _with_store(settings, lambda conn: repo.upsert_station(conn, station_id, **fields), write=True, create=True)
    tell_server(settings)
    console.print(f"station [bold]{station_id}[/bold] registered (accepted)")


def _station_change(station_id: str, config: Path | None, fn: Callable[..., bool], *args: Any) -> None:
    settings = _settings(config)
    if not _with_store(settings, fn, station_id, *args, write=True):
        raise fail(f"unknown station {station_id!r}", code=1)
    tell_server(settings)


@stations_app.command("approve")
def stations_approve(station_id: str, config: ConfigOption = None) -> None:
    """Accept a station; a running server asks a connected one to boot again, so it learns at once."""
    from ocppd.store import repo

    _station_change(station_id, config, repo.set_registration, "accepted")
    console.print(f"station [bold]{station_id}[/bold] accepted")


@stations_app.command("reject")
def stations_reject(station_id: str, config: ConfigOption = None) -> None:
    """Reject a station: its boots are answered Rejected."""
    from ocppd.store import repo

    _station_change(station_id, config, repo.set_registration, "rejected")
    console.print(f"station [bold]{station_id}[/bold] rejected")


@stations_app.command("delete")
def stations_delete(station_id: str, config: ConfigOption = None) -> None:
    """Forget a station and its credentials (its transactions and message log stay for audit)."""
    from ocppd.store import repo

    _station_change(station_id, config, repo.delete_station)
    console.print(f"station [bold]{station_id}[/bold] deleted")


@stations_app.command("pending")
def stations_pending(station_id: str, config: ConfigOption = None) -> None:
    """Put a station back to Pending: its boots are answered Pending until approved or rejected;
    a running server asks a connected station to boot again."""
    from ocppd.store import repo

    _station_change(station_id, config, repo.set_registration, "pending")
    console.print(f"station [bold]{station_id}[/bold] pending")


# ---------------------------------------------------------------------------------------- tokens
@tokens_app.command("add")
def tokens_add(
    id_tokens: Annotated[list[str], typer.Argument(help="One or more id tokens, e.g. 04A1B2C3 (a 4-byte card UID)")],
    token_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="ISO14443 (a card UID: 8 or 14 hex digits), ISO15693 (16 hex digits), eMAID, Central, ..."
            " (default: any type; a 2.x station's type is then not checked)",
        ),
    ] = None,
    expiry: Annotated[datetime | None, typer.Option(help="Expiry (UTC), e.g. 2027-01-01T00:00:00")] = None,
    group: Annotated[str | None, typer.Option(help="Parent / group id token.")] = None,
    language1: Annotated[str | None, typer.Option(help="The driver's preferred language (RFC 5646, e.g. nl).")] = None,
    language2: Annotated[str | None, typer.Option(help="The driver's second language.")] = None,
    config: ConfigOption = None,
) -> None:
    """Create (or update) accepted id tokens, all in one transaction."""
    from ocppd.csms.authorization import languages_problem, token_format_problem
    from ocppd.store import repo, tx_repo

    if (problem := languages_problem(language1, language2)) is not None:
        console.print(f"[red]--{problem}[/red]")
        raise typer.Exit(2)
    for id_token in id_tokens:
        problem = token_format_problem(token_type, id_token)
        if problem is not None:
            console.print(f"[red]--type {token_type}: {id_token!r}: {problem}[/red]")
            raise typer.Exit(2)
    when = expiry.replace(tzinfo=UTC) if expiry is not None and expiry.tzinfo is None else expiry

    def add_all(conn: Any) -> None:
        for id_token in id_tokens:
            repo.upsert_token(conn, id_token, token_type, "Accepted", when, group)
            if language1:
                tx_repo.set_token_languages(conn, id_token, language1, language2)

    _with_store(_settings(config), add_all, write=True, create=True)
    first, last = id_tokens[0], id_tokens[-1]
    label = f"token {first}" if len(id_tokens) == 1 else f"{len(id_tokens)} tokens, {first}..{last},"
    console.print(f"[bold]{label}[/bold] accepted")


def _token_change(id_token: str, config: Path | None, fn: Callable[..., bool], *args: Any) -> None:
    if not _with_store(_settings(config), fn, id_token, *args, write=True):
        raise fail(f"unknown token {id_token!r}", code=1)


@tokens_app.command("block")
def tokens_block(id_token: str, config: ConfigOption = None) -> None:
    """Block a token: Authorize and transactions with it get Blocked."""
    from ocppd.store import repo

    _token_change(id_token, config, repo.set_token_status, "Blocked")
    console.print(f"token [bold]{id_token}[/bold] blocked")


@tokens_app.command("unblock")
def tokens_unblock(id_token: str, config: ConfigOption = None) -> None:
    """Accept a blocked token again (its expiry still applies)."""
    from ocppd.store import repo

    _token_change(id_token, config, repo.set_token_status, "Accepted")
    console.print(f"token [bold]{id_token}[/bold] accepted")


@tokens_app.command("delete")
def tokens_delete(id_token: str, config: ConfigOption = None) -> None:
    """Delete a token: it is then unknown (Invalid) to Authorize; its transactions stay."""
    from ocppd.store import repo

    _token_change(id_token, config, repo.delete_token)
    console.print(f"token [bold]{id_token}[/bold] deleted")


@tokens_app.command("list")
def tokens_list(config: ConfigOption = None) -> None:
    """All id tokens with status (Expired once past the expiry, as Authorize answers), expiry and group."""
    from ocppd.store import repo

    now = datetime.now(UTC)
    table = Table("id token", "type", "status", "expiry", "group")
    for t in _with_store(_settings(config), repo.list_tokens):
        table.add_row(t.id_token, _fmt(t.token_type), t.effective_status(now), _fmt(t.expiry), _fmt(t.group_id))
    console.print(table)


@tokens_app.command("credit")
def tokens_credit(
    holder: Annotated[str, typer.Argument(help="A token, or a token group (its members spend from it)")],
    balance: Annotated[str | None, typer.Option("--set", help="Set the balance, e.g. 20.00 (needs --currency)")] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 currency of the balance, e.g. EUR")] = None,
    top_up: Annotated[str | None, typer.Option("--top-up", help="Add this amount (negative: a correction)")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="No longer prepaid (its entries are kept)")] = False,
    config: ConfigOption = None,
) -> None:
    """Prepaid credit (OCPP 2.x NoCredit, 2.1 maxCost): show, set, top up or remove a balance."""
    from ocppd.csms.billing.credit import CreditError, account_json, set_balance_op, top_up_op
    from ocppd.store import credit_repo as cr

    settings = _settings(config)
    try:
        if balance is not None:
            if currency is None:
                raise fail("--set needs --currency")
            _with_store(settings, set_balance_op, holder, currency, balance, "cli", write=True)
        elif top_up is not None:
            _with_store(settings, top_up_op, holder, top_up, "cli", write=True)
        elif remove:
            if not _with_store(settings, cr.delete_account, holder, write=True):
                raise fail(f"{holder!r} holds no credit", code=1)
            console.print(f"[bold]{holder}[/bold] is no longer prepaid")
            return
    except CreditError as exc:
        raise fail(f"--{'set' if exc.where == 'balance' else 'top-up' if exc.where == 'amount' else exc.where}: "
                   f"{exc.message}") from None  # fmt: skip
    except LookupError as exc:
        raise fail(str(exc), code=1) from None

    def read(conn: Any) -> dict[str, Any] | None:
        account = cr.get_account(conn, holder)
        return account_json(account, cr.entries_of(conn, holder, limit=10)) if account else None

    shown = _with_store(settings, read)
    if shown is None:
        raise fail(f"{holder!r} holds no credit", code=1)
    console.print(f"[bold]{holder}[/bold]: {shown['balance']} {shown['currency']}")
    table = Table("at", "amount", "balance", "transaction", "reason", "by")
    for e in shown["entries"]:
        table.add_row(e["entered_at"][:19], e["amount"], e["balance"], _fmt(e["transaction_id"]), e["reason"],
                      _fmt(e["entered_by"]))  # fmt: skip
    console.print(table)


# ---------------------------------------------------------------------------------------- transactions
def _tx_json(r: Any) -> dict[str, Any]:
    return {
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
        "closed_by": r.closed_by,
        "close_reason": r.close_reason,
        "flagged": r.flagged,
        "remote_start_id": r.remote_start_id,
        "reservation_id": r.reservation_id,
    }


@transactions_app.command("list")
def transactions_list(
    station: Annotated[str | None, typer.Option(help="Only this station.")] = None,
    active: Annotated[bool, typer.Option(help="Only transactions still running.")] = False,
    limit: int = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigOption = None,
) -> None:
    """Transactions, newest first, with the energy delivered (Wh) for billing."""
    from dataclasses import replace

    from ocppd.store import repo

    def read(conn: Any) -> list[Any]:
        rows = repo.list_transactions(conn, station_id=station, active_only=active, limit=limit)
        # A running transaction shows its energy so far, as the API and the dashboard do.
        so_far = repo.running_energy(conn, [r.id for r in rows if r.energy_wh is None])
        return [replace(r, energy_wh=so_far[r.id]) if r.id in so_far and r.energy_wh is None else r for r in rows]

    rows = _with_store(_settings(config), read)
    if as_json:
        typer.echo(json.dumps([_tx_json(r) for r in rows], indent=2))
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


@transactions_app.command("show")
def transactions_show(
    transaction_id: Annotated[str, typer.Argument(help="The id `transactions list` prints (the station's id).")],
    station: Annotated[str | None, typer.Option(help="The station, when several have this transaction id.")] = None,
    config: ConfigOption = None,
) -> None:
    """One transaction with its energy (JSON)."""
    from ocppd.store import repo

    rows = _with_store(_settings(config), repo.transactions_by_uid, transaction_id, station)
    if not rows:
        raise fail(f"unknown transaction {transaction_id!r}", code=1)
    if len(rows) > 1:
        stations = ", ".join(r.station_id for r in rows)
        raise fail(f"transaction id {transaction_id!r} is on several stations ({stations}): add --station", code=2)
    typer.echo(json.dumps(_tx_json(rows[0]), indent=2))


@transactions_app.command("close")
def transactions_close(
    transaction: Annotated[int, typer.Argument(help="The transaction's id (the 'id' column of --json).")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why it is closed (kept with your user name).")],
    config: ConfigOption = None,
) -> None:
    """Force-close a transaction the station will not end: meter stop = its last reading, flagged."""
    import getpass

    from ocppd.csms.transactions import TransactionClosed, force_close_op

    if not reason.strip():
        console.print("[red]--reason: say why the transaction is closed[/red]")
        raise typer.Exit(2)
    who = f"cli:{getpass.getuser()}"
    try:
        tx = _with_store(_settings(config), force_close_op, transaction, reason.strip(), who, write=True)
    except TransactionClosed as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if tx is None:
        console.print(f"[red]unknown transaction {transaction}[/red]")
        raise typer.Exit(1)
    console.print(f"transaction [bold]{tx.transaction_uid}[/bold] closed: {_fmt(tx.energy_wh)} Wh, by {who}")


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
    url: Annotated[
        str | None, typer.Option(help="API base URL (default: the server on this data directory, else http.port).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Send any CSMS-initiated message (e.g. Reset '{"type":"Soft"}') to a connected station.

    It authenticates with the admin token in the data directory (`ocppd --verbose call ...` shows which)."""
    import httpx

    from ocppd.datadir import running_server
    from ocppd.server import ADMIN_TOKEN_FILE

    settings = _settings(config)
    try:
        body = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise fail(f"payload is not valid JSON: {exc}") from None
    data_dir = Path(settings.data_dir)
    server = running_server(data_dir)
    base = url or (server.api_url if server and server.api_url else None) or f"http://127.0.0.1:{settings.http.port}"
    token_path = data_dir.resolve() / ADMIN_TOKEN_FILE
    if not token_path.is_file():
        raise fail(
            f"no admin token at {token_path} (data directory from {settings.data_dir_source}): "
            "`ocppd serve` writes it there at its first start; point --config or OCPPD_DATA_DIR at the server's "
            "data directory"
        )
    params = {"timeout": timeout} if timeout is not None else {}
    try:
        response = httpx.post(
            f"{base}/api/v1/stations/{station}/call/{action}",
            json=body,
            params=params,
            headers={"Authorization": f"Bearer {token_path.read_text().strip()}"},
            timeout=(timeout or 30) + 5,
            verify=local_server_verify(settings) if url is None else True,
        )
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the server at {base}: {exc}", code=1) from None
    if response.status_code != 200:
        detail = response.json().get("detail", response.text) if response.content else response.reason_phrase
        if response.status_code == 401:
            detail = f"{detail} (the server at {base} does not know the admin token in {token_path})"
        raise fail(f"{response.status_code}: {detail}", code=1)
    typer.echo(json.dumps(response.json(), indent=2))


@app.command("log")
def message_log(
    station: str,
    limit: int = 50,
    action: Annotated[str | None, typer.Option(help="Only frames of this action.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new frames (Ctrl-C ends).")] = False,
    config: ConfigOption = None,
) -> None:
    """The station's message log: every frame in and out, oldest of the selection first."""
    import time

    from ocppd.store import repo

    settings = _settings(config)

    def read(conn: Any, since: datetime | None) -> tuple[bool, list[Any]]:
        rows = repo.message_log(conn, station, since=since, action=action, limit=limit if since is None else 10_000)
        return bool(rows) or repo.get_station(conn, station) is not None, rows

    known, rows = _with_store(settings, read, None)
    if not known:
        raise fail(f"unknown station {station!r} (no such station and nothing logged for it)", code=1)
    seen: set[int] = set()
    while True:
        for r in reversed(rows):  # the store gives newest first; a log reads oldest first
            if r.id in seen:
                continue
            seen.add(r.id)
            arrow = "→" if r.direction == "in" else "←"
            console.print(f"{_fmt(r.logged_at)} {arrow} {r.frame}", markup=False, highlight=False)
        if not follow:
            return
        since = max((r.logged_at for r in rows), default=None)
        seen = {r.id for r in rows if r.logged_at == since}  # frames at the boundary come again
        try:
            time.sleep(1)  # polling: the log is in the database, which any process may write
            _, rows = _with_store(settings, read, since)
        except KeyboardInterrupt:
            return


try:  # the station simulator's command lives with the station side
    from ocppd.station.cli import simulate

    app.command(help="Run simulated charging stations against a CSMS (ocppd or any other).")(simulate)
except ImportError:  # pragma: no cover - station side not installed
    pass


if __name__ == "__main__":
    app()
