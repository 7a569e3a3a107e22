"""The operator HTTP surface: REST API under /api/v1, SSE stream, webhooks, dashboard, /health, /metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ocppd.api import alerts, certificates, device_model, errors, firmware, logs, operations, oscp
from ocppd.api.auth import Authenticator, current_principal
from ocppd.api.billing import router as billing_router
from ocppd.api.credit import router as credit_router
from ocppd.api.domain_routes import router as domain_router
from ocppd.api.headers import SecurityHeaders
from ocppd.api.live import LiveState
from ocppd.api.models import Health
from ocppd.api.routes import end_event_streams, router
from ocppd.api.security import session_secret
from ocppd.api.service import OperatorService
from ocppd.api.smart import router as smart_router
from ocppd.api.station_tariffs import router as station_tariffs_router
from ocppd.api.webhooks import Webhooks
from ocppd.csms.service import Csms

DESCRIPTION = """
Operator API of the ocppd CSMS (OCPP 1.6J, 2.0.1, 2.1).

**Authentication**: `Authorization: Bearer <API key>` (create one with `ocppd apikeys create --role admin`).
Role `read-only` may read; `admin` may also change state and send commands. Errors are JSON
`{"detail": ..., "code": ..., "status": ...}`: 400 invalid input, 401 no/bad credentials, 403 wrong role
or CSRF, 404 unknown station/token/transaction, 409 station offline or already exists, 502 the station
answered with an error, 504 the station did not answer in time.

**Lists** page with a cursor: while there is more, the answer has a `Link: <...>; rel="next"` header
(and `X-Next-Cursor`); follow it until an answer has none.

**Live events**: `GET /api/v1/events` (Server-Sent Events).

**Trying it out here**: logged in to the dashboard, requests go with your session (and its CSRF
token); or press *Authorize* and give an API key.
"""


def create_app(csms: Csms, admin_token: str) -> FastAPI:
    """Build the app; call :func:`start_runtime` / :func:`stop_runtime` around serving it."""
    settings = csms.settings
    data_dir = Path(settings.data_dir)
    app = FastAPI(
        title="ocppd",
        version="1",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, behind authentication
    )
    live = LiveState(csms.events)
    app.state.csms = csms
    app.state.live = live
    app.state.service = OperatorService(csms, live)
    app.state.auth = Authenticator(csms.store, admin_token, session_secret(data_dir))
    app.state.webhooks = Webhooks(csms.events, settings.http.webhook_urls, settings.http.webhook_secret)
    app.state.event_streams = set()  # queues of the open /api/v1/events streams
    errors.install(app)
    app.add_middleware(SecurityHeaders)

    async def maybe_public(request: Request) -> None:
        if not settings.http.public_metrics:
            await current_principal(request, None)

    @app.get("/health", tags=["observability"], dependencies=[Depends(maybe_public)])
    async def health() -> Health:
        return Health(status="ok", connected_stations=len(csms.sessions))

    @app.get("/metrics", tags=["observability"], dependencies=[Depends(maybe_public)], response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    generate_openapi = app.openapi

    def documented_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = errors.document_errors(generate_openapi())
        return app.openapi_schema

    app.openapi = documented_openapi  # type: ignore[method-assign]

    @app.get("/api/v1/openapi.json", include_in_schema=False, dependencies=[Depends(current_principal)])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/api", include_in_schema=False)
    async def api_root() -> HTMLResponse:
        return HTMLResponse('<a href="/api/docs">API documentation</a>', status_code=200)

    app.include_router(router)
    app.include_router(smart_router)
    app.include_router(oscp.ops)
    app.include_router(oscp.fp)  # OSCP 2.0 peers: token authentication of their own
    app.include_router(billing_router)
    app.include_router(credit_router)
    app.include_router(station_tariffs_router)
    app.include_router(certificates.router)
    app.include_router(alerts.router)
    app.include_router(logs.router)
    app.include_router(logs.uploads)
    app.include_router(firmware.router)
    app.include_router(firmware.downloads)
    app.include_router(certificates.public)
    app.include_router(domain_router)
    app.include_router(operations.router)
    app.include_router(device_model.router)

    from ocppd.web import mount  # the dashboard shares auth and services with the API

    mount(app)
    return app


async def start_runtime(app: FastAPI) -> None:
    """Start the background consumers of the event bus (live power view, webhooks)."""
    app.state.live.start()
    app.state.webhooks.start()


async def stop_runtime(app: FastAPI) -> None:
    """Close the event streams first, so the HTTP server can drain its connections."""
    end_event_streams(app.state.event_streams)
    await app.state.webhooks.stop()
    await app.state.live.stop()
