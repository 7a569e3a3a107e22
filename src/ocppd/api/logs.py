"""Log and diagnostics uploads: request one (ocppd provides the upload URL), list, download; and the
upload endpoint stations use (``/files/logs/<token>``, authorized by the per-request token only).

No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.
"""

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from ocppd import metrics
from ocppd.api.auth import current_principal, require_admin
from ocppd.api.errors import ApiError, error_responses, outbound_errors
from ocppd.api.multipart import is_multipart, multipart_file, refuse_declared_too_large
from ocppd.api.security import Principal
from ocppd.csms.files import FileRefused
from ocppd.csms.service import Csms

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(current_principal)],
    tags=["logs"],
    responses=error_responses(400, 401, 403),
)
uploads = APIRouter(prefix="/files/logs", tags=["logs"])


class LogRequest(BaseModel):
    log_type: Literal["DiagnosticsLog", "SecurityLog"] = "DiagnosticsLog"
    since: datetime | None = None
    until: datetime | None = None


class LogUpload(BaseModel):
    id: int
    station_id: str
    request_id: int | None = None
    log_type: str
    status: str
    filename: str | None = None
    size: int | None = None
    sha256: str | None = None
    created_at: str
    expires_at: str
    uploaded_at: str | None = None
    updated_at: str
    created_by: str | None = None


def _csms(request: Request) -> Csms:
    return request.app.state.csms  # type: ignore[no-any-return]


@router.post(
    "/stations/{station_id}/logs",
    response_model=LogUpload,
    summary="Ask the station for its log (GetLog; 1.6 GetDiagnostics) with an upload URL of ocppd's own",
    responses=error_responses(409, 502),
)
async def request_log(
    request: Request, station_id: str, body: LogRequest, principal: Principal = Depends(require_admin)
) -> dict[str, Any]:
    c = _csms(request)
    with outbound_errors("log_type"):
        return await c.logs.request(station_id, c.send, body.log_type, body.since, body.until, principal.name)


@router.get("/logs", response_model=list[LogUpload], summary="Log / diagnostics requests, newest first")
async def list_logs(
    request: Request, station_id: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    return await _csms(request).logs.list(station_id, limit)


@router.get(
    "/logs/{upload_id}/file",
    summary="Download the uploaded file",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **error_responses(404)},
)
async def download_log(request: Request, upload_id: int) -> FileResponse:
    path = await _csms(request).logs.file_of(upload_id)
    if path is None or not path.is_file():
        raise ApiError(404, f"no uploaded file for log request {upload_id}", "not_found")
    return FileResponse(path, filename=path.name, media_type="application/octet-stream")


async def _receive(request: Request, token: str, filename: str | None) -> Response:
    logs = _csms(request).logs
    try:
        await logs.job_of(token)  # the token first: nothing of the body is read for a stranger
        refuse_declared_too_large(request, logs.settings.files.max_log_bytes)
        chunks = request.stream()
        if is_multipart(request):  # many stations POST their diagnostics as a form
            form = await multipart_file(request)
            filename, chunks = filename or form.filename, form.chunks
        done = await logs.receive(token, filename, chunks)
    except FileRefused as exc:
        outcome = {403: "forbidden", 413: "too_large"}.get(exc.status, "bad")
        metrics.FILE_TRANSFERS.labels("log_upload", outcome).inc()
        return JSONResponse({"detail": exc.reason}, status_code=exc.status)
    except ClientDisconnect:  # the upload broke off: nothing was kept, nobody is left to answer
        metrics.FILE_TRANSFERS.labels("log_upload", "interrupted").inc()
        return Response(status_code=400)
    metrics.FILE_TRANSFERS.labels("log_upload", "ok").inc()
    return JSONResponse(done, status_code=201)


@uploads.put("/{token}", summary="Stations upload the requested log here (PUT)")
@uploads.post(
    "/{token}",
    summary="Stations upload the requested log here (POST: the body is the file, or a "
    "multipart/form-data form with the file)",
)
async def upload(request: Request, token: str) -> JSONResponse:
    return await _receive(request, token, None)


@uploads.put("/{token}/{filename}", summary="Upload under a file name of the station's choice (PUT)")
@uploads.post("/{token}/{filename}", summary="Upload under a file name of the station's choice (POST)")
async def upload_named(request: Request, token: str, filename: str) -> JSONResponse:
    return await _receive(request, token, filename)
