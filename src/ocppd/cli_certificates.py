"""``ocppd certificates ...``: what the stations hold (their own certificate from the CA, the CSRs signed
for them, their trust stores) and the actions on it. Listing reads the database like the other admin
commands; what sends a message to a station (renew, install, delete, refresh) or changes what the
running server enforces (revoke) goes through the running server's API (docs/security.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ocppd.cli_verbs import _post
from ocppd.clicommon import ConfigOption, console, fail, settings_for, with_store
from ocppd.config import Settings
from ocppd.csms import certificates as views
from ocppd.csms.outbound import jsonable

certificates_app = typer.Typer(
    help="Station certificates: list what each station holds (its own certificate from the CA, the CSRs "
    "signed for it, its trust store as last reported), find those expiring, and act on them through the "
    "running server: renew (the station sends a new CSR), install a root, delete an installed one, revoke.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
UrlOption = Annotated[
    str | None, typer.Option(help="API base URL (default: the `ocppd serve` on this data directory).")
]
TIMEOUT_S = 60.0  # the API waits for the station; this only bounds a hung server


def register(app: typer.Typer) -> None:
    app.add_typer(certificates_app, name="certificates")


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _days(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _station_view(settings: Settings, station_id: str) -> dict[str, Any]:
    view = with_store(settings, views.station_view_op, station_id)
    if view is None:
        raise fail(f"unknown station {station_id!r}")
    return view  # type: ignore[no-any-return]


def _one_of(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise fail(f"{option}: {value!r} is not one of {', '.join(allowed)}")
    return value


@certificates_app.command("list")
def list_certificates(
    station: Annotated[str | None, typer.Option(help="Only this station.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Per station: the certificate it presents, its own from the CA, its trust store, its signed CSRs.

    "presented": the client certificate it last showed at TLS (profile 3, whichever CA issued it);
    "own": what it holds from the CA now (subject, serial, expiry); "installed": its trust store as it last
    reported it (`refresh` asks again; "ref" is what `delete` takes); "csr": the other certificates signed
    for its CSRs, with what became of them (rejected, undelivered, superseded, revoked)."""
    settings = settings_for(config)
    found = [_station_view(settings, station)] if station else with_store(settings, views.views_op)
    if as_json:
        typer.echo(json.dumps(jsonable(found), indent=2))
        return
    table = Table("station", "what", "type", "subject", "serial", "not after", "days", "state", "ref")
    for view in found:
        if (r := view["presented"]) is not None:
            table.add_row(view["station_id"], "presented", "at TLS", r["subject"], r["serial"], _when(r["not_after"]),
                          _days(r["days_left"]), f"seen {_when(r['seen_at'])}", "")  # fmt: skip
        for r in view["own"]:
            table.add_row(view["station_id"], "own", r["certificate_type"], r["subject"], r["serial"],
                          _when(r["not_after"]), _days(r["days_left"]), r["state"], "")  # fmt: skip
        for r in view["installed"]:
            table.add_row(view["station_id"], "installed", r["certificate_type"], r["subject"] or "",
                          r["serial_number"], _when(r["not_after"]), _days(r["days_left"]), r["source"],
                          str(r["id"]))  # fmt: skip
        for r in view["issued"]:
            if not r["current"]:
                table.add_row(view["station_id"], "csr", r["certificate_type"], r["subject"], r["serial"],
                              _when(r["not_after"]), _days(r["days_left"]), r["state"], "")  # fmt: skip
    if not table.rows:
        console.print("no certificates known" + (f" for station {station}" if station else ""))
        return
    console.print(table)


@certificates_app.command("show")
def show(
    serial: Annotated[str, typer.Argument(help="The serial number (hex, as `list` prints it).")],
    station: Annotated[str | None, typer.Option(help="Only this station's (when several hold the serial).")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """One certificate by serial: where it is, its state, issuer, validity, key and fingerprint.

    Issued by the CA or installed on a station; what the PEM says when the CSMS has it (a certificate a
    station reported by hash only shows its hash data)."""
    settings = settings_for(config)
    if station is not None:
        _station_view(settings, station)
    try:
        found = with_store(settings, views.find_op, serial, station)
    except ValueError:
        raise fail(f"serial: {serial!r} is not a hexadecimal number") from None
    if not found:
        raise fail(f"no certificate with serial {serial!r}" + (f" on station {station!r}" if station else ""))
    if as_json:
        typer.echo(json.dumps(jsonable(found), indent=2))
        return
    for item in found:
        details = item.get("details") or {}
        facts = {
            "kind": item["kind"],
            "station": item["station_id"],
            "type": item["certificate_type"],
            "serial": item.get("serial") or item.get("serial_number"),
            "subject": details.get("subject") or item.get("subject") or "(not known: reported by hash only)",
            "issuer": details.get("issuer") or item.get("issuer") or "",
            "valid from": _when(details.get("not_before") or item.get("not_before")),
            "valid until": _when(details.get("not_after") or item.get("not_after")),
            "key": details.get("key", ""),
            "sha256 fingerprint": details.get("sha256_fingerprint", ""),
            "state": item.get("status") or item.get("source"),
            "status info": item.get("status_info") or "",
            "revoked": f"{_when(item['revoked_at'])} ({item['revocation_reason']})" if item.get("revoked_at") else "",
            "installed row": str(item["id"]) if item["kind"] == "installed" else "",
        }
        for name, value in facts.items():
            if value:
                console.print(f"{name:>19}: {value}", highlight=False, markup=False)
        console.print()


MAX_LIMIT = 1_000_000  # rows `expiring` prints at most (a 64-bit LIMIT is past what SQLite binds)


@certificates_app.command("expiring")
def expiring(
    days: Annotated[float, typer.Option(help="Expiring within this many days (expired ones included).")] = 30,
    station: Annotated[str | None, typer.Option(help="Only this station.")] = None,
    certificate_type: Annotated[str | None, typer.Option("--type", help="Only this type, e.g. CSMSRootCertificate")] = (
        None
    ),
    limit: Annotated[int, typer.Option(help="At most this many, soonest first.")] = 1000,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when any is found (for cron and monitoring).")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Certificates expiring within --days across all stations, soonest first (for cron: --check).

    Their own certificates from the CA, the client certificates they present at TLS (from another CA)
    and the trust-store certificates whose expiry is known; expired ones first of all."""
    if not 0 <= days <= views.MAX_HORIZON_DAYS:
        raise fail(f"--days: must be 0 or more, at most {views.MAX_HORIZON_DAYS}")
    if not 1 <= limit <= MAX_LIMIT:
        raise fail(f"--limit: must be 1 to {MAX_LIMIT}")
    settings = settings_for(config)
    if station is not None:
        _station_view(settings, station)
    rows, more = with_store(settings, lambda conn: views.expiring_op(
        conn, within_days=days, station_id=station, certificate_type=certificate_type, limit=limit))  # fmt: skip
    if as_json:
        typer.echo(json.dumps(jsonable(rows), indent=2))
    elif not rows:
        console.print(f"no certificate expires within {days:g} days")
    else:
        table = Table("not after", "days", "station", "what", "type", "subject", "serial")
        for r in rows:
            what = {"issued": "own", "installed": "installed"}.get(r["kind"], r["kind"])
            table.add_row(_when(r["not_after"]), _days(r["days_left"]), r["station_id"], what, r["certificate_type"],
                          r["subject"] or "", r["serial"])  # fmt: skip
        console.print(table)
        if more is not None:
            console.print(f"(the first {limit}; more with --limit)")
    if check and rows:
        raise typer.Exit(1)


@certificates_app.command("renew")
def renew(
    station: str,
    certificate_type: Annotated[
        str, typer.Option("--type", help="ChargingStationCertificate, V2GCertificate or Combined (2.x).")
    ] = views.CHARGING_STATION,
    url: UrlOption = None,
    config: ConfigOption = None,
) -> None:
    """Trigger the station's certificate renewal through the running server.

    2.x TriggerMessage Sign...Certificate, 1.6 ExtendedTriggerMessage SignChargePointCertificate: the
    station sends a new CSR, the CA signs it and sends it back. Prints the station's answer (exit 1 unless
    Accepted); `list` shows the new certificate once the station installed it."""
    _one_of(certificate_type, views.RENEWABLE, "--type")
    settings = settings_for(config)
    _station_view(settings, station)
    path = f"/api/v1/stations/{_quote(station)}/certificates/renew"
    _print(_post(settings, path, {"certificate_type": certificate_type}, {}, TIMEOUT_S, url, input_error_code=2))


@certificates_app.command("refresh")
def refresh(station: str, url: UrlOption = None, config: ConfigOption = None) -> None:
    """Ask the station what its trust store holds (GetInstalledCertificateIds); `list` shows it."""
    settings = settings_for(config)
    _station_view(settings, station)
    path = f"/api/v1/stations/{_quote(station)}/certificates/installed/refresh"
    answer = _post(settings, path, {"certificate_types": []}, {}, TIMEOUT_S, url, input_error_code=2)
    console.print(f"{answer['status']}: {len(answer['certificates'])} certificates installed on {station}")


@certificates_app.command("install-root")
def install_root(
    station: str,
    file: Annotated[Path, typer.Argument(help="One PEM CA certificate.")],
    certificate_type: Annotated[
        str,
        typer.Option(
            "--type",
            help="CSMSRootCertificate, ManufacturerRootCertificate, "
            "V2GRootCertificate, MORootCertificate or OEMRootCertificate (2.1)",
        ),
    ] = "CSMSRootCertificate",
    url: UrlOption = None,
    config: ConfigOption = None,
) -> None:
    """Install a root (CA) certificate from FILE on the station (InstallCertificate).

    The file is checked first (one PEM CA certificate, valid now); nothing is sent otherwise."""
    from ocppd.csms.outbound import NotExpressible
    from ocppd.csms.security import parse_ca_certificate

    _one_of(certificate_type, views.INSTALLABLE, "--type")
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{file}: cannot be read ({exc.__class__.__name__}: {exc})") from None
    try:
        parse_ca_certificate(text)
    except NotExpressible as exc:
        raise fail(f"{file}: {str(exc).removeprefix('certificate: ')}") from None
    settings = settings_for(config)
    _station_view(settings, station)
    path = f"/api/v1/stations/{_quote(station)}/certificates/install"
    body = {"certificate_type": certificate_type, "certificate": text}
    _print(_post(settings, path, body, {}, TIMEOUT_S, url, input_error_code=2))


@certificates_app.command("delete")
def delete(
    station: str,
    certificate: Annotated[
        str,
        typer.Argument(help="The installed certificate: its ref (the `ref` column of `list`) or its serial number."),
    ],
    url: UrlOption = None,
    config: ConfigOption = None,
) -> None:
    """Delete one certificate from the station's trust store (DeleteCertificate).

    Sent with exactly the hash data the station reported; the row goes once the station says Accepted
    (or NotFound)."""
    settings = settings_for(config)
    installed = _station_view(settings, station)["installed"]
    matches = [r for r in installed if str(r["id"]) == certificate]
    if not matches:
        try:
            wanted = views.normalise_serial(certificate)
            matches = [r for r in installed if views.normalise_serial(r["serial_number"]) == wanted]
        except ValueError:
            matches = []
    if not matches:
        raise fail(f"station {station!r} has no installed certificate {certificate!r} (see `ocppd certificates "
                   f"list --station {station}`)")  # fmt: skip
    if len(matches) > 1:
        refs = ", ".join(str(r["id"]) for r in matches)
        raise fail(
            f"serial {certificate!r} is installed {len(matches)} times on {station!r} (refs {refs}): give the ref"
        )
    path = f"/api/v1/stations/{_quote(station)}/certificates/installed/{matches[0]['id']}"
    _print(_post(settings, path, None, {}, TIMEOUT_S, url, method="DELETE", input_error_code=2))


@certificates_app.command("revoke")
def revoke(
    serial: Annotated[str, typer.Argument(help="The serial of a certificate the CA issued.")],
    reason: Annotated[str, typer.Option(help="Recorded with it, e.g. keyCompromise.")] = "unspecified",
    url: UrlOption = None,
    config: ConfigOption = None,
) -> None:
    """Revoke a certificate the CA issued: the OCPP port refuses it (403), the CRL lists it."""
    if not reason.strip() or len(reason) > 64:
        raise fail("--reason: 1 to 64 characters")
    try:  # as `show` reads it: the API would say only "no certificate" for a serial that is no number
        int(views.normalise_serial(serial), 16)
    except ValueError:
        raise fail(f"serial: {serial!r} is not a hexadecimal number") from None
    settings = settings_for(config)
    path = f"/api/v1/certificates/{_quote(serial.strip())}/revoke"
    answer = _post(settings, path, {"reason": reason}, {}, TIMEOUT_S, url, input_error_code=2, plain_refusal=True)
    console.print(f"certificate {answer['serial']} revoked ({answer['reason']})", highlight=False)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _print(answer: dict[str, Any]) -> None:
    reason = f" ({answer['reason']})" if answer.get("reason") else ""
    console.print(f"{answer['status']}{reason}", highlight=False)
    if answer.get("status") not in ("Accepted", "Pending"):
        raise typer.Exit(1)
