"""Repository functions for the security block: certificates the CSMS's CA issued to stations.

Like ``repo``, every function takes a ``sqlalchemy.Connection`` first and never commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from .schema import station_certificates

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


def certificate_pem(conn: Connection, serial: str) -> str | None:
    row = conn.execute(select(_C.pem).where(_C.serial == serial)).first()
    return None if row is None else str(row[0])
