"""Firmware campaigns: one hosted image to a list of stations, in waves.

Each wave sends the update (csms/firmware.py) to ``wave_size`` stations and waits until every one of
them reached a final status (Installed, or a failure) or ``wave_timeout_s`` passed; when the wave's
failure rate is above ``max_failure_rate`` the campaign stops there, otherwise it pauses ``pause_s`` and
goes on. A station that is not connected when its wave starts counts as failed (Offline). The firmware
version each station reports in its next BootNotification is kept as its final ``version``. The
decisions are pure (:func:`waves`, :func:`wave_verdict`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocppd.csms.outbound import OutboundError, StationOffline
from ocppd.store import firmware_repo as frepo
from ocppd.store import repo

if TYPE_CHECKING:
    from ocppd.csms.service import Csms

log = logging.getLogger("ocppd.campaigns")

SUCCESS = frozenset({"Installed"})
FAILURE = frozenset(
    {"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature", "InvalidCertificate"}
    | {"RevokedCertificate", "Rejected", "NotSent", "Offline", "Timeout"}
)


def waves(stations: list[str], size: int) -> list[list[str]]:
    return [stations[i : i + size] for i in range(0, len(stations), size)]


@dataclass(frozen=True, slots=True)
class Verdict:
    done: bool  # every station of the wave reached a final status
    failed: int
    stop: bool  # the failure rate is above the campaign's limit


def wave_verdict(statuses: list[str], max_failure_rate: float) -> Verdict:
    done = all(s in SUCCESS or s in FAILURE for s in statuses)
    failed = sum(1 for s in statuses if s in FAILURE)
    rate = failed / len(statuses) if statuses else 0.0
    return Verdict(done, failed, done and rate > max_failure_rate)


class Campaigns:
    def __init__(self, csms: Csms) -> None:
        self._csms = csms
        self._tasks: dict[int, asyncio.Task[None]] = {}

    async def start_up(self) -> None:
        await self._csms.store.write(frepo.interrupt_running)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    async def create(
        self,
        image_id: int,
        stations: list[str],
        wave_size: int,
        pause_s: float,
        max_failure_rate: float,
        wave_timeout_s: float,
        created_by: str | None,
    ) -> dict[str, Any]:
        progress = {sid: {"wave": n, "job_id": None, "status": "Waiting", "version": None}
                    for n, wave in enumerate(waves(stations, wave_size)) for sid in wave}  # fmt: skip
        row = {"image_id": image_id, "wave_size": wave_size, "pause_s": pause_s, "wave_timeout_s": wave_timeout_s,
               "max_failure_rate": max_failure_rate, "state": "running", "wave": 0, "stations": progress,
               "created_by": created_by}  # fmt: skip
        campaign_id = await self._csms.store.write(frepo.add_campaign, row)
        task = asyncio.get_running_loop().create_task(self._run(campaign_id, row))
        self._tasks[campaign_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(campaign_id, None))
        log.info("firmware campaign %d: image %d to %d stations in waves of %d", campaign_id, image_id,
                 len(stations), wave_size)  # fmt: skip
        return await self.get(campaign_id) or {}

    async def get(self, campaign_id: int) -> dict[str, Any] | None:
        row = await self._csms.store.read(frepo.campaign_by_id, campaign_id)
        return _public(row) if row is not None else None

    async def list(self, limit: int = 100) -> list[dict[str, Any]]:
        return [_public(r) for r in await self._csms.store.read(frepo.list_campaigns, limit)]

    async def _run(self, campaign_id: int, row: dict[str, Any]) -> None:
        c = self._csms
        progress: dict[str, dict[str, Any]] = row["stations"]
        by_wave = waves(list(progress), row["wave_size"])
        try:
            for n, wave in enumerate(by_wave):
                await c.store.write(frepo.update_campaign, campaign_id, wave=n + 1, stations=progress)
                for sid in wave:
                    progress[sid]["status"] = await self._send(sid, row["image_id"], progress[sid])
                statuses = await self._await_wave(wave, progress, row["wave_timeout_s"])
                verdict = wave_verdict(statuses, row["max_failure_rate"])
                for sid in wave:
                    if progress[sid]["status"] in SUCCESS:
                        station = await c.store.read(repo.get_station, sid)
                        progress[sid]["version"] = station.firmware_version if station is not None else None
                await c.store.write(frepo.update_campaign, campaign_id, stations=progress)
                log.info("firmware campaign %d: wave %d done, %d of %d failed", campaign_id, n + 1, verdict.failed,
                         len(wave))  # fmt: skip
                if verdict.stop:
                    detail = f"wave {n + 1}: {verdict.failed} of {len(wave)} failed"
                    await c.store.write(frepo.update_campaign, campaign_id, state="stopped", detail=detail)
                    log.warning("firmware campaign %d stopped: %s", campaign_id, detail)
                    c.events.publish("firmware.campaign", None, campaign_id=campaign_id, state="stopped", detail=detail)
                    return
                if n + 1 < len(by_wave):
                    await asyncio.sleep(row["pause_s"])
            await c.store.write(frepo.update_campaign, campaign_id, state="completed")
            c.events.publish("firmware.campaign", None, campaign_id=campaign_id, state="completed")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("firmware campaign %d failed", campaign_id)
            await c.store.write(frepo.update_campaign, campaign_id, state="interrupted", detail=repr(exc)[:500])

    async def _send(self, station_id: str, image_id: int, entry: dict[str, Any]) -> str:
        try:
            job = await self._csms.firmware.update(station_id, image_id, self._csms.send, "campaign")
        except StationOffline:
            return "Offline"
        except OutboundError:
            return "NotSent"
        if job is None:
            return "NotSent"
        entry["job_id"] = job["id"]
        return str(job["status"]) if job["status"] in ("Rejected",) else "Sent"

    async def _await_wave(self, wave: list[str], progress: dict[str, dict[str, Any]], timeout: float) -> list[str]:
        """Follow the wave's jobs until each is final or the wave's time is up (then: Timeout)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for sid in wave:
                entry = progress[sid]
                if entry["job_id"] is not None and entry["status"] not in FAILURE:
                    job = await self._csms.store.read(frepo.job_by_id, entry["job_id"])
                    if job is not None and job["status"] not in ("Accepted", "Requested"):
                        entry["status"] = job["status"]
            statuses = [progress[sid]["status"] for sid in wave]
            if wave_verdict(statuses, 1.0).done:
                return statuses
            if loop.time() > deadline:
                for sid in wave:
                    if progress[sid]["status"] not in SUCCESS and progress[sid]["status"] not in FAILURE:
                        progress[sid]["status"] = "Timeout"
                return [progress[sid]["status"] for sid in wave]
            await asyncio.sleep(0.5)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in ("created_at", "updated_at"):
        if hasattr(out.get(name), "isoformat"):
            out[name] = out[name].isoformat()
    return out
