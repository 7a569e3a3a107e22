"""Repository functions for the security block: certificates the CSMS's CA issued to stations.

Like ``repo``, every function takes a ``sqlalchemy.Connection`` first and never commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, and_, case, cast, delete, func, literal, select, tuple_, union_all, update

from .schema import events, installed_certificates, presented_certificates, station_certificates
from .types import UTCDateTime, as_utc

_C = station_certificates.c


def add_issued_certificate(
    conn: Connection,
    serial: str,
    station_id: str,
    certificate_type: str,
    subject: str,
    issuer: str,
    not_before: datetime,
    not_after: datetime,
    pem: str,
    issued_at: datetime,
) -> None:
    conn.execute(
        station_certificates.insert().values(
            serial=serial, station_id=station_id, certificate_type=certificate_type, subject=subject, issuer=issuer,
            not_before=not_before, not_after=not_after, pem=pem, status="issued", issued_at=issued_at,
        )
    )  # fmt: skip


def set_certificate_status(conn: Connection, serial: str, status: str, status_info: str | None = None) -> None:
    conn.execute(update(station_certificates).where(_C.serial == serial).values(status=status, status_info=status_info))


def revoke_certificate(conn: Connection, serial: str, when: datetime, reason: str) -> bool:
    """Mark a certificate revoked (the first revocation counts); False if the serial is unknown."""
    if conn.execute(select(_C.serial).where(_C.serial == serial)).first() is None:
        return False
    conn.execute(
        update(station_certificates)
        .where(_C.serial == serial, _C.revoked_at.is_(None))
        .values(revoked_at=when, revocation_reason=reason)
    )
    return True


def revoked_serials(conn: Connection) -> list[tuple[str, datetime]]:
    rows = conn.execute(select(_C.serial, _C.revoked_at).where(_C.revoked_at.is_not(None)))
    return [(r[0], r[1]) for r in rows]


def station_certificates_of(conn: Connection, station_id: str | None = None) -> list[dict[str, Any]]:
    """Issued certificates, newest first (all stations when ``station_id`` is None), without the PEM."""
    query = select(
        _C.serial, _C.station_id, _C.certificate_type, _C.subject, _C.issuer, _C.not_before, _C.not_after,
        _C.status, _C.status_info, _C.issued_at, _C.revoked_at, _C.revocation_reason,
    ).order_by(_C.issued_at.desc())  # fmt: skip
    if station_id is not None:
        query = query.where(_C.station_id == station_id)
    return [dict(r._mapping) for r in conn.execute(query)]


# --------------------------------------------------------------------------- installed certificates

_I = installed_certificates.c


def installed_certificates_of(conn: Connection, station_id: str | None = None) -> list[dict[str, Any]]:
    query = select(installed_certificates).order_by(_I.station_id, _I.certificate_type, _I.id)
    if station_id is not None:
        query = query.where(_I.station_id == station_id)
    return [dict(r._mapping) for r in conn.execute(query)]


def add_installed_certificate(conn: Connection, station_id: str, row: dict[str, Any], at: datetime) -> None:
    conn.execute(installed_certificates.insert().values(station_id=station_id, updated_at=at, **row))


def replace_installed_certificates(
    conn: Connection, station_id: str, types: list[str] | None, rows: list[dict[str, Any]], at: datetime
) -> None:
    """The station's report of ``types`` (None: all) replaces what was known of them."""
    query = delete(installed_certificates).where(_I.station_id == station_id)
    if types is not None:
        query = query.where(_I.certificate_type.in_(types))
    conn.execute(query)
    for row in rows:
        add_installed_certificate(conn, station_id, row, at)


def delete_installed_certificate(conn: Connection, row_id: int) -> None:
    conn.execute(delete(installed_certificates).where(_I.id == row_id))


def get_installed_certificate(conn: Connection, row_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(installed_certificates).where(_I.id == row_id)).first()
    return None if row is None else dict(row._mapping)


def expiring_certificates(conn: Connection, before: datetime) -> list[tuple[str, str, str, str, datetime]]:
    """``(station_id, kind, type, name, not_after)`` of installed and issued (accepted, not revoked)
    certificates that expire before ``before``."""
    out: list[tuple[str, str, str, str, datetime]] = []
    for r in conn.execute(
        select(_I.station_id, _I.certificate_type, _I.subject, _I.serial_number, _I.not_after).where(
            _I.not_after.is_not(None), _I.not_after < before
        )
    ):
        out.append((r[0], "installed", r[1], r[2] or r[3], r[4]))
    for r in conn.execute(
        select(_C.station_id, _C.certificate_type, _C.serial, _C.not_after).where(
            _C.status == "accepted", _C.revoked_at.is_(None), _C.not_after < before
        )
    ):
        out.append((r[0], "issued", r[1], r[2], r[3]))
    return out


def prune_security_events(conn: Connection, older_than: datetime) -> int:
    result = conn.execute(
        delete(events).where(events.c.kind == "SecurityEventNotification", events.c.timestamp < older_than)
    )
    return int(result.rowcount or 0)


def security_events_of(conn: Connection, station_id: str | None, limit: int = 100) -> list[dict[str, Any]]:
    """Stored SecurityEventNotifications, newest first."""
    e = events.c
    query = select(e.id, e.station_id, e.timestamp, e.payload).where(e.kind == "SecurityEventNotification")
    if station_id is not None:
        query = query.where(e.station_id == station_id)
    rows = conn.execute(query.order_by(e.id.desc()).limit(limit))
    return [{"id": r[0], "station_id": r[1], "timestamp": r[2], **(r[3] or {})} for r in rows]


# --------------------------------------------------------------------------- what stations hold, by expiry


def _current_issued() -> Any:
    """The station certificates stations hold now and may use: accepted, not revoked, and no newer
    accepted one of the same type for that station (a renewal replaces the certificate on the station,
    and revoking the newer one does not bring the older one back)."""
    newer = station_certificates.alias("newer")
    n = newer.c
    replaced = (
        select(n.serial)
        .where(
            n.station_id == _C.station_id,
            n.certificate_type == _C.certificate_type,
            n.status == "accepted",
            n.issued_at > _C.issued_at,
        )
        .exists()
    )
    return _C.status == "accepted", _C.revoked_at.is_(None), ~replaced


def current_issued_of(conn: Connection, station_id: str | None = None) -> set[str]:
    """Serials of the stations' current certificates (see :func:`_current_issued`)."""
    query = select(_C.serial).where(*_current_issued())
    if station_id is not None:
        query = query.where(_C.station_id == station_id)
    return set(conn.scalars(query))


def _held() -> Any:
    """One row per certificate a station holds: ``kind`` installed (its trust store, as reported or
    installed), issued (its own certificate from our CA) or presented (the client certificate it showed
    at TLS, when another CA issued it: one of ours is already there as issued), with ``ref`` the row id
    or the serial."""
    installed = select(
        literal("installed").label("kind"), _I.station_id, _I.certificate_type, _I.subject,
        _I.serial_number.label("serial"), _I.not_after, _I.source.label("state"),
        cast(_I.id, String).label("ref"),
    )  # fmt: skip
    issued = select(
        literal("issued").label("kind"), _C.station_id, _C.certificate_type, _C.subject, _C.serial, _C.not_after,
        _C.status.label("state"), _C.serial.label("ref"),
    ).where(*_current_issued())  # fmt: skip
    ours = select(_C.serial).where(_C.serial == _P.serial, _C.station_id == _P.station_id).exists()
    presented = select(
        literal("presented").label("kind"), _P.station_id,
        literal("ChargingStationCertificate").label("certificate_type"), _P.subject, _P.serial, _P.not_after,
        literal("presented").label("state"), _P.serial.label("ref"),
    ).where(~ours)  # fmt: skip
    return union_all(installed, issued, presented).subquery("held")


def held_by_expiry(
    conn: Connection,
    *,
    before: datetime | None = None,
    station_id: str | None = None,
    certificate_type: str | None = None,
    after: tuple[datetime, str, str, str] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Certificates stations hold with a known expiry, soonest first (then station, kind, ref): one
    keyset page after ``after`` (the last row's ``(not_after, station_id, kind, ref)``)."""
    h = _held()
    query = select(h).where(h.c.not_after.is_not(None))
    if before is not None:
        query = query.where(h.c.not_after < before)
    if station_id is not None:
        query = query.where(h.c.station_id == station_id)
    if certificate_type is not None:
        query = query.where(h.c.certificate_type == certificate_type)
    if after is not None:
        key = (literal(after[0], UTCDateTime()), literal(after[1]), literal(after[2]), literal(after[3]))
        query = query.where(tuple_(h.c.not_after, h.c.station_id, h.c.kind, h.c.ref) > tuple_(*key))
    query = query.order_by(h.c.not_after, h.c.station_id, h.c.kind, h.c.ref).limit(limit)
    return [dict(r._mapping) for r in conn.execute(query)]


def expiry_by_type(conn: Connection, now: datetime, horizon: datetime) -> list[dict[str, Any]]:
    """Per certificate type: how many held certificates have expired, how many expire before ``horizon``,
    how many have no known expiry (reported by hash only), and the soonest expiry."""
    h = _held()
    known = h.c.not_after.is_not(None)
    query = (
        select(
            h.c.certificate_type,
            func.count().label("total"),
            func.sum(case((h.c.not_after < now, 1), else_=0)).label("expired"),
            func.sum(case((and_(h.c.not_after >= now, h.c.not_after < horizon), 1), else_=0)).label("expiring"),
            func.sum(case((known, 0), else_=1)).label("unknown"),
            func.min(h.c.not_after).label("soonest"),
        )
        .group_by(h.c.certificate_type)
        .order_by(h.c.certificate_type)
    )
    out = []
    for r in conn.execute(query):
        row = dict(r._mapping)
        soonest = row["soonest"]
        if isinstance(soonest, str):  # min() over a union loses the column type on SQLite
            soonest = datetime.fromisoformat(soonest)
        row["soonest"] = as_utc(soonest) if soonest is not None else None
        for count in ("total", "expired", "expiring", "unknown"):
            row[count] = int(row[count] or 0)
        out.append(row)
    return out


def issued_certificate(conn: Connection, serial: str) -> dict[str, Any] | None:
    """One issued certificate with its PEM."""
    row = conn.execute(select(station_certificates).where(_C.serial == serial)).first()
    return None if row is None else dict(row._mapping)


# --------------------------------------------------------------------------- certificates presented at TLS

_P = presented_certificates.c


def set_presented_certificate(conn: Connection, station_id: str, record: dict[str, Any]) -> bool:
    """Keep the client certificate the station presented at TLS; False when it presented this serial
    before (the first sighting's time stays)."""
    known = conn.execute(select(_P.serial).where(_P.station_id == station_id)).scalar()
    if known == record["serial"]:
        return False
    conn.execute(delete(presented_certificates).where(_P.station_id == station_id))
    conn.execute(presented_certificates.insert().values(station_id=station_id, **record))
    return True


def presented_certificates_of(conn: Connection, station_id: str | None = None) -> dict[str, dict[str, Any]]:
    """Station id -> the client certificate it last presented at TLS."""
    query = select(presented_certificates)
    if station_id is not None:
        query = query.where(_P.station_id == station_id)
    return {r.station_id: dict(r._mapping) for r in conn.execute(query)}
