"""Hosted firmware images and update jobs (csms/firmware.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from .schema import firmware_campaigns, firmware_images, firmware_jobs, stations
from .types import utcnow


def _one(conn: Connection, query: Any) -> dict[str, Any] | None:
    row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def add_image(conn: Connection, row: dict[str, Any]) -> int:
    return int(conn.execute(firmware_images.insert().values(**row).returning(firmware_images.c.id)).scalar_one())


def image_by_id(conn: Connection, image_id: int) -> dict[str, Any] | None:
    return _one(conn, select(firmware_images).where(firmware_images.c.id == image_id))


def list_images(conn: Connection, limit: int) -> list[dict[str, Any]]:
    query = select(firmware_images).order_by(firmware_images.c.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def add_job(conn: Connection, row: dict[str, Any]) -> int:
    return int(conn.execute(firmware_jobs.insert().values(**row).returning(firmware_jobs.c.id)).scalar_one())


def update_job(conn: Connection, job_id: int, **values: Any) -> None:
    conn.execute(update(firmware_jobs).where(firmware_jobs.c.id == job_id).values(updated_at=utcnow(), **values))


def count_download(conn: Connection, job_id: int) -> None:
    j = firmware_jobs.c
    conn.execute(update(firmware_jobs).where(j.id == job_id).values(downloads=j.downloads + 1))


def job_by_token(conn: Connection, token_sha256: str) -> dict[str, Any] | None:
    return _one(conn, select(firmware_jobs).where(firmware_jobs.c.token_sha256 == token_sha256))


def job_by_id(conn: Connection, job_id: int) -> dict[str, Any] | None:
    return _one(conn, select(firmware_jobs).where(firmware_jobs.c.id == job_id))


def latest_job(conn: Connection, station_id: str, request_id: int | None, since: datetime) -> dict[str, Any] | None:
    """The job a FirmwareStatusNotification is about: by requestId (2.x), else the station's newest."""
    j = firmware_jobs.c
    query = select(firmware_jobs).where(j.station_id == station_id, j.created_at >= since)
    if request_id is not None:
        query = query.where(j.request_id == request_id)
    return _one(conn, query.order_by(j.id.desc()).limit(1))


def list_jobs(conn: Connection, station_id: str | None, limit: int) -> list[dict[str, Any]]:
    query = select(firmware_jobs)
    if station_id is not None:
        query = query.where(firmware_jobs.c.station_id == station_id)
    return [dict(r) for r in conn.execute(query.order_by(firmware_jobs.c.id.desc()).limit(limit)).mappings()]


def add_campaign(conn: Connection, row: dict[str, Any]) -> int:
    return int(conn.execute(firmware_campaigns.insert().values(**row).returning(firmware_campaigns.c.id)).scalar_one())


def update_campaign(conn: Connection, campaign_id: int, **values: Any) -> None:
    stmt = update(firmware_campaigns).where(firmware_campaigns.c.id == campaign_id)
    conn.execute(stmt.values(updated_at=utcnow(), **values))


def campaign_by_id(conn: Connection, campaign_id: int) -> dict[str, Any] | None:
    return _one(conn, select(firmware_campaigns).where(firmware_campaigns.c.id == campaign_id))


def list_campaigns(conn: Connection, limit: int) -> list[dict[str, Any]]:
    query = select(firmware_campaigns).order_by(firmware_campaigns.c.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def running_campaigns(conn: Connection) -> list[dict[str, Any]]:
    query = select(firmware_campaigns).where(firmware_campaigns.c.state == "running")
    return [dict(r) for r in conn.execute(query.order_by(firmware_campaigns.c.id)).mappings()]


def jobs_by_ids(conn: Connection, job_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not job_ids:
        return {}
    query = select(firmware_jobs).where(firmware_jobs.c.id.in_(job_ids))
    return {int(r["id"]): dict(r) for r in conn.execute(query).mappings()}


def campaign_jobs(conn: Connection, created_by: str, station_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The newest job each of these stations got from one campaign (``created_by`` names it), whichever
    node sent it."""
    if not station_ids:
        return {}
    j = firmware_jobs.c
    query = select(firmware_jobs).where(j.created_by == created_by, j.station_id.in_(station_ids)).order_by(j.id)
    return {str(r["station_id"]): dict(r) for r in conn.execute(query).mappings()}


def firmware_of_stations(conn: Connection, station_ids: list[str]) -> dict[str, tuple[str | None, datetime | None]]:
    """Each station's reported firmware version and when it last booted."""
    if not station_ids:
        return {}
    s = stations.c
    query = select(s.station_id, s.firmware_version, s.last_boot_at).where(s.station_id.in_(station_ids))
    return {r.station_id: (r.firmware_version, r.last_boot_at) for r in conn.execute(query)}


def delete_image(conn: Connection, image_id: int) -> bool:
    return conn.execute(firmware_images.delete().where(firmware_images.c.id == image_id)).rowcount > 0


def image_in_use(conn: Connection, image_id: int) -> bool:
    """A running campaign sends this image."""
    c = firmware_campaigns.c
    query = select(c.id).where(c.image_id == image_id, c.state == "running").limit(1)
    return conn.execute(query).first() is not None


# a job whose status is one of these is over: a newer update cannot cancel it
FINAL_JOB_STATUSES = ("Installed", "DownloadFailed", "InstallationFailed", "InstallVerificationFailed",
                      "InvalidSignature", "InvalidCertificate", "RevokedCertificate", "Rejected", "NotSent",
                      "Canceled")  # fmt: skip


def cancel_other_jobs(conn: Connection, station_id: str, keep_id: int) -> int:
    """The station's unfinished jobs other than ``keep_id`` are Canceled (it answered AcceptedCanceled)."""
    j = firmware_jobs.c
    stmt = update(firmware_jobs).where(j.station_id == station_id, j.id != keep_id,
                                       j.status.not_in(FINAL_JOB_STATUSES))  # fmt: skip
    return int(conn.execute(stmt.values(status="Canceled", updated_at=utcnow())).rowcount or 0)
