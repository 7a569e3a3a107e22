"""Per-station security profiles: which connection a station may come in with (pure, no I/O).

A connection reaches a *level*: 3 with a client certificate the TLS layer verified and whose CN is the
station (checked by the transport), 2 with TLS and the right Basic password, 1 with the right password
over plain WebSocket, 0 with no credentials. A station is let in when the level is at least its
*required* profile: the profile stored for it, raised to 1 when a password is stored (a station with a
password must use it, or a certificate). Profiles only go up (OCA A_19, 1.6 TC_083): once a station
has confirmed a higher profile, the lower connection is refused.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int  # the HTTP status of the refused upgrade
    reason: str  # a short code for the metric label
    detail: str  # for the log line


def connection_level(*, tls: bool, certificate: bool, password_ok: bool) -> int:
    if certificate:
        return 3
    if password_ok:
        return 2 if tls else 1
    return 0


def required_profile(stored: int | None, default: int, has_password: bool) -> int:
    return max(default if stored is None else stored, 1 if has_password else 0)


def admission(*, required: int, tls: bool, certificate: bool, password_sent: bool, password_ok: bool) -> Refusal | None:
    """None to let the station in, else why not. A wrong password is refused even when not needed."""
    if password_sent and not password_ok and not certificate:
        return Refusal(401, "wrong_password", "wrong Basic-auth password or user name")
    level = connection_level(tls=tls, certificate=certificate, password_ok=password_ok)
    if level >= required:
        return None
    if required == 3:
        return Refusal(401, "certificate_required", "security profile 3: a client certificate is required")
    if required == 2 and not tls:
        return Refusal(401, "tls_required", "security profile 2: TLS is required")
    return Refusal(401, "password_required", f"security profile {required}: Basic-auth credentials are required")
