"""Who may call what: bearer tokens (API keys, the local admin token) and dashboard sessions.

Roles: ``read-only`` may read everything; ``admin`` may also change state and talk to stations.
A session cookie alone never authorises a state change: unsafe methods also need the session's
CSRF token in ``X-CSRF-Token`` (or a ``csrf_token`` form field), which other origins cannot read.

Dashboard sessions live in the store (``web_sessions``): the cookie is ``<session id>.<HMAC>``, the
database keeps only SHA-256 of the id. Every request looks the session up (through a cache of
``SESSION_CACHE_S`` seconds), so logout ends it at once and a change made by another process
(``ocppd users delete``, a password or role change, ``ocppd apikeys revoke``) within that time.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ocppd.api.errors import ApiError
from ocppd.api.security import SESSION_COOKIE, SESSION_LIFETIME_S, Principal, hash_secret, sign, split_api_key
from ocppd.store import Store, auth_repo
from ocppd.store.auth_repo import WebSessionRow

log = logging.getLogger("ocppd.api.auth")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is informative: don't write on every request
SESSION_CACHE_S = 2.0  # how long a looked-up session is trusted before the store is asked again
_SESSION_CACHE_MAX = 4096

bearer_scheme = HTTPBearer(auto_error=False, description="An API key from `ocppd apikeys create`")


def background(future: asyncio.Future[Any]) -> None:
    """Let an informative write (last used/login time) finish on its own; log instead of raising."""

    def done(f: asyncio.Future[Any]) -> None:
        if not f.cancelled() and f.exception() is not None:
            log.warning("background write failed: %s", f.exception())

    future.add_done_callback(done)


class Authenticator:
    def __init__(
        self, store: Store, admin_token: str, session_key: bytes, session_lifetime_s: int = SESSION_LIFETIME_S
    ) -> None:
        self.store = store
        self.admin_token = admin_token
        self.session_key = session_key
        self.session_lifetime_s = session_lifetime_s
        # Sessions opened with the admin token die when the token file is replaced.
        self._admin_login = "admin-token:" + hash_secret(admin_token)[:16]
        self._sessions: dict[str, tuple[float, WebSessionRow]] = {}  # session hash -> (looked up at, row)
        self._epoch = 0  # bumped by every logout: a lookup that overlapped it is not cached
        self.login_throttle = LoginThrottle()

    async def bearer(self, token: str) -> Principal:
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Principal("admin.token", "admin", "token")
        parts = split_api_key(token)
        if parts is not None:
            key_id, secret = parts
            row = await self.store.read(auth_repo.get_api_key, key_id)
            if row is not None and row.revoked_at is None and hmac.compare_digest(row.key_hash, hash_secret(secret)):
                now = datetime.now(UTC)
                if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
                    background(self.store.write(auth_repo.touch_api_key, key_id, now))
                return Principal(row.name, row.role, "token")
        raise ApiError(401, "invalid or revoked bearer token", "unauthorized")

    def token_login(self, token: str) -> str:
        """``web_sessions.login`` for a dashboard login with a (valid) bearer token."""
        parts = split_api_key(token)
        return auth_repo.api_key_login(parts[0]) if parts is not None else self._admin_login

    async def identify(self, request: Request) -> Principal | None:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return await self.bearer(header[7:].strip())
        return await self.session(request.cookies.get(SESSION_COOKIE))

    # ------------------------------------------------------------------ dashboard sessions

    def _mac(self, purpose: str, session_id: str) -> str:
        return sign(self.session_key, f"{purpose}:{session_id}")

    def _session_id(self, cookie: str | None) -> str | None:
        """The session id of a cookie we signed, else None (no store lookup for garbage)."""
        if not cookie or "." not in cookie:
            return None
        session_id, _, signature = cookie.rpartition(".")
        if not session_id or not hmac.compare_digest(signature, self._mac("session", session_id)):
            return None
        return session_id

    async def open_session(self, principal: Principal, login: str) -> str:
        """Record a new session for ``principal`` and return its cookie value.

        ``login`` is how it was opened: ``auth_repo.PASSWORD_LOGIN`` or :meth:`token_login`.
        """
        session_id = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=self.session_lifetime_s)
        await self.store.write(
            auth_repo.add_web_session, hash_secret(session_id), principal.name, principal.role, login, expires
        )
        background(self.store.write(auth_repo.prune_web_sessions, now))
        return f"{session_id}.{self._mac('session', session_id)}"

    async def session(self, cookie: str | None) -> Principal | None:
        """The principal of a live session cookie; None if unsigned, unknown, revoked or expired."""
        session_id = self._session_id(cookie)
        if session_id is None:
            return None
        key = hash_secret(session_id)
        started = time.monotonic()
        cached = self._sessions.get(key)
        if cached is not None and started - cached[0] < SESSION_CACHE_S:
            row: WebSessionRow | None = cached[1]
        else:
            epoch = self._epoch
            row = await self.store.read(auth_repo.get_web_session, key)
            if row is not None and epoch == self._epoch:
                if len(self._sessions) >= _SESSION_CACHE_MAX:
                    self._sessions.clear()
                self._sessions[key] = (started, row)
        now = datetime.now(UTC)
        if row is None or not row.valid_at(now) or not self._login_still_valid(row):
            self._sessions.pop(key, None)
            return None
        if now - row.last_seen_at > _TOUCH_EVERY:
            if (entry := self._sessions.get(key)) is not None:
                self._sessions[key] = (entry[0], replace(row, last_seen_at=now))  # touch once, not per request
            background(self.store.write(auth_repo.touch_web_session, key, now))
        return Principal(row.username, row.role, "session", csrf=self._mac("csrf", session_id))

    def _login_still_valid(self, row: WebSessionRow) -> bool:
        return not row.login.startswith("admin-token:") or hmac.compare_digest(row.login, self._admin_login)

    async def close_session(self, cookie: str | None) -> bool:
        """Revoke the cookie's session (logout); it is refused from the next request on."""
        session_id = self._session_id(cookie)
        if session_id is None:
            return False
        key = hash_secret(session_id)
        self._sessions.pop(key, None)
        try:
            return await self.store.write(auth_repo.revoke_web_session, key)
        finally:
            # A lookup that started before the revocation committed may have read the live row:
            # the new epoch keeps it out of the cache.
            self._epoch += 1
            self._sessions.pop(key, None)


async def _csrf_ok(request: Request, principal: Principal) -> bool:
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get("csrf_token", ""))
    return bool(sent) and principal.csrf is not None and hmac.compare_digest(sent, principal.csrf)


async def current_principal(
    request: Request, _creds: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> Principal:
    """Any authenticated caller (read-only or admin); 401 without credentials."""
    auth: Authenticator = request.app.state.auth
    principal = await auth.identify(request)
    if principal is None:
        raise ApiError(401, "authentication required: send 'Authorization: Bearer <API key>'", "unauthorized")
    if principal.via == "session" and request.method not in _SAFE_METHODS and not await _csrf_ok(request, principal):
        raise ApiError(403, "missing or invalid CSRF token", "csrf")
    request.state.principal = principal
    return principal


async def require_admin(principal: Principal = Depends(current_principal)) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, f"{principal.name!r} is read-only: this needs the admin role", "forbidden")
    return principal


# ---------------------------------------------------------------------------------------- login throttling
LOGIN_FREE_FAILURES = {"user": 5, "address": 20}  # failed logins before waits begin
LOGIN_FIRST_WAIT_S = 1.0  # then 1, 2, 4, ... seconds per further failure
LOGIN_MAX_WAIT_S = 300.0
LOGIN_FORGET_S = 900.0  # failures older than this (since the last one) are forgotten
_THROTTLE_MAX_KEYS = 100_000  # bounded memory under a spray of user names / addresses


def login_wait(failures: int, free: int, first: float = LOGIN_FIRST_WAIT_S, cap: float = LOGIN_MAX_WAIT_S) -> float:
    """Seconds a key must wait after ``failures`` consecutive failed logins (pure)."""
    if failures <= free:
        return 0.0
    return min(cap, first * 2.0 ** (failures - free - 1))


class LoginThrottle:
    """Failed dashboard logins per user name and per client address: after a few, each further one
    makes the next attempt wait longer (exponential, capped); a login tried while waiting is answered
    429 with Retry-After without checking the password, so guessing runs at a few tries an hour."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}  # (kind, key) -> (count, last failure)

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        keys = [("address", address)]
        if username:
            keys.append(("user", username.lower()))
        return keys

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until a login for ``username`` from ``address`` may be tried; 0 when it may now."""
        now = self._clock()
        wait = 0.0
        for key in self._keys(username, address):
            count, last = self._failures.get(key, (0, 0.0))
            if count and now - last > LOGIN_FORGET_S:
                del self._failures[key]
                continue
            wait = max(wait, last + login_wait(count, LOGIN_FREE_FAILURES[key[0]]) - now)
        return max(0.0, wait)

    def failed(self, username: str, address: str) -> int:
        """Count a failure; returns the user's (or, without a user name, the address's) failure count."""
        now = self._clock()
        if len(self._failures) >= _THROTTLE_MAX_KEYS:
            oldest = min(self._failures, key=lambda k: self._failures[k][1])
            del self._failures[oldest]
        counts = []
        for key in self._keys(username, address):
            count = self._failures.get(key, (0, 0.0))[0] + 1
            self._failures[key] = (count, now)
            counts.append(count)
        return counts[-1]

    def succeeded(self, username: str) -> None:
        """The user's failures end; the address's stay (one valid account must not unlock guessing others)."""
        if username:
            self._failures.pop(("user", username.lower()), None)
