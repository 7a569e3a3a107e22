"""Alert endpoints: list and filter, acknowledge (the domain is csms/alerts.py).

No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.
"""

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from ocppd.api import paging
from ocppd.api.auth import current_principal, require_admin
from ocppd.api.errors import ApiError, error_responses
from ocppd.api.routes import Cursor, Limit, _paged
from ocppd.api.security import Principal
from ocppd.csms.service import Csms

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(current_principal)],
    tags=["alerts"],
    responses=error_responses(400, 401, 403),
)


class Alert(BaseModel):
    id: int
    station_id: str
    key: str
    source: str
    state: str
    severity: int | None = None
    code: str | None = None
    message: str
    evse_id: int | None = None
    connector_id: int | None = None
    opened_at: str
    last_at: str
    count: int
    cleared_at: str | None = None
    acknowledged_at: str | None = None
    acknowledged_by: str | None = None
    details: dict[str, Any] | None = None


def _csms(request: Request) -> Csms:
    return request.app.state.csms  # type: ignore[no-any-return]


@router.get("/alerts", response_model=list[Alert], summary="Alerts, newest first (default: the open ones)")
async def list_alerts(
    request: Request,
    state: Literal["open", "cleared", "all"] = "open",
    station_id: str | None = None,
    source: Literal["NotifyEvent", "StatusNotification", "Offline", "Security", "Storm"] | None = None,
    max_severity: int | None = Query(None, ge=0, le=9, description="this level and worse (0 is Danger)"),
    acknowledged: bool | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    filters = {"station_id": station_id, "source": source, "max_severity": max_severity, "acknowledged": acknowledged}
    return await _csms(request).alerts.list(state=state, limit=limit, **filters)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=Alert,
    summary="Acknowledge an alert (a security alert is also closed by it)",
    responses=error_responses(404),
)
async def acknowledge_alert(
    request: Request, alert_id: int, principal: Principal = Depends(require_admin)
) -> dict[str, Any]:
    done = await _csms(request).alerts.acknowledge(alert_id, principal.name)
    if done is None:
        raise ApiError(404, f"no alert {alert_id}", "not_found")
    return done


class Monitor(BaseModel):
    station_id: str
    monitor_id: int | None = Field(
        description="The station's id; a refused monitor has none (or the one it meant to replace)"
    )
    component: str
    variable: str
    type: str
    value: float
    severity: int
    transaction: bool
    state: str = Field(
        description="set (by ocppd, accepted), reported (by the station) or refused (by the station: "
        "kept with its answer, the station has no such monitor)"
    )
    status: str | None = Field(
        None,
        description="The SetVariableMonitoring answer (Accepted, or the refusal: Rejected, UnknownComponent, "
        "UnknownVariable, UnsupportedMonitorType, Duplicate), or Reported",
    )
    reason: str | None = Field(None, description="The station's statusInfo (reasonCode: additionalInfo)")
    clear_status: str | None = Field(None, description="Rejected: the station refused to clear this monitor")
    clear_reason: str | None = None
    updated_at: str


@router.get(
    "/stations/{station_id}/monitors",
    response_model=list[Monitor],
    summary="The 2.x variable monitors of the station: set by ocppd, reported (NotifyMonitoringReport), or "
    "refused by the station with its answer",
)
async def list_monitors(request: Request, station_id: str) -> list[dict[str, Any]]:
    return await _csms(request).monitoring.monitors(station_id)


@router.get(
    "/monitors",
    response_model=list[Monitor],
    summary="The 2.x variable monitors of every station; state tells accepted (set), reported and refused apart",
)
async def list_all_monitors(
    request: Request,
    response: Response,
    state: Literal["set", "reported", "refused"] | None = Query(None, description="Only monitors in this state"),
    limit: int = Limit,
    cursor: str | None = Cursor,
) -> list[dict[str, Any]]:
    after = paging.decode(cursor, int, str, int, str, str, str) if cursor else None
    rows, last = await _csms(request).monitoring.monitor_page(state, after, limit)
    _paged(response, request, last)
    return rows
