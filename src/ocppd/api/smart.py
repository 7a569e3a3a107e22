"""Smart-charging endpoints: sites and the limit tree, external limits, charging profiles.

Thin: they call ``csms.smart`` (the domain) and shape JSON. No ``from __future__ import
annotations``: FastAPI reads the annotations at runtime.
"""

import math
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ocppd.api.auth import current_principal, require_admin
from ocppd.api.choices import choice
from ocppd.api.errors import ApiError, error_responses, outbound_errors
from ocppd.csms import verbs as v
from ocppd.csms.service import Csms
from ocppd.csms.smart import ProfileRefused
from ocppd.csms.smart.balancing import plan_view
from ocppd.csms.smart.wire import family
from ocppd.smart.schedule import ActiveTx, format_time
from ocppd.smart.tree import TreeError, phase_amps
from ocppd.store import repo
from ocppd.store.smart_repo import ProfileRow

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(current_principal)],
    tags=["smart charging"],
    responses=error_responses(400, 401, 403),
)
Admin = Depends(require_admin)
NOT_FOUND = error_responses(404)
STATION = error_responses(404, 409, 502)


class SmartStatus(BaseModel):
    enabled: bool
    sites: list[str]
    charging: int
    excluded: dict[str, str]
    profiles_sent: int
    owner: dict[str, Any] | None = Field(
        None, description="Who owns the balancing: this node, whether it holds the lease, the holder, its expiry"
    )


class PhaseTotals(BaseModel):
    amps: list[float | None]
    watts: float | None


class PlanPeriod(BaseModel):
    from_: str = Field(alias="from", description="From when (UTC)")
    amps: float | None = Field(description="Per phase; null on the last entry: the plan ends there")


class Allocation(BaseModel):
    station_id: str
    evse_id: int
    amps: float
    reason: str
    measured_a: list[float] | None = None
    learned_cap_a: float | None = None
    mode: str | None = None
    transaction_id: str | None = None
    unit: str | None = Field(None, description="The rate unit of its profiles (W for stations that take only W)")
    departure: str | None = Field(None, description="When the EV leaves (ISO 15118 or the operator)")
    energy_wh: float | None = Field(None, description="The energy it asked for by then")
    remaining_wh: float | None = None
    need_a: float | None = Field(None, description="Per phase, from now, to have its energy by its departure")
    planned_wh: float | None = Field(None, description="What its plan delivers by its departure")
    on_time: bool | None = Field(None, description="Whether its plan meets its departure")
    needs_source: str | None = Field(None, description="ev (ISO 15118) or operator")
    plan: list[PlanPeriod] | None = Field(None, description="Its plan until its departure (the last entry: the end)")


class ExternalLimitOut(BaseModel):
    id: int
    node: str
    source: str
    amps: list[float] | None
    watts: float | None
    start: str
    end: str | None


class SiteOut(BaseModel):
    site: str
    at: float | None = None
    limit: PhaseTotals | None = None
    allocated: PhaseTotals | None = None
    measured: PhaseTotals | None = None
    allocations: list[Allocation] = []
    excluded: dict[str, str] = {}
    compute_ms: float | None = None
    profiles_sent: int | None = None
    nodes: list[dict[str, Any]] | None = None
    external_limits: list[ExternalLimitOut] | None = None


class NodeSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    kind: str
    parent: str | None = None


class TreeOut(BaseModel):
    nodes: list[NodeSpec]


class Deleted(BaseModel):
    deleted: str | int


class ExternalCreated(BaseModel):
    id: int
    node: str
    capped_at_configured_limit: bool


class ProfileOut(BaseModel):
    row_id: int
    evse_id: int
    profile_id: int
    purpose: str
    stack_level: int
    kind: str
    unit: str
    transaction_id: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    source: str
    state: str
    answer: dict[str, Any] | None
    drift: str | None
    sent_at: datetime
    ended_at: datetime | None
    profile: dict[str, Any]


class ProfileSent(BaseModel):
    status: str | None
    request: dict[str, Any]
    answer: dict[str, Any]


class CompositeOut(BaseModel):
    evse_id: int
    start: str
    unit: str
    periods: list[dict[str, Any]]
    station: dict[str, Any] | None = None


class ReconcileOut(BaseModel):
    request_id: int
    status: str | None
    result: dict[str, Any] | None = None
    note: str | None = None


def csms_of(request: Request) -> Csms:
    return request.app.state.csms


def _tree_error(exc: TreeError) -> ApiError:
    return ApiError(400, f"limit tree: {exc}", "invalid_limit_tree", {"node": exc.node, "problem": exc.message})


# --------------------------------------------------------------------------- sites and the tree


@router.get("/smart", response_model=SmartStatus, summary="Balancer status: sites, charging EVs, excluded stations")
async def smart_status(c: Csms = Depends(csms_of)) -> dict[str, Any]:
    return c.smart.status()


@router.get("/sites", response_model=list[SiteOut], summary="Every site with its limit, allocated and measured totals")
async def list_sites(c: Csms = Depends(csms_of)) -> list[dict[str, Any]]:
    out = []
    for node in c.smart.sites.tree.nodes.values():
        if node.kind == "site":
            view = c.smart.balancing.view(node.id) or {"site": node.id}
            view = {k: v for k, v in view.items() if k != "allocations"}
            out.append(view)
    return out


@router.get(
    "/sites/{site_id}",
    response_model=SiteOut,
    responses=NOT_FOUND,
    summary="One site: live totals per phase against the limit, allocations, nodes",
)
async def get_site(site_id: str, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    sites = c.smart.sites
    node = sites.tree.nodes.get(site_id)
    if node is None or node.kind != "site":
        raise ApiError(404, f"no site {site_id!r}", "not_found")
    view = c.smart.balancing.view(site_id) or {"site": site_id, "allocations": []}
    view["nodes"] = [sites.specs[n] for n in sites.specs if sites.tree.site_of(n) == site_id]
    now = time.time()
    view["external_limits"] = [
        _external_dict(i, e) for i, e in sites.externals if e.end > now and sites.tree.site_of(e.node) == site_id
    ]
    return view


@router.get("/limit-tree", response_model=TreeOut, summary="The whole limit tree as node specs")
async def get_tree(c: Csms = Depends(csms_of)) -> dict[str, Any]:
    return {"nodes": list(c.smart.sites.specs.values())}


@router.put(
    "/limit-tree",
    dependencies=[Admin],
    response_model=TreeOut,
    summary="Replace the whole limit tree (validated as a whole)",
)
async def put_tree(body: dict[str, Any] = Body(...), c: Csms = Depends(csms_of)) -> dict[str, Any]:
    nodes = body.get("nodes")
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        raise ApiError(400, "nodes: a list of node objects", "invalid_input")
    try:
        await c.smart.sites.replace(nodes)
    except TreeError as exc:
        raise _tree_error(exc) from None
    return {"nodes": list(c.smart.sites.specs.values())}


@router.put(
    "/limit-tree/nodes/{node_id}",
    dependencies=[Admin],
    response_model=NodeSpec,
    responses=NOT_FOUND,
    summary="Add or change one node",
)
async def put_node(node_id: str, body: dict[str, Any] = Body(...), c: Csms = Depends(csms_of)) -> dict[str, Any]:
    if "id" in body and body["id"] != node_id:
        raise ApiError(400, "id: differs from the node in the path", "invalid_input")
    try:
        await c.smart.sites.upsert({**body, "id": node_id})
    except TreeError as exc:
        raise _tree_error(exc) from None
    return c.smart.sites.specs[node_id]


@router.patch(
    "/limit-tree/nodes/{node_id}",
    dependencies=[Admin],
    response_model=NodeSpec,
    responses=NOT_FOUND,
    summary='Change some fields of one node, e.g. a station\'s priority: {"weight": 2}',
)
async def patch_node(node_id: str, body: dict[str, Any] = Body(...), c: Csms = Depends(csms_of)) -> dict[str, Any]:
    spec = c.smart.sites.specs.get(node_id)
    if spec is None:
        raise ApiError(404, f"no node {node_id!r}", "not_found")
    if "id" in body and body["id"] != node_id:
        raise ApiError(400, "id: a node cannot be renamed", "invalid_input")
    try:
        await c.smart.sites.upsert({**spec, **body, "id": node_id})
    except TreeError as exc:
        raise _tree_error(exc) from None
    return c.smart.sites.specs[node_id]


@router.delete(
    "/limit-tree/nodes/{node_id}",
    dependencies=[Admin],
    response_model=Deleted,
    responses=error_responses(404, 409),
    summary="Remove a node without children",
)
async def delete_node(node_id: str, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    try:
        await c.smart.sites.delete(node_id)
    except KeyError:
        raise ApiError(404, f"no node {node_id!r}", "not_found") from None
    except TreeError as exc:
        raise ApiError(409, str(exc), "has_children", {"node": exc.node}) from None
    return {"deleted": node_id}


class ExternalLimitBody(BaseModel):
    amps: float | list[float] | None = Field(None, description="Per phase: one number or [L1, L2, L3]")
    watts: float | None = None
    start: datetime | None = Field(None, description="Default: now")
    end: datetime | None = Field(None, description="Expiry; afterwards the configured limit applies again")
    duration_s: int | None = Field(None, gt=0, description="Instead of end")
    source: choice("api", "ems", "grid") = "api"
    note: str | None = Field(None, max_length=500)
    replace: bool = Field(False, description="Remove this source's other limits on the node first")


def _external_dict(limit_id: int, e: Any) -> dict[str, Any]:
    return {
        "id": limit_id,
        "node": e.node,
        "source": e.source,
        "amps": list(e.amps) if e.amps else None,
        "watts": e.watts,
        "start": format_time(e.start),
        "end": None if math.isinf(e.end) else format_time(e.end),
    }


@router.post(
    "/limit-tree/nodes/{node_id}/external-limits",
    dependencies=[Admin],
    status_code=201,
    response_model=ExternalCreated,
    responses=NOT_FOUND,
    summary="Lower a node's limit for a while (EMS, grid operator)",
)
async def add_external(node_id: str, body: ExternalLimitBody, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    start = body.start.timestamp() if body.start else None
    end = body.end.timestamp() if body.end else None
    if body.duration_s is not None:
        end = (start if start is not None else time.time()) + body.duration_s
    try:
        amps = phase_amps(body.amps) if body.amps is not None else None
        limit_id = await c.smart.sites.add_external(
            node_id, body.source, amps, body.watts, start, end, body.note, replace_source=body.replace
        )
    except KeyError:
        raise ApiError(404, f"no node {node_id!r}", "not_found") from None
    except TreeError as exc:
        raise _tree_error(exc) from None
    except ValueError as exc:
        raise ApiError(400, f"amps: {exc}", "invalid_input") from None
    capped = c.smart.sites.physical_cap(node_id, amps, body.watts)
    return {"id": limit_id, "node": node_id, "capped_at_configured_limit": capped}


@router.get("/external-limits", response_model=list[ExternalLimitOut], summary="External limits not yet expired")
async def list_externals(c: Csms = Depends(csms_of)) -> list[dict[str, Any]]:
    now = time.time()
    return [_external_dict(i, e) for i, e in c.smart.sites.externals if e.end > now]


@router.delete(
    "/external-limits/{limit_id}",
    dependencies=[Admin],
    response_model=Deleted,
    responses=NOT_FOUND,
    summary="End an external limit now",
)
async def delete_external(limit_id: int, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    if not await c.smart.sites.remove_external(limit_id=limit_id):
        raise ApiError(404, f"no external limit {limit_id}", "not_found")
    return {"deleted": limit_id}


# --------------------------------------------------------------------------- charging needs


MAX_EVSE_ID = 2**31 - 1  # the charging_needs column is 32-bit on PostgreSQL


class NeedsBody(BaseModel):
    departure: datetime = Field(description="When the EV leaves")
    energy_wh: float = Field(ge=0, le=1_000_000, strict=True, description="The energy it needs by then (Wh)")


class NeedsOut(BaseModel):
    station_id: str
    evse_id: int
    departure: str | None
    energy_wh: float | None
    source: str | None
    charging: bool
    amps: float | None = Field(None, description="What the balancer gives it now (per phase)")
    need_a: float | None = None
    planned_wh: float | None = Field(None, description="What its plan delivers by its departure")
    on_time: bool | None = None
    plan: list[PlanPeriod] | None = Field(None, description="The balancer's plan at its last run")


def _needs_out(c: Csms, station_id: str, evse_id: int) -> dict[str, Any]:
    b = c.smart.balancing
    needs = b.ev_needs.get((station_id, evse_id)) or {}
    grant = b.preview(station_id, evse_id)
    departure = needs.get("departure")
    site = c.smart.sites.station_site(station_id)
    view = b.views.get(site or "")
    return {
        "station_id": station_id,
        "evse_id": evse_id,
        "departure": None if departure is None else format_time(departure),
        "energy_wh": needs.get("energy_wh"),
        "source": needs.get("source"),
        "charging": (station_id, evse_id) in b.charging,
        "amps": grant.amps if grant else None,
        "need_a": None if grant is None or grant.need_a is None or math.isinf(grant.need_a) else round(grant.need_a, 1),
        "planned_wh": None if grant is None or grant.planned_wh is None else round(grant.planned_wh),
        "on_time": grant.on_time if grant else None,
        "plan": plan_view(view.plans.get(f"{station_id}/{evse_id}")) if view is not None else None,
    }


def _balanced_station(c: Csms, station_id: str) -> None:
    if c.smart.sites.station_site(station_id) is None:
        raise ApiError(404, f"station {station_id!r} is on no site: it is not balanced", "not_found")


@router.get(
    "/stations/{station_id}/evses/{evse_id}/charging-needs",
    response_model=NeedsOut,
    responses=NOT_FOUND,
    summary="The departure time and energy need the balancer plans for on this EVSE",
)
async def get_needs(station_id: str, evse_id: int, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    _balanced_station(c, station_id)
    return _needs_out(c, station_id, evse_id)


@router.put(
    "/stations/{station_id}/evses/{evse_id}/charging-needs",
    dependencies=[Admin],
    response_model=NeedsOut,
    responses=NOT_FOUND,
    summary="Set an EV's departure time and energy need (until its transaction ends)",
)
async def put_needs(station_id: str, evse_id: int, body: NeedsBody, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    _balanced_station(c, station_id)
    if not 1 <= evse_id <= MAX_EVSE_ID:
        raise ApiError(400, f"evse_id: charging needs are for an EVSE (1 to {MAX_EVSE_ID})", "invalid_input")
    if body.departure.tzinfo is None:  # read as the server's local time by timestamp(): a guess
        raise ApiError(400, "departure: needs a UTC offset (e.g. 2026-12-01T18:00Z)", "invalid_input")
    if body.departure <= datetime.now(UTC):  # nothing can be planned for it
        raise ApiError(400, "departure: is in the past", "invalid_input")
    await c.smart.balancing.set_needs(station_id, evse_id, body.departure.timestamp(), body.energy_wh, "operator")
    return _needs_out(c, station_id, evse_id)


@router.delete(
    "/stations/{station_id}/evses/{evse_id}/charging-needs",
    dependencies=[Admin],
    response_model=NeedsOut,
    responses=NOT_FOUND,
    summary="Forget the departure and energy need of this EVSE (its EV is balanced without them)",
)
async def delete_needs(station_id: str, evse_id: int, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    _balanced_station(c, station_id)
    await c.smart.balancing.set_needs(station_id, evse_id, None, None, "operator")
    return _needs_out(c, station_id, evse_id)


# --------------------------------------------------------------------------- charging profiles


def _row(r: ProfileRow) -> dict[str, Any]:
    return {
        "row_id": r.id,
        "evse_id": r.evse_id,
        "profile_id": r.profile_id,
        "purpose": r.purpose,
        "stack_level": r.stack_level,
        "kind": r.kind,
        "unit": r.unit,
        "transaction_id": r.transaction_id,
        "valid_from": r.valid_from,
        "valid_to": r.valid_to,
        "source": r.source,
        "state": r.state,
        "answer": r.answer,
        "drift": r.drift,
        "sent_at": r.sent_at,
        "ended_at": r.ended_at,
        "profile": r.profile,
    }


@router.get(
    "/stations/{station_id}/charging-profiles",
    response_model=list[ProfileOut],
    responses=NOT_FOUND,
    summary="Profiles installed (or the timeline of all sent)",
)
async def station_profiles(
    station_id: str, history: bool = Query(False), limit: int = Query(200, ge=1, le=5000), c: Csms = Depends(csms_of)
) -> list[dict[str, Any]]:
    rows = await (c.smart.profiles.history(station_id, limit) if history else c.smart.profiles.installed(station_id))
    return [_row(r) for r in rows]


class PeriodBody(BaseModel):
    start_s: int = Field(ge=0)
    limit: float
    phases: int | None = None


class ProfileBody(BaseModel):
    id: int = Field(ge=0)
    evse_id: int = Field(0, ge=0)
    purpose: choice("station_max", "tx_default", "tx") = "tx_default"
    stack_level: int = Field(0, ge=0)
    kind: choice("Absolute", "Recurring", "Relative") = "Absolute"
    recurrency: choice("Daily", "Weekly") | None = None
    unit: choice("A", "W") = "A"
    start: datetime | None = None
    duration_s: int | None = Field(None, gt=0)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    periods: list[PeriodBody] = Field(min_length=1)


@router.post(
    "/stations/{station_id}/charging-profiles",
    dependencies=[Admin],
    response_model=ProfileSent,
    responses=STATION,
    summary="Validate and install a charging profile (the generic call can send invalid ones)",
)
async def set_profile(station_id: str, body: ProfileBody, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    start = body.start or (datetime.now(UTC) if body.kind == "Absolute" else None)
    profile = v.ChargingProfile(
        id=body.id,
        periods=tuple(v.SchedulePeriod(p.start_s, p.limit, p.phases) for p in body.periods),
        stack_level=body.stack_level,
        purpose=body.purpose,
        kind=body.kind,
        recurrency=body.recurrency,
        unit=body.unit,
        start_at=start if body.kind != "Relative" else None,
        duration_s=body.duration_s,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        transaction_id=body.transaction_id,
    )
    try:
        with outbound_errors("SetChargingProfile"):
            sent = await c.smart.install(station_id, v.SetChargingProfile(profile, body.evse_id))
    except ProfileRefused as exc:
        raise ApiError(400, f"charging profile: {exc}", "invalid_profile", exc.reasons) from None
    exchange = sent.exchanges[0]
    return {"status": sent.result.status, "request": exchange.request, "answer": exchange.response}


@router.get(
    "/stations/{station_id}/charging-profiles/composite",
    response_model=CompositeOut,
    responses=STATION,
    summary="The composite schedule computed from the stored profiles; compare=true asks the station too",
)
async def composite(
    station_id: str,
    evse_id: int = Query(1, ge=0),
    duration_s: int = Query(3600, gt=0, le=604800),
    unit: choice("A", "W") = "A",
    compare: bool = False,
    c: Csms = Depends(csms_of),
) -> dict[str, Any]:
    txs = await c.store.read(repo.list_transactions, station_id=station_id, active_only=True, limit=50)
    tx = next((t for t in txs if (t.evse_id or t.connector_id) == evse_id), None)
    active = ActiveTx(tx.transaction_uid or str(tx.id), tx.started_at.timestamp()) if tx else None
    now = time.time()
    ours = await c.smart.profiles.composite(station_id, evse_id, duration_s, unit, active, now)
    out: dict[str, Any] = {"evse_id": evse_id, "start": format_time(now), "unit": unit, "periods": ours}
    if compare:
        session = c.sessions.get(station_id)
        if session is None:
            raise ApiError(409, f"station {station_id!r} is not connected", "station_offline")
        with outbound_errors("GetCompositeSchedule"):
            sent = await c.send(station_id, v.GetCompositeSchedule(evse_id, duration_s, unit))
        answer = sent.exchanges[0].response
        out["station"] = await c.smart.profiles.check_composite(station_id, evse_id, answer, active)
    return out


@router.post(
    "/stations/{station_id}/charging-profiles/reconcile",
    dependencies=[Admin],
    response_model=ReconcileOut,
    responses=STATION,
    summary="Ask the station for its profiles (2.x GetChargingProfiles) and flag drift",
)
async def reconcile(station_id: str, c: Csms = Depends(csms_of)) -> dict[str, Any]:
    session = c.sessions.get(station_id)
    if session is None:
        raise ApiError(409, f"station {station_id!r} is not connected", "station_offline")
    if family(session.version.label) == "1.6":
        raise ApiError(
            400, "OCPP 1.6 has no GetChargingProfiles; use composite?compare=true per connector", "not_supported"
        )
    with outbound_errors("GetChargingProfiles"):
        sent = await c.send(station_id, v.GetChargingProfiles())
    request_id, status = sent.result.request_id, sent.result.status
    if status == "NoProfiles":
        return {"request_id": request_id, "status": status, "result": await c.smart.profiles.reconcile(station_id, [])}
    return {
        "request_id": request_id,
        "status": status,
        "note": "the station reports with ReportChargingProfiles; drift shows on the profiles",
    }
