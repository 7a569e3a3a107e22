"""Repository functions for operator authentication: API keys, dashboard users and their sessions.

Kept apart from ``repo`` because these tables belong to the operator API, not the OCPP domain.
Like ``repo``, every function takes a ``sqlalchemy.Connection`` first and never commits; hashing
happens in the caller (``ocppd.api.security``), only hashes reach the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, ColumnElement, Connection, Index, MetaData, String, Table, delete, select, update

from .rows import _RowMixin
from .types import UTCDateTime, utcnow

__all__ = [
    "PASSWORD_LOGIN",
    "ApiKeyRow",
    "UserRow",
    "WebSessionRow",
    "add_api_key",
    "add_web_session",
    "api_key_login",
    "delete_user",
    "get_api_key",
    "get_user",
    "get_web_session",
    "list_api_keys",
    "list_users",
    "list_web_sessions",
    "prune_web_sessions",
    "revoke_api_key",
    "revoke_user_sessions",
    "revoke_web_session",
    "touch_api_key",
    "touch_user",
    "touch_web_session",
    "upsert_user",
]

# ``web_sessions.login``: how the session was opened. Revoking the credential revokes its sessions.
PASSWORD_LOGIN = "password"  # a dashboard user; ``username`` is ``users.username``

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

# Dashboard sessions (revision 0003). The cookie carries a random session id; only its SHA-256 is
# stored, so a copy of the database cannot be turned into a working cookie.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("username", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("login", String(64), nullable=False),  # PASSWORD_LOGIN, "api-key:<key id>", "admin-token:<fingerprint>"
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Index("ix_web_sessions_username", "username"),
    Index("ix_web_sessions_expires_at", "expires_at"),
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


@dataclass(frozen=True, slots=True)
class WebSessionRow(_RowMixin):
    session_hash: str
    username: str
    role: str
    login: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def valid_at(self, at: datetime) -> bool:
        return self.revoked_at is None and at < self.expires_at


# --------------------------------------------------------------------------- API keys


def add_api_key(conn: Connection, key_id: str, name: str, key_hash: str, role: str) -> None:
    conn.execute(api_keys.insert().values(key_id=key_id, name=name, key_hash=key_hash, role=role, created_at=utcnow()))


def get_api_key(conn: Connection, key_id: str) -> ApiKeyRow | None:
    row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    return ApiKeyRow.from_row(row) if row else None


def list_api_keys(conn: Connection) -> list[ApiKeyRow]:
    return [ApiKeyRow.from_row(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.created_at))]


def revoke_api_key(conn: Connection, key_id: str) -> bool:
    """Revoke the key and the dashboard sessions opened with it; False if unknown or already revoked."""
    now = utcnow()
    res = conn.execute(
        update(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    _revoke_sessions(conn, web_sessions.c.login == api_key_login(key_id), now)
    return res.rowcount > 0


def touch_api_key(conn: Connection, key_id: str, at: datetime) -> None:
    conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(last_used_at=at))


# --------------------------------------------------------------------------- users


def upsert_user(conn: Connection, username: str, password_hash: str, role: str) -> bool:
    """Create the user or reset its password and role (ending its sessions); True if it was created."""
    exists = get_user(conn, username) is not None
    if exists:
        conn.execute(update(users).where(users.c.username == username).values(password_hash=password_hash, role=role))
        revoke_user_sessions(conn, username)
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
    """Delete the user and end its sessions; False if there is no such user."""
    revoke_user_sessions(conn, username)
    return conn.execute(delete(users).where(users.c.username == username)).rowcount > 0


def touch_user(conn: Connection, username: str, at: datetime) -> None:
    conn.execute(update(users).where(users.c.username == username).values(last_login_at=at))


# --------------------------------------------------------------------------- dashboard sessions


def api_key_login(key_id: str) -> str:
    """``web_sessions.login`` of a session opened with an API key."""
    return f"api-key:{key_id}"


def add_web_session(
    conn: Connection, session_hash: str, username: str, role: str, login: str, expires_at: datetime
) -> None:
    now = utcnow()
    conn.execute(
        web_sessions.insert().values(
            session_hash=session_hash,
            username=username,
            role=role,
            login=login,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )


def get_web_session(conn: Connection, session_hash: str) -> WebSessionRow | None:
    row = conn.execute(select(web_sessions).where(web_sessions.c.session_hash == session_hash)).first()
    return WebSessionRow.from_row(row) if row else None


def list_web_sessions(conn: Connection, username: str | None = None, *, valid_only: bool = True) -> list[WebSessionRow]:
    """Sessions, newest first; by default only those neither revoked nor expired."""
    query = select(web_sessions).order_by(web_sessions.c.created_at.desc())
    if username is not None:
        query = query.where(web_sessions.c.username == username)
    if valid_only:
        query = query.where(web_sessions.c.revoked_at.is_(None), web_sessions.c.expires_at > utcnow())
    return [WebSessionRow.from_row(r) for r in conn.execute(query)]


def touch_web_session(conn: Connection, session_hash: str, at: datetime) -> None:
    conn.execute(update(web_sessions).where(web_sessions.c.session_hash == session_hash).values(last_seen_at=at))


def revoke_web_session(conn: Connection, session_hash: str) -> bool:
    """End one session (logout); False if it is unknown or already revoked."""
    return _revoke_sessions(conn, web_sessions.c.session_hash == session_hash, utcnow()) > 0


def revoke_user_sessions(conn: Connection, username: str) -> int:
    """End every password session of ``username``; returns how many were still open."""
    where = (web_sessions.c.username == username) & (web_sessions.c.login == PASSWORD_LOGIN)
    return _revoke_sessions(conn, where, utcnow())


def prune_web_sessions(conn: Connection, now: datetime | None = None) -> int:
    """Delete expired sessions (revoked ones stay, for the record, until they expire); returns how many."""
    at = now if now is not None else utcnow()
    return conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= at)).rowcount


def _revoke_sessions(conn: Connection, where: ColumnElement[bool], at: datetime) -> int:
    res = conn.execute(update(web_sessions).where(where, web_sessions.c.revoked_at.is_(None)).values(revoked_at=at))
    return res.rowcount
