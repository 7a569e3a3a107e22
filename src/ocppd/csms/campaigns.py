"""Firmware campaigns: one hosted image to a list of stations, in waves.

A wave sends the update (csms/firmware.py) to its ``wave_size`` stations and follows each one until it
is final; a station that is not connected is sent the update when it connects, until the wave's
deadline (``wave_timeout_s`` after the wave started, or after retrieve_at / install_at when later) or
the campaign's ``window_end``, whichever comes first: then it is ``Missed``. A failed station is sent
the update again up to ``retries`` times (DownloadFailed, InstallationFailed, InstallVerificationFailed,
NotSent). ``Installed`` counts only once the station booted with the image's version (the
``firmwareVersion`` of its next BootNotification); a station that reports Installed but boots with
another version is ``VersionMismatch``. When every station of the wave is final, a failure rate above
``max_failure_rate`` (failures among the stations that got the update; Missed ones are not counted)
stops the campaign, otherwise it pauses ``pause_s`` and starts the next wave.

Everything the runner knows is in the store (the stations' progress, the wave, its deadline, the end of
the pause), so a campaign resumes where it was after ``ocppd serve`` restarts. The decisions are pure
(:func:`waves`, :func:`step`, :func:`wave_verdict`).

Several nodes on one database (docs/device-management.md, "Several nodes"): one node drives a
campaign, the one holding its lease (``firmware-campaign:<id>`` in the ``leases`` table, renewed while
it runs, taken over by another node once it expired). A node sends only to the stations whose
connection it holds (there is no routing to another node's stations): the driver leaves the others
to the node that has them, which sends their update itself and writes nothing but the job. Every job a
campaign made is found in the store by the campaign's name (``created_by``), so the driver adopts the
jobs other nodes (or a driver that died before writing the progress) sent, and a station with a job
the progress does not name yet is never sent the update again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ocppd import cluster, metrics
from ocppd.csms.outbound import NotExpressible, OutboundError, StationOffline
from ocppd.store import firmware_repo as frepo
from ocppd.store import leases_repo

if TYPE_CHECKING:
    from ocppd.csms.service import Csms

log = logging.getLogger("ocppd.campaigns")

WAITING = "Waiting"  # its wave has not started
AWAITING_CONNECTION = "AwaitingConnection"  # its wave started (or a retry is due), the station is offline
AWAITING_BOOT = "AwaitingBoot"  # reported Installed; its version is read back from the next boot
MISSED = "Missed"  # never connected while the campaign could send
SENT = "Requested"  # a job another node sent (or whose answer was lost): its own status says what happened
SUCCESS = frozenset({"Installed"})
FAILURE = frozenset(
    {"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature", "InvalidCertificate"}
    | {"RevokedCertificate", "Rejected", "NotSent", "NotExpressible", "Timeout", "VersionMismatch"}
    | {"Canceled"}  # another update replaced it on the station (it answered that one AcceptedCanceled)
)
FINAL = SUCCESS | FAILURE | {MISSED}
RETRYABLE = frozenset({"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "NotSent"})
TICK_S = 0.5
LEASE_S = 10.0  # a campaign's lease lasts this long unless renewed: how soon a dead driver's campaign goes on


def lease_name(campaign_id: int) -> str:
    return f"firmware-campaign:{campaign_id}"


def job_tag(campaign_id: int) -> str:
    """``created_by`` of the campaign's jobs: how any node finds them."""
    return f"campaign {campaign_id}"


def waves(stations: list[str], size: int) -> list[list[str]]:
    return [stations[i : i + size] for i in range(0, len(stations), size)]


@dataclass(frozen=True, slots=True)
class Seen:
    """What ocppd knows of one station of the running wave at one moment."""

    now: datetime
    connected: bool
    job_status: str | None  # the status of the station's newest job of this campaign
    version: str | None  # the firmware version of the station's last BootNotification
    booted_since_sent: bool  # it booted after that job was sent


@dataclass(frozen=True, slots=True)
class Rules:
    deadline: datetime  # the wave's
    window_end: datetime | None
    retries: int
    target_version: str | None  # the image's version; None: Installed is taken as it is


def step(status: str, attempts: int, seen: Seen, rules: Rules) -> tuple[str, bool]:
    """A station's next campaign status, and whether the update is to be sent (again) now."""
    if status in FINAL:
        return status, False
    may_send = seen.now < rules.deadline and (rules.window_end is None or seen.now < rules.window_end)
    if status in (WAITING, AWAITING_CONNECTION):  # not sent (or a retry is due)
        if not may_send:  # a retry that could not be sent keeps the failure it retried
            return (seen.job_status or "NotSent", False) if attempts > 0 else (MISSED, False)
        return (status, True) if seen.connected else (AWAITING_CONNECTION, False)
    current = seen.job_status or status
    if current in ("Installed", AWAITING_BOOT):
        if rules.target_version is None or seen.version == rules.target_version:
            return "Installed", False
        if seen.booted_since_sent:
            return "VersionMismatch", False
        current = AWAITING_BOOT
    if current in RETRYABLE and attempts <= rules.retries and may_send:
        return (current, True) if seen.connected else (AWAITING_CONNECTION, False)
    if current in FAILURE:
        return current, False
    if seen.now >= rules.deadline:
        return "Timeout", False
    return current, False


@dataclass(frozen=True, slots=True)
class Verdict:
    done: bool  # every station of the wave is final
    failed: int
    missed: int
    stop: bool  # done, and the failure rate is above the campaign's limit


def wave_verdict(statuses: list[str], max_failure_rate: float) -> Verdict:
    done = all(s in FINAL for s in statuses)
    failed = sum(1 for s in statuses if s in FAILURE)
    missed = sum(1 for s in statuses if s == MISSED)
    tried = len(statuses) - missed
    rate = failed / tried if tried else 0.0
    return Verdict(done, failed, missed, done and rate > max_failure_rate)


def wave_rows(campaign: dict[str, Any]) -> list[dict[str, int]]:
    """Per wave: how many stations, and how many are Installed, failed, Missed, on their way, not started."""
    rows: dict[int, dict[str, int]] = {}
    for entry in campaign["stations"].values():
        row = rows.setdefault(entry["wave"], {"number": entry["wave"] + 1, "stations": 0, "installed": 0,
                                              "failed": 0, "missed": 0, "running": 0, "waiting": 0})  # fmt: skip
        row["stations"] += 1
        status = entry["status"]
        key = ("installed" if status in SUCCESS else "failed" if status in FAILURE else "missed" if status == MISSED
               else "waiting" if status == WAITING else "running")  # fmt: skip
        row[key] += 1
    return [rows[n] for n in sorted(rows)]


def campaign_summary(campaign: dict[str, Any]) -> dict[str, int]:
    rows = wave_rows(campaign)
    return {"waves": len(rows), "stations": sum(r["stations"] for r in rows),
            "installed": sum(r["installed"] for r in rows), "failed": sum(r["failed"] for r in rows)}  # fmt: skip


class Campaigns:
    def __init__(self, csms: Csms) -> None:
        self._csms = csms
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.node_id = cluster.node_id()
        self._held: dict[int, datetime] = {}  # campaign -> when this node's lease on it expires
        self._watcher: asyncio.Task[None] | None = None

    async def start_up(self) -> None:
        """Campaigns that were running when ocppd stopped go on (their timers are in the store); the
        watcher takes over campaigns whose driver is gone and sends this node's stations their update."""
        await self._look()
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for campaign_id in list(self._held):  # another node may go on at once instead of after LEASE_S
            await self._release(campaign_id)

    def _start(self, campaign_id: int) -> None:
        if campaign_id in self._tasks:
            return
        task = asyncio.get_running_loop().create_task(self._run(campaign_id))
        self._tasks[campaign_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(campaign_id, None))

    # ------------------------------------------------------------------ who drives (several nodes)
    async def _hold(self, campaign_id: int) -> bool:
        """Take or renew this node's lease on the campaign; True while this node drives it."""
        now = datetime.now(UTC)
        expires = self._held.get(campaign_id)
        if expires is not None and (expires - now).total_seconds() > LEASE_S / 2:
            return True  # renewed recently: a tick every TICK_S does not write each time
        until = now + timedelta(seconds=LEASE_S)
        lease = await self._csms.store.write(leases_repo.take_lease, lease_name(campaign_id), self.node_id, now, until)
        if lease.holder != self.node_id:
            self._held.pop(campaign_id, None)
            return False
        self._held[campaign_id] = lease.expires_at
        return True

    async def _release(self, campaign_id: int) -> None:
        self._held.pop(campaign_id, None)
        try:
            await self._csms.store.write(leases_repo.release_lease, lease_name(campaign_id), self.node_id)
        except Exception:
            log.exception("giving up the lease of firmware campaign %d failed", campaign_id)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(TICK_S * 2)
            try:
                await self._look()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("looking at the running firmware campaigns failed")

    async def _look(self) -> None:
        """Each running campaign: drive it when its lease is free (or expired), else send the update to
        the stations of its running wave that are connected here."""
        for row in await self._csms.store.read(frepo.running_campaigns):
            if row["id"] in self._tasks:
                continue
            if await self._hold(row["id"]):
                log.info("firmware campaign %d resumes at wave %d, driven by this node (%s)", row["id"], row["wave"],
                         self.node_id)  # fmt: skip
                self._start(row["id"])
            else:
                await self._help(row)

    async def _help(self, row: dict[str, Any]) -> None:
        """Another node drives the campaign: send its running wave's stations connected here their update
        (the driver adopts the job at its next look); nothing else is written."""
        c = self._csms
        current = row["wave"]
        if current == 0 or row["next_wave_at"] is not None or row["wave_deadline"] is None:
            return  # no wave running: the driver starts the next one
        progress: dict[str, dict[str, Any]] = row["stations"]
        here = [sid for sid, e in progress.items() if e["wave"] == current - 1 and c.is_connected(sid)]
        if not here:
            return
        now = datetime.now(UTC)
        rules = await self._rules(row)
        latest = await c.store.read(frepo.campaign_jobs, job_tag(row["id"]), here)
        jobs = await c.store.read(frepo.jobs_by_ids, [int(progress[s]["job_id"]) for s in here
                                                      if progress[s]["job_id"] is not None])  # fmt: skip
        firmware = await c.store.read(frepo.firmware_of_stations, here)
        for sid in here:
            entry = progress[sid]
            newest = latest.get(sid)
            if newest is not None and newest["id"] != entry["job_id"]:
                continue  # sent already, not adopted yet: never twice
            seen = self._seen(sid, entry, now, jobs, firmware)
            _status, send = step(entry["status"], entry.get("attempts", 0), seen, rules)
            if send:
                log.info("%s: firmware campaign %d (driven by another node): sending the update from here",
                         sid, row["id"])  # fmt: skip
                try:
                    await c.firmware.update(sid, row["image_id"], c.send, job_tag(row["id"]), row.get("retrieve_at"),
                                            row.get("install_at"))  # fmt: skip
                except (OutboundError, NotExpressible) as exc:  # the job says NotSent; the driver retries or not
                    log.info("%s: firmware campaign %d: not sent: %s", sid, row["id"], exc)

    async def create(
        self,
        image_id: int,
        stations: list[str],
        wave_size: int,
        pause_s: float,
        max_failure_rate: float,
        wave_timeout_s: float,
        created_by: str | None,
        retries: int = 0,
        retrieve_at: datetime | None = None,
        install_at: datetime | None = None,
        window_end: datetime | None = None,
    ) -> dict[str, Any]:
        progress = {sid: {"wave": n, "job_id": None, "status": WAITING, "version": None, "attempts": 0}
                    for n, wave in enumerate(waves(stations, wave_size)) for sid in wave}  # fmt: skip
        row = {"image_id": image_id, "wave_size": wave_size, "pause_s": pause_s, "wave_timeout_s": wave_timeout_s,
               "max_failure_rate": max_failure_rate, "state": "running", "wave": 0, "stations": progress,
               "created_by": created_by, "retries": retries, "retrieve_at": retrieve_at, "install_at": install_at,
               "window_end": window_end}  # fmt: skip
        campaign_id = await self._csms.store.write(frepo.add_campaign, row)
        log.info("firmware campaign %d: image %d to %d stations in waves of %d", campaign_id, image_id,
                 len(stations), wave_size)  # fmt: skip
        if await self._hold(campaign_id):
            self._start(campaign_id)
        return await self.get(campaign_id) or {}

    async def get(self, campaign_id: int) -> dict[str, Any] | None:
        """The campaign, with the node driving it while it runs (``driver``)."""
        row = await self._csms.store.read(frepo.campaign_by_id, campaign_id)
        if row is None:
            return None
        out = _public(row)
        lease = await self._csms.store.read(leases_repo.get_lease, lease_name(campaign_id))
        if row["state"] == "running" and lease is not None:
            out["driver"] = {"node": lease.holder, "expires_at": lease.expires_at.isoformat(),
                             "this_node": lease.holder == self.node_id}  # fmt: skip
        return out

    async def list(self, limit: int = 100) -> list[dict[str, Any]]:
        return [_public(r) for r in await self._csms.store.read(frepo.list_campaigns, limit)]

    async def halt(self, campaign_id: int, by: str | None) -> dict[str, Any] | None:
        """The operator stops a running campaign: nothing more is sent (updates already sent go on
        on the stations, and are followed again when the campaign resumes)."""
        row = await self._csms.store.read(frepo.campaign_by_id, campaign_id)
        if row is None:
            return None
        if row["state"] == "running":
            task = self._tasks.pop(campaign_id, None)
            if task is not None:
                task.cancel()
            if campaign_id in self._held:
                await self._release(campaign_id)
            detail = f"stopped by {by or 'an operator'}"
            await self._csms.store.write(frepo.update_campaign, campaign_id, state="stopped", detail=detail)
            self._csms.events.publish("firmware.campaign", None, campaign_id=campaign_id, state="stopped",
                                      detail=detail)  # fmt: skip
            log.info("firmware campaign %d %s", campaign_id, detail)
        return await self.get(campaign_id)

    async def resume(self, campaign_id: int, by: str | None) -> dict[str, Any] | None:
        """A stopped (or interrupted) campaign goes on: the running wave continues with a fresh
        deadline; a wave that was finished (the one that stopped it) is followed by the next."""
        row = await self._csms.store.read(frepo.campaign_by_id, campaign_id)
        if row is None:
            return None
        if row["state"] in ("stopped", "interrupted"):
            now = datetime.now(UTC)
            members = [e["status"] for e in row["stations"].values() if e["wave"] == row["wave"] - 1]
            finished = row["wave"] == 0 or wave_verdict(members, 1.0).done
            values: dict[str, Any] = {"state": "running", "detail": f"resumed by {by or 'an operator'}"}
            if finished and row["wave"] > 0:
                values["next_wave_at"] = now
            else:
                values["wave_deadline"] = self._deadline(row, now)
            await self._csms.store.write(frepo.update_campaign, campaign_id, **values)
            self._csms.events.publish("firmware.campaign", None, campaign_id=campaign_id, state="running")
            log.info("firmware campaign %d resumed by %s", campaign_id, by)
            if await self._hold(campaign_id):  # else the node holding it (or the first to look) drives it
                self._start(campaign_id)
        return await self.get(campaign_id)

    # ------------------------------------------------------------------ the runner
    async def _run(self, campaign_id: int) -> None:
        c = self._csms
        try:
            while True:
                row = await c.store.read(frepo.campaign_by_id, campaign_id)
                if row is None or row["state"] != "running":
                    await self._release(campaign_id)
                    return
                if not await self._hold(campaign_id):  # this node lost it (it could not renew in time)
                    log.warning("firmware campaign %d is driven by another node now", campaign_id)
                    return
                await asyncio.sleep(await self._tick(row))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("firmware campaign %d failed", campaign_id)
            await c.store.write(frepo.update_campaign, campaign_id, state="interrupted", detail=repr(exc)[:500])

    async def _rules(self, row: dict[str, Any]) -> Rules:
        image = await self._csms.store.read(frepo.image_by_id, row["image_id"])
        return Rules(row["wave_deadline"], row.get("window_end"), row.get("retries") or 0,
                     image.get("version") if image else None)  # fmt: skip

    def _seen(self, station_id: str, entry: dict[str, Any], now: datetime, jobs: dict[int, dict[str, Any]],
              firmware: dict[str, tuple[str | None, datetime | None]]) -> Seen:  # fmt: skip
        """What this node knows of one station: connected means connected to this node."""
        job = jobs.get(entry["job_id"]) if entry["job_id"] is not None else None
        version, booted_at = firmware.get(station_id, (None, None))
        return Seen(now, self._csms.is_connected(station_id), _job_status(job), version,
                    job is not None and booted_at is not None and booted_at > job["created_at"])  # fmt: skip

    @staticmethod
    def _deadline(row: dict[str, Any], now: datetime) -> datetime:
        start = max([now] + [t for t in (row.get("retrieve_at"), row.get("install_at")) if t is not None])
        return start + timedelta(seconds=row["wave_timeout_s"])

    async def _tick(self, row: dict[str, Any]) -> float:
        """One look at the running wave; returns how long to wait before the next."""
        c = self._csms
        campaign_id = row["id"]
        now = datetime.now(UTC)
        progress: dict[str, dict[str, Any]] = row["stations"]
        wave_count = 1 + max((e["wave"] for e in progress.values()), default=-1)
        values: dict[str, Any] = {}
        current = row["wave"]
        if current == 0 or row["next_wave_at"] is not None:
            if row["next_wave_at"] is not None and now < row["next_wave_at"]:
                return min(TICK_S * 4, (row["next_wave_at"] - now).total_seconds())
            if current >= wave_count:
                await self._finish(campaign_id, "completed", None)
                return 0.0
            current += 1
            values = {"wave": current, "wave_deadline": self._deadline(row, now), "next_wave_at": None}
            row = {**row, **values}
            log.info("firmware campaign %d: wave %d of %d starts", campaign_id, current, wave_count)
        elif row["wave_deadline"] is None:  # a wave started by an ocppd from before deadlines were stored
            values = {"wave_deadline": self._deadline(row, now)}
            row = {**row, **values}
        members = [sid for sid, e in progress.items() if e["wave"] == current - 1]
        rules = await self._rules(row)
        events: list[tuple[str, str]] = []
        changed = bool(values)
        for sid, job in (await c.store.read(frepo.campaign_jobs, job_tag(campaign_id), members)).items():
            entry = progress[sid]
            if entry["job_id"] is None or int(job["id"]) > int(entry["job_id"]):
                # sent by another node (it holds the station's connection), or by a driver that died
                # before it wrote the progress: followed from here, never sent again
                # "Requested" (sent): the step below reads the job's own status, so an Installed one
                # is checked against the image's version and a failed one retried as the rules say
                entry["job_id"], entry["attempts"] = int(job["id"]), entry.get("attempts", 0) + 1
                entry["status"] = SENT
                changed = True
                events.append((sid, SENT))
                log.info("%s: firmware campaign %d: follows job %d (%s)", sid, campaign_id, job["id"], job["status"])
        job_ids = [int(progress[sid]["job_id"]) for sid in members if progress[sid]["job_id"] is not None]
        jobs = await c.store.read(frepo.jobs_by_ids, job_ids)
        firmware = await c.store.read(frepo.firmware_of_stations, members)
        for sid in members:
            entry = progress[sid]
            version, _booted_at = firmware.get(sid, (None, None))
            seen = self._seen(sid, entry, now, jobs, firmware)
            status, send = step(entry["status"], entry.get("attempts", 0), seen, rules)
            if send:
                status = await self._send(sid, row, entry)
            if status == "Installed":
                entry["version"] = version
            if status != entry["status"]:
                log.info("%s: firmware campaign %d: %s -> %s", sid, campaign_id, entry["status"], status)
                entry["status"] = status
                changed = True
                events.append((sid, status))
                if status in FINAL:
                    metrics.CAMPAIGN_STATIONS.labels(status).inc()
        verdict = wave_verdict([progress[sid]["status"] for sid in members], row["max_failure_rate"])
        if changed:
            await c.store.write(frepo.update_campaign, campaign_id, stations=progress, **values)
        for sid, status in events:  # once stored: a reader of the campaign sees what the event says
            c.events.publish("firmware.campaign.station", sid, campaign_id=campaign_id, status=status)
        if not verdict.done:
            return TICK_S
        summary = f"wave {current}: {verdict.failed} of {len(members)} failed, {verdict.missed} missed"
        log.info("firmware campaign %d: %s", campaign_id, summary)
        if verdict.stop:
            await self._finish(campaign_id, "stopped", summary)
        elif current < wave_count:
            next_at = now + timedelta(seconds=row["pause_s"])
            await c.store.write(frepo.update_campaign, campaign_id, next_wave_at=next_at, detail=summary)
        else:
            await self._finish(campaign_id, "completed", summary)
        return 0.0

    async def _finish(self, campaign_id: int, state: str, detail: str | None) -> None:
        await self._csms.store.write(frepo.update_campaign, campaign_id, state=state, detail=detail,
                                     next_wave_at=None)  # fmt: skip
        if state == "stopped":
            log.warning("firmware campaign %d stopped: %s", campaign_id, detail)
        self._csms.events.publish("firmware.campaign", None, campaign_id=campaign_id, state=state, detail=detail)

    async def _own_failed_job(self, station_id: str, campaign_id: int, entry: dict[str, Any]) -> None:
        """A send that failed left a NotSent job: the progress names it, so it is not adopted as another
        attempt at the next look."""
        job = (await self._csms.store.read(frepo.campaign_jobs, job_tag(campaign_id), [station_id])).get(station_id)
        if job is not None:
            entry["job_id"] = int(job["id"])

    async def _send(self, station_id: str, row: dict[str, Any], entry: dict[str, Any]) -> str:
        """Send the update; the station's status afterwards (the job's answer)."""
        try:
            job = await self._csms.firmware.update(station_id, row["image_id"], self._csms.send,
                                                   job_tag(row["id"]), row.get("retrieve_at"),
                                                   row.get("install_at"))  # fmt: skip
        except StationOffline:
            await self._own_failed_job(station_id, row["id"], entry)
            return AWAITING_CONNECTION
        except NotExpressible as exc:
            await self._own_failed_job(station_id, row["id"], entry)
            entry["detail"] = str(exc)[:200]
            return "NotExpressible"
        except OutboundError as exc:
            await self._own_failed_job(station_id, row["id"], entry)
            entry["attempts"] = entry.get("attempts", 0) + 1
            entry["detail"] = str(exc)[:200]
            return "NotSent"
        if job is None:
            entry["detail"] = "the image was deleted"
            return "NotSent"
        entry["attempts"] = entry.get("attempts", 0) + 1
        entry["job_id"] = job["id"]
        return str(job["status"])


def _job_status(job: dict[str, Any] | None) -> str | None:
    if job is None:
        return None
    status = str(job["status"])
    return None if status in ("Requested",) else status


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name, value in out.items():
        if isinstance(value, datetime):
            out[name] = value.isoformat()
    return out
