"""Billing endpoints: tariffs (versions and history), assignments, transaction costs and recompute,
per-day totals, CDR-like session records, signed meter values, streamed exports.

Thin: they call ``csms.billing`` and shape JSON. No ``from __future__ import annotations``: FastAPI
reads the annotations at runtime.
"""

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from ocppd.api import paging
from ocppd.api.auth import Principal, current_principal, require_admin
from ocppd.api.errors import ApiError, error_responses
from ocppd.api.models import TransactionPk
from ocppd.csms.billing import reports
from ocppd.csms.billing.evidence import transparency_xml
from ocppd.csms.billing.service import BillingError
from ocppd.csms.billing.tariff import TariffError
from ocppd.csms.service import Csms
from ocppd.store import billing_repo as br
from ocppd.store import repo

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(current_principal)],
    tags=["billing"],
    responses=error_responses(400, 401, 403),
)
NOT_FOUND = error_responses(404)


def csms_of(request: Request) -> Csms:
    return request.app.state.csms


class TariffVersionOut(BaseModel):
    id: int = Field(description="The version's id (a transaction's cost names it)")
    tariff_id: str
    valid_from: str
    valid_to: str | None = Field(description="None: until a later version starts")
    tariff: dict[str, Any] = Field(description="Currency, time zone, VAT, elements (see docs/billing.md)")
    created_at: str
    created_by: str | None


class TariffIn(BaseModel):
    tariff: dict[str, Any] = Field(description="The tariff: currency, time_zone, vat, elements, min/max_price, text")
    valid_from: datetime | None = Field(None, description="Default: now. An open-ended earlier version ends here")
    valid_to: datetime | None = None


class AssignmentIn(BaseModel):
    tariff_id: str
    station_id: str | None = None
    evse_id: int | None = Field(None, description="Needs station_id")
    group_id: str | None = Field(None, description="A token group (fleet contract)")
    id_token: str | None = None
    site_id: str | None = Field(None, description="A site of the limit tree: its stations (not with station_id)")


class AssignmentOut(AssignmentIn):
    id: int
    created_at: str
    created_by: str | None


class CostOut(BaseModel):
    id: int
    transaction_id: int
    tariff_id: str | None
    tariff_version_id: int | None
    currency: str | None
    cost: dict[str, Any] | None = Field(description="Totals, lines, VAT by rate, periods; None: no tariff applied")
    flags: list[str] = Field(description="What to review: meter_went_backwards, missing_stop_reading, no_tariff, ...")
    reason: str = Field(description="Why it was computed: 'transaction ended' or the operator's recompute reason")
    computed_by: str | None
    computed_at: str
    site_id: str | None = Field(None, description="The station's site when it was priced (limit tree)")
    group_id: str | None = Field(None, description="The token's group when it was priced")


class TransactionCostOut(BaseModel):
    transaction_id: int
    running: bool = Field(description="True: the cost so far of a running transaction (not recorded)")
    current: dict[str, Any] | None = Field(description="The price: the latest computation, or the running cost")
    history: list[CostOut] = Field(description="Every computation, oldest first")


class RecomputeIn(BaseModel):
    reason: str = Field(description="Why the price changes (kept with the new computation)")
    tariff_version_id: int | None = Field(None, description="Price with this version instead of the one in force")


class DailyTotal(BaseModel):
    day: str
    currency: str | None
    transactions: int
    energy_wh: float
    excl_vat: str
    incl_vat: str


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _version_out(row: br.TariffVersionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "tariff_id": row.tariff_id,
        "valid_from": row.valid_from.isoformat(),
        "valid_to": _iso(row.valid_to),
        "tariff": row.body,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
    }


def _assignment_out(row: br.AssignmentRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "tariff_id": row.tariff_id,
        "station_id": row.station_id,
        "evse_id": row.evse_id,
        "group_id": row.group_id,
        "id_token": row.id_token,
        "site_id": row.site_id,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
    }


def cost_out(row: br.CostRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "transaction_id": row.transaction_id,
        "tariff_id": row.tariff_id,
        "tariff_version_id": row.tariff_version_id,
        "currency": row.currency,
        "cost": row.cost,
        "flags": row.flags or [],
        "reason": row.reason,
        "computed_by": row.computed_by,
        "computed_at": row.computed_at.isoformat(),
        "site_id": row.site_id,
        "group_id": row.group_id,
    }


def _bad(exc: TariffError | BillingError | reports.ReportError) -> ApiError:
    return ApiError(400, str(exc), "invalid_input", {"field": exc.where, "problem": exc.message})


# --------------------------------------------------------------------------- tariffs


@router.put(
    "/tariffs/{tariff_id}",
    status_code=201,
    response_model=TariffVersionOut,
    summary="Add a version of a tariff (validated; the reason names the element that cannot be right)",
)
async def put_tariff(
    tariff_id: str,
    body: TariffIn = Body(...),
    principal: Principal = Depends(require_admin),
    c: Csms = Depends(csms_of),
) -> dict[str, Any]:
    try:
        row = await c.billing.put_tariff(
            tariff_id, body.tariff, valid_from=body.valid_from, valid_to=body.valid_to, by=principal.name
        )
    except (TariffError, BillingError) as exc:
        raise _bad(exc) from None
    return _version_out(row)


@router.get("/tariffs", response_model=list[TariffVersionOut], summary="Every tariff's versions")
async def list_tariffs(c: Csms = Depends(csms_of)) -> list[dict[str, Any]]:
    return [_version_out(r) for r in await c.store.read(br.list_tariffs)]


@router.get(
    "/tariffs/{tariff_id}",
    response_model=list[TariffVersionOut],
    responses=NOT_FOUND,
    summary="A tariff's history: every version, oldest first",
)
async def get_tariff(tariff_id: str, c: Csms = Depends(csms_of)) -> list[dict[str, Any]]:
    rows = await c.store.read(br.tariff_versions_of, tariff_id)
    if not rows:
        raise ApiError(404, f"no tariff {tariff_id!r}", "not_found")
    return [_version_out(r) for r in rows]


@router.post(
    "/tariff-assignments",
    status_code=201,
    response_model=AssignmentOut,
    summary="Assign a tariff to a site, station, EVSE, token group or token (or none of them: the default); "
    "the most specific wins: token > group > EVSE > station > site > default",
)
async def add_assignment(
    body: AssignmentIn, principal: Principal = Depends(require_admin), c: Csms = Depends(csms_of)
) -> dict[str, Any]:
    try:
        row = await c.billing.assign(**body.model_dump(), by=principal.name)
    except BillingError as exc:
        raise _bad(exc) from None
    return _assignment_out(row)


@router.get("/tariff-assignments", response_model=list[AssignmentOut], summary="Every tariff assignment")
async def list_assignments(c: Csms = Depends(csms_of)) -> list[dict[str, Any]]:
    return [_assignment_out(r) for r in await c.store.read(br.list_assignments)]


@router.delete(
    "/tariff-assignments/{assignment_id}", status_code=204, responses=NOT_FOUND, summary="Remove an assignment"
)
async def delete_assignment(
    assignment_id: int, _principal: Principal = Depends(require_admin), c: Csms = Depends(csms_of)
) -> None:
    if not await c.store.write(br.delete_assignment, assignment_id):
        raise ApiError(404, f"no tariff assignment {assignment_id}", "not_found")


# --------------------------------------------------------------------------- costs


async def _transaction(c: Csms, pk: int) -> Any:
    tx = await c.store.read(repo.get_transaction, pk)
    if tx is None:
        raise ApiError(404, f"no transaction {pk}", "not_found")
    return tx


@router.get(
    "/transactions/{pk}/cost",
    response_model=TransactionCostOut,
    responses=NOT_FOUND,
    summary="A transaction's cost with its breakdown (running: the cost so far) and every computation",
)
async def transaction_cost(pk: TransactionPk, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    tx = await _transaction(c, pk)
    history = [cost_out(r) for r in await c.store.read(br.cost_history, pk)]
    if tx.active:
        priced = await c.billing.running_cost(tx)
        current = priced.cost.to_json() if priced.cost else None
        return {"transaction_id": pk, "running": True, "current": current, "history": history}
    return {
        "transaction_id": pk,
        "running": False,
        "current": history[-1]["cost"] if history else None,
        "history": history,
    }


@router.post(
    "/transactions/{pk}/cost/recompute",
    response_model=CostOut,
    responses=NOT_FOUND,
    summary="Price a finished transaction again, recording why",
)
async def recompute(
    pk: TransactionPk, body: RecomputeIn, principal: Principal = Depends(require_admin), c: Csms = Depends(csms_of)
) -> dict[str, Any]:
    await _transaction(c, pk)
    try:
        row = await c.billing.recompute(pk, body.reason, principal.name, body.tariff_version_id)
    except (BillingError, TariffError) as exc:
        raise _bad(exc) from None
    return cost_out(row)


@router.get("/billing/daily", response_model=list[DailyTotal], summary="Per-day totals (UTC day of the end)")
async def daily(
    since: datetime | None = Query(None),
    until: datetime | None = Query(None),
    station_id: str | None = Query(None),
    c: Csms = Depends(csms_of),
) -> list[dict[str, Any]]:
    rows = await c.store.read(br.daily_totals, since, until, station_id)
    out = []
    for r in rows:
        digits = c.billing.digits(r["currency"])
        out.append(
            {
                "day": r["day"],
                "currency": r["currency"],
                "transactions": r["transactions"],
                "energy_wh": float(r["energy_wh"]),
                "excl_vat": c.billing.money(r["excl_vat_minor"], digits),
                "incl_vat": c.billing.money(r["incl_vat_minor"], digits),
            }
        )
    return out


class Total(BaseModel):
    """One period's total (and of one site, station, group or token when ``by`` is given)."""

    period: str = Field(description="Local day YYYY-MM-DD or month YYYY-MM (in tz) of the transactions' end")
    site_id: str | None = Field(None, description="by=site: the site it was priced on (null: none)")
    station_id: str | None = Field(None, description="by=station")
    group_id: str | None = Field(None, description="by=group: the token's group when priced (null: none)")
    id_token: str | None = Field(None, description="by=token")
    currency: str | None = Field(description="null: transactions no tariff applied to (energy only)")
    transactions: int
    energy_wh: float = Field(description="Energy priced (the trusted readings; see flags in the export)")
    duration_s: int = Field(description="Sum of the sessions' durations (start to end)")
    charging_s: int = Field(description="Sum of the time charging (as priced: TIME)")
    parking_s: int = Field(description="Sum of the idle time (as priced: PARKING_TIME)")
    excl_vat: str
    vat: str
    incl_vat: str


TOTALS_PAGE = 1000
TOTALS_PAGE_MAX = 10_000
TOTAL_FIELDS = ("period", "site_id", "station_id", "group_id", "id_token", "currency", "transactions", "energy_wh",
                "duration_s", "charging_s", "parking_s", "excl_vat", "vat", "incl_vat")  # fmt: skip


@router.get(
    "/billing/totals",
    response_model=list[Total],
    response_model_exclude_unset=True,
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
    summary="Per day or month totals (energy, sessions, revenue), optionally by site, station, group or token",
    description="Finished transactions by the local day (or month) of their end in `tz`, with their latest "
    "computation (a recompute changes the money, not the day). Filters combine. Sorted by period, key, then "
    "currency (code points; a missing key or currency first). JSON pages of `limit` rows with a cursor "
    '(`Link: rel="next"` / `X-Next-Cursor` while there is more); `format=csv` gives every row at once.',
)
async def totals(
    request: Request,
    period: str = Query("day", pattern="^(day|month)$"),
    by: str | None = Query(None, pattern="^(site|station|group|token)$", description="One total per ... as well"),
    tz: str = Query("UTC", description="IANA time zone of the days and months, e.g. Europe/Berlin"),
    since: str | None = Query(None, description="Ended at or after: a local date (2026-06-01) or a time"),
    until: str | None = Query(None, description="Ended before: a local date (its midnight) or a time"),
    site_id: str | None = Query(None),
    station_id: str | None = Query(None),
    group_id: str | None = Query(None),
    id_token: str | None = Query(None),
    format: str = Query("json", pattern="^(json|csv)$"),
    limit: int = Query(TOTALS_PAGE, ge=1, le=TOTALS_PAGE_MAX),
    cursor: str | None = Query(None, description='From the previous page\'s `Link: rel="next"` / `X-Next-Cursor`'),
    c: Csms = Depends(csms_of),
) -> Any:
    try:
        zone = reports.zone_of(tz)
        start, end = reports.bound(since, zone, "since"), reports.bound(until, zone, "until")
    except reports.ReportError as exc:
        raise _bad(exc) from None
    after = paging.decode(cursor, str, str, str) if cursor else None
    filters = {"site_id": site_id, "station_id": station_id, "group_id": group_id, "id_token": id_token}

    # JSON: one page in the database's order (period, key, currency), one more to know there is a next
    page_of = {} if format == "csv" else {"after": after, "limit": limit + 1}
    out = await c.billing.totals(period=period, by=by, zone=zone, since=start, until=end, **page_of, **filters)
    if format == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=TOTAL_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(out)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        headers = {"Content-Disposition": f'attachment; filename="billing-totals-{stamp}.csv"'}
        return Response(text.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
    page = out[:limit]
    headers = {}
    if len(out) > limit:
        headers = paging.next_link(request.url, paging.encode(reports.sort_key(page[-1], by)))
    return JSONResponse(page, headers=headers)


# --------------------------------------------------------------------------- evidence, CDRs, exports

EXPORT_BATCH = 1000
EXPORT_FIELDS = (
    "id",
    "station_id",
    "transaction_uid",
    "evse_id",
    "id_token",
    "started_at",
    "stopped_at",
    "energy_wh",
    "charging_s",
    "parking_s",
    "currency",
    "excl_vat",
    "vat",
    "incl_vat",
    "tariff_id",
    "tariff_version_id",
    "flags",
    "duration_s",
    "site_id",
    "group_id",
    "energy_cost",
    "time_cost",
    "parking_cost",
    "flat_cost",
    "price_adjustment",
    "signatures",  # the verdicts on its signed meter values: "verified:2 failed:1"
)
# breakdown columns: the excl. VAT sum of the cost lines of each dimension
BREAKDOWN = {
    "ENERGY": "energy_cost",
    "TIME": "time_cost",
    "PARKING_TIME": "parking_cost",
    "FLAT": "flat_cost",
    "MIN_PRICE": "price_adjustment",
    "MAX_PRICE": "price_adjustment",
}


class SignedValue(BaseModel):
    timestamp: str
    evse_id: int
    context: str | None
    measurand: str | None
    value: float | None
    signed_data: str = Field(description="As the station sent it (OCMF text, base64, ...)")
    encoding: str | None
    signing_method: str | None
    public_key: str | None = Field(description="The key the value carried (2.x publicKey), if any")
    verification: str | None = Field(
        None, description="verified, failed or unverifiable (docs/billing.md); None: kept before checks existed"
    )
    verification_detail: str | None = Field(None, description="Why: the algorithm, or what is missing or wrong")
    meter_key: str | None = Field(None, description="The EVSE's meter public key the station reported, if known")


class SignedValues(BaseModel):
    transaction_id: int
    values: list[SignedValue]
    summary: dict[str, int] = Field(default_factory=dict, description="How many values of each verdict")


class MeterKey(BaseModel):
    evse_id: int = Field(description="0: the station's key (one meter, or not said per EVSE)")
    public_key: str
    variable: str = Field(
        description="Where the station reported it: FiscalMetering@evse1/PublicKey, MeterPublicKey[1]"
    )
    updated_at: str


class Cdr(BaseModel):
    """Close to OCPI 2.2's CDR: one finished (or running) session with its price."""

    id: str
    transaction_id: int
    station_id: str
    evse_id: int | None
    connector_id: int | None
    auth_id: str | None
    group_id: str | None
    start_date_time: str | None
    end_date_time: str | None
    meter_start_wh: float | None
    meter_stop_wh: float | None
    currency: str | None
    tariff_id: str | None
    tariff_version_id: int | None
    total_energy_kwh: str | None
    total_charging_s: int | None
    total_parking_s: int | None
    total_cost: dict[str, str | None] | None
    vat_by_rate: list[dict[str, str]]
    cost_lines: list[dict[str, Any]]
    charging_periods: list[dict[str, Any]]
    flags: list[str]
    priced_at: str | None
    price_reason: str | None
    recomputed: bool
    signed_values: list[SignedValue]


def _signed_out(row: br.SignedValueRow, keys: list[br.MeterKeyRow] | None = None) -> dict[str, Any]:
    meter_key = br.meter_key_for(keys or [], row.evse_id)
    return {
        "timestamp": row.timestamp.isoformat(),
        "evse_id": row.evse_id,
        "context": row.context,
        "measurand": row.measurand,
        "value": row.value,
        "signed_data": row.signed_data,
        "encoding": row.encoding,
        "signing_method": row.signing_method,
        "public_key": row.public_key,
        "verification": row.verification,
        "verification_detail": row.verification_detail,
        "meter_key": meter_key.public_key if meter_key else None,
    }


def _verdicts(rows: list[br.SignedValueRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.verification or "unchecked"] = counts.get(row.verification or "unchecked", 0) + 1
    return counts


@router.get(
    "/transactions/{pk}/signed-values",
    response_model=SignedValues,
    responses={**NOT_FOUND, 200: {"content": {"application/json": {}, "application/xml": {}}}},
    summary="The transaction's signed meter values (format=xml: for the S.A.F.E. transparency software)",
)
async def signed_values(
    pk: TransactionPk, format: str = Query("json", pattern="^(json|xml)$"), c: Csms = Depends(csms_of)
) -> Any:
    tx = await _transaction(c, pk)
    rows = await c.store.read(br.signed_values, pk)
    keys = await c.store.read(br.meter_keys_of, tx.station_id)
    if format == "xml":
        station_keys = {k.evse_id: k.public_key for k in keys}
        body = transparency_xml(tx.transaction_uid, rows, station_keys)
        headers = {"Content-Disposition": f'attachment; filename="transaction-{pk}-signed.xml"'}
        return Response(body, media_type="application/xml", headers=headers)
    return {"transaction_id": pk, "values": [_signed_out(r, keys) for r in rows], "summary": _verdicts(rows)}


@router.get(
    "/stations/{station_id}/meter-keys",
    response_model=list[MeterKey],
    summary="The public keys of the station's fiscal meters, per EVSE, as the station reported them",
)
async def meter_keys(station_id: str, c: Csms = Depends(csms_of)) -> list[dict[str, Any]]:
    rows = await c.store.read(br.meter_keys_of, station_id)
    return [
        {
            "evse_id": r.evse_id,
            "public_key": r.public_key,
            "variable": r.variable,
            "updated_at": r.updated_at.isoformat(),
        }
        for r in rows
    ]


def _breakdown(lines: list[dict[str, Any]]) -> dict[str, str | None]:
    sums: dict[str, Decimal] = {}
    for line in lines:
        column = BREAKDOWN.get(line.get("dimension", ""))
        if column:
            sums[column] = sums.get(column, Decimal(0)) + Decimal(line["excl_vat"])
    return {column: str(sums[column]) if column in sums else None for column in dict.fromkeys(BREAKDOWN.values())}


def _export_row(tx: Any, cost: br.CostRow | None) -> dict[str, Any]:
    breakdown = (cost.cost if cost else None) or {}
    duration = (tx.stopped_at - tx.started_at).total_seconds() if tx.stopped_at else None
    return {
        "id": tx.id,
        "station_id": tx.station_id,
        "transaction_uid": tx.transaction_uid,
        "evse_id": tx.evse_id,
        "id_token": tx.id_token,
        "started_at": _iso(tx.started_at),
        "stopped_at": _iso(tx.stopped_at),
        "energy_wh": tx.energy_wh,
        "charging_s": breakdown.get("charging_s"),
        "parking_s": breakdown.get("parking_s"),
        "currency": cost.currency if cost else None,
        "excl_vat": breakdown.get("excl_vat"),
        "vat": breakdown.get("vat"),
        "incl_vat": breakdown.get("incl_vat"),
        "tariff_id": cost.tariff_id if cost else None,
        "tariff_version_id": cost.tariff_version_id if cost else None,
        "flags": " ".join(cost.flags or []) if cost else None,
        "duration_s": None if duration is None else int(max(0.0, duration)),
        "site_id": cost.site_id if cost else None,
        "group_id": cost.group_id if cost else None,
        **_breakdown(breakdown.get("lines") or []),
    }


@router.get(
    "/transactions/{pk}/cdr",
    response_model=Cdr,
    responses=NOT_FOUND,
    summary="A CDR-like record of the session: times, energy, cost with its breakdown, signed values",
)
async def cdr(pk: TransactionPk, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    tx = await _transaction(c, pk)

    def op(conn: Any) -> tuple[Any, Any, Any]:
        history = br.cost_history(conn, pk)
        token = repo.get_token(conn, tx.id_token) if tx.id_token else None
        return history, br.signed_values(conn, pk), token, br.meter_keys_of(conn, tx.station_id)

    history, signed, token, keys = await c.store.read(op)
    cost = history[-1] if history else None
    breakdown = (cost.cost if cost else None) or {}
    return {
        "id": f"{tx.station_id}-{tx.transaction_uid}",
        "transaction_id": pk,
        "station_id": tx.station_id,
        "evse_id": tx.evse_id,
        "connector_id": tx.connector_id,
        "auth_id": tx.id_token,
        "group_id": token.group_id if token else None,
        "start_date_time": _iso(tx.started_at),
        "end_date_time": _iso(tx.stopped_at),
        "meter_start_wh": tx.meter_start_wh,
        "meter_stop_wh": tx.meter_stop_wh,
        "currency": cost.currency if cost else None,
        "tariff_id": cost.tariff_id if cost else None,
        "tariff_version_id": cost.tariff_version_id if cost else None,
        "total_energy_kwh": breakdown.get("energy_kwh"),
        "total_charging_s": breakdown.get("charging_s"),
        "total_parking_s": breakdown.get("parking_s"),
        "total_cost": {k: breakdown.get(k) for k in ("excl_vat", "vat", "incl_vat")} if breakdown else None,
        "vat_by_rate": breakdown.get("vat_by_rate", []),
        "cost_lines": breakdown.get("lines", []),
        "charging_periods": breakdown.get("periods", []),
        "flags": (cost.flags or []) if cost else [],
        "priced_at": _iso(cost.computed_at) if cost else None,
        "price_reason": cost.reason if cost else None,
        "recomputed": len(history) > 1,
        "signed_values": [_signed_out(r, keys) for r in signed],
    }


async def _export_batches(c: Csms, filters: dict[str, Any]) -> AsyncIterator[list[dict[str, Any]]]:
    """Keyset batches, newest first: constant memory however many transactions match."""
    before: tuple[datetime, int] | None = None
    while True:

        def op(conn: Any, before: Any = before) -> list[dict[str, Any]]:
            page = br.export_page(conn, EXPORT_BATCH, before, **filters)
            verdicts = br.signature_verdicts(conn, [t.id for t, _ in page])
            return [_export_row(t, cost) | {"signatures": verdicts.get(t.id)} for t, cost in page]

        rows = await c.store.read(op)
        if rows:
            yield rows
        if len(rows) < EXPORT_BATCH:
            return
        before = (datetime.fromisoformat(rows[-1]["started_at"]), rows[-1]["id"])


async def _csv(c: Csms, filters: dict[str, Any]) -> AsyncIterator[bytes]:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    yield out.getvalue().encode()
    async for rows in _export_batches(c, filters):
        out.seek(0)
        out.truncate()
        writer.writerows(rows)
        yield out.getvalue().encode()


async def _json_lines(c: Csms, filters: dict[str, Any]) -> AsyncIterator[bytes]:
    async for rows in _export_batches(c, filters):
        yield b"".join(json.dumps(r).encode() + b"\n" for r in rows)


@router.get(
    "/billing/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
    summary="Every matching transaction with its cost, streamed (CSV, or JSON lines); no row cap",
    description="One row per transaction, newest first: "
    + ", ".join(f"`{name}`" for name in EXPORT_FIELDS)
    + ". `charging_s` / `parking_s`: charging and idle time; `energy_cost`, `time_cost`, `parking_cost`, "
    "`flat_cost`, `price_adjustment` (min/max price): the breakdown excl. VAT; `site_id` / `group_id`: "
    "what the session was priced for (the filters of the same names use them).",
)
async def export(
    format: str = Query("csv", pattern="^(csv|json)$"),
    station: str | None = Query(None, description="Only this station"),
    since: datetime | None = Query(None, description="Started at or after"),
    until: datetime | None = Query(None, description="Started before"),
    site_id: str | None = Query(None, description="Only sessions priced on this site"),
    group_id: str | None = Query(None, description="Only sessions of this token group (when priced)"),
    id_token: str | None = Query(None, description="Only this token"),
    c: Csms = Depends(csms_of),
) -> StreamingResponse:
    filters = {
        "station_id": station,
        "since": since,
        "until": until,
        "site_id": site_id,
        "group_id": group_id,
        "id_token": id_token,
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    if format == "json":
        return StreamingResponse(_json_lines(c, filters), media_type="application/x-ndjson")
    return StreamingResponse(
        _csv(c, filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="billing-{stamp}.csv"'},
    )
