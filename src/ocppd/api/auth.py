"""Who may call what: bearer tokens (API keys, the local admin token) and dashboard sessions.

Roles: ``read-only`` may read everything; ``admin`` may also change state and talk to stations.
A session cookie alone never authorises a state change: unsafe methods also need the session's
CSRF token in ``X-CSRF-Token`` (or a ``csrf_token`` form field), which other origins cannot read.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ocppd.api.errors import ApiError
from ocppd.api.security import SESSION_COOKIE, Principal, hash_secret, read_session, split_api_key
from ocppd.store import Store, auth_repo

log = logging.getLogger("ocppd.api.auth")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is informative: don't write on every request

bearer_scheme = HTTPBearer(auto_error=False, description="An API key from `ocppd apikeys create`")


def background(future: asyncio.Future[Any]) -> None:
    """Let an informative write (last used/login time) finish on its own; log instead of raising."""

    def done(f: asyncio.Future[Any]) -> None:
        if not f.cancelled() and f.exception() is not None:
            log.warning("background write failed: %s", f.exception())

    future.add_done_callback(done)


class Authenticator:
    def __init__(self, store: Store, admin_token: str, session_key: bytes) -> None:
        self.store = store
        self.admin_token = admin_token
        self.session_key = session_key

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

    async def identify(self, request: Request) -> Principal | None:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return await self.bearer(header[7:].strip())
        return read_session(self.session_key, request.cookies.get(SESSION_COOKIE))


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
