"""Credentials: API keys, dashboard passwords, signed session cookies and CSRF tokens.

API keys look like ``ocppd_<key id>_<secret>``; only SHA-256 of the secret is stored (the secret is
256 random bits, so a slow hash would add nothing). Passwords are people-made, so they get scrypt.
Dashboard sessions live in the store (see ``auth.py``); the login form's CSRF token is a
double-submit HMAC of a nonce, so a page from another origin can neither read nor forge it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ROLES = ("admin", "read-only")
KEY_PREFIX = "ocppd_"
SESSION_COOKIE = "ocppd_session"
LOGIN_CSRF_COOKIE = "ocppd_login_csrf"
SESSION_SECRET_FILE = "session.secret"
SESSION_LIFETIME_S = 12 * 3600

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: ``via`` is "token" (bearer) or "session" (dashboard cookie)."""

    name: str
    role: str
    via: str
    csrf: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# --------------------------------------------------------------------------- API keys


def new_api_key() -> tuple[str, str, str]:
    """A fresh key: ``(key_id, full token to hand out once, hash to store)``."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{KEY_PREFIX}{key_id}_{secret}", hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed API key, else None."""
    if not token.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = token[len(KEY_PREFIX) :].partition("_")
    if not sep or not key_id or not secret:
        return None
    return key_id, secret


# --------------------------------------------------------------------------- passwords


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


# --------------------------------------------------------------------------- sessions and CSRF


def session_secret(data_dir: Path) -> bytes:
    """The cookie-signing key, created once per data directory (so sessions survive restarts)."""
    path = data_dir / SESSION_SECRET_FILE
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    path.write_text(key.hex() + "\n")
    os.chmod(path, 0o600)
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(key: bytes, message: str) -> str:
    """URL-safe HMAC-SHA256 of ``message``: session cookies, CSRF tokens."""
    return _b64(hmac.new(key, message.encode(), hashlib.sha256).digest())


def login_csrf(key: bytes, nonce: str) -> str:
    """CSRF token of the login form (double-submit: the nonce travels in a cookie)."""
    return sign(key, "login:" + nonce)
