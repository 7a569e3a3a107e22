"""What an operator sees of certificates: per station (its trust store as last reported, its own
certificate from our CA, every CSR we signed for it) and across all stations by expiry.

Store operations (``conn`` first, like ``transactions.force_close_op``) so the API, the dashboard and
the admin CLI read the same views; the security block (``security.py``) does what acts on stations.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import Connection

from ocppd.csms.ca import CHARGING_STATION, COMBINED, V2G, serial_hex
from ocppd.store import repo, security_repo

# What the operator can ask a station to renew (RequestCertificate) and install (InstallCertificate).
RENEWABLE = (CHARGING_STATION, V2G, COMBINED)
INSTALLABLE = (
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
    "OEMRootCertificate",
)
MAX_HORIZON_DAYS = 36500  # "expiring within" at most a century: a larger one passes datetime's range
EXPIRY_WARNING_DAYS = 30  # the overview's "expiring soon" (the same default as ca.expiry_warning_days)
ExpiryKey = tuple[datetime, str, str, str]


def days_left(not_after: datetime | None, now: datetime) -> float | None:
    return None if not_after is None else round((not_after - now).total_seconds() / 86400, 1)


def normalise_serial(serial: str) -> str:
    """Serials compare as hex numbers: ``0x0a1b``, ``0A1B`` and ``a1b`` are one serial."""
    return serial.strip().lower().removeprefix("0x").lstrip("0") or "0"


def views_op(conn: Connection, station_id: str | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per station that has any certificate (or only ``station_id``), by station id:

    ``own``: the certificates it holds from our CA now (one per type: the newest accepted, not revoked);
    ``issued``: every certificate signed for its CSRs, newest first, with its ``state`` (issued, accepted,
    rejected, undelivered, superseded by a newer one, revoked); ``installed``: its trust store as it last
    reported it (or as we installed it), without PEMs; ``presented``: the client certificate it last
    showed at TLS (security profile 3), from whichever CA, or None."""
    now = now or datetime.now(UTC)
    current = security_repo.current_issued_of(conn, station_id)
    views: dict[str, dict[str, Any]] = {}

    def view(sid: str) -> dict[str, Any]:
        return views.setdefault(sid, {"station_id": sid, "own": [], "issued": [], "installed": [], "presented": None})

    for sid, record in security_repo.presented_certificates_of(conn, station_id).items():
        view(sid)["presented"] = {**record, "days_left": days_left(record["not_after"], now)}

    for row in security_repo.station_certificates_of(conn, station_id):
        row["current"] = row["serial"] in current
        row["days_left"] = days_left(row["not_after"], now)
        row["state"] = _state(row, current)
        view(row["station_id"])["issued"].append(row)
        if row["current"]:
            view(row["station_id"])["own"].append(row)
    for row in security_repo.installed_certificates_of(conn, station_id):
        row.pop("pem", None)
        row["days_left"] = days_left(row["not_after"], now)
        view(row["station_id"])["installed"].append(row)
    return [views[sid] for sid in sorted(views)]


def station_view_op(conn: Connection, station_id: str, now: datetime | None = None) -> dict[str, Any] | None:
    """One station's view (see :func:`views_op`); None for a station the CSMS does not know."""
    found = views_op(conn, station_id, now)
    if found:
        return found[0]
    if repo.get_station(conn, station_id) is None:
        return None
    return {"station_id": station_id, "own": [], "issued": [], "installed": [], "presented": None}


def _state(row: dict[str, Any], current: set[str]) -> str:
    """The stored status, or what happened after the station accepted it."""
    if row["revoked_at"]:
        return "revoked"
    if row["status"] == "accepted" and row["serial"] not in current:
        return "superseded"
    return str(row["status"])


def find_op(conn: Connection, serial: str, station_id: str | None = None) -> list[dict[str, Any]]:
    """Every certificate with this serial (issued by our CA, or in a station's trust store), with what
    its PEM says when the CSMS has it (issuer, validity, key, SHA-256 fingerprint)."""
    wanted = normalise_serial(serial)  # ValueError when it is no hex number
    found: list[dict[str, Any]] = []
    issued = security_repo.issued_certificate(conn, serial_hex(int(wanted, 16)))
    if issued is not None and station_id in (None, issued["station_id"]):
        found.append({"kind": "issued", **issued, "details": describe_pem(issued["pem"])})
    for row in security_repo.installed_certificates_of(conn, station_id):
        if normalise_serial(row["serial_number"]) == wanted:
            found.append({"kind": "installed", **row, "details": describe_pem(row["pem"]) if row["pem"] else None})
    return found


def describe_pem(text: str) -> dict[str, Any]:
    """The facts of the first certificate in ``text`` an operator checks."""
    certificate = x509.load_pem_x509_certificates(text.encode())[0]
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key_text = f"EC {key.curve.name}"
    elif isinstance(key, rsa.RSAPublicKey):
        key_text = f"RSA {key.key_size}"
    else:
        key_text = type(key).__name__.removesuffix("PublicKey")
    der = certificate.public_bytes(serialization.Encoding.DER)
    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "not_before": certificate.not_valid_before_utc,
        "not_after": certificate.not_valid_after_utc,
        "key": key_text,
        "sha256_fingerprint": hashlib.sha256(der).hexdigest(),
    }


def expiring_op(
    conn: Connection,
    *,
    within_days: float | None = None,
    station_id: str | None = None,
    certificate_type: str | None = None,
    after: ExpiryKey | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> tuple[list[dict[str, Any]], ExpiryKey | None]:
    """One page of the certificates stations hold, soonest expiry first (the expired ones first of all),
    and the key of the next page (None: the last). ``within_days``: only those expiring before then."""
    now = now or datetime.now(UTC)
    before = None if within_days is None else now + timedelta(days=within_days)
    rows = security_repo.held_by_expiry(conn, before=before, station_id=station_id, certificate_type=certificate_type,
                                        after=after, limit=limit + 1)  # fmt: skip
    for row in rows:
        row["days_left"] = days_left(row["not_after"], now)
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], (last["not_after"], last["station_id"], last["kind"], last["ref"])


def summary_op(conn: Connection, days: float = EXPIRY_WARNING_DAYS, now: datetime | None = None) -> dict[str, Any]:
    """Counts per certificate type (held, expired, expiring within ``days``, expiry unknown) and totals."""
    now = now or datetime.now(UTC)
    by_type = security_repo.expiry_by_type(conn, now, now + timedelta(days=days))
    totals = {k: sum(r[k] for r in by_type) for k in ("total", "expired", "expiring", "unknown")}
    return {"days": days, "by_type": by_type, **totals}


def presented_record(der: bytes, seen_at: datetime) -> dict[str, Any]:
    """What is kept of a client certificate a station presented at TLS."""
    certificate = x509.load_der_x509_certificate(der)
    return {
        "serial": serial_hex(certificate.serial_number),
        "subject": certificate.subject.rfc4514_string()[:512],
        "issuer": certificate.issuer.rfc4514_string()[:512],
        "not_before": certificate.not_valid_before_utc,
        "not_after": certificate.not_valid_after_utc,
        "sha256_fingerprint": hashlib.sha256(der).hexdigest(),
        "seen_at": seen_at,
    }
