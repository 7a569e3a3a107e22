"""``ocppd reservations ...`` and ``ocppd local-list ...``: reservations and the CSMS-owned local
authorization lists. Listing reads the database; what sends a message to a station goes through the
running server's API (docs/transactions.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from ocppd.cli_verbs import _post
from ocppd.clicommon import ConfigOption, console, fail, settings_for, with_store

reservations_app = typer.Typer(help="Reservations: create (ReserveNow), list, cancel.", no_args_is_help=True)
local_list_app = typer.Typer(help="The local authorization list the CSMS owns per station.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(reservations_app, name="reservations")
    app.add_typer(local_list_app, name="local-list")


@reservations_app.command("list")
def reservations_list(
    station: Annotated[str | None, typer.Option(help="Only this station.")] = None,
    live: Annotated[bool, typer.Option(help="Only Pending / Accepted ones.")] = False,
    limit: int = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigOption = None,
) -> None:
    """Reservations, newest first, with their state."""
    from ocppd.store import tx_repo

    rows = with_store(settings_for(config), tx_repo.list_reservations, station, live, limit)
    if as_json:
        out = [{"id": r.id, "station_id": r.station_id, "evse_id": r.evse_id, "id_token": r.id_token,
                "expires_at": r.expires_at.isoformat(), "status": r.status, "transaction_id": r.transaction_id,
                "note": r.note} for r in rows]  # fmt: skip
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table("id", "station", "evse", "id token", "expires", "status", "note")
    for r in rows:
        evse = "any" if r.evse_id in (None, 0) else str(r.evse_id)
        table.add_row(str(r.id), r.station_id, evse, r.id_token, r.expires_at.strftime("%Y-%m-%d %H:%M:%S"),
                      r.status, r.note or "")  # fmt: skip
    console.print(table)


@reservations_app.command("create")
def reservations_create(
    station: str,
    id_token: str,
    expires: Annotated[datetime, typer.Option(help="When it ends (UTC), e.g. 2027-01-01T12:00:00")],
    evse: Annotated[int | None, typer.Option(help="1.6: connector (0 = any); 2.x: EVSE (omitted = any).")] = None,
    connector_type: Annotated[str | None, typer.Option(help="2.x: any EVSE with this connector type")] = None,
    config: ConfigOption = None,
) -> None:
    """Reserve through the running server (ReserveNow); prints the reservation with the station's answer."""
    at = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
    if at <= datetime.now(UTC):
        raise fail("--expires: must be in the future")
    body: dict[str, Any] = {"station_id": station, "id_token": id_token, "expires_at": at.isoformat()}
    if evse is not None:
        body["evse_id"] = evse
    if connector_type is not None:
        body["connector_type"] = connector_type
    typer.echo(json.dumps(_post(settings_for(config), "/api/v1/reservations", body, {}, 40, None), indent=2))


@reservations_app.command("cancel")
def reservations_cancel(reservation: int, config: ConfigOption = None) -> None:
    """Cancel through the running server (CancelReservation); a station that refuses keeps it."""
    answer = _post(settings_for(config), f"/api/v1/reservations/{reservation}/cancel", None, {}, 40, None)
    typer.echo(json.dumps(answer, indent=2))


@local_list_app.command("set")
def local_list_set(
    station: str,
    tokens: Annotated[list[str] | None, typer.Option("--token", "-t", help="A token on the list (repeat).")] = None,
    groups: Annotated[list[str] | None, typer.Option("--group", "-g", help="A group on the list (repeat).")] = None,
    config: ConfigOption = None,
) -> None:
    """Choose the station's list and send it (full the first time, then what changed)."""
    body = {"tokens": tokens or [], "groups": groups or []}
    path = f"/api/v1/stations/{station}/local-list"
    typer.echo(json.dumps(_post(settings_for(config), path, body, {}, 60, None, method="PUT"), indent=2))


@local_list_app.command("sync")
def local_list_sync(
    station: str,
    full: Annotated[bool, typer.Option(help="Send the whole list.")] = False,
    config: ConfigOption = None,
) -> None:
    """Send what changed (or everything) now."""
    path = f"/api/v1/stations/{station}/local-list/sync"
    typer.echo(json.dumps(_post(settings_for(config), path, None, {"full": full}, 60, None), indent=2))
