"""The controller's own connection to the CSMS, as a charging station without EVSEs.

With ``local_controller.identity`` set, the controller boots at the CSMS under that identity, keeps a
heartbeat, and takes the station-max profiles the CSMS sends it (1.6 ChargePointMaxProfile on
connector 0, 2.0.1 ChargingStationMaxProfile on EVSE 0; 1.6 §3.13.3: the Central System limits a
group through its local controller). Their composite schedule, computed by ``ocppd.smart.schedule``
with the spec's stacking rules, becomes an external limit on the group's site (source ``csms``):
the balancer keeps the group under it, online or not. Profiles of other purposes are Rejected (the
controller has no EVSE to apply them to); operations it does not carry out are answered NotSupported.
The profiles are kept in ``data_dir`` so that a restarted controller applies them at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ocppd import metrics
from ocppd.localctl.relay import upstream_url
from ocppd.protocol.versions import OcppVersion
from ocppd.rpc.session import Payload, Session
from ocppd.smart.schedule import MAX, Profile, ProfileStore, format_time
from ocppd.transport.websocket import HandshakeRefused, connect

if TYPE_CHECKING:
    from ocppd.config import Settings
    from ocppd.csms.smart.sites import Sites

log = logging.getLogger("ocppd.localctl")

SOURCE = "csms"  # the external limit's source on the site node
PROFILES_FILE = "local-controller-profiles.json"
_HORIZON_S = 86400.0


class ControllerStation:
    def __init__(self, settings: Settings, sites: Sites, upstream_ssl: ssl.SSLContext) -> None:
        lc = settings.local_controller
        self.lc = lc
        self.sites = sites
        self.identity = lc.identity
        self.version = OcppVersion.from_subprotocol(lc.identity_version) or OcppVersion.V201
        self.url = upstream_url(lc.upstream_url, "/" + quote(lc.identity, safe=""))
        self.upstream_ssl = upstream_ssl
        self.profiles = ProfileStore(max_stack_level=1000)
        self.file = Path(settings.data_dir) / PROFILES_FILE
        self.session: Session | None = None
        self.applied: tuple[float | None, float | None] | None = None  # (watts, until) last put on the site
        self.up_since: float | None = None  # the connection to the CSMS: open since (None: not open)
        self.down_since: float | None = time.time()
        self.last_error = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._load()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run()), loop.create_task(self.apply())]

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    async def _run(self) -> None:
        failures = 0
        while True:
            password = self.lc.identity_password
            try:
                link = await connect(
                    self.url,
                    [self.version],
                    self._on_open,
                    basic_auth=(self.identity, password) if password else None,
                    ssl_context=self.upstream_ssl if self.url.startswith("wss://") else None,
                    ping_interval=self.lc.ping_interval,
                    timeout=self.lc.connect_timeout,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, unreachable, TLS: retried with backoff
                failures += 1
                self.last_error = str(exc) or type(exc).__name__
                level = logging.WARNING if isinstance(exc, HandshakeRefused) else logging.INFO
                log.log(level, "%s (controller): cannot connect to %s: %s", self.identity, self.url, exc)
                await asyncio.sleep(min(self.lc.reconnect_max_s, 0.5 * 2 ** min(failures, 10)))
                continue
            failures = 0
            metrics.LC_IDENTITY_UP.set(1)
            self.up_since, self.down_since, self.last_error = time.time(), None, ""
            session = self.session
            assert session is not None
            try:
                heartbeat = await self._boot(session)
                log.info("%s (controller): booted at %s as %s", self.identity, self.url, self.version.value)
                closed = asyncio.ensure_future(link.wait_closed())
                while not closed.done():
                    await asyncio.wait({closed}, timeout=heartbeat)
                    if not closed.done():
                        await session.call("Heartbeat", {})
            except Exception as exc:  # the connection went while booting or beating
                log.info("%s (controller): connection to the CSMS lost: %s", self.identity, exc)
            finally:
                metrics.LC_IDENTITY_UP.set(0)
                self.up_since, self.down_since = None, time.time()
                session.connection_lost()
                link.close()
            await asyncio.sleep(1.0)

    def _on_open(self, link: Any) -> Any:
        handlers = {
            "SetChargingProfile": self._set_profile,
            "ClearChargingProfile": self._clear_profile,
            "GetCompositeSchedule": self._composite,
        }
        self.session = Session(
            identity=self.identity,
            version=link.version,
            send=link.send,
            handlers=handlers,
            call_timeout=self.lc.call_timeout,
        )
        return self.session.receive

    async def _boot(self, session: Session) -> float:
        """BootNotification until Accepted; the heartbeat interval the CSMS gave."""
        while True:
            if self.version is OcppVersion.V16:
                answer = await session.call(
                    "BootNotification", {"chargePointVendor": "ocppd", "chargePointModel": "local-controller"}
                )
            else:
                station = {"vendorName": "ocppd", "model": "local-controller"}
                answer = await session.call("BootNotification", {"chargingStation": station, "reason": "PowerUp"})
            interval = float(answer.get("interval") or 0) or 300.0
            if answer.get("status") == "Accepted":
                return interval
            log.info(
                "%s (controller): boot %s by the CSMS; again in %g s", self.identity, answer.get("status"), interval
            )
            await asyncio.sleep(interval)

    # ------------------------------------------------------------------ CSMS-initiated
    async def _set_profile(self, session: Session, p: Payload) -> Payload:
        if self.version is OcppVersion.V16:
            evse, data = int(p["connectorId"]), p["csChargingProfiles"]
        else:
            evse, data = int(p["evseId"]), p["chargingProfile"]
        if evse != 0 or data.get("chargingProfilePurpose") not in (
            "ChargePointMaxProfile",
            "ChargingStationMaxProfile",
        ):
            log.info("%s (controller): %s on EVSE %d rejected: only station-max profiles limit the group",
                     self.identity, data.get("chargingProfilePurpose"), evse)  # fmt: skip
            return self._status("Rejected", "only a station-max profile on EVSE 0 limits the controller's group")
        self.profiles.install(Profile.from_ocpp(data, 0, time.time()))
        self._save()
        await self.apply()
        return {"status": "Accepted"}

    async def _clear_profile(self, session: Session, p: Payload) -> Payload:
        if self.version is OcppVersion.V16:
            profile_id, criteria = p.get("id"), p
            purpose, level = criteria.get("chargingProfilePurpose"), criteria.get("stackLevel")
        else:
            profile_id, criteria = p.get("chargingProfileId"), p.get("chargingProfileCriteria") or {}
            purpose, level = criteria.get("chargingProfilePurpose"), criteria.get("stackLevel")
        if purpose is not None and purpose not in ("ChargePointMaxProfile", "ChargingStationMaxProfile"):
            return {"status": "Unknown"}
        gone = self.profiles.clear(
            profile_id=None if profile_id is None else int(profile_id),
            purpose=MAX if purpose else None,
            stack_level=level,
        )
        if gone:
            self._save()
            await self.apply()
        return {"status": "Accepted" if gone else "Unknown"}

    async def _composite(self, session: Session, p: Payload) -> Payload:
        evse = int(p.get("connectorId", p.get("evseId", 0)))
        if evse != 0:
            return {"status": "Rejected"} if self.version is OcppVersion.V16 else self._status("Rejected", "no EVSEs")
        unit = p.get("chargingRateUnit") or "W"
        start = float(int(time.time()))
        duration = int(p["duration"])
        # where no profile limits the group, the schedule says the group's configured limit (or none: 1 GW)
        configured = self.lc.group_watts or self.lc.group_amps * 230.0 * 3 or 1e9
        periods = self.profiles.composite(0, start, duration, unit, None, configured)
        if not self.profiles.profiles or not periods:
            return {"status": "Rejected"} if self.version is OcppVersion.V16 else self._status("Rejected", "no limit")
        schedule = {"duration": duration, "chargingRateUnit": unit, "chargingSchedulePeriod": periods}
        if self.version is OcppVersion.V16:
            return {"status": "Accepted", "connectorId": 0, "scheduleStart": format_time(start),
                    "chargingSchedule": {**schedule, "startSchedule": format_time(start)}}  # fmt: skip
        return {"status": "Accepted", "schedule": {"evseId": 0, "scheduleStart": format_time(start), **schedule}}

    def _status(self, status: str, why: str) -> Payload:
        if self.version is OcppVersion.V16:
            return {"status": status}
        return {"status": status, "statusInfo": {"reasonCode": "NotSupported", "additionalInfo": why[:512]}}

    # ------------------------------------------------------------------ the group limit
    async def apply(self) -> None:
        """Put the composite station-max limit now on the site, until it next changes."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = time.time()
        watts = self.profiles.limit_w(0, now, None)
        change = self.profiles.next_change(0, now, None, _HORIZON_S)
        site = self.lc.site
        if (watts, change) != self.applied and site in self.sites.tree.nodes:
            if watts is None:
                await self.sites.remove_external(node_id=site, source=SOURCE)
            else:
                await self.sites.add_external(site, SOURCE, None, watts, now, change, replace_source=True,
                                              note=f"station-max profile from the CSMS to {self.identity}")  # fmt: skip
            self.applied = (watts, change)
        if change is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, change - time.time()) + 0.01, lambda: loop.create_task(self.apply()))

    def _save(self) -> None:
        rows = [p.raw for p in self.profiles.profiles]
        tmp = self.file.with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"version": self.version.value, "profiles": rows}))
        tmp.replace(self.file)

    def _load(self) -> None:
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return
        if data.get("version") != self.version.value:
            return  # kept for another version's shape: the CSMS sends them again
        for raw in data.get("profiles", []):
            try:
                self.profiles.install(Profile.from_ocpp(raw, 0, time.time()))
            except (KeyError, TypeError, ValueError):
                log.warning("%s (controller): a kept profile is unreadable and dropped", self.identity)
