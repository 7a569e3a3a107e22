"""Log and diagnostics files uploaded to ocppd itself (GetLog 2.x / 1.6 security, GetDiagnostics 1.6).

ocppd makes one upload job per request: a random token, of which only its SHA-256 is stored, names
the upload URL it gives the station (``<files.public_url>/files/logs/<token>``). The station PUTs or
POSTs the file there; the body is streamed to a temporary file in ``<data_dir>/logs`` and renamed into
place only when complete and within ``files.max_log_bytes``, so an interrupted upload never replaces a
complete file. An unknown or expired token gets 403. The job's status follows the station's
LogStatusNotification (by requestId) or DiagnosticsStatusNotification (the station's newest job).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocppd.config import Settings
from ocppd.csms import verbs
from ocppd.csms.events import EventBus
from ocppd.csms.files import FileRefused, new_token, safe_name, save_stream, token_digest
from ocppd.csms.outbound import next_request_id
from ocppd.store import Store, logs_repo

log = logging.getLogger("ocppd.logs")


class LogUploads:
    def __init__(self, settings: Settings, store: Store, events: EventBus) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.directory = Path(settings.data_dir) / "logs"

    def public_url(self) -> str:
        configured = self.settings.files.public_url.rstrip("/")
        if configured:
            return configured
        host = self.settings.http.host
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        return f"http://{host}:{self.settings.http.port}"

    async def request(self, station_id: str, send: Any, log_type: str = "DiagnosticsLog",
                      since: datetime | None = None, until: datetime | None = None,
                      created_by: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Create the job and send GetLog / GetDiagnostics with ocppd's upload URL; ``send`` is
        ``Csms.send``. Returns the job (status: the station's answer)."""
        token, digest = new_token()
        now = datetime.now(UTC)
        request_id = next_request_id()
        row = {"station_id": station_id, "request_id": request_id, "log_type": log_type,
               "token_sha256": digest, "status": "Requested", "created_at": now, "updated_at": now,
               "expires_at": now + timedelta(seconds=self.settings.files.upload_token_ttl_s),
               "created_by": created_by}  # fmt: skip
        upload_id = await self.store.write(logs_repo.create_upload, row)
        location = f"{self.public_url()}/files/logs/{token}"
        verb = verbs.GetLog(location, log_type, since, until, request_id=request_id)  # type: ignore[arg-type]
        try:
            result = (await send(station_id, verb)).result
        except Exception as exc:
            await self.store.write(logs_repo.update_upload, upload_id, status="NotSent")
            raise exc
        status = result.status
        values: dict[str, Any] = {"status": status}
        if result.filename:
            values["filename"] = safe_name(result.filename, f"log-{upload_id}")
        await self.store.write(logs_repo.update_upload, upload_id, **values)
        log.info("%s: %s requested (upload %d): %s", station_id, log_type, upload_id, status)
        return await self.get(upload_id) or {}

    async def get(self, upload_id: int) -> dict[str, Any] | None:
        row = await self.store.read(logs_repo.upload_by_id, upload_id)
        return _public(row) if row is not None else None

    async def list(self, station_id: str | None, limit: int = 100) -> list[dict[str, Any]]:
        return [_public(r) for r in await self.store.read(logs_repo.list_uploads, station_id, limit)]

    async def file_of(self, upload_id: int) -> Path | None:
        """The uploaded file of the job, once one arrived complete."""
        row = await self.store.read(logs_repo.upload_by_id, upload_id)
        if row is None or row.get("uploaded_at") is None or not row.get("filename"):
            return None
        return self.directory / str(row["id"]) / str(row["filename"])

    async def job_of(self, token: str) -> dict[str, Any]:
        """The upload job of ``token``; FileRefused 403 for an unknown or expired one."""
        row = await self.store.read(logs_repo.upload_by_token, token_digest(token))
        if row is None or row["expires_at"] < datetime.now(UTC):
            raise FileRefused(403, "unknown or expired upload token")
        return row

    async def receive(self, token: str, filename: str | None, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """Stream an uploaded file to disk for the job of ``token``; refused with FileRefused."""
        row = await self.job_of(token)
        name = safe_name(filename or row.get("filename"), f"{row['log_type']}-{row['id']}.log")
        size, sha256 = await save_stream(
            self.directory / str(row["id"]), name, chunks, self.settings.files.max_log_bytes
        )
        now = datetime.now(UTC)
        await self.store.write(logs_repo.update_upload, row["id"], filename=name, size=size,
                               sha256=sha256, uploaded_at=now)  # fmt: skip
        log.info("%s: log upload %d received: %s (%d bytes)", row["station_id"], row["id"], name, size)
        self.events.publish("log.uploaded", row["station_id"], upload_id=row["id"], filename=name, size=size)
        return {"id": row["id"], "filename": name, "size": size}

    async def status(self, station_id: str, status: str, request_id: int | None) -> None:
        """(Log|Diagnostics)StatusNotification: the job's status (jobs of the last day)."""
        since = datetime.now(UTC) - timedelta(days=1)
        row = await self.store.read(logs_repo.latest_upload, station_id, request_id, since)
        if row is None:
            return
        await self.store.write(logs_repo.update_upload, row["id"], status=status)
        self.events.publish("log.status", station_id, upload_id=row["id"], status=status)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "token_sha256"}
    for name in ("created_at", "expires_at", "uploaded_at", "updated_at"):
        if isinstance(out.get(name), datetime):
            out[name] = out[name].isoformat()
    return out
