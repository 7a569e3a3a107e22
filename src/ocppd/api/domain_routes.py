"""REST endpoints for what the CSMS decides about transactions: force-close, reservations, local
authorization lists (no ``from __future__ import annotations``: FastAPI reads the annotations)."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from ocppd.api.auth import current_principal, require_admin
from ocppd.api.errors import ApiError, error_responses, outbound_errors
from ocppd.api.models import TransactionDetail, TransactionPk
from ocppd.api.routes import svc
from ocppd.api.security import Principal
from ocppd.api.service import OperatorService, iso
from ocppd.csms.local_lists import LocalListError
from ocppd.csms.reservations import ReservationError
from ocppd.csms.transactions import TransactionClosed
from ocppd.store import tx_repo

router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(current_principal)], responses=error_responses(400, 401, 403)
)
Admin = Depends(require_admin)


class CloseRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=1000, description="Why; kept with the transaction and who closed it")


@router.post(
    "/transactions/{pk}/close",
    tags=["transactions"],
    dependencies=[Admin],
    summary="Force-close a transaction the station will not end (meter stop = its last reading)",
    responses=error_responses(404, 409),
)
async def close_transaction(
    pk: TransactionPk,
    body: CloseRequest,
    s: OperatorService = Depends(svc),
    principal: Principal = Depends(current_principal),
) -> TransactionDetail:
    reason = body.reason.strip()
    if not reason:
        raise ApiError(400, "reason: say why the transaction is closed", "invalid_input")
    try:
        await s.csms.transactions.force_close(pk, reason, principal.name)
    except TransactionClosed as exc:
        raise ApiError(409, str(exc), "not_open") from None
    except LookupError:
        raise ApiError(404, f"unknown transaction {pk}", "unknown_transaction") from None
    return await s.transaction(pk)  # type: ignore[return-value]


class ReservationCreate(BaseModel):
    station_id: str = Field(min_length=1, max_length=255)
    id_token: str = Field(min_length=1, max_length=255)
    expires_at: datetime = Field(description="When the reservation ends (UTC); must be in the future")
    evse_id: int | None = Field(None, description="1.6: connector (0 = any); 2.x: EVSE (omitted = any)")
    connector_type: str | None = Field(None, description="2.x: any EVSE with this connector type, e.g. cType2")
    token_type: str | None = Field(None, description="2.x idToken type (default: the stored token's, else Central)")
    group_id: str | None = Field(None, description="Group id token (default: the stored token's group)")


class Reservation(BaseModel):
    id: int
    station_id: str
    evse_id: int | None
    connector_type: str | None
    id_token: str
    group_id: str | None
    expires_at: str | None
    status: str = Field(description="Pending, the station's answer, then Used, Cancelled, Expired or Removed")
    transaction_id: int | None = Field(description="The transaction (its id) that used it")
    created_by: str | None
    note: str | None
    created_at: str | None
    updated_at: str | None


def _reservation(r: Any) -> Reservation:
    return Reservation(
        id=r.id, station_id=r.station_id, evse_id=r.evse_id, connector_type=r.connector_type, id_token=r.id_token,
        group_id=r.group_id, expires_at=iso(r.expires_at), status=r.status, transaction_id=r.transaction_id,
        created_by=r.created_by, note=r.note, created_at=iso(r.created_at), updated_at=iso(r.updated_at),
    )  # fmt: skip


async def _outbound(coro: Any) -> Any:
    """Run a reservation action, mapping what can go wrong onto the API's answers."""
    with outbound_errors("reservation", invalid=(ReservationError,), missing=(LookupError,)):
        return await coro


@router.post(
    "/reservations",
    tags=["reservations"],
    status_code=201,
    dependencies=[Admin],
    summary="Reserve an EVSE / connector (or any) for a token: ReserveNow with a CSMS-allocated id",
    responses=error_responses(409, 502, 504),
)
async def create_reservation(
    body: ReservationCreate, s: OperatorService = Depends(svc), principal: Principal = Depends(current_principal)
) -> Reservation:
    await s.station_row(body.station_id)
    row = await _outbound(
        s.csms.reservations.create(
            body.station_id, id_token=body.id_token, expires_at=body.expires_at, evse_id=body.evse_id,
            connector_type=body.connector_type, token_type=body.token_type, group_id=body.group_id,
            by=principal.name,
        )
    )  # fmt: skip
    return _reservation(row)


@router.get("/reservations", tags=["reservations"], summary="Reservations, newest first")
async def list_reservations(
    s: OperatorService = Depends(svc),
    station: str | None = Query(None, description="Only this station"),
    live: bool = Query(False, description="Only Pending / Accepted ones"),
    limit: int = Query(100, ge=1, le=10_000),
) -> list[Reservation]:
    rows = await s.store.read(tx_repo.list_reservations, station, live, limit)
    return [_reservation(r) for r in rows]


@router.get("/reservations/{reservation_id}", tags=["reservations"], responses=error_responses(404))
async def get_reservation(reservation_id: int, s: OperatorService = Depends(svc)) -> Reservation:
    return _reservation(await _outbound(s.csms.reservations.get(reservation_id)))


@router.post(
    "/reservations/{reservation_id}/cancel",
    tags=["reservations"],
    dependencies=[Admin],
    summary="CancelReservation; a station that refuses keeps it (see note)",
    responses=error_responses(404, 409, 502, 504),
)
async def cancel_reservation(
    reservation_id: int, s: OperatorService = Depends(svc), principal: Principal = Depends(current_principal)
) -> Reservation:
    return _reservation(await _outbound(s.csms.reservations.cancel(reservation_id, principal.name)))


class LocalListMembers(BaseModel):
    tokens: list[str] = Field(default_factory=list, description="Id tokens on this station's list")
    groups: list[str] = Field(default_factory=list, description="Groups whose tokens are on it")
    sync: bool = Field(True, description="Send the changes now (the station must be connected)")


class LocalListView(BaseModel):
    station_id: str
    managed: bool = Field(description="The CSMS owns this station's list")
    version: int | None = Field(description="The version the CSMS last gave the station")
    station_version: int | None = Field(description="What the station said (GetLocalListVersion / last update)")
    status: str | None = Field(description="Synced, Pending, Failed, VersionMismatch, NotSupported, TooLong, NotSent")
    detail: str | None
    synced_at: str | None
    tokens: list[str]
    groups: list[str]
    entries: int = Field(description="Tokens the list should hold")
    held: list[dict[str, Any]] = Field(description="What the station holds, as the CSMS sent it")
    pending_changes: bool


async def _local_list(coro: Any) -> Any:
    with outbound_errors("local list", invalid=(LocalListError,)):
        return await coro


@router.get(
    "/stations/{station_id}/local-list",
    tags=["local lists"],
    summary="The station's local authorization list as the CSMS owns it",
    responses=error_responses(404),
)
async def get_local_list(station_id: str, s: OperatorService = Depends(svc)) -> LocalListView:
    await s.station_row(station_id)
    return LocalListView(**await s.csms.local_lists.view(station_id))


@router.put(
    "/stations/{station_id}/local-list",
    tags=["local lists"],
    dependencies=[Admin],
    summary="Choose the tokens and groups on the station's list (then sent: full first, then differential)",
    responses=error_responses(404, 409, 502, 504),
)
async def put_local_list(station_id: str, body: LocalListMembers, s: OperatorService = Depends(svc)) -> LocalListView:
    await s.station_row(station_id)
    await _local_list(s.csms.local_lists.set_members(station_id, body.tokens, body.groups))
    if body.sync:
        await _local_list(s.csms.local_lists.sync(station_id))
    return LocalListView(**await s.csms.local_lists.view(station_id))


@router.post(
    "/stations/{station_id}/local-list/sync",
    tags=["local lists"],
    dependencies=[Admin],
    summary="Send what changed (or, full=true, the whole list) now",
    responses=error_responses(404, 409, 502, 504),
)
async def sync_local_list(
    station_id: str, s: OperatorService = Depends(svc), full: bool = Query(False, description="A full update")
) -> LocalListView:
    await s.station_row(station_id)
    await _local_list(s.csms.local_lists.sync(station_id, full=full))
    return LocalListView(**await s.csms.local_lists.view(station_id))
