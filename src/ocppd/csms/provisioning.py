"""Provisioning: who may connect, registration on BootNotification, heartbeats.

Registration policy for unknown stations (``ocpp.unknown_stations``): ``accept`` registers them at
once (like SteVe's auto-register option), ``pending`` records them and answers Pending until the
operator approves, ``reject`` records them and answers Rejected. Either way the operator sees them.

Takeover: a connection that would replace a station's live one is refused with 409 unless it
authenticates as that station (its Basic-auth password, or in security profile 3 its certificate), or
the operator allows it for that station (``ocpp.replace_unauthenticated``). Otherwise anyone who knows
a password-less station's id could kick it off and receive its operator commands. A station whose
old connection died without a close is let in once the WebSocket ping notices (``ocpp.ping_interval``
+ ``ocpp.ping_timeout``); give it a password to be let in at once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ocppd import metrics
from ocppd.config import Settings
from ocppd.csms.events import EventBus
from ocppd.logs import RateLimitedLog
from ocppd.protocol.compat import CompatProfile
from ocppd.store import Store, repo

log = logging.getLogger(__name__)
_refusals = RateLimitedLog(log)

REGISTRATION_TO_OCPP = {"accepted": "Accepted", "pending": "Pending", "rejected": "Rejected"}


def hash_password(password: str) -> str:
    """A salted SHA-256: station passwords are machine-made, 16+ random characters, so a slow KDF
    would only cost boot-storm time without adding real protection."""
    salt = secrets.token_hex(8)
    return f"sha256${salt}${hashlib.sha256((salt + password).encode()).hexdigest()}"


def check_password(stored: str, password: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$", 2)
    except ValueError:
        return False
    if scheme != "sha256":
        return False
    return hmac.compare_digest(hashlib.sha256((salt + password).encode()).hexdigest(), digest)


def credentials_of(password_hash: str | None, required_profile: int) -> str:
    """How a station proves its identity: ``certificate`` (it must connect with profile 3), ``password``,
    or ``none`` -- then anyone who knows its id may connect as it (shown to the operator)."""
    if required_profile >= 3:
        return "certificate"
    return "password" if password_hash else "none"


def takeover_refusal(settings: Settings, station_id: str, remote: str, live_remote: str) -> int | None:
    """409 for a connection that would replace the station's live one without authenticating as it,
    unless ``ocpp.replace_unauthenticated`` allows that for the station (module docstring)."""
    allowed = settings.ocpp.replace_unauthenticated
    if "*" in allowed or station_id in allowed:
        return None
    metrics.CONNECTIONS_REFUSED.labels("takeover").inc()
    _refusals.log(
        logging.WARNING,
        "409",
        "%s: refused 409 from %s: the station is connected from %s and this connection does not "
        "authenticate as it (give it a password, or list it in ocpp.replace_unauthenticated)",
        station_id,
        remote,
        live_remote,
    )
    return 409


@dataclass(slots=True)
class StationEntry:
    """What the connection path needs to know about a station without a database round trip."""

    registration: str
    password_hash: str | None
    vendor: str | None
    model: str | None
    security_profile: int | None = None  # None: ocpp.default_security_profile


class StationDirectory:
    """An in-memory view of the stations table, refreshed from the store (the CLI writes there too)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.entries: dict[str, StationEntry] = {}
        # Called with the station id when a refresh finds its registration changed (API or CLI).
        self.registration_listeners: list[Callable[[str], None]] = []
        # Called with the station id when a refresh finds it deleted (API or CLI).
        self.removal_listeners: list[Callable[[str], None]] = []

    async def refresh(self) -> None:
        seen = self.entries
        rows = await self._store.read(repo.station_directory)
        old = self.entries
        self.entries = {
            station_id: StationEntry(registration or "pending", password_hash, vendor, model, profile)
            for station_id, registration, password_hash, vendor, model, profile in rows
        }
        for station_id, entry in self.entries.items():
            before = old.get(station_id)
            if before is not None and before.registration != entry.registration:
                for listener in self.registration_listeners:
                    listener(station_id)
        for station_id, before in seen.items():
            # Gone from the database; an entry a boot replaced while we read is not a deletion.
            if station_id not in self.entries and old.get(station_id) is before:
                for listener in self.removal_listeners:
                    listener(station_id)

    def get(self, station_id: str) -> StationEntry | None:
        return self.entries.get(station_id)


def parse_basic_auth(header: str | None, identity: str) -> str | None:
    """The password from ``Authorization: Basic``; split on the known identity, not the first ':'."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except ValueError:
        return None
    prefix = identity + ":"
    return decoded[len(prefix) :] if decoded.startswith(prefix) else None


class Provisioning:
    def __init__(self, settings: Settings, store: Store, events: EventBus, directory: StationDirectory) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.directory = directory

    def compat_for(self, station_id: str) -> CompatProfile:
        entry = self.directory.get(station_id)
        return self.settings.compat_profile(station_id, entry.vendor if entry else None, entry.model if entry else None)

    async def boot(self, station_id: str, version: str, info: dict[str, Any]) -> tuple[str, int]:
        """Record a boot; return the OCPP registration status and the heartbeat interval."""
        policy = self.settings.ocpp.unknown_stations
        default = {"accept": "accepted", "pending": "pending", "reject": "rejected"}[policy]

        def op(conn: Any) -> str:
            existing = repo.get_station(conn, station_id)
            registration = (existing.registration_status if existing is not None else None) or default
            repo.record_boot(
                conn,
                station_id,
                version,
                info.get("vendor"),
                info.get("model"),
                info.get("serial_number"),
                info.get("firmware_version"),
                info,
                registration,
            )
            return registration

        registration = await self.store.write(op)
        entry = self.directory.get(station_id)
        self.directory.entries[station_id] = StationEntry(
            registration,
            entry.password_hash if entry else None,
            info.get("vendor"),
            info.get("model"),
            entry.security_profile if entry else None,
        )
        self.events.publish("station.booted", station_id, registration=registration, **_public(info))
        return REGISTRATION_TO_OCPP[registration], self.settings.ocpp.heartbeat_interval

    async def heartbeat(self, station_id: str) -> datetime:
        """The answer (the time) does not depend on the write, so it does not wait for the commit:
        heartbeats of all stations share one executemany per batch and land a moment later."""
        now = datetime.now(UTC)
        self.store.write_rows(repo.record_heartbeats, [(station_id, now)]).add_done_callback(_log_failed_write)
        return now


def _log_failed_write(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("heartbeat not recorded: %s", future.exception())


def _public(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k in ("vendor", "model", "serial_number", "firmware_version")}
