"""``ocppd command`` (a typed, version-neutral command through the running server) and ``ocppd queue``
(commands queued for offline stations: list, cancel)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ocppd.clicommon import ConfigOption, console, fail, local_server_verify, settings_for, with_store

queue_app = typer.Typer(help="Commands queued for offline stations (command --queue-expiry).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("command")(command)
    app.add_typer(queue_app, name="queue")


def _post(
    settings: Any,
    path: str,
    body: Any,
    params: dict[str, Any],
    timeout: float,
    url: str | None,
    method: str = "POST",
    *,
    input_error_code: int = 1,
    plain_refusal: bool = False,
) -> Any:
    """POST (or ``method``) to the running server's API with the data directory's admin token; exit 1
    on failure (``input_error_code`` when the API refused the input: 400, 404; its detail alone, without
    the status, when ``plain_refusal``)."""
    import httpx

    from ocppd.datadir import running_server
    from ocppd.server import ADMIN_TOKEN_FILE

    data_dir = Path(settings.data_dir)
    server = running_server(data_dir)
    base = url or (server.api_url if server and server.api_url else None) or f"http://127.0.0.1:{settings.http.port}"
    token_path = data_dir.resolve() / ADMIN_TOKEN_FILE
    if not token_path.is_file():
        raise fail(f"no admin token at {token_path}: `ocppd serve` writes it at its first start")
    try:
        response = httpx.request(
            method,
            f"{base}{path}",
            json=body,
            params=params,
            headers={"Authorization": f"Bearer {token_path.read_text().strip()}"},
            timeout=timeout,
            verify=local_server_verify(settings) if url is None else True,
        )
    except httpx.HTTPError as exc:
        if server is None and url is None:
            raise fail(f"no `ocppd serve` is running on the data directory {data_dir.resolve()} (and nothing answers "
                       f"at {base}): start it, or give --url of the server", code=1) from None  # fmt: skip
        raise fail(f"cannot reach the server at {base}: {exc}", code=1) from None
    if not 200 <= response.status_code < 300:
        detail = response.json().get("detail", response.text) if response.content else response.reason_phrase
        refused_input = response.status_code in (400, 404)
        code = input_error_code if refused_input else 1
        raise fail(str(detail) if refused_input and plain_refusal else f"{response.status_code}: {detail}", code=code)
    return response.json()


def command(
    station: str,
    name: Annotated[str, typer.Argument(help="reset, remote-start, trigger-message, get-variables, ... (docs/api.md)")],
    body: Annotated[str, typer.Argument(help='The command body as JSON, e.g. \'{"type": "hard"}\'.')] = "{}",
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait for the station.")] = None,
    queue_expiry: Annotated[
        float | None,
        typer.Option(help="If the station is offline, queue the command for this many seconds (> 0)."),
    ] = None,
    url: Annotated[str | None, typer.Option(help="API base URL (default: the server on this data directory).")] = None,
    config: ConfigOption = None,
) -> None:
    """Send a typed command; the server builds the payload for the station's OCPP version.

    Prints the answer (with `result` in version-neutral terms), or the queued command."""
    if queue_expiry is not None and queue_expiry <= 0:
        raise fail("--queue-expiry must be more than 0 seconds")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise fail(f"body is not valid JSON: {exc}") from None
    params: dict[str, Any] = {}
    if timeout is not None:
        params["timeout"] = timeout
    if queue_expiry is not None:
        params["queue_expiry_s"] = queue_expiry
    path = f"/api/v1/stations/{station}/commands/{name}"
    answer = _post(settings_for(config), path, data, params, (timeout or 30) + 5, url)
    typer.echo(json.dumps(answer, indent=2))


@queue_app.command("list")
def queue_list(
    station: Annotated[str | None, typer.Argument(help="Only this station.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Also delivered, failed, expired and cancelled.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    config: ConfigOption = None,
) -> None:
    """Queued commands in delivery order."""
    from ocppd.csms.queue import queued_dict
    from ocppd.store import queue_repo

    statuses = None if everything else queue_repo.OPEN
    rows = with_store(settings_for(config), queue_repo.listed, station, statuses)
    if as_json:
        typer.echo(json.dumps([queued_dict(r) for r in rows], indent=2, default=str))
        return
    table = Table("id", "station", "command", "status", "created", "expires", "by", "error")
    for r in rows:
        table.add_row(
            str(r.id),
            r.station_id,
            r.verb,
            r.status,
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.expires_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.created_by or "",
            r.error or "",
        )
    console.print(table)


@queue_app.command("cancel")
def queue_cancel(command_id: int, config: ConfigOption = None) -> None:
    """Cancel a queued command (a running server checks before it sends each one)."""
    from ocppd.store import queue_repo

    outcome = with_store(settings_for(config), queue_repo.cancel, command_id, write=True)
    if outcome is None:
        raise fail(f"no queued command {command_id}", code=1)
    cancelled, status = outcome
    if not cancelled:
        raise fail(f"command {command_id} is already {status}", code=1)
    console.print(f"queued command {command_id} cancelled")
