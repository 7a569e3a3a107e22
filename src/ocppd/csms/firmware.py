"""Firmware images hosted by ocppd and updates that point stations at them.

An operator uploads an image once (streamed to ``<data_dir>/firmware/<id>/<name>`` through a temporary
file, at most ``files.max_firmware_bytes``); an update to a station makes a job with its own random
token, so the URL in UpdateFirmware (``<files.public_url>/files/firmware/<token>/<name>``) works for
that station only and only until ``files.download_token_ttl_s`` after the request (403 otherwise). The
image is served from disk in chunks (never held in memory per download). The job's status follows the
station's (Signed)FirmwareStatusNotification.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocppd.config import Settings
from ocppd.csms import verbs
from ocppd.csms.events import EventBus
from ocppd.csms.files import FileRefused, new_token, safe_name, save_stream, token_digest
from ocppd.csms.outbound import next_request_id
from ocppd.store import Store
from ocppd.store import firmware_repo as frepo

log = logging.getLogger("ocppd.firmware")


class Firmware:
    def __init__(self, settings: Settings, store: Store, events: EventBus, public_url: Any) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.directory = Path(settings.data_dir) / "firmware"
        self._public_url = public_url  # the same base URL the log uploads use

    def path_of(self, image: dict[str, Any]) -> Path:
        return self.directory / str(image["id"]) / str(image["name"])

    async def add_image(
        self,
        name: str,
        chunks: AsyncIterator[bytes],
        uploaded_by: str | None,
        signature: str | None = None,
        signing_certificate: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        """Store an uploaded image; FileRefused 413 past the size limit (nothing is kept then).
        ``version``: the firmwareVersion stations report after installing it (campaigns check it)."""
        safe = safe_name(name, "firmware.bin")
        # each upload completes under a name of its own: two uploads of one name never meet
        staging = self.directory / "incoming" / new_token()[1][:16]
        try:
            size, sha256 = await save_stream(staging, safe, chunks, self.settings.files.max_firmware_bytes)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        row = {
            "name": safe,
            "size": size,
            "sha256": sha256,
            "signature": signature,
            "signing_certificate": signing_certificate,
            "uploaded_at": datetime.now(UTC),
            "uploaded_by": uploaded_by,
            "version": version,
        }
        image_id = await self.store.write(frepo.add_image, row)
        target = self.path_of({"id": image_id, "name": safe})
        target.parent.mkdir(parents=True, exist_ok=True)
        (staging / safe).replace(target)
        shutil.rmtree(staging, ignore_errors=True)
        log.info("firmware image %d stored: %s (%d bytes, SHA-256 %s)", image_id, safe, size, sha256)
        return _public({**row, "id": image_id})

    async def image(self, image_id: int) -> dict[str, Any] | None:
        row = await self.store.read(frepo.image_by_id, image_id)
        return _public(row) if row is not None else None

    async def images(self, limit: int = 100) -> list[dict[str, Any]]:
        return [_public(r) for r in await self.store.read(frepo.list_images, limit)]

    async def update(
        self,
        station_id: str,
        image_id: int,
        send: Any,
        created_by: str | None = None,
        retrieve_at: datetime | None = None,
        install_at: datetime | None = None,
        retries: int | None = None,
        retry_interval_s: int | None = None,
    ) -> dict[str, Any] | None:
        """UpdateFirmware with this image's per-job URL (and its signature, when it has one); None
        when there is no such image. ``send`` is ``Csms.send``."""
        image = await self.store.read(frepo.image_by_id, image_id)
        if image is None:
            return None
        token, digest = new_token()
        now = datetime.now(UTC)
        request_id = next_request_id()
        row = {
            "station_id": station_id,
            "image_id": image_id,
            "request_id": request_id,
            "token_sha256": digest,
            "status": "Requested",
            "created_at": now,
            "updated_at": now,
            "created_by": created_by,
            "downloads": 0,
            "expires_at": now + timedelta(seconds=self.settings.files.download_token_ttl_s),
        }
        job_id = await self.store.write(frepo.add_job, row)
        location = f"{self._public_url()}/files/firmware/{token}/{image['name']}"
        verb = verbs.UpdateFirmware(
            location,
            retrieve_at=retrieve_at,
            retries=retries,
            retry_interval_s=retry_interval_s,
            signing_certificate=image["signing_certificate"],
            signature=image["signature"],
            install_at=install_at,
            request_id=request_id,
        )
        try:
            status = (await send(station_id, verb)).result.status
        except Exception:
            await self.store.write(frepo.update_job, job_id, status="NotSent")
            raise
        await self.store.write(frepo.update_job, job_id, status=status)
        if status == "AcceptedCanceled":  # 2.x: the update it was running is given up for this one (OCA TC_L_10)
            canceled = await self.store.write(frepo.cancel_other_jobs, station_id, job_id)
            log.info("%s: firmware update %d replaces %d running one(s)", station_id, job_id, canceled)
        log.info("%s: firmware update %d (image %d) sent: %s", station_id, job_id, image_id, status)
        return _public(await self.store.read(frepo.job_by_id, job_id) or {})

    async def jobs(self, station_id: str | None, limit: int = 100) -> list[dict[str, Any]]:
        return [_public(r) for r in await self.store.read(frepo.list_jobs, station_id, limit)]

    async def delete_image(self, image_id: int) -> bool:
        """Delete an image and its file; FileRefused 409 while a running campaign sends it."""
        if await self.store.read(frepo.image_in_use, image_id):
            raise FileRefused(409, f"a running campaign sends image {image_id}")
        image = await self.store.read(frepo.image_by_id, image_id)
        if image is None or not await self.store.write(frepo.delete_image, image_id):
            return False
        shutil.rmtree(self.path_of(image).parent, ignore_errors=True)
        log.info("firmware image %d deleted: %s", image_id, image["name"])
        return True

    async def download(self, token: str, name: str) -> tuple[Path, dict[str, Any]]:
        """The file a station may download with ``token``; FileRefused 403 for an unknown or expired
        token or another image's name."""
        job = await self.store.read(frepo.job_by_token, token_digest(token))
        if job is None or job["expires_at"] < datetime.now(UTC):
            raise FileRefused(403, "unknown or expired download token")
        image = await self.store.read(frepo.image_by_id, job["image_id"])
        if image is None or image["name"] != name:
            raise FileRefused(403, "this token is for another file")
        await self.store.write(frepo.count_download, job["id"])
        log.info("%s: downloads firmware image %d (job %d)", job["station_id"], image["id"], job["id"])
        return self.path_of(image), image

    async def status(self, station_id: str, status: str, request_id: int | None) -> None:
        """(Signed)FirmwareStatusNotification: the status of the job it is about (jobs of the last week)."""
        since = datetime.now(UTC) - timedelta(days=7)
        job = await self.store.read(frepo.latest_job, station_id, request_id, since)
        if job is None:
            return
        await self.store.write(frepo.update_job, job["id"], status=status)
        self.events.publish("firmware.status", station_id, job_id=job["id"], status=status)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "token_sha256"}
    for name, value in out.items():
        if isinstance(value, datetime):
            out[name] = value.isoformat()
    return out
