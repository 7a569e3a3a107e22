"""Prepaid credit of tokens and groups, and OCPP 2.1 transaction limits (docs/billing.md).

Thin: they call ``csms.credit`` and ``csms.tx_limits``. No ``from __future__ import annotations``:
FastAPI reads the annotations at runtime.
"""

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr

from ocppd.api.auth import Principal, current_principal, require_admin
from ocppd.api.commands import TransactionLimitIn
from ocppd.api.errors import ApiError, error_responses
from ocppd.api.models import TransactionPk
from ocppd.csms.billing.credit import CreditError
from ocppd.csms.limits import LimitError
from ocppd.csms.service import Csms

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(current_principal)],
    responses=error_responses(400, 401, 403),
)
NOT_FOUND = error_responses(404)


def csms_of(request: Request) -> Csms:
    return request.app.state.csms


def _bad(exc: CreditError | LimitError) -> ApiError:
    return ApiError(400, str(exc), "invalid_input", {"field": exc.where, "problem": exc.message})


# An amount is text or a number, never true/false (a lax float would take true as 1.00)
Amount = StrictStr | StrictInt | StrictFloat


class CreditIn(BaseModel):
    currency: str = Field(description="ISO 4217 code; must be the currency of the tariffs the holder charges under")
    balance: Amount = Field(description='The balance to set, e.g. "20.00" (not negative)')


class TopUpIn(BaseModel):
    amount: Amount = Field(description="Added to the balance (negative: a correction)")


class CreditEntryOut(BaseModel):
    id: int
    amount: str
    balance: str = Field(description="The balance after this entry")
    currency: str
    transaction_id: int | None = Field(description="The transaction whose final price was debited")
    reason: str
    entered_by: str | None
    entered_at: str


class CreditOut(BaseModel):
    holder: str = Field(description="A token, or a token group whose members spend from it")
    currency: str
    balance: str
    updated_at: str
    updated_by: str | None
    entries: list[CreditEntryOut] = Field(description="Every change, newest first")


@router.get("/tokens/{holder}/credit", tags=["tokens"], response_model=CreditOut, responses=NOT_FOUND,
            summary="A token's (or a group's) prepaid credit and its entries")  # fmt: skip
async def get_credit(holder: str, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    found = await c.credit.get(holder)
    if found is None:
        raise ApiError(404, f"{holder!r} holds no credit", "not_found")
    return found


@router.put("/tokens/{holder}/credit", tags=["tokens"], response_model=CreditOut,
            summary="Make a token (or a group) prepaid, or set its balance")  # fmt: skip
async def put_credit(
    holder: str, body: CreditIn, principal: Principal = Depends(require_admin), c: Csms = Depends(csms_of)
) -> dict[str, Any]:
    try:
        return await c.credit.set_balance(holder, body.currency, body.balance, principal.name)
    except CreditError as exc:
        raise _bad(exc) from None


@router.post("/tokens/{holder}/credit/top-up", tags=["tokens"], response_model=CreditOut, responses=NOT_FOUND,
             summary="Add to (or correct) a prepaid balance")  # fmt: skip
async def top_up_credit(
    holder: str, body: TopUpIn, principal: Principal = Depends(require_admin), c: Csms = Depends(csms_of)
) -> dict[str, Any]:
    try:
        return await c.credit.top_up(holder, body.amount, principal.name)
    except CreditError as exc:
        raise _bad(exc) from None
    except LookupError as exc:
        raise ApiError(404, str(exc), "not_found") from None


@router.delete("/tokens/{holder}/credit", tags=["tokens"], status_code=204, responses=NOT_FOUND,
               summary="The holder is no longer prepaid (its entries are kept)")  # fmt: skip
async def delete_credit(holder: str, principal: Principal = Depends(require_admin), c: Csms = Depends(csms_of)) -> None:
    if not await c.credit.delete(holder, principal.name):
        raise ApiError(404, f"{holder!r} holds no credit", "not_found")


class LimitOut(BaseModel):
    limit: dict[str, Any] | None = Field(description="The CSMS's limit: the operator's, tightened by prepaid credit")
    station_limit: dict[str, Any] | None = Field(description="The limit the station last reported it applies")
    history: list[dict[str, Any]] = Field(description="operator / prepaid / sent (answered) / station, in order")
    debit: CreditEntryOut | None = Field(None, description="The prepaid debit of its final price, once ended")


@router.get("/transactions/{pk}/limit", tags=["transactions"], response_model=LimitOut, responses=NOT_FOUND,
            summary="A 2.1 transaction's limits: set by the CSMS, given to and reported by the station")  # fmt: skip
async def get_limit(pk: TransactionPk, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    view = await c.tx_limits.of_transaction(pk)
    if view is None:
        raise ApiError(404, f"no transaction {pk}", "not_found")
    return view


@router.post("/transactions/{pk}/limit", tags=["transactions"], response_model=LimitOut, responses=NOT_FOUND,
             summary="Limit a running 2.1 transaction: given in the answer to its next TransactionEvent")  # fmt: skip
async def set_limit(
    pk: TransactionPk,
    body: TransactionLimitIn,
    principal: Principal = Depends(require_admin),
    c: Csms = Depends(csms_of),
) -> dict[str, Any]:
    try:
        return await c.tx_limits.set_running(pk, body.limit(), principal.name)
    except LimitError as exc:
        raise _bad(exc) from None
    except LookupError as exc:
        raise ApiError(404, str(exc), "not_found") from None
