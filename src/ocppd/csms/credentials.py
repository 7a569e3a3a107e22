"""Who may connect: per-station security profiles and Basic-auth passwords at the WebSocket upgrade.

The decision is :func:`ocppd.csms.profiles.admission` (pure); this class holds what it needs beyond
the station directory: the previous password of a station during the short switch-over after a
rotation (the station reconnects at once with the new one, but a slow one may still use the old),
and the profile a station is being upgraded to, confirmed when it connects at that level.
Every change is in the directory (what the connection path reads) before the call returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ocppd import metrics
from ocppd.config import Settings
from ocppd.csms import profiles
from ocppd.csms.events import EventBus
from ocppd.csms.provisioning import StationDirectory, check_password, parse_basic_auth, takeover_refusal
from ocppd.logs import RateLimitedLog
from ocppd.store import Store, repo

log = logging.getLogger("ocppd.credentials")
_refusals = RateLimitedLog(log)  # a misconfigured fleet retries every few seconds


@dataclass(slots=True)
class _Upgrade:
    target: int
    previous: int
    deadline: float  # time.monotonic()


class Credentials:
    def __init__(self, settings: Settings, store: Store, events: EventBus, directory: StationDirectory) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.directory = directory
        self._previous_password: dict[str, tuple[str, float]] = {}  # station -> (hash, until, monotonic)
        self._upgrades: dict[str, _Upgrade] = {}
        self._writes: set[asyncio.Future[Any]] = set()

    # ------------------------------------------------------------------ the connection path
    def admit(
        self,
        station_id: str,
        headers: Mapping[str, str],
        *,
        tls: bool,
        certificate: bool,
        remote: str = "",
        live_remote: str | None = None,
    ) -> int | None:
        """HTTP status to refuse the WebSocket upgrade with, or None to let the station in.

        ``certificate``: the connection presented a verified client certificate for this station (the
        transport checked the CN, the security block revocation). ``live_remote``: the address of the
        station's open connection, which only an authenticated connection may replace (takeover).
        """
        entry = self.directory.get(station_id)
        password_hash = entry.password_hash if entry is not None else None
        header = headers.get("Authorization")
        password = parse_basic_auth(header, station_id)
        password_ok = password is not None and password_hash is not None and check_password(password_hash, password)
        if password is not None and not password_ok:
            previous = self._previous_password.get(station_id)
            if previous is not None and previous[1] > time.monotonic():
                password_ok = check_password(previous[0], password)
        stored = entry.security_profile if entry is not None else None
        required = profiles.required_profile(stored, self.settings.ocpp.default_profile(), bool(password_hash))
        refusal = profiles.admission(
            required=required, tls=tls, certificate=certificate,
            password_sent=header is not None and password_hash is not None, password_ok=password_ok,
        )  # fmt: skip
        if refusal is not None:
            metrics.CONNECTIONS_REFUSED.labels(refusal.reason).inc()
            _refusals.log(logging.WARNING, refusal.reason, "%s: refused with %d (%s)%s", station_id, refusal.status,
                          refusal.detail, f" from {remote}" if remote else "")  # fmt: skip
            return refusal.status
        if live_remote is not None and not (certificate or password_ok):
            takeover = takeover_refusal(self.settings, station_id, remote, live_remote)
            if takeover is not None:
                return takeover
        upgrade = self._upgrades.get(station_id)
        if upgrade is not None:
            level = profiles.connection_level(tls=tls, certificate=certificate, password_ok=password_ok)
            if level >= upgrade.target:
                self._confirm(station_id, upgrade)
        return None

    # ------------------------------------------------------------------ changes
    async def set_password(self, station_id: str, password_hash: str | None, *, keep_previous_s: float = 0) -> None:
        """Store a station's password hash; the old one stays valid for ``keep_previous_s`` seconds."""
        entry = self.directory.get(station_id)
        await self.store.write(repo.upsert_station, station_id, auth_password_hash=password_hash)
        if entry is not None and entry.password_hash and keep_previous_s > 0:
            self._previous_password[station_id] = (entry.password_hash, time.monotonic() + keep_previous_s)
        await self._reload(station_id)

    async def set_profile(self, station_id: str, profile: int | None) -> None:
        """Store the profile a station must connect with (None: ``ocpp.default_security_profile``)."""
        await self.store.write(repo.upsert_station, station_id, security_profile=profile)
        await self._reload(station_id)

    def begin_upgrade(self, station_id: str, target: int, timeout_s: float) -> None:
        """The station was told to move to ``target``: confirm it when it connects at that level."""
        entry = self.directory.get(station_id)
        current = entry.security_profile if entry is not None and entry.security_profile is not None else -1
        self._upgrades[station_id] = _Upgrade(target, current, time.monotonic() + timeout_s)

    def required_profile(self, station_id: str) -> int:
        entry = self.directory.get(station_id)
        stored = entry.security_profile if entry is not None else None
        has_password = bool(entry is not None and entry.password_hash)
        return profiles.required_profile(stored, self.settings.ocpp.default_profile(), has_password)

    def stored_profile(self, station_id: str) -> int | None:
        entry = self.directory.get(station_id)
        return entry.security_profile if entry is not None else None

    def expire(self) -> None:
        """Drop finished switch-over windows; report upgrades that were not confirmed in time."""
        now = time.monotonic()
        for station_id, (_, until) in list(self._previous_password.items()):
            if until <= now:
                del self._previous_password[station_id]
        for station_id, upgrade in list(self._upgrades.items()):
            if upgrade.deadline <= now:
                del self._upgrades[station_id]
                stays = "its default" if upgrade.previous < 0 else str(upgrade.previous)
                log.warning("%s: security profile %d not confirmed in time; the station stays at profile %s",
                            station_id, upgrade.target, stays)  # fmt: skip
                self.events.publish("security_profile.upgrade_failed", station_id, target=upgrade.target,
                                    profile=None if upgrade.previous < 0 else upgrade.previous)  # fmt: skip

    # ------------------------------------------------------------------ helpers
    def _confirm(self, station_id: str, upgrade: _Upgrade) -> None:
        # In the directory now, so the lower profile is refused from the very next connection (A_19).
        del self._upgrades[station_id]
        entry = self.directory.get(station_id)
        if entry is not None:
            entry.security_profile = upgrade.target
        write = self.store.write(repo.upsert_station, station_id, security_profile=upgrade.target)
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)
        log.info("%s: security profile %d confirmed (the station connected with it)", station_id, upgrade.target)
        self.events.publish("security_profile.upgraded", station_id, profile=upgrade.target)

    async def _reload(self, station_id: str) -> None:
        await self.directory.refresh()
