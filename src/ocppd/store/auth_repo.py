"""Repository functions for operator authentication: API keys and dashboard users.

Kept apart from ``repo`` because these tables belong to the operator API, not the OCPP domain.
Like ``repo``, every function takes a ``sqlalchemy.Connection`` first and never commits; hashing
happens in the caller (``ocppd.api.security``), only hashes reach the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Connection, MetaData, String, Table, delete, select, update

from .rows import _RowMixin
from .types import UTCDateTime, utcnow

__all__ = [
    "ApiKeyRow",
    "UserRow",
    "add_api_key",
    "delete_user",
    "get_api_key",
    "get_user",
    "list_api_keys",
    "list_users",
    "revoke_api_key",
    "touch_api_key",
    "touch_user",
    "upsert_user",
]

# Own metadata: schema.metadata belongs to the store owner; revision 0002 mirrors these tables.
metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("key_hash", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

users = Table(
    "users",
    metadata,
    Column("username", String(255), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime),
)


@dataclass(frozen=True, slots=True)
class ApiKeyRow(_RowMixin):
    key_id: str
    name: str
    key_hash: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class UserRow(_RowMixin):
    username: str
    password_hash: str
    role: str
    created_at: datetime
    last_login_at: datetime | None


# --------------------------------------------------------------------------- API keys


def add_api_key(conn: Connection, key_id: str, name: str, key_hash: str, role: str) -> None:
    conn.execute(api_keys.insert().values(key_id=key_id, name=name, key_hash=key_hash, role=role, created_at=utcnow()))


def get_api_key(conn: Connection, key_id: str) -> ApiKeyRow | None:
    row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    return ApiKeyRow.from_row(row) if row else None


def list_api_keys(conn: Connection) -> list[ApiKeyRow]:
    return [ApiKeyRow.from_row(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.created_at))]


def revoke_api_key(conn: Connection, key_id: str) -> bool:
    """False if the key is unknown or already revoked."""
    res = conn.execute(
        update(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    return res.rowcount > 0


def touch_api_key(conn: Connection, key_id: str, at: datetime) -> None:
    conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(last_used_at=at))


# --------------------------------------------------------------------------- users


def upsert_user(conn: Connection, username: str, password_hash: str, role: str) -> bool:
    """Create the user or reset its password and role; True if it was created."""
    exists = get_user(conn, username) is not None
    if exists:
        conn.execute(update(users).where(users.c.username == username).values(password_hash=password_hash, role=role))
    else:
        conn.execute(
            users.insert().values(username=username, password_hash=password_hash, role=role, created_at=utcnow())
        )
    return not exists


def get_user(conn: Connection, username: str) -> UserRow | None:
    row = conn.execute(select(users).where(users.c.username == username)).first()
    return UserRow.from_row(row) if row else None


def list_users(conn: Connection) -> list[UserRow]:
    return [UserRow.from_row(r) for r in conn.execute(select(users).order_by(users.c.username))]


def delete_user(conn: Connection, username: str) -> bool:
    return conn.execute(delete(users).where(users.c.username == username)).rowcount > 0


def touch_user(conn: Connection, username: str, at: datetime) -> None:
    conn.execute(update(users).where(users.c.username == username).values(last_login_at=at))
