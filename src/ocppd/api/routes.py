"""REST endpoints under /api/v1 (no ``from __future__ import annotations``: FastAPI reads the
annotations of the generated command endpoints at runtime)."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from ocppd import metrics
from ocppd.api import paging
from ocppd.api.auth import current_principal, require_admin
from ocppd.api.commands import (
    COMMANDS,
    Body,
    ChangeConfiguration,
    LocalListEntry,
    SendLocalList,
    SetVariables,
    check_settings,
)
from ocppd.api.errors import ApiError, error_responses
from ocppd.api.models import (
    Me,
    Message,
    Notification,
    Overview,
    Station,
    StationDetail,
    StationPower,
    Token,
    Transaction,
    TransactionDetail,
    TransactionPk,
    TransactionPower,
)
from ocppd.api.security import Principal
from ocppd.api.service import OperatorService, iso, token_dict
from ocppd.csms.authorization import languages_problem, token_format_problem
from ocppd.csms.outbound import jsonable
from ocppd.csms.provisioning import hash_password as hash_station_password
from ocppd.csms.verbs import SetDisplayMessage
from ocppd.store import repo, tx_repo

router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(current_principal)], responses=error_responses(400, 401, 403)
)
Admin = Depends(require_admin)
KEEPALIVE_S = 15.0


def svc(request: Request) -> OperatorService:
    return request.app.state.service


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


# --------------------------------------------------------------------------- who am I / overview


@router.get("/me", tags=["auth"], summary="The caller's identity and role")
async def me(principal: Principal = Depends(current_principal)) -> Me:
    return {"name": principal.name, "role": principal.role, "via": principal.via}


@router.get("/overview", tags=["stations"], summary="Network counts and total power now")
async def overview(s: OperatorService = Depends(svc)) -> Overview:
    return await s.overview()


# --------------------------------------------------------------------------- stations


class StationCreate(BaseModel):
    station_id: str = Field(min_length=1, max_length=255, pattern=r"^[^/\s]+$")
    registration: Literal["accepted", "pending", "rejected"] = "accepted"
    password: str | None = Field(None, min_length=16, max_length=40, description="Basic-auth password (profile 1)")


Limit = Query(100, ge=1, le=1000, description="Rows per page (at most 1000)")
Cursor = Query(None, description='From the previous page\'s `Link: rel="next"` / `X-Next-Cursor` header')


def _paged(response: Response, request: Request, key: Sequence[Any] | None) -> None:
    """Point the response at the next page (no header: this is the last one)."""
    if key is not None:
        response.headers.update(paging.next_link(request.url, paging.encode(key)))


@router.get("/stations", tags=["stations"], summary="Stations with live connection state, by id, paged")
async def list_stations(
    request: Request,
    response: Response,
    s: OperatorService = Depends(svc),
    q: str | None = Query(None, max_length=255, description="Id, vendor or model contains this (any case)"),
    connected: bool | None = Query(None, description="Only connected (true) or offline (false) stations"),
    status: str | None = Query(None, max_length=32, description="Only this summary status, e.g. Charging, Offline"),
    registration: Literal["accepted", "pending", "rejected"] | None = None,
    limit: int = Limit,
    cursor: str | None = Cursor,
) -> list[Station]:
    after = paging.decode(cursor, str)[0] if cursor else None
    rows, last = await s.station_page(
        search=q, registration=registration, connected=connected, status=status, after=after, limit=limit
    )
    _paged(response, request, None if last is None else [last])
    return rows


@router.post(
    "/stations",
    tags=["stations"],
    status_code=201,
    dependencies=[Admin],
    summary="Register a station",
    responses=error_responses(409),
)
async def create_station(body: StationCreate, s: OperatorService = Depends(svc)) -> StationDetail:
    if await s.store.read(repo.get_station, body.station_id) is not None:
        raise ApiError(409, f"station {body.station_id!r} already exists", "exists")
    pw = hash_station_password(body.password) if body.password else None
    await s.register(body.station_id, body.registration, pw)
    return await s.station(body.station_id)


@router.get("/stations/{station_id}", tags=["stations"], summary="Station detail: EVSEs, configuration, ...")
async def get_station(station_id: str, s: OperatorService = Depends(svc)) -> StationDetail:
    return await s.station(station_id)


@router.post("/stations/{station_id}/approve", tags=["stations"], dependencies=[Admin], summary="Accept a station")
async def approve_station(station_id: str, s: OperatorService = Depends(svc)) -> StationDetail:
    await s.set_registration(station_id, "accepted")
    return await s.station(station_id)


@router.post("/stations/{station_id}/reject", tags=["stations"], dependencies=[Admin], summary="Reject a station")
async def reject_station(station_id: str, s: OperatorService = Depends(svc)) -> StationDetail:
    await s.set_registration(station_id, "rejected")
    return await s.station(station_id)


@router.post(
    "/stations/{station_id}/pending",
    tags=["stations"],
    dependencies=[Admin],
    summary="Put a station back to Pending",
)
async def pending_station(station_id: str, s: OperatorService = Depends(svc)) -> StationDetail:
    """Its boots are answered Pending until it is approved or rejected. A connected station whose
    registration changes (approve, reject, pending) is asked to boot again (TriggerMessage
    BootNotification), so it learns its new status at once."""
    await s.set_registration(station_id, "pending")
    return await s.station(station_id)


@router.delete("/stations/{station_id}", tags=["stations"], status_code=204, dependencies=[Admin])
async def delete_station(station_id: str, s: OperatorService = Depends(svc)) -> Response:
    """Forget a station (its transactions and message log stay for audit)."""
    await s.delete_station(station_id)
    return Response(status_code=204)


@router.post("/directory/reload", tags=["stations"], status_code=204, dependencies=[Admin])
async def reload_directory(s: OperatorService = Depends(svc)) -> Response:
    """Re-read station credentials and registration from the database now (the admin CLI calls this
    after it changed them, so a new password holds before the command returns)."""
    await s.csms.directory.refresh()
    return Response(status_code=204)


@router.get("/stations/{station_id}/power", tags=["stations"], summary="Power now and the station's recent power")
async def station_power(
    station_id: str,
    s: OperatorService = Depends(svc),
    minutes: int = Query(60, ge=1, le=1440, description="How far back the series goes"),
    bucket: int | None = Query(
        None, ge=1, le=3600, description="Seconds per point of the stored history (default: about 180 points)"
    ),
) -> StationPower:
    """``series`` is ``[{at, power_w, source}]``, oldest first: the live series kept in memory
    (``source: live``, the total at each meter event) and, before it begins (after a restart, or
    beyond what memory keeps), the stored readings summed over the EVSEs per ``bucket_s`` bucket
    (``source: stored``, up to ``history_until``)."""
    return await s.station_power(station_id, minutes * 60, bucket)


@router.get("/stations/{station_id}/notifications", tags=["stations"], summary="Security events, reports, ...")
async def station_notifications(
    station_id: str, s: OperatorService = Depends(svc), kind: str | None = None, limit: int = Query(100, ge=1, le=5000)
) -> list[Notification]:
    await s.station_row(station_id)
    rows = await s.store.read(lambda c: repo.list_events(c, station_id=station_id, kind=kind, limit=limit))
    return [{"id": e.id, "kind": e.kind, "timestamp": iso(e.timestamp), "payload": e.payload} for e in rows]


def _message_filters(
    since: datetime | None = Query(None, description="From (inclusive), ISO 8601"),
    until: datetime | None = Query(None, description="To (exclusive), ISO 8601"),
    action: str | None = Query(None, max_length=64, description="Only this OCPP action"),
    limit: int = Query(200, ge=1, le=10_000, description="Frames per page"),
    cursor: str | None = Cursor,
) -> dict[str, Any]:
    return {
        "since": _utc(since),
        "until": _utc(until),
        "action": action,
        "limit": limit,
        "before": paging.decode(cursor, datetime, int) if cursor else None,
    }


async def _message_page(
    s: OperatorService, request: Request, response: Response, **filters: Any
) -> list[dict[str, Any]]:
    rows, last = await s.message_page(**filters)
    _paged(response, request, last)
    return rows


@router.get("/stations/{station_id}/messages", tags=["messages"], summary="The station's message log, newest first")
async def station_messages(
    station_id: str,
    request: Request,
    response: Response,
    s: OperatorService = Depends(svc),
    filters: dict[str, Any] = Depends(_message_filters),
) -> list[Message]:
    await s.station_row(station_id)
    return await _message_page(s, request, response, station_id=station_id, **filters)


@router.get("/messages", tags=["messages"], summary="Message log of all stations, newest first")
async def messages(
    request: Request,
    response: Response,
    s: OperatorService = Depends(svc),
    station: str | None = Query(None, description="Only this station"),
    filters: dict[str, Any] = Depends(_message_filters),
) -> list[Message]:
    return await _message_page(s, request, response, station_id=station, **filters)


# --------------------------------------------------------------------------- id tokens


class TokenCreate(BaseModel):
    id_token: str = Field(min_length=1, max_length=255)
    type: str | None = Field(
        None, description="ISO14443 (8/14 hex), ISO15693 (16 hex), eMAID, Central, KeyCode, Local, MAC (none: any)"
    )
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    expiry: datetime | None = None
    group_id: str | None = Field(None, max_length=255, description="Parent / group id token")
    concurrent_tx: bool | None = Field(
        None, description="May it be in several live transactions at once (none: as its group, else the default)"
    )
    language1: str | None = Field(None, max_length=8, description="The driver's preferred language (RFC 5646)")
    language2: str | None = Field(None, max_length=8, description="Second language; needs language1")


class TokenPatch(BaseModel):
    type: str | None = None
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] | None = None
    expiry: datetime | None = None
    group_id: str | None = None
    concurrent_tx: bool | None = None
    language1: str | None = Field(None, max_length=8)
    language2: str | None = Field(None, max_length=8)


def _check_languages(language1: str | None, language2: str | None) -> None:
    problem = languages_problem(language1, language2)
    if problem is not None:
        raise ApiError(400, problem, "invalid_input")


def _check_token_type(token_type: str | None, id_token: str) -> None:
    problem = token_format_problem(token_type, id_token)
    if problem is not None:
        raise ApiError(400, f"type: {problem}", "invalid_input")


@router.get("/tokens", tags=["tokens"], summary="Id tokens by id, paged")
async def list_tokens(
    request: Request,
    response: Response,
    s: OperatorService = Depends(svc),
    q: str | None = Query(None, max_length=255, description="Id token or group contains this (any case)"),
    group: str | None = Query(None, description="Only tokens of this group"),
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] | None = Query(
        None, description="Effective status (an Accepted token past its expiry is Expired)"
    ),
    limit: int = Limit,
    cursor: str | None = Cursor,
) -> list[Token]:
    after = paging.decode(cursor, str)[0] if cursor else None
    rows, last = await s.token_page(search=q, group_id=group, status=status, after=after, limit=limit)
    _paged(response, request, None if last is None else [last])
    return rows


async def _token(s: OperatorService, id_token: str) -> Any:
    row = await s.store.read(repo.get_token, id_token)
    if row is None:
        raise ApiError(404, f"unknown id token {id_token!r}", "unknown_token")
    return row


@router.post(
    "/tokens",
    tags=["tokens"],
    status_code=201,
    dependencies=[Admin],
    summary="Create an id token",
    responses=error_responses(409),
)
async def create_token(body: TokenCreate, s: OperatorService = Depends(svc)) -> Token:
    _check_token_type(body.type, body.id_token)
    _check_languages(body.language1, body.language2)
    if await s.store.read(repo.get_token, body.id_token) is not None:
        raise ApiError(409, f"id token {body.id_token!r} already exists", "exists")
    await s.store.write(repo.upsert_token, body.id_token, body.type, body.status, _utc(body.expiry), body.group_id)
    if body.concurrent_tx is not None:
        await s.store.write(tx_repo.set_token_policy, body.id_token, body.concurrent_tx)
    if body.language1:
        await s.store.write(tx_repo.set_token_languages, body.id_token, body.language1, body.language2)
    await s.csms.local_lists.token_changed(body.id_token)
    return token_dict(await _token(s, body.id_token))


@router.get("/tokens/{id_token}", tags=["tokens"])
async def get_token(id_token: str, s: OperatorService = Depends(svc)) -> Token:
    return token_dict(await _token(s, id_token))


@router.patch("/tokens/{id_token}", tags=["tokens"], dependencies=[Admin], summary="Change status/expiry/group")
async def patch_token(id_token: str, body: TokenPatch, s: OperatorService = Depends(svc)) -> Token:
    row = await _token(s, id_token)
    given = body.model_fields_set
    if "type" in given:
        _check_token_type(body.type, id_token)
    if "concurrent_tx" in given:
        await s.store.write(tx_repo.set_token_policy, id_token, body.concurrent_tx)
    if given & {"language1", "language2"}:
        language1 = body.language1 if "language1" in given else row.language1
        language2 = body.language2 if "language2" in given else row.language2
        _check_languages(language1, language2)
        await s.store.write(tx_repo.set_token_languages, id_token, language1, language2)
    await s.store.write(
        repo.upsert_token,
        id_token,
        body.type if "type" in given else row.token_type,
        body.status if body.status is not None else row.status,
        _utc(body.expiry) if "expiry" in given else row.expiry,
        body.group_id if "group_id" in given else row.group_id,
    )
    if body.status == "Blocked":
        await s.csms.transactions.act_on_blocked(id_token)
    await s.csms.local_lists.token_changed(id_token)
    return token_dict(await _token(s, id_token))


async def _set_status(s: OperatorService, id_token: str, status: str) -> dict[str, Any]:
    if not await s.store.write(repo.set_token_status, id_token, status):
        raise ApiError(404, f"unknown id token {id_token!r}", "unknown_token")
    await s.csms.local_lists.token_changed(id_token)  # the stations whose local list holds it
    return token_dict(await _token(s, id_token))


@router.post("/tokens/{id_token}/block", tags=["tokens"], dependencies=[Admin])
async def block_token(id_token: str, s: OperatorService = Depends(svc)) -> Token:
    """Block it; its running transactions get what ``transactions.on_block`` says."""
    out = await _set_status(s, id_token, "Blocked")
    await s.csms.transactions.act_on_blocked(id_token)
    return out


@router.post("/tokens/{id_token}/unblock", tags=["tokens"], dependencies=[Admin])
async def unblock_token(id_token: str, s: OperatorService = Depends(svc)) -> Token:
    return await _set_status(s, id_token, "Accepted")


@router.post("/tokens/{id_token}/expire", tags=["tokens"], dependencies=[Admin], summary="Expire now")
async def expire_token(id_token: str, s: OperatorService = Depends(svc)) -> Token:
    row = await _token(s, id_token)
    await s.store.write(repo.upsert_token, id_token, row.token_type, "Expired", datetime.now(UTC), row.group_id)
    await s.csms.local_lists.token_changed(id_token)
    return token_dict(await _token(s, id_token))


@router.delete("/tokens/{id_token}", tags=["tokens"], status_code=204, dependencies=[Admin])
async def delete_token(id_token: str, s: OperatorService = Depends(svc)) -> Response:
    if not await s.store.write(repo.delete_token, id_token):
        raise ApiError(404, f"unknown id token {id_token!r}", "unknown_token")
    await s.csms.local_lists.token_changed(id_token)
    return Response(status_code=204)


# --------------------------------------------------------------------------- transactions


def _tx_filters(
    station: str | None = Query(None, description="Only this station"),
    id_token: str | None = Query(None, description="Only this id token"),
    since: datetime | None = Query(None, description="Started at or after (ISO 8601)"),
    until: datetime | None = Query(None, description="Started before (ISO 8601)"),
    active: bool = Query(False, description="Only transactions still running"),
) -> dict[str, Any]:
    if since and until and _utc(since) >= _utc(until):  # type: ignore[operator]
        raise ApiError(400, "invalid input: since: must be before 'until'", "invalid_input")
    return {
        "station_id": station,
        "id_token": id_token,
        "since": _utc(since),
        "until": _utc(until),
        "active_only": active,
    }


@router.get("/transactions", tags=["transactions"], summary="Transactions, newest first, paged")
async def list_transactions(
    request: Request,
    response: Response,
    filters: dict[str, Any] = Depends(_tx_filters),
    s: OperatorService = Depends(svc),
    limit: int = Limit,
    cursor: str | None = Cursor,
) -> list[Transaction]:
    """A running transaction's `energy_wh` is the energy delivered so far."""
    before = paging.decode(cursor, datetime, int) if cursor else None
    rows, last = await s.transaction_page(limit=limit, before=before, **filters)
    _paged(response, request, last)
    return rows


@router.get(
    "/transactions/export.csv",
    tags=["transactions"],
    summary="Every matching transaction as CSV (same filters), streamed",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_transactions(
    filters: dict[str, Any] = Depends(_tx_filters),
    s: OperatorService = Depends(svc),
    limit: int | None = Query(None, ge=1, description="At most this many rows (default: all)"),
) -> StreamingResponse:
    """Newest first, read from the database in batches while it is sent: no row cap, constant memory."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        s.transactions_csv(limit=limit, **filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="transactions-{stamp}.csv"'},
    )


@router.get("/transactions/{pk}", tags=["transactions"], summary="Transaction with meter samples and energy")
async def get_transaction(pk: TransactionPk, s: OperatorService = Depends(svc)) -> TransactionDetail:
    return await s.transaction(pk)


@router.get("/transactions/{pk}/power", tags=["transactions"], summary="Power and energy over the transaction")
async def transaction_power(
    pk: TransactionPk,
    s: OperatorService = Depends(svc),
    points: int | None = Query(None, ge=2, le=100_000, description="At most this many points (averaged slices)"),
) -> TransactionPower:
    """``series`` is ``[{at, power_w, energy_wh}]`` per stored reading, oldest first: power in W and
    the energy delivered since the start in Wh (either may be null when the reading lacks it)."""
    return await s.transaction_power(pk, points)


# --------------------------------------------------------------------------- commands


STATION_CALL_ERRORS = error_responses(409, 502, 504)


class CallResult(BaseModel):
    station_id: str
    ocpp_version: str
    action: str
    request: dict[str, Any]
    response: dict[str, Any]
    calls: list[dict[str, Any]] = Field(default_factory=list, description="Every call made (1.6 may need several)")
    result: dict[str, Any] = Field(
        default_factory=dict, description="The answer in domain terms, the same for every OCPP version"
    )


@router.post(
    "/stations/{station_id}/call/{action}",
    tags=["commands"],
    dependencies=[Admin],
    summary="Send any CSMS-initiated message (schema-validated) and return the answer",
    responses=STATION_CALL_ERRORS,
)
async def generic_call(
    station_id: str,
    action: str,
    payload: dict[str, Any],
    s: OperatorService = Depends(svc),
    timeout: float | None = Query(None, gt=0, le=300, description="Seconds to wait for the answer"),
) -> dict[str, Any]:
    """The body is the OCPP payload itself; the answer is the station's CALLRESULT payload."""
    return await s.call(station_id, action, payload, timeout)


async def _run_command(
    s: OperatorService,
    station_id: str,
    name: str,
    body: Body,
    timeout: float | None,
    queue_expiry_s: float | None = None,
    principal: Principal | None = None,
) -> CallResult | JSONResponse:
    if isinstance(body, SendLocalList) and body.entries is None:
        tokens = await s.store.read(repo.list_tokens)
        body = body.model_copy(
            update={
                "entries": [
                    LocalListEntry(
                        id_token=t.id_token,
                        type=t.token_type or "ISO14443",
                        status=t.status,
                        expiry=t.expiry,
                        group_id=t.group_id,
                    )
                    for t in tokens
                ]
            }
        )
    if isinstance(body, SetVariables | ChangeConfiguration) and not body.force:
        await check_settings(s, station_id, body.verb())  # a value the station declared it refuses is not sent
    verb = body.verb()
    if isinstance(verb, SetDisplayMessage):  # a message for a transaction goes out in its driver's language
        verb = await s.csms.display_messages.for_driver(station_id, verb)
    if queue_expiry_s is not None and not s.csms.is_connected(station_id):
        queued = await s.enqueue(station_id, verb, queue_expiry_s, principal.name if principal else None)
        return JSONResponse(queued, status_code=202)
    sent = await s.send(station_id, verb, timeout, name=name, by=principal.name if principal else None)
    done = [{"action": e.action, "request": e.request, "response": e.response} for e in sent.exchanges]
    last = done[-1]
    return CallResult(
        station_id=station_id,
        ocpp_version=sent.version.label,
        action=last["action"],
        request=last["request"],
        response=last["response"],
        calls=done,
        result=jsonable(sent.result),
    )


class QueuedCommand(BaseModel):
    id: int
    station_id: str
    command: str
    body: dict[str, Any]
    status: str = Field(description="queued, sending, delivered, failed, expired or cancelled")
    created_at: str
    expires_at: str
    created_by: str | None = None
    finished_at: str | None = None
    result: dict[str, Any] | None = Field(None, description="Once delivered: the domain result and the calls")
    error: str | None = None


def _command_endpoint(name: str, model: type[Body]) -> Any:
    async def endpoint(
        station_id: str,
        body: model,  # type: ignore[valid-type]
        request: Request,
        timeout: float | None = Query(None, gt=0, le=300, description="Seconds to wait for the answer"),
        queue_expiry_s: float | None = Query(
            None,
            gt=0,
            le=365 * 86400,
            description="If the station is offline, queue the command for this many seconds instead of "
            "answering 409; it is delivered in order when the station is back (202 with the queued command)",
        ),
        principal: Principal = Depends(current_principal),
    ) -> CallResult | JSONResponse:
        return await _run_command(svc(request), station_id, name, body, timeout, queue_expiry_s, principal)

    endpoint.__name__ = "command_" + name.replace("-", "_")
    return endpoint


for _name, (_model, _summary) in COMMANDS.items():
    router.post(
        f"/stations/{{station_id}}/commands/{_name}",
        tags=["commands"],
        dependencies=[Admin],
        summary=_summary,
        response_model=CallResult,
        responses={
            **STATION_CALL_ERRORS,
            202: {"model": QueuedCommand, "description": "Queued for the offline station"},
        },
    )(_command_endpoint(_name, _model))


class ProvisioningSwitches(BaseModel):
    read_configuration: bool | None = Field(
        None, description="After an accepted boot: 1.6 GetConfiguration / 2.x GetBaseReport FullInventory"
    )
    apply_settings: bool | None = Field(None, description="After an accepted boot: apply the station group's settings")


class StationGroup(BaseModel):
    name: str
    stations: list[str]
    vendor: str
    model: str
    heartbeat_interval: int
    meter_sample_interval: int
    clock_aligned_interval: int
    measurands: list[str]
    configuration: dict[str, str]
    variables: dict[str, str]


class Provisioning(BaseModel):
    read_configuration: bool
    apply_settings: bool
    groups: list[StationGroup]


@router.get("/provisioning", tags=["stations"], summary="What the CSMS does by itself after an accepted boot")
async def get_provisioning(request: Request) -> Provisioning:
    """The switches and the station groups (from the configuration file's ``[provisioning]``)."""
    return Provisioning(**asdict(request.app.state.csms.autoprovision.settings))


@router.patch(
    "/provisioning",
    tags=["stations"],
    dependencies=[Admin],
    summary="Switch the post-boot steps on or off (until the server restarts; the file is the lasting setting)",
)
async def patch_provisioning(body: ProvisioningSwitches, request: Request) -> Provisioning:
    settings = request.app.state.csms.autoprovision.settings
    for name in ("read_configuration", "apply_settings"):
        value = getattr(body, name)
        if value is not None:
            setattr(settings, name, value)
    return Provisioning(**asdict(settings))


@router.get("/stations/{station_id}/queue", tags=["commands"], summary="Commands queued for the station")
async def station_queue(
    station_id: str,
    s: OperatorService = Depends(svc),
    status: str | None = Query(None, description="Only this status, e.g. queued"),
) -> list[QueuedCommand]:
    await s.station_row(station_id)
    return [QueuedCommand(**q) for q in await s.queued(station_id, status)]


@router.get("/queue", tags=["commands"], summary="Queued commands of every station, in delivery order")
async def all_queued(
    s: OperatorService = Depends(svc),
    status: str | None = Query("queued", description="Only this status; empty for all"),
) -> list[QueuedCommand]:
    return [QueuedCommand(**q) for q in await s.queued(None, status or None)]


@router.delete(
    "/stations/{station_id}/queue/{command_id}",
    tags=["commands"],
    dependencies=[Admin],
    summary="Cancel a queued command",
)
async def cancel_queued(station_id: str, command_id: int, s: OperatorService = Depends(svc)) -> QueuedCommand:
    """404 if there is no such command for the station, 409 if it is no longer queued."""
    return QueuedCommand(**await s.cancel_queued(station_id, command_id))


# --------------------------------------------------------------------------- live events


END_OF_STREAM: dict[str, Any] = {"type": "end"}  # queued by ``end_event_streams`` at shutdown


def end_event_streams(streams: set[asyncio.Queue[Any]]) -> None:
    """Wake every open event stream so it ends (a full queue loses its oldest event for the marker)."""
    for queue in list(streams):
        if queue.full():
            queue.get_nowait()
        queue.put_nowait(END_OF_STREAM)


def _sse(event: dict[str, Any]) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


@router.get(
    "/events",
    tags=["events"],
    summary="Server-Sent Events: station, status, transaction, meter and security events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def event_stream(
    request: Request,
    station: str | None = Query(None, description="Only events of this station"),
    types: str | None = Query(None, description="Comma-separated types or prefixes, e.g. 'transaction.,meter.'"),
) -> StreamingResponse:
    wanted = tuple(t.strip() for t in types.split(",") if t.strip()) if types else ()
    csms = request.app.state.csms
    streams: set[asyncio.Queue[Any]] = request.app.state.event_streams

    async def stream() -> AsyncIterator[bytes]:
        # One await on the queue, bounded by asyncio.timeout: no helper tasks that could outlive the
        # stream when the client goes away (a cancelled stream leaves nothing pending behind).
        with csms.events.subscribe() as queue:
            streams.add(queue)
            metrics.EVENT_STREAMS.inc()
            try:
                yield b"retry: 2000\n: connected\n\n"
                while True:
                    try:
                        async with asyncio.timeout(KEEPALIVE_S):
                            event = await queue.get()
                    except TimeoutError:
                        yield b": keepalive\n\n"  # keeps proxies from timing the stream out
                        continue
                    if event is END_OF_STREAM:
                        return
                    if station is not None and event.get("station_id") != station:
                        continue
                    if wanted and not event["type"].startswith(wanted):
                        continue
                    yield _sse(event)
            finally:
                streams.discard(queue)
                metrics.EVENT_STREAMS.dec()

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
