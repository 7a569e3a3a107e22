"""Typed, version-neutral commands: one request body, the right 1.6 or 2.0.1/2.1 payload.

Each builder returns a list of ``(action, payload)`` calls (usually one; 1.6 ChangeConfiguration
takes one key per call). The generic endpoint covers every other CSMS-initiated message.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ocppd.protocol.versions import OcppVersion

Calls = list[tuple[str, dict[str, Any]]]

# Request ids the CSMS picks (remoteStartId, requestId, ...) must be unique per station; seed from the
# clock so they stay unique across restarts without storage.
_request_ids = itertools.count(int(time.time()) % 1_000_000_000)


def next_request_id() -> int:
    return next(_request_ids) % 2_000_000_000 + 1


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


class CommandError(ValueError):
    """The body cannot be expressed for the station's OCPP version (becomes HTTP 400)."""


# --------------------------------------------------------------------------- bodies


class RemoteStart(BaseModel):
    id_token: str = Field(min_length=1, max_length=255, description="The id token to charge with.")
    id_token_type: str = Field("ISO14443", description="2.x IdTokenType: ISO14443, Central, eMAID, ...")
    evse_id: int | None = Field(None, ge=1, description="EVSE (2.x) or connector (1.6); omitted: station picks.")
    charging_profile: dict[str, Any] | None = Field(None, description="Raw version-specific charging profile.")
    remote_start_id: int | None = Field(None, description="2.x remoteStartId; generated when omitted.")


class RemoteStop(BaseModel):
    transaction_id: str = Field(min_length=1, description="The station's transaction id (1.6: integer).")


class Reset(BaseModel):
    type: Literal["soft", "hard", "on_idle", "immediate"] = Field(
        "soft", description="soft/on_idle -> 1.6 Soft / 2.x OnIdle; hard/immediate -> Hard / Immediate"
    )
    evse_id: int | None = Field(None, ge=1, description="2.x only: reset one EVSE.")


class Unlock(BaseModel):
    evse_id: int | None = Field(None, ge=1, description="2.x EVSE (defaults to connector_id on 1.6).")
    connector_id: int = Field(1, ge=1)


class Availability(BaseModel):
    operative: bool
    evse_id: int | None = Field(None, ge=0, description="EVSE (2.x) / connector (1.6); omitted: whole station.")
    connector_id: int | None = Field(None, ge=1, description="2.x only: one connector of the EVSE.")


class GetConfiguration(BaseModel):
    keys: list[str] = Field(default_factory=list, description="1.6 keys; empty: all (2.x: full base report).")


class ChangeConfiguration(BaseModel):
    key: str = Field(min_length=1)
    value: str
    component: str | None = Field(None, description="2.x component the key lives on (required on 2.x).")


class VariableRef(BaseModel):
    component: str = Field(min_length=1, description="Component name; ignored by 1.6 stations.")
    variable: str = Field(min_length=1, description="Variable name (1.6: configuration key).")
    instance: str | None = None
    evse_id: int | None = None
    attribute: str | None = Field(None, description="Actual, Target, MinSet, MaxSet")


class GetVariables(BaseModel):
    variables: list[VariableRef] = Field(min_length=1)


class VariableValue(VariableRef):
    value: str


class SetVariables(BaseModel):
    variables: list[VariableValue] = Field(min_length=1)


class Trigger(BaseModel):
    message: str = Field(description="e.g. BootNotification, Heartbeat, StatusNotification, MeterValues")
    evse_id: int | None = Field(None, ge=0)
    connector_id: int | None = Field(None, ge=1, description="2.x only.")


class SchedulePeriod(BaseModel):
    start_s: int = Field(0, ge=0, description="Seconds from the schedule start.")
    limit: float = Field(ge=0)
    phases: int | None = Field(None, ge=1, le=3)


class ChargingProfileBody(BaseModel):
    id: int = Field(ge=0)
    stack_level: int = Field(0, ge=0)
    purpose: Literal["station_max", "tx_default", "tx"] = "tx_default"
    kind: Literal["Absolute", "Recurring", "Relative"] = "Relative"
    recurrency: Literal["Daily", "Weekly"] | None = None
    unit: Literal["W", "A"] = "W"
    periods: list[SchedulePeriod] = Field(min_length=1)
    start_at: datetime | None = None
    duration_s: int | None = Field(None, ge=0)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = Field(None, description="Required for purpose 'tx'.")


class SetChargingProfile(BaseModel):
    evse_id: int = Field(0, ge=0, description="EVSE (2.x) / connector (1.6); 0 = whole station.")
    profile: ChargingProfileBody


class ClearChargingProfile(BaseModel):
    profile_id: int | None = None
    evse_id: int | None = Field(None, ge=0)
    purpose: Literal["station_max", "tx_default", "tx"] | None = None
    stack_level: int | None = Field(None, ge=0)


class CompositeSchedule(BaseModel):
    evse_id: int = Field(0, ge=0)
    duration_s: int = Field(3600, ge=1)
    unit: Literal["W", "A"] | None = None


class UpdateFirmware(BaseModel):
    location: str = Field(min_length=1, description="URL of the firmware image.")
    retrieve_at: datetime | None = Field(None, description="Default: now.")
    retries: int | None = Field(None, ge=0)
    retry_interval_s: int | None = Field(None, ge=0)
    signing_certificate: str | None = None
    signature: str | None = None
    install_at: datetime | None = None


class GetLog(BaseModel):
    location: str = Field(min_length=1, description="Upload URL for the diagnostics / log file.")
    log_type: Literal["DiagnosticsLog", "SecurityLog"] = "DiagnosticsLog"
    since: datetime | None = None
    until: datetime | None = None
    retries: int | None = Field(None, ge=0)
    retry_interval_s: int | None = Field(None, ge=0)


class Reserve(BaseModel):
    id_token: str = Field(min_length=1)
    id_token_type: str = "ISO14443"
    expires_at: datetime
    evse_id: int | None = Field(None, ge=0, description="1.6: connector (0 = any); 2.x: EVSE (omitted = any).")
    reservation_id: int | None = None
    group_id_token: str | None = None


class CancelReservation(BaseModel):
    reservation_id: int


class LocalListEntry(BaseModel):
    id_token: str
    type: str = "ISO14443"
    status: str | None = Field("Accepted", description="None removes the entry (differential updates).")
    expiry: datetime | None = None
    group_id: str | None = None


class SendLocalList(BaseModel):
    version: int = Field(ge=0, description="listVersion / versionNumber.")
    update_type: Literal["Full", "Differential"] = "Full"
    entries: list[LocalListEntry] | None = Field(None, description="Omitted: every token in the CSMS.")


class DataTransfer(BaseModel):
    vendor_id: str = Field(min_length=1)
    message_id: str | None = None
    data: Any = None


class Empty(BaseModel):
    pass


# --------------------------------------------------------------------------- builders

_PURPOSE = {
    "station_max": ("ChargePointMaxProfile", "ChargingStationMaxProfile"),
    "tx_default": ("TxDefaultProfile", "TxDefaultProfile"),
    "tx": ("TxProfile", "TxProfile"),
}
_RESET = {
    "soft": ("Soft", "OnIdle"),
    "on_idle": ("Soft", "OnIdle"),
    "hard": ("Hard", "Immediate"),
    "immediate": ("Hard", "Immediate"),
}


def _v16(version: OcppVersion) -> bool:
    return version is OcppVersion.V16


def remote_start(b: RemoteStart, v: OcppVersion) -> Calls:
    if _v16(v):
        return [
            (
                "RemoteStartTransaction",
                _drop_none({"connectorId": b.evse_id, "idTag": b.id_token, "chargingProfile": b.charging_profile}),
            )
        ]
    rid = b.remote_start_id if b.remote_start_id is not None else next_request_id()
    return [
        (
            "RequestStartTransaction",
            _drop_none(
                {
                    "evseId": b.evse_id,
                    "idToken": {"idToken": b.id_token, "type": b.id_token_type},
                    "remoteStartId": rid,
                    "chargingProfile": b.charging_profile,
                }
            ),
        )
    ]


def remote_stop(b: RemoteStop, v: OcppVersion) -> Calls:
    if _v16(v):
        try:
            return [("RemoteStopTransaction", {"transactionId": int(b.transaction_id)})]
        except ValueError:
            raise CommandError("OCPP 1.6 transaction ids are integers") from None
    return [("RequestStopTransaction", {"transactionId": b.transaction_id})]


def reset(b: Reset, v: OcppVersion) -> Calls:
    v16, v2 = _RESET[b.type]
    if _v16(v):
        return [("Reset", {"type": v16})]
    return [("Reset", _drop_none({"type": v2, "evseId": b.evse_id}))]


def unlock(b: Unlock, v: OcppVersion) -> Calls:
    if _v16(v):
        return [("UnlockConnector", {"connectorId": b.evse_id or b.connector_id})]
    return [("UnlockConnector", {"evseId": b.evse_id or 1, "connectorId": b.connector_id})]


def change_availability(b: Availability, v: OcppVersion) -> Calls:
    kind = "Operative" if b.operative else "Inoperative"
    if _v16(v):
        return [("ChangeAvailability", {"connectorId": b.evse_id or 0, "type": kind})]
    payload: dict[str, Any] = {"operationalStatus": kind}
    if b.evse_id:
        payload["evse"] = _drop_none({"id": b.evse_id, "connectorId": b.connector_id})
    return [("ChangeAvailability", payload)]


def get_configuration(b: GetConfiguration, v: OcppVersion) -> Calls:
    if _v16(v):
        return [("GetConfiguration", {"key": b.keys} if b.keys else {})]
    if b.keys:
        raise CommandError("OCPP 2.x variables live on components: use get-variables with component names")
    # 2.x has no "all keys" read: the full base report arrives as NotifyReport and is stored.
    return [("GetBaseReport", {"requestId": next_request_id(), "reportBase": "FullInventory"})]


def change_configuration(b: ChangeConfiguration, v: OcppVersion) -> Calls:
    if _v16(v):
        return [("ChangeConfiguration", {"key": b.key, "value": b.value})]
    if not b.component:
        raise CommandError("OCPP 2.x needs the component of the variable: give 'component'")
    return set_variables(
        SetVariables(variables=[VariableValue(component=b.component, variable=b.key, value=b.value)]), v
    )


def _component(r: VariableRef) -> dict[str, Any]:
    comp: dict[str, Any] = {"name": r.component}
    if r.evse_id is not None:
        comp["evse"] = {"id": r.evse_id}
    if r.instance:
        comp["instance"] = r.instance
    return comp


def get_variables(b: GetVariables, v: OcppVersion) -> Calls:
    if _v16(v):
        return [("GetConfiguration", {"key": [r.variable for r in b.variables]})]
    return [
        (
            "GetVariables",
            {
                "getVariableData": [
                    _drop_none(
                        {"component": _component(r), "variable": {"name": r.variable}, "attributeType": r.attribute}
                    )
                    for r in b.variables
                ]
            },
        )
    ]


def set_variables(b: SetVariables, v: OcppVersion) -> Calls:
    if _v16(v):  # 1.6 changes one key per call
        return [("ChangeConfiguration", {"key": r.variable, "value": r.value}) for r in b.variables]
    return [
        (
            "SetVariables",
            {
                "setVariableData": [
                    _drop_none(
                        {
                            "component": _component(r),
                            "variable": {"name": r.variable},
                            "attributeValue": r.value,
                            "attributeType": r.attribute,
                        }
                    )
                    for r in b.variables
                ]
            },
        )
    ]


def trigger(b: Trigger, v: OcppVersion) -> Calls:
    if _v16(v):
        return [("TriggerMessage", _drop_none({"requestedMessage": b.message, "connectorId": b.evse_id}))]
    payload: dict[str, Any] = {"requestedMessage": b.message}
    if b.evse_id is not None:
        payload["evse"] = _drop_none({"id": b.evse_id, "connectorId": b.connector_id})
    return [("TriggerMessage", payload)]


def _profile(p: ChargingProfileBody, v: OcppVersion) -> dict[str, Any]:
    periods = [_drop_none({"startPeriod": x.start_s, "limit": x.limit, "numberPhases": x.phases}) for x in p.periods]
    schedule = _drop_none(
        {
            "chargingRateUnit": p.unit,
            "chargingSchedulePeriod": periods,
            "duration": p.duration_s,
            "startSchedule": _iso(p.start_at) if p.start_at else None,
        }
    )
    if p.purpose == "tx" and not p.transaction_id:
        raise CommandError("a 'tx' profile needs transaction_id")
    common = {
        "stackLevel": p.stack_level,
        "chargingProfilePurpose": _PURPOSE[p.purpose][0 if _v16(v) else 1],
        "chargingProfileKind": p.kind,
        "recurrencyKind": p.recurrency,
        "validFrom": _iso(p.valid_from) if p.valid_from else None,
        "validTo": _iso(p.valid_to) if p.valid_to else None,
    }
    if _v16(v):
        tx: int | None = None
        if p.transaction_id:
            try:
                tx = int(p.transaction_id)
            except ValueError:
                raise CommandError("OCPP 1.6 transaction ids are integers") from None
        return _drop_none({"chargingProfileId": p.id, "transactionId": tx, **common, "chargingSchedule": schedule})
    return _drop_none(
        {"id": p.id, "transactionId": p.transaction_id, **common, "chargingSchedule": [{"id": p.id, **schedule}]}
    )


def set_charging_profile(b: SetChargingProfile, v: OcppVersion) -> Calls:
    if _v16(v):
        return [("SetChargingProfile", {"connectorId": b.evse_id, "csChargingProfiles": _profile(b.profile, v)})]
    return [("SetChargingProfile", {"evseId": b.evse_id, "chargingProfile": _profile(b.profile, v)})]


def clear_charging_profile(b: ClearChargingProfile, v: OcppVersion) -> Calls:
    purpose = _PURPOSE[b.purpose][0 if _v16(v) else 1] if b.purpose else None
    if _v16(v):
        return [
            (
                "ClearChargingProfile",
                _drop_none(
                    {
                        "id": b.profile_id,
                        "connectorId": b.evse_id,
                        "chargingProfilePurpose": purpose,
                        "stackLevel": b.stack_level,
                    }
                ),
            )
        ]
    criteria = _drop_none({"evseId": b.evse_id, "chargingProfilePurpose": purpose, "stackLevel": b.stack_level})
    return [
        (
            "ClearChargingProfile",
            _drop_none({"chargingProfileId": b.profile_id, "chargingProfileCriteria": criteria or None}),
        )
    ]


def composite_schedule(b: CompositeSchedule, v: OcppVersion) -> Calls:
    key = "connectorId" if _v16(v) else "evseId"
    return [
        ("GetCompositeSchedule", _drop_none({key: b.evse_id, "duration": b.duration_s, "chargingRateUnit": b.unit}))
    ]


def update_firmware(b: UpdateFirmware, v: OcppVersion) -> Calls:
    when = _iso(b.retrieve_at or datetime.now(UTC))
    if _v16(v):
        return [
            (
                "UpdateFirmware",
                _drop_none(
                    {
                        "location": b.location,
                        "retrieveDate": when,
                        "retries": b.retries,
                        "retryInterval": b.retry_interval_s,
                    }
                ),
            )
        ]
    firmware = _drop_none(
        {
            "location": b.location,
            "retrieveDateTime": when,
            "installDateTime": _iso(b.install_at) if b.install_at else None,
            "signingCertificate": b.signing_certificate,
            "signature": b.signature,
        }
    )
    return [
        (
            "UpdateFirmware",
            _drop_none(
                {
                    "requestId": next_request_id(),
                    "firmware": firmware,
                    "retries": b.retries,
                    "retryInterval": b.retry_interval_s,
                }
            ),
        )
    ]


def get_log(b: GetLog, v: OcppVersion) -> Calls:
    if _v16(v):
        if b.log_type != "DiagnosticsLog":
            raise CommandError("OCPP 1.6 (without the security extension) only uploads diagnostics")
        return [
            (
                "GetDiagnostics",
                _drop_none(
                    {
                        "location": b.location,
                        "startTime": _iso(b.since) if b.since else None,
                        "stopTime": _iso(b.until) if b.until else None,
                        "retries": b.retries,
                        "retryInterval": b.retry_interval_s,
                    }
                ),
            )
        ]
    log = _drop_none(
        {
            "remoteLocation": b.location,
            "oldestTimestamp": _iso(b.since) if b.since else None,
            "latestTimestamp": _iso(b.until) if b.until else None,
        }
    )
    return [
        (
            "GetLog",
            _drop_none(
                {
                    "logType": b.log_type,
                    "requestId": next_request_id(),
                    "log": log,
                    "retries": b.retries,
                    "retryInterval": b.retry_interval_s,
                }
            ),
        )
    ]


def reserve(b: Reserve, v: OcppVersion) -> Calls:
    rid = b.reservation_id if b.reservation_id is not None else next_request_id()
    if _v16(v):
        return [
            (
                "ReserveNow",
                _drop_none(
                    {
                        "connectorId": b.evse_id or 0,
                        "expiryDate": _iso(b.expires_at),
                        "idTag": b.id_token,
                        "parentIdTag": b.group_id_token,
                        "reservationId": rid,
                    }
                ),
            )
        ]
    payload = _drop_none(
        {
            "id": rid,
            "expiryDateTime": _iso(b.expires_at),
            "idToken": {"idToken": b.id_token, "type": b.id_token_type},
            "evseId": b.evse_id or None,
            "groupIdToken": {"idToken": b.group_id_token, "type": "Central"} if b.group_id_token else None,
        }
    )
    return [("ReserveNow", payload)]


def cancel_reservation(b: CancelReservation, v: OcppVersion) -> Calls:
    return [("CancelReservation", {"reservationId": b.reservation_id})]


def send_local_list(b: SendLocalList, v: OcppVersion) -> Calls:
    entries = b.entries or []
    if _v16(v):
        items = []
        for e in entries:
            item: dict[str, Any] = {"idTag": e.id_token}
            if e.status is not None:
                item["idTagInfo"] = _drop_none(
                    {"status": e.status, "expiryDate": _iso(e.expiry) if e.expiry else None, "parentIdTag": e.group_id}
                )
            items.append(item)
        return [
            ("SendLocalList", {"listVersion": b.version, "updateType": b.update_type, "localAuthorizationList": items})
        ]
    items = []
    for e in entries:
        item = {"idToken": {"idToken": e.id_token, "type": e.type}}
        if e.status is not None:
            item["idTokenInfo"] = _drop_none(
                {
                    "status": e.status,
                    "cacheExpiryDateTime": _iso(e.expiry) if e.expiry else None,
                    "groupIdToken": {"idToken": e.group_id, "type": "Central"} if e.group_id else None,
                }
            )
        items.append(item)
    payload: dict[str, Any] = {"versionNumber": b.version, "updateType": b.update_type}
    if items:
        payload["localAuthorizationList"] = items
    return [("SendLocalList", payload)]


def data_transfer(b: DataTransfer, v: OcppVersion) -> Calls:
    data = b.data
    if _v16(v) and data is not None and not isinstance(data, str):
        data = json.dumps(data)  # 1.6 data is a string
    return [("DataTransfer", _drop_none({"vendorId": b.vendor_id, "messageId": b.message_id, "data": data}))]


def clear_cache(b: Empty, v: OcppVersion) -> Calls:
    return [("ClearCache", {})]


def local_list_version(b: Empty, v: OcppVersion) -> Calls:
    return [("GetLocalListVersion", {})]


# name -> (body model, builder, admin summary)
COMMANDS: dict[str, tuple[type[BaseModel], Callable[[Any, OcppVersion], Calls], str]] = {
    "remote-start": (RemoteStart, remote_start, "Start a transaction remotely (RemoteStart / RequestStart)"),
    "remote-stop": (RemoteStop, remote_stop, "Stop a transaction remotely (RemoteStop / RequestStop)"),
    "reset": (Reset, reset, "Reset the station"),
    "unlock": (Unlock, unlock, "Unlock a connector"),
    "change-availability": (Availability, change_availability, "Make the station or an EVSE (in)operative"),
    "get-configuration": (GetConfiguration, get_configuration, "Read configuration (1.6) / full report (2.x)"),
    "change-configuration": (ChangeConfiguration, change_configuration, "Change one configuration key"),
    "get-variables": (GetVariables, get_variables, "Read device-model variables (1.6: configuration keys)"),
    "set-variables": (SetVariables, set_variables, "Set device-model variables (1.6: configuration keys)"),
    "trigger-message": (Trigger, trigger, "Ask the station to send a message now"),
    "set-charging-profile": (SetChargingProfile, set_charging_profile, "Install a charging profile"),
    "clear-charging-profile": (ClearChargingProfile, clear_charging_profile, "Remove charging profiles"),
    "composite-schedule": (CompositeSchedule, composite_schedule, "Get the composite charging schedule"),
    "update-firmware": (UpdateFirmware, update_firmware, "Install firmware from a URL"),
    "get-log": (GetLog, get_log, "Upload diagnostics / logs (GetDiagnostics / GetLog)"),
    "reserve": (Reserve, reserve, "Reserve an EVSE / connector for a token"),
    "cancel-reservation": (CancelReservation, cancel_reservation, "Cancel a reservation"),
    "send-local-list": (SendLocalList, send_local_list, "Send the local authorization list"),
    "data-transfer": (DataTransfer, data_transfer, "Vendor-specific DataTransfer"),
    "clear-cache": (Empty, clear_cache, "Clear the station's authorization cache"),
    "local-list-version": (Empty, local_list_version, "Ask for the local list version"),
}
