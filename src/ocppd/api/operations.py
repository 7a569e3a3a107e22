"""Availability wanted and reported, resets and their outcome, display messages, customer information
(docs/device-management.md). Sending is the typed commands' (``/commands/change-availability``,
``reset``, ``set-display-message``, ...); these endpoints show what ocppd keeps of them.

No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.
"""

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from ocppd.api.auth import current_principal, require_admin
from ocppd.api.commands import CustomerInformation
from ocppd.api.errors import ApiError, error_responses
from ocppd.api.routes import svc
from ocppd.api.security import Principal
from ocppd.api.service import OperatorService
from ocppd.csms.availability import effective
from ocppd.store import repo

router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(current_principal)], responses=error_responses(400, 401, 403, 404)
)


class Wish(BaseModel):
    evse_id: int = Field(description="0: the whole station")
    connector_id: int = Field(description="0: the whole EVSE")
    operative: bool
    operational_status: str = Field(description="Operative | Inoperative")
    answer: str | None = Field(description="The station's answer: Accepted, Scheduled, Rejected (null: none)")
    state: str = Field(description="pending, scheduled (a transaction runs), applied, rejected, failed")
    detail: str | None = None
    requested_at: str
    applied_at: str | None = None
    reapplied_at: str | None = Field(None, description="Sent again after a boot that had lost it")


class ConnectorAvailability(BaseModel):
    evse_id: int
    connector_id: int
    status: str = Field(description="As the station last reported it")
    wanted: str | None = Field(description="Operative | Inoperative, from the deciding wish (null: none)")
    wanted_state: str | None = None


class AvailabilityView(BaseModel):
    wishes: list[Wish]
    connectors: list[ConnectorAvailability]


@router.get("/stations/{station_id}/availability", tags=["availability"], response_model=AvailabilityView,
            summary="The operative state wanted per station/EVSE/connector, next to the reported status")  # fmt: skip
async def availability(station_id: str, s: OperatorService = Depends(svc)) -> dict[str, Any]:
    await s.station_row(station_id)
    wishes = await s.csms.availability.wanted(station_id)
    connectors = []
    for c in await s.store.read(repo.list_connector_status, station_id):
        w = effective(wishes, c.evse_id, c.connector_id) if c.evse_id > 0 else None
        connectors.append({"evse_id": c.evse_id, "connector_id": c.connector_id, "status": c.status,
                           "wanted": w["operational_status"] if w else None,
                           "wanted_state": w["state"] if w else None})  # fmt: skip
    return {"wishes": wishes, "connectors": connectors}


class ResetView(BaseModel):
    id: int
    station_id: str
    kind: str = Field(description="As sent: OnIdle, Immediate, ImmediateAndResume (2.x); Soft, Hard (1.6)")
    evse_id: int | None
    answer: str | None
    outcome: str = Field(description="awaiting_reboot, scheduled, completed, not_observed, accepted (EVSE), "
                                     "rejected, failed, superseded")  # fmt: skip
    detail: str | None
    requested_at: str
    deadline_at: str | None
    disconnected_at: str | None
    booted_at: str | None
    boot_reason: str | None = Field(description="2.x BootNotification reason, e.g. RemoteReset, ScheduledReset")


@router.get("/stations/{station_id}/resets", tags=["availability"], response_model=list[ResetView],
            summary="Resets sent to the station and what was observed after them, newest first")  # fmt: skip
async def station_resets(
    station_id: str, s: OperatorService = Depends(svc), limit: int = Query(50, ge=1, le=1000)
) -> list[dict[str, Any]]:
    await s.station_row(station_id)
    return await s.csms.resets.list(station_id, limit)


@router.get("/resets", tags=["availability"], response_model=list[ResetView], summary="Resets of every station")
async def all_resets(s: OperatorService = Depends(svc), limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
    return await s.csms.resets.list(None, limit)


class DisplayMessageView(BaseModel):
    message_id: int
    priority: str
    state: str | None
    start_at: str | None
    end_at: str | None
    validity: str = Field(description="valid, not_yet (before start_at), expired (after end_at)")
    transaction_id: str | None
    format: str
    language: str | None
    content: str
    display: str | None
    set_at: str | None = Field(description="When the station accepted it from ocppd")
    reported_at: str | None = Field(description="When the station last reported it (GetDisplayMessages)")
    updated_at: str


@router.get("/stations/{station_id}/display-messages", tags=["display messages"],
            response_model=list[DisplayMessageView],
            summary="The display messages on the station, as set and as reported")  # fmt: skip
async def display_messages(station_id: str, s: OperatorService = Depends(svc)) -> list[dict[str, Any]]:
    await s.station_row(station_id)
    return await s.csms.display_messages.list(station_id)


class CustomerInformationView(BaseModel):
    id: int
    station_id: str
    request_id: int
    report: bool
    clear: bool
    id_token: str | None
    id_token_type: str | None
    customer_identifier: str | None
    certificate: dict[str, Any] | None
    status: str = Field(description="Requested, the answer (Accepted, Rejected, Invalid), NoAnswer; "
                                    "Unrequested: a report nobody asked this process for")  # fmt: skip
    data: str = Field(description="The NotifyCustomerInformation parts, in order")
    parts: int
    complete: bool
    created_by: str | None
    created_at: str
    updated_at: str


@router.post("/stations/{station_id}/customer-information", tags=["customer information"],
             response_model=CustomerInformationView, responses=error_responses(409, 502, 504),
             summary="Ask the station to report and/or clear what it keeps about a customer (2.x)")  # fmt: skip
async def request_customer_information(
    station_id: str,
    body: CustomerInformation,
    s: OperatorService = Depends(svc),
    principal: Principal = Depends(require_admin),
) -> dict[str, Any]:
    """Name the customer by exactly one of ``id_token``, ``customer_identifier``, ``customer_certificate``.
    The answer is the request as kept; its ``data`` fills as the station's parts arrive."""
    c = s.csms
    return await s.carry_out(station_id, c.customer_info.request(station_id, c.send, body.verb(), principal.name),
                             "customer-information")  # fmt: skip


@router.get("/stations/{station_id}/customer-information", tags=["customer information"],
            response_model=list[CustomerInformationView],
            summary="Customer information requests, newest first")  # fmt: skip
async def station_customer_information(
    station_id: str, s: OperatorService = Depends(svc), limit: int = Query(50, ge=1, le=1000)
) -> list[dict[str, Any]]:
    await s.station_row(station_id)
    return await s.csms.customer_info.list(station_id, limit)


@router.get("/customer-information/{request_pk}", tags=["customer information"],
            response_model=CustomerInformationView,
            summary="One customer information request and its report")  # fmt: skip
async def customer_information(request_pk: int, s: OperatorService = Depends(svc)) -> dict[str, Any]:
    found = await s.csms.customer_info.get(request_pk)
    if found is None:
        raise ApiError(404, f"unknown customer information request {request_pk}", "not_found")
    return found
