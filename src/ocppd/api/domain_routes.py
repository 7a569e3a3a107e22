"""REST endpoints for what the CSMS decides about transactions: force-close, reservations, local
authorization lists (no ``from __future__ import annotations``: FastAPI reads the annotations)."""


from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from ocppd.api.auth import current_principal, require_admin
from ocppd.api.errors import ApiError, error_responses
from ocppd.api.models import TransactionDetail
from ocppd.api.routes import svc
from ocppd.api.security import Principal
from ocppd.api.service import OperatorService
from ocppd.csms.transactions import TransactionClosed

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
    pk: int,
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
