"""``ocppd tariffs ...``: tariffs, assignments and transaction costs from the command line.

Like the other admin commands they work on the database directly; a running server uses a new
tariff version or assignment for the next transaction that ends.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ocppd.clicommon import ConfigOption, console, fail, settings_for, with_store
from ocppd.csms.billing.service import BillingError, add_version_op, check_site_op, price_op, record_op
from ocppd.csms.billing.tariff import TariffError
from ocppd.store import billing_repo as br
from ocppd.store import repo

tariffs_app = typer.Typer(help="Tariffs, where they apply, and transaction costs.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tariffs_app, name="tariffs")


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{option}: {value!r} is not an ISO 8601 time (2026-01-01T00:00:00+00:00)") from None
    if parsed.tzinfo is None:
        raise fail(f"{option}: give a time zone offset (Z or +01:00)")
    return parsed


@tariffs_app.command("set")
def set_tariff(
    tariff_id: Annotated[str, typer.Argument(help="The tariff's name, e.g. standard")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The tariff as JSON (docs/billing.md)")],
    valid_from: Annotated[str | None, typer.Option(help="ISO 8601; default: now")] = None,
    valid_to: Annotated[str | None, typer.Option(help="ISO 8601; default: until a later version")] = None,
    config: ConfigOption = None,
) -> None:
    """Add a version of TARIFF_ID from FILE (validated: the error names the element)."""
    try:
        body = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"{file}: {exc}") from None
    start, end = _when(valid_from, "--valid-from"), _when(valid_to, "--valid-to")
    try:
        row = with_store(
            settings_for(config), add_version_op, tariff_id, body, start, end, "cli", write=True, create=True
        )
    except (TariffError, BillingError) as exc:
        raise fail(f"tariff refused: {exc}") from None
    console.print(f"tariff {tariff_id}: version {row.id} from {row.valid_from.isoformat()}")


@tariffs_app.command("list")
def list_tariffs(config: ConfigOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every tariff version and every assignment."""
    settings = settings_for(config)
    versions = with_store(settings, br.list_tariffs)
    assignments = with_store(settings, br.list_assignments)
    if as_json:
        out = {"versions": [asdict(v) for v in versions], "assignments": [asdict(a) for a in assignments]}
        console.print_json(json.dumps(out, default=str))
        return
    table = Table("tariff", "version", "from", "to", "currency", "elements")
    for v in versions:
        table.add_row(
            v.tariff_id,
            str(v.id),
            v.valid_from.isoformat(),
            v.valid_to.isoformat() if v.valid_to else "",
            v.body.get("currency", ""),
            str(len(v.body.get("elements", []))),
        )
    console.print(table)
    table = Table("assignment", "tariff", "site", "station", "evse", "group", "token")
    for a in assignments:
        table.add_row(
            str(a.id),
            a.tariff_id,
            a.site_id or "",
            a.station_id or ("" if a.site_id else "*"),
            str(a.evse_id or ""),
            a.group_id or "",
            a.id_token or "",
        )
    console.print(table)


@tariffs_app.command("assign")
def assign(
    tariff_id: str,
    station: Annotated[str | None, typer.Option(help="Station id")] = None,
    evse: Annotated[int | None, typer.Option(help="EVSE id (with --station)")] = None,
    group: Annotated[str | None, typer.Option(help="Token group (fleet contract)")] = None,
    token: Annotated[str | None, typer.Option(help="Id token")] = None,
    site: Annotated[str | None, typer.Option(help="Site of the limit tree (every station under it)")] = None,
    config: ConfigOption = None,
) -> None:
    """Apply TARIFF_ID to a site, station, EVSE, group or token (none of them: the default).
    Most specific wins: token > group > EVSE > station > site > default."""
    if evse is not None and station is None:
        raise fail("--evse needs --station")
    settings = settings_for(config)
    if not with_store(settings, br.tariff_versions_of, tariff_id):
        raise fail(f"unknown tariff {tariff_id!r}")
    fields = {"tariff_id": tariff_id, "station_id": station, "evse_id": evse, "group_id": group, "id_token": token}

    def op(conn: Any) -> br.AssignmentRow:
        check_site_op(conn, site, station)
        return br.add_assignment(conn, **fields, site_id=site, created_by="cli")

    try:
        row = with_store(settings, op, write=True)
    except BillingError as exc:
        raise fail(f"assignment refused: {exc}") from None
    console.print(f"assignment {row.id}: {tariff_id}")


@tariffs_app.command("cost")
def cost(
    transaction: Annotated[int, typer.Argument(help="Transaction id (as in `ocppd transactions list`)")],
    recompute: Annotated[str | None, typer.Option(help="Price it again, recording this reason")] = None,
    config: ConfigOption = None,
) -> None:
    """A transaction's cost and its computations (or recompute it with a reason)."""
    settings = settings_for(config)

    def again(conn: Any) -> Any:
        tx = repo.get_transaction(conn, transaction)
        if tx is None or tx.active:
            return None
        return record_op(conn, price_op(conn, tx), recompute or "", "cli")

    if recompute is not None:
        if not recompute.strip():
            raise fail("--recompute: say why the price changes")
        if with_store(settings, again, write=True) is None:
            raise fail(f"transaction {transaction}: unknown or still running")
    history = with_store(settings, br.cost_history, transaction)
    if not history:
        raise fail(f"transaction {transaction}: not priced (unknown, running, or ended before billing)")
    for row in history:
        total = (row.cost or {}).get("incl_vat", "-")
        flags = f" [{', '.join(row.flags)}]" if row.flags else ""
        console.print(f"{row.computed_at.isoformat()} {total} {row.currency or ''} ({row.reason}){flags}")
