"""OCPP 2.0 (2018) messages in the shape of their 2.0.1 counterparts, and back.

Both ends of ocppd speak 2.0 on the wire (validated against the official 2.0 schemas in
``schemas/v20``) and the 2.0.1 shape to their domain, so the 2.0.1 adapters serve 2.0 stations. The
differences that matter to what ocppd sends and reads (the rest is additive: 2.0.1's ``customData``
and ``statusInfo`` are dropped towards a 2.0 peer):

* TransactionEvent: 2.0 ``transactionData`` (with ``id``) is 2.0.1's ``transactionInfo`` (with
  ``transactionId``); charging state ``EVDetected`` is ``EVConnected``, and 2.0 has no ``Idle``
  nor the trigger reasons ``ResetCommand``/``AbnormalCondition``/``SignedDataReceived`` (sent as ``Trigger``).
* Authorize: ``15118CertificateHashData`` is ``iso15118CertificateHashData``; the answer's ``evseId``
  list sits beside ``idTokenInfo`` (2.0.1: inside it).
* NotifyReport: a variable attribute's ``persistence`` is ``persistent``.
* NotifyEvent: ``cleared`` (bool) where 2.0.1 has ``eventNotificationType``.
* SignCertificate / GetInstalledCertificateIds: ``typeOfCertificate`` is ``certificateType``;
  CertificateSigned: ``cert`` (a list) is ``certificateChain`` (a string).
* ChangeAvailability: ``evseId`` (0 = the station) where 2.0.1 has an optional ``evse`` object.
* ReserveNow: ``{idToken, groupIdToken, reservation: {id, expiryDateTime, evse, connectorCode}}``.
* ClearChargingProfile: ``evseId`` and ``chargingProfile`` criteria at the top.
* A charging profile has one schedule (an object, without ``id`` or ``salesTariff``); Reset cannot
  name an EVSE (refused).
* SetVariables: 2.0's ``InvalidValue``/``OutOfRange`` statuses read as 2.0.1's ``Rejected``.
* GetCompositeSchedule.conf: ``evseId`` and ``schedule: {startDateTime, chargingSchedule}`` at 2.0's
  places.
"""

from __future__ import annotations

from typing import Any

from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.protocol.versions import OcppVersion

Payload = dict[str, Any]

_DROPPED_TOWARDS_20 = ("customData", "statusInfo", "attributeStatusInfo")


def _strip(value: Any) -> Any:
    """2.0.1-only optional members removed everywhere (2.0 has no customData or statusInfo)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _DROPPED_TOWARDS_20}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _schedule_to_20(schedule: Any) -> Any:
    if isinstance(schedule, dict):
        return {k: v for k, v in schedule.items() if k not in ("id", "salesTariff")}
    return schedule


def _profile_to_20(profile: Payload) -> Payload:
    """2.0 has one schedule per profile (an object, 2.0.1 a list of up to three)."""
    out = dict(profile)
    schedules = out.get("chargingSchedule")
    if isinstance(schedules, list):
        if len(schedules) != 1:
            raise OcppError(ErrorKind.NOT_SUPPORTED, "OCPP 2.0 takes one charging schedule per profile")
        schedules = schedules[0]
    if schedules is not None:
        out["chargingSchedule"] = _schedule_to_20(schedules)
    return out


def _without_evse_in_token_info(info: Payload) -> Payload:
    out = {k: v for k, v in info.items() if k != "evseId"}
    if isinstance(out.get("groupIdToken"), dict):
        out["groupIdToken"] = {k: v for k, v in out["groupIdToken"].items() if k != "additionalInfo"}
    return out


# ------------------------------------------------------------------------------ station -> CSMS
def _request_to_201(action: str, p: Payload) -> Payload:
    if action == "TransactionEvent" and "transactionData" in p:
        out = {k: v for k, v in p.items() if k != "transactionData"}
        info = {("transactionId" if k == "id" else k): v for k, v in p["transactionData"].items()}
        if info.get("chargingState") == "EVDetected":
            info["chargingState"] = "EVConnected"
        out["transactionInfo"] = info
        return out
    if action == "Authorize":
        out = {k: v for k, v in p.items() if k not in ("15118CertificateHashData", "evseId")}
        if "15118CertificateHashData" in p:
            out["iso15118CertificateHashData"] = p["15118CertificateHashData"]
        return out
    if action == "NotifyReport":
        out = dict(p)
        out["reportData"] = [
            {
                **item,
                "variableAttribute": [
                    {("persistent" if k == "persistence" else k): v for k, v in attribute.items()}
                    for attribute in item.get("variableAttribute", [])
                ],
            }
            for item in p.get("reportData", [])
        ]
        return out
    if action == "NotifyEvent":
        out = dict(p)
        out["eventData"] = [
            {
                **{k: v for k, v in e.items() if k != "cleared"},
                "cleared": e.get("cleared", False),
                "eventNotificationType": "HardWiredNotification",
            }
            for e in p.get("eventData", [])
        ]
        return out
    if action == "SignCertificate" and "typeOfCertificate" in p:
        out = {k: v for k, v in p.items() if k != "typeOfCertificate"}
        out["certificateType"] = p["typeOfCertificate"]
        return out
    return p


# 2.0.1 trigger reasons 2.0 lacks, as the generic one 2.0 has
_TRIGGER_REASON_TO_20 = {"ResetCommand": "Trigger", "AbnormalCondition": "Trigger", "SignedDataReceived": "Trigger"}


def _request_from_201(action: str, p: Payload) -> Payload:
    p = _strip(p)
    if action == "TransactionEvent" and "transactionInfo" in p:
        out = {k: v for k, v in p.items() if k != "transactionInfo"}
        data = {("id" if k == "transactionId" else k): v for k, v in p["transactionInfo"].items()}
        if data.get("chargingState") == "EVConnected":
            data["chargingState"] = "EVDetected"
        elif data.get("chargingState") == "Idle":  # 2.0 has no word for it: say nothing
            del data["chargingState"]
        out["transactionData"] = data
        out["triggerReason"] = _TRIGGER_REASON_TO_20.get(p["triggerReason"], p["triggerReason"])
        return out
    if action == "Authorize":
        out = {k: v for k, v in p.items() if k not in ("iso15118CertificateHashData", "certificate")}
        if "iso15118CertificateHashData" in p:
            out["15118CertificateHashData"] = p["iso15118CertificateHashData"]
        return out
    if action == "NotifyReport":
        out = dict(p)
        out["tbc"] = p.get("tbc", False)
        out.pop("requestId", None)
        out["reportData"] = [
            {
                **item,
                "variableAttribute": [
                    {
                        "constant": False,
                        "persistence": False,
                        "value": "",
                        **{("persistence" if k == "persistent" else k): v for k, v in attribute.items()},
                    }
                    for attribute in item.get("variableAttribute", [])
                ],
            }
            for item in p.get("reportData", [])
        ]
        return out
    if action == "SignCertificate" and "certificateType" in p:
        out = {k: v for k, v in p.items() if k != "certificateType"}
        out["typeOfCertificate"] = p["certificateType"]
        return out
    return p


# ------------------------------------------------------------------------------ CSMS -> station
def _cs_request_from_201(action: str, p: Payload) -> Payload:
    p = _strip(p)
    if action == "ChangeAvailability":
        evse = p.get("evse") or {}
        if evse.get("connectorId") is not None:
            raise OcppError(ErrorKind.NOT_SUPPORTED, "OCPP 2.0 changes the availability of an EVSE, not a connector")
        return {"evseId": evse.get("id", 0), "operationalStatus": p["operationalStatus"]}
    if action == "ReserveNow":
        reservation: Payload = {
            "id": p["id"],
            "expiryDateTime": p["expiryDateTime"],
            "evse": {"id": p.get("evseId", 0)},
        }
        if "connectorType" in p:
            reservation["connectorCode"] = p["connectorType"]
        out: Payload = {"idToken": p["idToken"], "reservation": reservation}
        if "groupIdToken" in p:
            out["groupIdToken"] = p["groupIdToken"]
        return out
    if action in ("GetReport", "GetMonitoringReport"):
        if any("variable" not in cv for cv in p.get("componentVariable", [])):
            raise OcppError(ErrorKind.NOT_SUPPORTED, "OCPP 2.0 reports a component's variables only when named")
        return p
    if action == "SetMonitoringBase" and p.get("monitoringBase") == "HardWiredOnly":
        return {**p, "monitoringBase": "None"}  # 2.0's name for "only the hard-wired monitors"
    if action == "Reset":
        if "evseId" in p:
            raise OcppError(ErrorKind.NOT_SUPPORTED, "OCPP 2.0 resets the whole station only (no evseId)")
        return p
    if action in ("SetChargingProfile", "RequestStartTransaction") and "chargingProfile" in p:
        out = {k: v for k, v in p.items() if k != "groupIdToken"}
        out["chargingProfile"] = _profile_to_20(p["chargingProfile"])
        return out
    if action == "RequestStartTransaction":
        return {k: v for k, v in p.items() if k != "groupIdToken"}
    if action == "ClearChargingProfile":
        criteria = p.get("chargingProfileCriteria") or {}
        out = {}
        if "chargingProfileId" in p:
            out["chargingProfile"] = {"id": p["chargingProfileId"]}
        if "evseId" in criteria:
            out["evseId"] = criteria["evseId"]
        profile = {k: criteria[k] for k in ("chargingProfilePurpose", "stackLevel") if k in criteria}
        if profile:
            out["chargingProfile"] = {**out.get("chargingProfile", {}), **profile}
        return out
    if action == "GetInstalledCertificateIds":
        types = p.get("certificateType") or []
        if len(types) != 1:
            raise OcppError(ErrorKind.NOT_SUPPORTED, "OCPP 2.0 asks for one certificate type at a time")
        return {"typeOfCertificate": types[0]}
    if action == "CertificateSigned":
        out = {"cert": [p["certificateChain"]]}
        if "certificateType" in p:
            out["typeOfCertificate"] = p["certificateType"]
        return out
    if action == "SendLocalList":
        out = dict(p)
        out["localAuthorizationList"] = [
            {**e, "idTokenInfo": _without_evse_in_token_info(e["idTokenInfo"])} if "idTokenInfo" in e else e
            for e in p.get("localAuthorizationList", [])
        ]
        return out
    return p


def _cs_request_to_201(action: str, p: Payload) -> Payload:
    """What a 2.0 CSMS asked, as the simulator's 2.0.1 station model reads it."""
    if action == "SetMonitoringBase" and p.get("monitoringBase") == "None":
        return {**p, "monitoringBase": "HardWiredOnly"}
    if action == "ChangeAvailability":
        evse_id = p.get("evseId", 0)
        return {"operationalStatus": p["operationalStatus"], **({"evse": {"id": evse_id}} if evse_id else {})}
    if action == "ReserveNow":
        r = p["reservation"]
        out = {"id": r["id"], "expiryDateTime": r["expiryDateTime"], "idToken": p["idToken"]}
        if r.get("evse", {}).get("id"):
            out["evseId"] = r["evse"]["id"]
        if "groupIdToken" in p:
            out["groupIdToken"] = p["groupIdToken"]
        return out
    if action == "ClearChargingProfile":
        profile = p.get("chargingProfile") or {}
        out = {}
        if "id" in profile:
            out["chargingProfileId"] = profile["id"]
        criteria = {k: profile[k] for k in ("chargingProfilePurpose", "stackLevel") if k in profile}
        if "evseId" in p:
            criteria["evseId"] = p["evseId"]
        if criteria:
            out["chargingProfileCriteria"] = criteria
        return out
    if action in ("SetChargingProfile", "RequestStartTransaction") and "chargingProfile" in p:
        profile = dict(p["chargingProfile"])
        schedules = profile.get("chargingSchedule")
        if isinstance(schedules, dict):
            schedules = [schedules]
        profile["chargingSchedule"] = [{"id": i + 1, **s} for i, s in enumerate(schedules or [])]
        return {**p, "chargingProfile": profile}
    return p


# ------------------------------------------------------------------------------ answers
def _response_from_201(action: str, p: Payload) -> Payload:
    p = _strip(p)
    if action in ("Authorize", "TransactionEvent") and isinstance(p.get("idTokenInfo"), dict):
        out = dict(p)
        out["idTokenInfo"] = _without_evse_in_token_info(p["idTokenInfo"])
        if action == "Authorize" and "evseId" in p["idTokenInfo"]:
            out["evseId"] = p["idTokenInfo"]["evseId"]
        return out
    return p


_UNLOCK_201_ONLY = ("OngoingAuthorizedTransaction", "UnknownConnector")
_SET_VARIABLE_20_ONLY = {"InvalidValue": "Rejected", "OutOfRange": "Rejected"}


def _composite_to_20(p: Payload, evse_id: int) -> Payload:
    """2.0.1 ``schedule: {evseId, duration, scheduleStart, chargingRateUnit, chargingSchedulePeriod}``
    is 2.0 ``evseId`` + ``schedule: {startDateTime, chargingSchedule: {...}}``."""
    out: Payload = {"status": p["status"], "evseId": evse_id}
    schedule = p.get("schedule")
    if isinstance(schedule, dict):
        out["evseId"] = schedule.get("evseId", evse_id)
        out["schedule"] = {
            "startDateTime": schedule["scheduleStart"],
            "chargingSchedule": {
                "duration": schedule["duration"],
                "chargingRateUnit": schedule["chargingRateUnit"],
                "chargingSchedulePeriod": schedule["chargingSchedulePeriod"],
            },
        }
    return out


def _composite_to_201(p: Payload) -> Payload:
    out: Payload = {"status": p["status"]}
    schedule = p.get("schedule")
    if isinstance(schedule, dict) and isinstance(schedule.get("chargingSchedule"), dict):
        inner = schedule["chargingSchedule"]
        out["schedule"] = {
            "evseId": p.get("evseId", 0),
            "duration": inner.get("duration", 0),
            "scheduleStart": schedule.get("startDateTime") or inner.get("startSchedule"),
            "chargingRateUnit": inner["chargingRateUnit"],
            "chargingSchedulePeriod": inner["chargingSchedulePeriod"],
        }
    return out


def _response_to_201(action: str, p: Payload) -> Payload:
    if action == "GetCompositeSchedule":
        return _composite_to_201(p)
    if action == "SetVariables":
        return {
            **p,
            "setVariableResult": [
                {**r, "attributeStatus": _SET_VARIABLE_20_ONLY.get(r.get("attributeStatus"), r.get("attributeStatus"))}
                for r in p.get("setVariableResult", [])
            ],
        }
    if action == "Authorize" and "evseId" in p:
        out = {k: v for k, v in p.items() if k != "evseId"}
        out["idTokenInfo"] = {**p.get("idTokenInfo", {}), "evseId": p["evseId"]}
        return out
    return p


# ------------------------------------------------------------------------------ entry points
class V20Dialect:
    """The translation one end needs (an ``ocppd.rpc.WireDialect``): ``own_side`` is "csms" or "station"."""

    wire_version = OcppVersion.V20
    domain_version = OcppVersion.V201

    def __init__(self, own_side: str) -> None:
        self.own_side = own_side

    def request_in(self, action: str, payload: Payload) -> Payload:
        """A received 2.0 request, as the 2.0.1 domain reads it."""
        return _request_to_201(action, payload) if self.own_side == "csms" else _cs_request_to_201(action, payload)

    def response_out(self, action: str, payload: Payload, request: Payload | None = None) -> Payload:
        """Our 2.0.1-shaped answer to a received request, in 2.0."""
        if self.own_side == "csms":
            return _response_from_201(action, payload)
        if action == "GetCompositeSchedule":
            return _composite_to_20(_strip(payload), (request or {}).get("evseId", 0))
        if action == "UnlockConnector" and payload.get("status") in _UNLOCK_201_ONLY:
            return {"status": "UnlockFailed"}  # 2.0 has only Unlocked / UnlockFailed
        return _strip(payload)

    def request_out(self, action: str, payload: Payload) -> Payload:
        """Our 2.0.1-shaped request, in 2.0; OcppError(NOT_SUPPORTED) if 2.0 cannot say it."""
        return _cs_request_from_201(action, payload) if self.own_side == "csms" else _request_from_201(action, payload)

    def response_in(self, action: str, payload: Payload) -> Payload:
        """The peer's 2.0 answer to our request, in the 2.0.1 shape."""
        return _response_to_201(action, payload)
