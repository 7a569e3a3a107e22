"""The operator HTTP surface: REST API under /api/v1, /health and /metrics."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ocppd.csms.service import Csms, StationOffline
from ocppd.protocol.errors import OcppError
from ocppd.rpc import CallErrorReceived, CallTimeout


def create_app(csms: Csms, admin_token: str) -> FastAPI:
    app = FastAPI(title="ocppd", version="1", docs_url="/api/docs", openapi_url="/api/v1/openapi.json")
    app.state.csms = csms

    def require_admin(request: Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if not token or not hmac.compare_digest(token, admin_token):
            raise HTTPException(401, "missing or invalid bearer token")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "connected_stations": len(csms.sessions)}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/api/v1/stations/{station_id}/call/{action}", dependencies=[Depends(require_admin)])
    async def call(station_id: str, action: str, payload: dict[str, Any], timeout: float | None = None) -> Any:
        """Send any CSMS-initiated message to a connected station and return its answer."""
        try:
            return await csms.call(station_id, action, payload, timeout=timeout)
        except StationOffline as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)
        except CallTimeout as exc:
            return JSONResponse({"detail": str(exc)}, status_code=504)
        except CallErrorReceived as exc:
            return JSONResponse(
                {"detail": f"station answered with a CALLERROR: {exc}", "error_code": exc.code, "details": exc.details},
                status_code=502,
            )
        except OcppError as exc:  # our own validation, or not a message of the station's version
            return JSONResponse({"detail": str(exc), "error_code": exc.code, "details": exc.details}, status_code=400)

    return app
