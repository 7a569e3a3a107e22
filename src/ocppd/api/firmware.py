"""Firmware hosting: upload an image, list images, update a station with a hosted image, list jobs; and
the download endpoint stations use (``/files/firmware/<token>/<name>``, the per-job token only).

No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.
"""

import base64
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from ocppd import metrics
from ocppd.api.auth import current_principal, require_admin
from ocppd.api.errors import ApiError, error_responses, outbound_errors
from ocppd.api.multipart import MAX_FIELD_BYTES, is_multipart, multipart_file, refuse_declared_too_large
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
    version: str | None = None


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


def _refused(exc: FileRefused) -> ApiError:
    metrics.FILE_TRANSFERS.labels("firmware_upload", _OUTCOME.get(exc.status, "bad")).inc()
    code = {413: "too_large", 400: "bad_upload"}.get(exc.status, "refused")
    return ApiError(exc.status, f"body: {exc.reason}", code)


_OUTCOME = {403: "forbidden", 413: "too_large", 400: "bad"}  # FileRefused status -> metrics outcome


def _stored(image: dict[str, Any]) -> dict[str, Any]:
    metrics.FILE_TRANSFERS.labels("firmware_upload", "ok").inc()
    return image


def _interrupted() -> ApiError:
    metrics.FILE_TRANSFERS.labels("firmware_upload", "interrupted").inc()
    return ApiError(400, "body: the upload ended before it was complete", "bad_upload")


_VERSION = Query(None, max_length=50, description="the firmwareVersion stations boot with after installing it "
                 "(campaigns check it)")  # fmt: skip


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
    version: str | None = _VERSION,
    principal: Principal = Depends(require_admin),
) -> dict[str, Any]:
    firmware = _csms(request).firmware
    try:
        refuse_declared_too_large(request, firmware.settings.files.max_firmware_bytes)
        return _stored(await firmware.add_image(name, request.stream(), principal.name, signature,
                                                signing_certificate, version))  # fmt: skip
    except FileRefused as exc:
        raise _refused(exc) from None
    except ClientDisconnect:  # the upload broke off: nothing was kept
        raise _interrupted() from None


@router.post(
    "/firmware",
    response_model=FirmwareImage,
    status_code=201,
    summary="Upload a firmware image as multipart/form-data (field 'file'; optional fields before it: "
    "'version', 'signature', 'signing_certificate'); streamed like PUT",
    responses=error_responses(413, 415),
)
async def upload_image_form(request: Request, principal: Principal = Depends(require_admin)) -> dict[str, Any]:
    if not is_multipart(request):
        raise ApiError(415, "content-type: send multipart/form-data, or PUT /api/v1/firmware/{name} with the "
                       "file as the body", "unsupported_media_type")  # fmt: skip
    firmware = _csms(request).firmware
    try:
        refuse_declared_too_large(request, firmware.settings.files.max_firmware_bytes + MAX_FIELD_BYTES)
        form = await multipart_file(request)
        version = form.fields.get("version") or request.query_params.get("version") or None
        if version is not None and len(version) > 50:
            raise ApiError(400, "version: at most 50 characters", "invalid")
        return _stored(await firmware.add_image(
            form.filename or "firmware.bin", form.chunks, principal.name,
            form.fields.get("signature") or None, form.fields.get("signing_certificate") or None, version,
        ))  # fmt: skip
    except FileRefused as exc:
        raise _refused(exc) from None
    except ClientDisconnect:
        raise _interrupted() from None


@router.delete(
    "/firmware/{image_id}",
    status_code=204,
    summary="Delete a hosted image (409 while a running campaign sends it); its download URLs stop working",
    responses=error_responses(404, 409),
)
async def delete_image(request: Request, image_id: int, principal: Principal = Depends(require_admin)) -> Response:
    try:
        found = await _csms(request).firmware.delete_image(image_id)
    except FileRefused as exc:
        raise ApiError(exc.status, f"image_id: {exc.reason}", "in_use") from None
    if not found:
        raise ApiError(404, f"no firmware image {image_id}", "not_found")
    return Response(status_code=204)


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
        path, image = await _csms(request).firmware.download(token, name)
    except FileRefused as exc:
        metrics.FILE_TRANSFERS.labels("firmware_download", _OUTCOME.get(exc.status, "bad")).inc()
        return JSONResponse({"detail": exc.reason}, status_code=exc.status)
    metrics.FILE_TRANSFERS.labels("firmware_download", "ok").inc()  # started: the body streams from here
    # RFC 9530: the station can check what arrived against the SHA-256 ocppd computed at the upload
    digest = base64.b64encode(bytes.fromhex(image["sha256"])).decode()
    return FileResponse(path, filename=path.name, media_type="application/octet-stream",
                        headers={"Repr-Digest": f"sha-256=:{digest}:"})  # fmt: skip


class CampaignRequest(BaseModel):
    image_id: int = Field(ge=1)
    stations: list[str] = Field(min_length=1, description="in this order; duplicates are dropped")
    wave_size: int = Field(10, ge=1)
    pause_s: float = Field(60.0, ge=0, description="between waves")
    max_failure_rate: float = Field(0.2, ge=0, le=1, description="a wave failing more than this stops the campaign")
    wave_timeout_s: float = Field(3600.0, gt=0, description="a station not final by then counts as failed; an "
                                  "offline station is waited for this long (then: Missed)")  # fmt: skip
    retries: int = Field(0, ge=0, le=10, description="re-sends per station after DownloadFailed, "
                         "InstallationFailed, InstallVerificationFailed or NotSent")  # fmt: skip
    retrieve_at: datetime | None = Field(None, description="stations download from then (retrieveDate)")
    install_at: datetime | None = Field(None, description="2.x: stations install from then (installDateTime)")
    window_end: datetime | None = Field(None, description="nothing is sent after; stations still waiting: Missed")


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
    retries: int = 0
    retrieve_at: str | None = None
    install_at: str | None = None
    window_end: str | None = None
    wave_deadline: str | None = None
    next_wave_at: str | None = None
    driver: dict[str, Any] | None = Field(
        None,
        description="The node driving a running campaign (its lease): node, expires_at, this_node "
        "(one campaign's page only)",
    )


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
    for name, value in (("retrieve_at", body.retrieve_at), ("install_at", body.install_at),
                        ("window_end", body.window_end)):  # fmt: skip
        if value is not None and value.tzinfo is None:
            raise ApiError(400, f"{name}: give a time zone (e.g. 2026-12-01T12:00:00Z)", "invalid")
    return await c.campaigns.create(body.image_id, stations, body.wave_size, body.pause_s, body.max_failure_rate,
                                    body.wave_timeout_s, principal.name, body.retries, body.retrieve_at,
                                    body.install_at, body.window_end)  # fmt: skip


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


@router.post(
    "/firmware-campaigns/{campaign_id}/stop",
    response_model=Campaign,
    summary="Stop a running campaign (nothing more is sent; updates already sent go on on the stations)",
    responses=error_responses(404),
)
async def stop_campaign(
    request: Request, campaign_id: int, principal: Principal = Depends(require_admin)
) -> dict[str, Any]:
    found = await _csms(request).campaigns.halt(campaign_id, principal.name)
    if found is None:
        raise ApiError(404, f"no firmware campaign {campaign_id}", "not_found")
    return found


@router.post(
    "/firmware-campaigns/{campaign_id}/resume",
    response_model=Campaign,
    summary="Resume a stopped campaign: its running wave goes on, or the next wave starts",
    responses=error_responses(404),
)
async def resume_campaign(
    request: Request, campaign_id: int, principal: Principal = Depends(require_admin)
) -> dict[str, Any]:
    found = await _csms(request).campaigns.resume(campaign_id, principal.name)
    if found is None:
        raise ApiError(404, f"no firmware campaign {campaign_id}", "not_found")
    return found
