"""Device model endpoints: a station's inventory (components, variables, characteristics, what the last
set got back, reboot required), and the views across stations (vendors, models, firmware versions,
which stations have a setting). The domain is csms/device_model.py; editing goes through the typed
commands ``set-variables`` / ``change-configuration``, which check the value first.

No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.
"""

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from ocppd.api import paging
from ocppd.api.auth import current_principal, require_admin
from ocppd.api.commands import check_settings
from ocppd.api.errors import error_responses
from ocppd.api.routes import svc
from ocppd.api.service import OperatorService
from ocppd.csms import verbs
from ocppd.csms.outbound import jsonable

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(current_principal)],
    tags=["device model"],
    responses=error_responses(400, 401, 403),
)

PageLimit = Query(50, ge=1, le=1000, description="Rows per page (at most 1000)")
Cursor = Query(None, description='From the previous page\'s `Link: rel="next"` / `X-Next-Cursor` header')


class LastSet(BaseModel):
    value: str | None
    status: str = Field(description="The station's answer: Accepted, RebootRequired, Rejected, UnknownVariable...")
    reason: str | None = Field(description="Its reasonCode (and additionalInfo), where it gave one")
    at: str | None


class Attribute(BaseModel):
    type: str = Field(description="Actual, Target, MinSet, MaxSet (1.6: Actual)")
    value: str | None
    readonly: bool
    mutability: str | None = Field(description="ReadOnly, ReadWrite, WriteOnly; null: not reported")
    updated_at: str | None
    last_set: LastSet | None


class Variable(BaseModel):
    variable: str = Field(description="Name[instance] (1.6: the key)")
    attributes: list[Attribute]
    mutability: str | None
    data_type: str | None
    unit: str | None
    min_limit: float | None
    max_limit: float | None
    values_list: str | None
    supports_monitoring: bool | None


class Component(BaseModel):
    component: str | None = Field(description="As stored: Name[instance]@evse<id>.<connector>; null for 1.6 keys")
    name: str | None
    instance: str | None
    evse_id: int | None
    connector_id: int | None
    variables: list[Variable]


class PendingReboot(BaseModel):
    component: str
    variable: str
    attribute: str
    set_value: str | None
    set_at: str | None


class DeviceModelView(BaseModel):
    station_id: str
    ocpp_version: str | None
    components: list[Component]
    feature_profiles: list[str] | None = Field(description="1.6: SupportedFeatureProfiles as read")
    reboot_required: bool = Field(description="A setting waits for the station's reboot (answered RebootRequired)")
    pending_reboot: list[PendingReboot]


@router.get(
    "/stations/{station_id}/device-model",
    summary="The station's inventory: components, variables, characteristics, last set answers",
    responses=error_responses(404),
)
async def device_model(station_id: str, s: OperatorService = Depends(svc)) -> DeviceModelView:
    row = await s.station_row(station_id)
    view = await s.csms.device_model.view(station_id, (row.ocpp_version or "").startswith("1."))
    return DeviceModelView(**view, ocpp_version=row.ocpp_version)


class IdentityCount(BaseModel):
    value: str | None = Field(description="The vendor / model / firmware version (null: not reported)")
    stations: int


@router.get("/inventory/{field}", summary="How many stations have each vendor, model or firmware version")
async def identity_counts(
    field: Literal["vendor", "model", "firmware_version"],
    s: OperatorService = Depends(svc),
    q: str | None = Query(None, max_length=255, description="Only values containing this (case-insensitive)"),
) -> list[IdentityCount]:
    return [IdentityCount(**r) for r in await s.csms.device_model.identity_counts(field, q)]


class InventoryStation(BaseModel):
    station_id: str
    vendor: str | None
    model: str | None
    firmware_version: str | None
    ocpp_version: str | None
    last_boot_at: str | None
    last_seen_at: str | None


@router.get("/inventory-stations", summary="The stations with this vendor / model / firmware version (paged)")
async def stations_by_identity(
    request: Request,
    response: Response,
    s: OperatorService = Depends(svc),
    vendor: str | None = Query(None, max_length=255),
    model: str | None = Query(None, max_length=255),
    firmware_version: str | None = Query(None, max_length=255),
    unknown: list[Literal["vendor", "model", "firmware_version"]] = Query(
        [], description="Fields that must be unknown (not reported), for the counts' null rows"
    ),
    limit: int = PageLimit,
    cursor: str | None = Cursor,
) -> list[InventoryStation]:
    filters: dict[str, str | None] = {
        k: v for k, v in (("vendor", vendor), ("model", model), ("firmware_version", firmware_version)) if v is not None
    }
    filters |= {name: None for name in unknown}  # fmt: skip
    after = paging.decode(cursor, str)[0] if cursor else None
    rows = await s.csms.device_model.stations_by_identity(filters, after, limit + 1)
    if len(rows) > limit:
        rows = rows[:limit]
        response.headers.update(paging.next_link(request.url, paging.encode([rows[-1]["station_id"]])))
    return [InventoryStation(**r) for r in rows]


class StationSetting(BaseModel):
    station_id: str
    component: str | None
    variable: str
    attribute: str
    value: str | None
    mutability: str | None
    readonly: bool
    set_status: str | None = Field(description="The station's answer to the last set of it")
    updated_at: str | None


@router.get("/inventory-settings", summary="Which stations have a setting (optionally with a value), paged")
async def stations_with_setting(
    request: Request,
    response: Response,
    s: OperatorService = Depends(svc),
    variable: str = Query(min_length=1, max_length=255, description="Variable Name[instance] (1.6: the key)"),
    component: str | None = Query(None, max_length=512, description="2.x component as stored; '' for 1.6 keys"),
    value: str | None = Query(None, description="Only stations where it has this value"),
    limit: int = PageLimit,
    cursor: str | None = Cursor,
) -> list[StationSetting]:
    after = paging.decode(cursor, str, str) if cursor else None
    rows = await s.csms.device_model.stations_with_setting(variable, component, value, after, limit + 1)
    if len(rows) > limit:
        rows = rows[:limit]
        response.headers.update(paging.next_link(request.url, paging.encode([rows[-1]["station_id"],
                                                                                rows[-1]["component"]])))  # fmt: skip
    return [StationSetting(**{**r, "component": r["component"] or None}) for r in rows]


class SettingValue(BaseModel):
    value: str | None
    stations: int


@router.get("/inventory-settings/values", summary="The values a setting has across stations, with counts")
async def setting_values(
    s: OperatorService = Depends(svc),
    variable: str = Query(min_length=1, max_length=255),
    component: str | None = Query(None, max_length=512),
) -> list[SettingValue]:
    return [SettingValue(**r) for r in await s.csms.device_model.setting_values(variable, component)]


class RebootRequired(PendingReboot):
    station_id: str


@router.get("/inventory-reboot-required", summary="Settings that wait for their station's reboot")
async def reboot_required(s: OperatorService = Depends(svc)) -> list[RebootRequired]:
    return [RebootRequired(**r) for r in await s.csms.device_model.pending_reboot()]


class SettingEdit(BaseModel):
    """One setting, flat (the dashboard's form): checked against the stored characteristics, then sent."""

    component: str = Field("", max_length=50, description="2.x component name ('' for a 1.6 key)")
    variable: str = Field(min_length=1, max_length=50, description="Variable name (1.6: the key)")
    instance: str | None = Field(None, max_length=50)
    component_instance: str | None = Field(None, max_length=50)
    evse_id: int | None = Field(None, ge=0)
    connector_id: int | None = Field(None, ge=0)
    attribute: Literal["Actual", "Target", "MinSet", "MaxSet"] | None = None
    value: str = Field(max_length=1000)
    force: bool = Field(False, description="Send even a value the stored characteristics refuse")


class MonitorEdit(BaseModel):
    component: str = Field(min_length=1, max_length=50)
    variable: str = Field(min_length=1, max_length=50)
    instance: str | None = Field(None, max_length=50)
    component_instance: str | None = Field(None, max_length=50)
    evse_id: int | None = Field(None, ge=0)
    connector_id: int | None = Field(None, ge=0)
    type: Literal["UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned"]
    value: float = Field(description="The threshold, the delta, or the period in seconds")
    severity: int = Field(8, ge=0, le=9, description="0 Danger ... 9 Debug")
    transaction: bool = False


async def _send(s: OperatorService, station_id: str, verb: Any, name: str) -> dict[str, Any]:
    sent = await s.send(station_id, verb, None, name=name)
    calls = [{"action": e.action, "request": e.request, "response": e.response} for e in sent.exchanges]
    return {"station_id": station_id, "result": jsonable(sent.result), "calls": calls,
            "action": calls[-1]["action"], "response": calls[-1]["response"]}  # fmt: skip


@router.post(
    "/stations/{station_id}/device-model/set",
    dependencies=[Depends(require_admin)],
    summary="Set one variable (2.x SetVariables / 1.6 ChangeConfiguration), refused with 400 when outside "
    "what the station declared",
    responses=error_responses(404, 409, 502, 504),
)
async def set_setting(station_id: str, body: SettingEdit, s: OperatorService = Depends(svc)) -> dict[str, Any]:
    ref = verbs.VariableRef(body.component, body.variable, body.instance or None, body.evse_id, body.connector_id,
                            body.attribute, body.component_instance or None)  # fmt: skip
    verb = verbs.SetVariables((verbs.VariableSetting(ref, body.value),))
    if not body.force:
        await check_settings(s, station_id, verb)
    return await _send(s, station_id, verb, "set-variables")


@router.post(
    "/stations/{station_id}/device-model/monitor",
    dependencies=[Depends(require_admin)],
    summary="Set one variable monitor (2.x SetVariableMonitoring); kept with the station's answer",
    responses=error_responses(404, 409, 502, 504),
)
async def set_monitor(station_id: str, body: MonitorEdit, s: OperatorService = Depends(svc)) -> dict[str, Any]:
    ref = verbs.VariableRef(body.component, body.variable, body.instance or None, body.evse_id, body.connector_id,
                            None, body.component_instance or None)  # fmt: skip
    monitor = verbs.MonitorSetting(ref, body.type, body.value, body.severity, body.transaction)
    return await _send(s, station_id, verbs.SetVariableMonitoring((monitor,)), "set-monitoring")
