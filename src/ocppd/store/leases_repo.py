"""Leases: a role or a job only one node plays at a time (the balancer, each firmware campaign's driver),
held until it expires unless renewed (docs/architecture.md). Atomic on SQLite and PostgreSQL.

Like ``repo``, every function takes a ``sqlalchemy.Connection`` first and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, case, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from .rows import _RowMixin
from .schema import leases


@dataclass(frozen=True, slots=True)
class LeaseRow(_RowMixin):
    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


def take_lease(conn: Connection, name: str, holder: str, now: datetime, until: datetime) -> LeaseRow:
    """Take or renew the lease ``name`` for ``holder`` until ``until`` if it is free, expired or already
    ``holder``'s; returns the lease as it stands afterwards (whoever holds it)."""
    c = leases.c
    renewed = conn.execute(
        update(leases)
        .where(c.name == name, or_(c.holder == holder, c.expires_at <= now))
        .values(
            holder=holder,
            expires_at=until,
            acquired_at=case((c.holder == holder, c.acquired_at), else_=now),
        )
    ).rowcount
    if not renewed:
        try:
            with conn.begin_nested():  # two nodes inserting at once: the second one loses, cleanly
                conn.execute(insert(leases).values(name=name, holder=holder, acquired_at=now, expires_at=until))
        except IntegrityError:
            pass
    row = conn.execute(select(leases).where(c.name == name)).one()
    return LeaseRow.from_row(row)


def release_lease(conn: Connection, name: str, holder: str) -> bool:
    """Give the lease up (a clean stop): another node may take it at once."""
    c = leases.c
    return bool(conn.execute(delete(leases).where(c.name == name, c.holder == holder)).rowcount)


def get_lease(conn: Connection, name: str) -> LeaseRow | None:
    row = conn.execute(select(leases).where(leases.c.name == name)).first()
    return None if row is None else LeaseRow.from_row(row)
