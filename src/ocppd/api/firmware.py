"""Firmware hosting: upload an image, list images, update a station with a hosted image, list jobs; and
the download endpoint stations use (``/files/firmware/<token>/<name>``, the per-job token only).

No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.
"""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from ocppd.api.auth import current_principal, require_admin
from ocppd.api.errors import ApiError, error_responses, outbound_errors
from ocppd.api.security import Principal
from ocppd.csms.files import FileRefused
from ocppd.csms.service import Csms

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(current_principal)],
    tags=["firmware"],
    responses=error_responses(400, 401, 403),
)
downloads = APIRouter(prefix="/files/firmware", tags=["firmware"])


class FirmwareImage(BaseModel):
    id: int
    name: str
    size: int
    sha256: str
    signature: str | None = None
    signing_certificate: str | None = None
    uploaded_at: str
    uploaded_by: str | None = None


class FirmwareJob(BaseModel):
    id: int
    station_id: str
    image_id: int
    request_id: int | None = None
    status: str
    created_at: str
    expires_at: str
    updated_at: str
    created_by: str | None = None
    downloads: int


class FirmwareUpdate(BaseModel):
    image_id: int = Field(ge=1)
    retrieve_at: datetime | None = None
    install_at: datetime | None = Field(None, description="2.x only")
    retries: int | None = Field(None, ge=0)
    retry_interval_s: int | None = Field(None, ge=0)


def _csms(request: Request) -> Csms:
    return request.app.state.csms  # type: ignore[no-any-return]


@router.put(
    "/firmware/{name}",
    response_model=FirmwareImage,
    status_code=201,
    summary="Upload a firmware image (the request body is the file; streamed to the data directory; 413 past "
    "files.max_firmware_bytes)",
)
async def upload_image(
    request: Request,
    name: str,
    signature: str | None = Query(None, description="base64 signature of the image (signed updates)"),
    signing_certificate: str | None = Query(None, description="PEM certificate that made the signature"),
    principal: Principal = Depends(require_admin),
) -> dict[str, Any]:
    try:
        return await _csms(request).firmware.add_image(
            name, request.stream(), principal.name, signature, signing_certificate
        )
    except FileRefused as exc:
        raise ApiError(exc.status, f"body: {exc.reason}", "too_large") from None


@router.get("/firmware", response_model=list[FirmwareImage], summary="Hosted firmware images, newest first")
async def list_images(request: Request, limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return await _csms(request).firmware.images(limit)


@router.post(
    "/stations/{station_id}/firmware-update",
    response_model=FirmwareJob,
    summary="UpdateFirmware with a hosted image (a per-job download URL that expires)",
    responses=error_responses(404, 409, 502),
)
async def update_station(
    request: Request, station_id: str, body: FirmwareUpdate, principal: Principal = Depends(require_admin)
) -> dict[str, Any]:
    c = _csms(request)
    with outbound_errors("UpdateFirmware"):
        job = await c.firmware.update(station_id, body.image_id, c.send, principal.name, body.retrieve_at,
                                      body.install_at, body.retries, body.retry_interval_s)  # fmt: skip
    if job is None:
        raise ApiError(404, f"image_id: no firmware image {body.image_id}", "not_found")
    return job


@router.get("/firmware-jobs", response_model=list[FirmwareJob], summary="Firmware updates sent, newest first")
async def list_jobs(
    request: Request, station_id: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    return await _csms(request).firmware.jobs(station_id, limit)


@downloads.get("/{token}/{name}", summary="Stations download the image of their update job here")
async def download(request: Request, token: str, name: str) -> Response:
    try:
        path = await _csms(request).firmware.download(token, name)
    except FileRefused as exc:
        return JSONResponse({"detail": exc.reason}, status_code=exc.status)
    return FileResponse(path, filename=path.name, media_type="application/octet-stream")


class CampaignRequest(BaseModel):
    image_id: int = Field(ge=1)
    stations: list[str] = Field(min_length=1, description="in this order; duplicates are dropped")
    wave_size: int = Field(10, ge=1)
    pause_s: float = Field(60.0, ge=0, description="between waves")
    max_failure_rate: float = Field(0.2, ge=0, le=1, description="a wave failing more than this stops the campaign")
    wave_timeout_s: float = Field(3600.0, gt=0, description="a station not final by then counts as failed")


class Campaign(BaseModel):
    id: int
    image_id: int
    wave_size: int
    pause_s: float
    max_failure_rate: float
    wave_timeout_s: float
    state: str
    wave: int
    stations: dict[str, dict[str, Any]]
    detail: str | None = None
    created_at: str
    updated_at: str
    created_by: str | None = None


@router.post(
    "/firmware-campaigns",
    response_model=Campaign,
    status_code=201,
    summary="Roll a hosted image out to stations in waves (stops when a wave fails too often)",
    responses=error_responses(404),
)
async def create_campaign(
    request: Request, body: CampaignRequest, principal: Principal = Depends(require_admin)
) -> dict[str, Any]:
    c = _csms(request)
    if await c.firmware.image(body.image_id) is None:
        raise ApiError(404, f"image_id: no firmware image {body.image_id}", "not_found")
    stations = list(dict.fromkeys(body.stations))
    return await c.campaigns.create(body.image_id, stations, body.wave_size, body.pause_s, body.max_failure_rate,
                                    body.wave_timeout_s, principal.name)  # fmt: skip


@router.get("/firmware-campaigns", response_model=list[Campaign], summary="Firmware campaigns, newest first")
async def list_campaigns(request: Request, limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return await _csms(request).campaigns.list(limit)


@router.get(
    "/firmware-campaigns/{campaign_id}",
    response_model=Campaign,
    summary="One campaign with each station's wave, status and final version",
    responses=error_responses(404),
)
async def get_campaign(request: Request, campaign_id: int) -> dict[str, Any]:
    found = await _csms(request).campaigns.get(campaign_id)
    if found is None:
        raise ApiError(404, f"no firmware campaign {campaign_id}", "not_found")
    return found
