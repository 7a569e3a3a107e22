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
from ocppd.csms.billing.service import (
    BillingError,
    add_version_op,
    check_site_op,
    price_op,
    record_op,
    totals_op,
)
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


# --------------------------------------------------------------------------- OCPP 2.1 tariffs on stations
# These go through the running server (the station's connection is there), like `ocppd command`.

UrlOption = Annotated[str | None, typer.Option(help="API base URL (default: the server on this data directory)")]


def _api(config: Path | None, path: str, body: Any = None, method: str = "POST", url: str | None = None,
         params: dict[str, Any] | None = None) -> Any:  # fmt: skip
    from ocppd.cli_verbs import _post

    return _post(settings_for(config), path, body, params or {}, 60.0, url, method=method)


def _print_held(rows: list[dict[str, Any]]) -> None:
    table = Table("tariff (2.1 id)", "evse", "kind", "status", "held", "from", "checked")
    for r in rows:
        source = f"{r['source_tariff_id'] or ''} v{r['source_version_id'] or ''}"
        table.add_row(r["tariff_id"], str(r["evse_id"]), r["kind"], r["status"], "yes" if r["held"] else "no",
                      source, r["checked_at"] or "")  # fmt: skip
    console.print(table)


@tariffs_app.command("push")
def push(
    station: Annotated[str, typer.Argument(help="A connected OCPP 2.1 station")],
    tariff_id: Annotated[str, typer.Argument(help="The ocppd tariff")],
    evse: Annotated[int, typer.Option(help="EVSE (0: every EVSE)")] = 0,
    version: Annotated[int | None, typer.Option(help="Tariff version id (default: the one in force)")] = None,
    url: UrlOption = None,
    config: ConfigOption = None,
) -> None:
    """SetDefaultTariff: send TARIFF_ID, mapped onto the OCPP 2.1 Tariff, to STATION."""
    body = {"tariff_id": tariff_id, "evse_id": evse, "version_id": version}
    out = _api(config, f"/api/v1/stations/{station}/tariffs/default", body, method="PUT", url=url)
    console.print(f"{station}: {out['stored']['tariff_id']} on EVSE {evse}: {out['result']['status']}")
    if not out["accepted"]:
        raise typer.Exit(1)


@tariffs_app.command("held")
def held(
    station: str,
    reconcile: Annotated[bool, typer.Option(help="Ask the station first (GetTariffs)")] = False,
    url: UrlOption = None,
    config: ConfigOption = None,
) -> None:
    """The 2.1 tariffs STATION holds, as far as the CSMS knows (--reconcile: as the station says)."""
    if reconcile:
        rows = _api(config, f"/api/v1/stations/{station}/tariffs/reconcile", url=url)["held"]
    else:
        rows = _api(config, f"/api/v1/stations/{station}/tariffs", method="GET", url=url)
    _print_held(rows)


@tariffs_app.command("clear")
def clear(
    station: str,
    tariff: Annotated[list[str] | None, typer.Option(help="A 2.1 tariffId (repeat; default: every tariff)")] = None,
    evse: Annotated[int | None, typer.Option(help="Only at this EVSE")] = None,
    url: UrlOption = None,
    config: ConfigOption = None,
) -> None:
    """ClearTariffs on STATION."""
    out = _api(
        config, f"/api/v1/stations/{station}/tariffs/clear", {"tariff_ids": tariff or [], "evse_id": evse}, url=url
    )
    for r in out["result"]["results"]:
        console.print(f"{r['tariff_id'] or '(none)'}: {r['status']}")
    _print_held(out["held"])


@tariffs_app.command("change-transaction")
def change_transaction(
    transaction: Annotated[int, typer.Argument(help="A running transaction's id")],
    tariff_id: str,
    version: Annotated[int | None, typer.Option(help="Tariff version id (default: the one in force)")] = None,
    url: UrlOption = None,
    config: ConfigOption = None,
) -> None:
    """ChangeTransactionTariff: the running TRANSACTION is priced by TARIFF_ID from now on (2.1)."""
    out = _api(config, f"/api/v1/transactions/{transaction}/tariff", {"tariff_id": tariff_id, "version_id": version},
               url=url)  # fmt: skip
    console.print(f"transaction {transaction}: {out['stored']['tariff_id']}: {out['result']['status']}")
    if not out["accepted"]:
        raise typer.Exit(1)


@tariffs_app.command("ocpp21")
def ocpp21(
    tariff_id: str,
    version: Annotated[int | None, typer.Option(help="Tariff version id (default: the one in force)")] = None,
    config: ConfigOption = None,
) -> None:
    """The OCPP 2.1 Tariff TARIFF_ID becomes (or what 2.1 cannot express, named)."""
    from ocppd.csms.billing.ocpp21 import NotMappable
    from ocppd.csms.billing.station_tariffs import mapped_version

    try:
        _, payload = with_store(settings_for(config), mapped_version, tariff_id, version)
    except (NotMappable, BillingError, TariffError) as exc:
        raise fail(f"not expressible in OCPP 2.1: {exc}") from None
    console.print_json(json.dumps(payload))


@tariffs_app.command("meter-keys")
def meter_keys(station: str, config: ConfigOption = None) -> None:
    """The public keys of STATION's fiscal meters per EVSE (for verifying signed meter values)."""
    rows = with_store(settings_for(config), br.meter_keys_of, station)
    if not rows:
        raise fail(f"{station}: no meter key reported (read FiscalMetering.PublicKey / MeterPublicKey[n])", code=1)
    for r in rows:
        console.print(f"EVSE {r.evse_id} ({r.variable}, {r.updated_at.isoformat()}): {r.public_key}")


@tariffs_app.command("totals")
def totals(
    period: Annotated[str, typer.Option(help="day or month (of the sessions' end)")] = "day",
    by: Annotated[str | None, typer.Option(help="site, station, group or token")] = None,
    tz: Annotated[str, typer.Option(help="IANA time zone of the days, e.g. Europe/Berlin")] = "UTC",
    since: Annotated[str | None, typer.Option(help="Ended from: a local date 2026-06-01 or a time")] = None,
    until: Annotated[str | None, typer.Option(help="Ended before: a local date or a time")] = None,
    site: Annotated[str | None, typer.Option(help="Only this site")] = None,
    station: Annotated[str | None, typer.Option(help="Only this station")] = None,
    group: Annotated[str | None, typer.Option(help="Only this token group")] = None,
    token: Annotated[str | None, typer.Option(help="Only this id token")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    config: ConfigOption = None,
) -> None:
    """Per day or month totals (sessions, energy, revenue), optionally by site, station, group or token
    (the same report as GET /api/v1/billing/totals)."""
    import csv
    import sys

    from ocppd.csms.billing import reports

    if period not in reports.PERIODS:
        raise fail(f"--period: must be one of {', '.join(reports.PERIODS)}")
    if by is not None and by not in reports.DIMENSIONS:
        raise fail(f"--by: must be one of {', '.join(reports.DIMENSIONS)}")
    try:
        zone = reports.zone_of(tz)
        start, end = reports.bound(since, zone, "--since"), reports.bound(until, zone, "--until")
    except reports.ReportError as exc:
        raise fail(f"{'--tz' if exc.where == 'tz' else exc.where}: {exc.message}") from None
    filters = {"site_id": site, "station_id": station, "group_id": group, "id_token": token}
    out = with_store(settings_for(config), totals_op, period, by, zone, start, end, filters)
    if as_json:
        console.print_json(json.dumps(out))
        return
    key = reports.DIMENSIONS[by] if by else None
    columns = ["period", *([key] if key else []), "currency", "transactions", "energy_wh", "duration_s",
               "charging_s", "parking_s", "excl_vat", "vat", "incl_vat"]  # fmt: skip
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(out)
        return
    table = Table(*columns)
    for row in out:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)
