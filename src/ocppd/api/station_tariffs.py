"""OCPP 2.1 tariffs on stations (SetDefaultTariff, GetTariffs, ClearTariffs, ChangeTransactionTariff),
the 2.1 form of a tariff, and the stations' own cost beside the CSMS's (docs/billing.md).

Thin: calls ``csms.station_tariffs``. No ``from __future__ import annotations`` (FastAPI reads them).
"""

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from ocppd.api.auth import Principal, current_principal, require_admin
from ocppd.api.errors import ApiError, error_responses, outbound_errors
from ocppd.api.models import TransactionPk
from ocppd.csms.billing.ocpp21 import NotMappable
from ocppd.csms.billing.service import BillingError
from ocppd.csms.billing.station_tariffs import StationTariffs
from ocppd.csms.billing.tariff import TariffError
from ocppd.csms.outbound import Sent, jsonable
from ocppd.store import billing_repo as br
from ocppd.store import repo

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(current_principal)],
    tags=["billing"],
    responses=error_responses(400, 401, 403),
)
STATION_ERRORS = error_responses(404, 409, 502, 504)


def tariffs_of(request: Request) -> StationTariffs:
    return request.app.state.csms.station_tariffs


async def _call(coro: Any) -> Any:
    """Map what can go wrong onto the API's answers (400 names the element that cannot be sent)."""
    try:
        with outbound_errors("tariff"):  # the station's failures: the API's one mapping
            return await coro
    except NotMappable as exc:
        raise ApiError(400, f"not expressible in OCPP 2.1: {exc}", "not_expressible", {"field": exc.where}) from None
    except (BillingError, TariffError) as exc:
        raise ApiError(400, str(exc), "invalid_input", {"field": exc.where}) from None


class StationTariff(BaseModel):
    id: int
    evse_id: int = Field(description="0: every EVSE")
    tariff_id: str = Field(description="The 2.1 tariffId: <ocppd tariff>-v<version>")
    kind: str = Field(description="default (SetDefaultTariff), transaction (ChangeTransactionTariff), reported")
    transaction_uid: str | None
    tariff: dict[str, Any] = Field(description="The 2.1 Tariff as sent (reported: what GetTariffs said)")
    source_tariff_id: str | None
    source_version_id: int | None
    status: str = Field(description="The station's answer: Accepted, Rejected, TooManyElements, ...")
    detail: str | None
    held: bool = Field(description="The station holds it, as far as the CSMS knows (GetTariffs reconciles)")
    set_at: str
    checked_at: str | None = Field(description="Last confirmed by GetTariffs")


def _row(r: br.StationTariffRow) -> dict[str, Any]:
    out = {
        name: getattr(r, name)
        for name in (
            "id",
            "evse_id",
            "tariff_id",
            "kind",
            "transaction_uid",
            "source_tariff_id",
            "source_version_id",
            "status",
            "detail",
            "held",
        )
    }
    checked = r.checked_at.isoformat() if r.checked_at else None
    return out | {"tariff": r.body, "set_at": r.set_at.isoformat(), "checked_at": checked}  # fmt: skip


def _exchanges(sent: Sent[Any]) -> list[dict[str, Any]]:
    return [{"action": e.action, "request": e.request, "response": e.response} for e in sent.exchanges]


class Pushed(BaseModel):
    accepted: bool
    result: dict[str, Any] = Field(description="The station's answer in domain terms")
    stored: StationTariff
    calls: list[dict[str, Any]]


class DefaultTariffIn(BaseModel):
    tariff_id: str = Field(description="An ocppd tariff (PUT /api/v1/tariffs/{tariff_id})")
    version_id: int | None = Field(None, description="Default: the version in force now")
    evse_id: int = Field(0, ge=0, description="0: every EVSE")


class ChangeTariffIn(BaseModel):
    tariff_id: str
    version_id: int | None = None


class ClearIn(BaseModel):
    tariff_ids: list[str] = Field(default_factory=list, description="2.1 tariffIds; empty: every tariff")
    evse_id: int | None = Field(None, ge=0, description="Only at this EVSE")


class Answered(BaseModel):
    result: dict[str, Any]
    held: list[StationTariff] = Field(description="What the station holds now, as far as the CSMS knows")
    calls: list[dict[str, Any]]


@router.get(
    "/tariffs/{tariff_id}/ocpp21",
    responses=error_responses(400),
    summary="The OCPP 2.1 Tariff a tariff version becomes (400 names what 2.1 cannot express)",
)
async def ocpp21_form(
    tariff_id: str, version_id: int | None = Query(None), t: StationTariffs = Depends(tariffs_of)
) -> dict[str, Any]:
    return await _call(t.preview(tariff_id, version_id))


@router.get("/stations/{station_id}/tariffs", response_model=list[StationTariff], summary="2.1 tariffs on the station")
async def station_tariffs(
    station_id: str,
    all: bool = Query(False, description="Also those no longer held (history)"),
    t: StationTariffs = Depends(tariffs_of),
) -> list[dict[str, Any]]:
    return [_row(r) for r in await t.held(station_id, all_rows=all)]


@router.put(
    "/stations/{station_id}/tariffs/default",
    response_model=Pushed,
    responses=STATION_ERRORS,
    summary="SetDefaultTariff: an ocppd tariff version, mapped onto the 2.1 Tariff, for an EVSE (0: all)",
)
async def set_default(
    station_id: str,
    body: DefaultTariffIn,
    _p: Principal = Depends(require_admin),
    t: StationTariffs = Depends(tariffs_of),
) -> dict[str, Any]:
    pushed = await _call(t.set_default(station_id, body.evse_id, body.tariff_id, body.version_id))
    result = pushed.sent.result
    return {"accepted": result.accepted, "result": jsonable(result), "stored": _row(pushed.row),
            "calls": _exchanges(pushed.sent)}  # fmt: skip


@router.post(
    "/stations/{station_id}/tariffs/reconcile",
    response_model=Answered,
    responses=STATION_ERRORS,
    summary="GetTariffs: what the station holds; the stored view is made to agree with it",
)
async def reconcile(
    station_id: str,
    evse_id: int = Query(0, ge=0),
    _p: Principal = Depends(require_admin),
    t: StationTariffs = Depends(tariffs_of),
) -> dict[str, Any]:
    sent = await _call(t.reconcile(station_id, evse_id))
    held = [_row(r) for r in await t.held(station_id)]
    return {"result": jsonable(sent.result), "held": held, "calls": _exchanges(sent)}


@router.post(
    "/stations/{station_id}/tariffs/clear",
    response_model=Answered,
    responses=STATION_ERRORS,
    summary="ClearTariffs: these 2.1 tariffIds (or all), at one EVSE or everywhere",
)
async def clear(
    station_id: str,
    body: ClearIn,
    _p: Principal = Depends(require_admin),
    t: StationTariffs = Depends(tariffs_of),
) -> dict[str, Any]:
    sent = await _call(t.clear(station_id, tuple(body.tariff_ids), body.evse_id))
    held = [_row(r) for r in await t.held(station_id)]
    return {"result": jsonable(sent.result), "held": held, "calls": _exchanges(sent)}


@router.post(
    "/transactions/{pk}/tariff",
    response_model=Pushed,
    responses=STATION_ERRORS,
    summary="ChangeTransactionTariff (2.1): once the station accepts, this tariff prices the whole transaction",
)
async def change_transaction_tariff(
    pk: TransactionPk,
    body: ChangeTariffIn,
    request: Request,
    _p: Principal = Depends(require_admin),
    t: StationTariffs = Depends(tariffs_of),
) -> dict[str, Any]:
    tx = await request.app.state.csms.store.read(repo.get_transaction, pk)
    if tx is None:
        raise ApiError(404, f"no transaction {pk}", "not_found")
    pushed = await _call(t.change_transaction(tx.station_id, tx.transaction_uid, body.tariff_id, body.version_id))
    result = pushed.sent.result
    return {"accepted": result.accepted, "result": jsonable(result), "stored": _row(pushed.row),
            "calls": _exchanges(pushed.sent)}  # fmt: skip


class LocalCost(BaseModel):
    event_type: str
    seq_no: int
    tariff_id: str | None
    station_incl_vat: str | None = Field(description="The station's total (costDetails.totalCost.total)")
    csms_incl_vat: str | None = Field(description="The CSMS's price of the same moment")
    difference: str | None = Field(description="Station minus CSMS")
    flagged: bool = Field(description="They differ by more than one minor unit (or only one side has a price)")
    cost_details: dict[str, Any]
    recorded_at: str


@router.get(
    "/transactions/{pk}/local-costs",
    response_model=list[LocalCost],
    summary="A 2.1 station's own cost of the transaction (costDetails) beside the CSMS's, per event",
)
async def local_costs(pk: TransactionPk, request: Request) -> list[dict[str, Any]]:
    rows = await request.app.state.csms.store.read(br.local_costs, pk)
    names = ("event_type", "seq_no", "tariff_id", "station_incl_vat", "csms_incl_vat", "difference", "flagged",
             "cost_details")  # fmt: skip
    return [{n: getattr(r, n) for n in names} | {"recorded_at": r.recorded_at.isoformat()} for r in rows]
