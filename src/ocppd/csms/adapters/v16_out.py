"""OCPP 1.6 forms of the CSMS's verbs: payloads out, answers back into domain results."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ocppd.csms import verbs as v
from ocppd.csms.adapters.shared_out import get_log_plan, local_list_plan, signed_firmware_plan
from ocppd.csms.outbound import (
    Adapters,
    Call,
    NotExpressible,
    Payload,
    Plan,
    Target,
    chunks,
    drop_none,
    flatten,
    iso,
    iso_or_none,
)

ADAPTERS = Adapters("1.6")
out = ADAPTERS.register

PURPOSE = {"station_max": "ChargePointMaxProfile", "tx_default": "TxDefaultProfile", "tx": "TxProfile"}
RESET = {"on_idle": "Soft", "immediate": "Hard"}


def status(answer: Payload) -> v.Status:
    return v.Status(answer["status"])


def transaction_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise NotExpressible("OCPP 1.6 transaction ids are integers") from None


@out(v.RemoteStart)
def remote_start(verb: v.RemoteStart, t: Target) -> Plan[v.RemoteStarted]:
    if verb.limit is not None:
        raise NotExpressible("OCPP 1.6 has no transaction limits (2.1 only)")
    payload = drop_none({"connectorId": verb.evse_id, "idTag": verb.id_token, "chargingProfile": verb.charging_profile})
    return Plan.single("RemoteStartTransaction", payload, lambda a: v.RemoteStarted(a["status"]))


@out(v.RemoteStop)
def remote_stop(verb: v.RemoteStop, t: Target) -> Plan[v.Status]:
    return Plan.single("RemoteStopTransaction", {"transactionId": transaction_id(verb.transaction_id)}, status)


@out(v.Reset)
def reset(verb: v.Reset, t: Target) -> Plan[v.Status]:
    if verb.kind not in RESET:
        raise NotExpressible(f"OCPP 1.6 has no {verb.kind} reset (only on_idle = Soft, immediate = Hard)")
    if verb.evse_id is not None:
        raise NotExpressible("OCPP 1.6 resets the whole charge point: omit evse_id")
    return Plan.single("Reset", {"type": RESET[verb.kind]}, status)


@out(v.UnlockConnector)
def unlock(verb: v.UnlockConnector, t: Target) -> Plan[v.Status]:
    return Plan.single("UnlockConnector", {"connectorId": verb.evse_id or verb.connector_id}, status)


@out(v.TriggerMessage)
def trigger(verb: v.TriggerMessage, t: Target) -> Plan[v.Status]:
    if verb.custom_trigger is not None:
        raise NotExpressible("CustomTrigger exists only in OCPP 2.1")
    payload = drop_none({"requestedMessage": verb.message, "connectorId": verb.evse_id})
    return Plan.single("TriggerMessage", payload, status)


@out(v.ChangeAvailability)
def change_availability(verb: v.ChangeAvailability, t: Target) -> Plan[v.Status]:
    kind = "Operative" if verb.operative else "Inoperative"
    return Plan.single("ChangeAvailability", {"connectorId": verb.evse_id or 0, "type": kind}, status)


# ----------------------------------------------------------------- configuration (1.6 keys)


def _get_configuration(keys: list[str], t: Target) -> tuple[list[Call], list[str]]:
    if not keys:
        return [Call("GetConfiguration", {})], []
    parts = chunks(keys, max_items=t.limits.items_for("GetConfiguration"))
    return [Call("GetConfiguration", {"key": part}) for part in parts], keys


def _configuration_values(answers: list[Payload]) -> tuple[list[v.VariableValue], list[str]]:
    values = [
        v.VariableValue(v.VariableRef(variable=k["key"]), "Accepted", k.get("value"), bool(k.get("readonly")))
        for a in answers
        for k in a.get("configurationKey", [])
    ]
    unknown = flatten(list(a.get("unknownKey", [])) for a in answers)
    return values, unknown


@out(v.ReadConfiguration)
def read_configuration(verb: v.ReadConfiguration, t: Target) -> Plan[v.ConfigurationRead]:
    calls, _ = _get_configuration(list(verb.keys), t)

    def decode(answers: list[Payload]) -> v.ConfigurationRead:
        values, unknown = _configuration_values(answers)
        return v.ConfigurationRead(values, unknown)

    return Plan(calls, decode)


@out(v.GetVariables)
def get_variables(verb: v.GetVariables, t: Target) -> Plan[v.Variables]:
    keys = [r.variable for r in verb.refs]
    calls, _ = _get_configuration(keys, t)

    def decode(answers: list[Payload]) -> v.Variables:
        values, unknown = _configuration_values(answers)
        by_key = {x.ref.variable: x for x in values}
        missing = set(unknown)
        out = []
        for ref in verb.refs:  # in the order asked, with the caller's refs
            got = by_key.get(ref.variable)
            if got is not None:
                out.append(v.VariableValue(ref, "Accepted", got.value, got.readonly))
            else:
                out.append(v.VariableValue(ref, "UnknownVariable" if ref.variable in missing else "Rejected"))
        return v.Variables(out)

    return Plan(calls, decode)


@out(v.SetVariables)
def set_variables(verb: v.SetVariables, t: Target) -> Plan[v.VariablesSet]:
    # 1.6 changes one key per message.
    calls = [Call("ChangeConfiguration", {"key": s.ref.variable, "value": s.value}) for s in verb.settings]

    def decode(answers: list[Payload]) -> v.VariablesSet:
        return v.VariablesSet([v.VariableSet(s.ref, a["status"]) for s, a in zip(verb.settings, answers, strict=True)])

    return Plan(calls, decode)


@out(v.DataTransfer)
def data_transfer(verb: v.DataTransfer, t: Target) -> Plan[v.DataTransferred]:
    data = verb.data
    if data is not None and not isinstance(data, str):
        data = json.dumps(data)  # 1.6 data is a string
    payload = drop_none({"vendorId": verb.vendor_id, "messageId": verb.message_id, "data": data})
    return Plan.single("DataTransfer", payload, lambda a: v.DataTransferred(a["status"], a.get("data")))


# ----------------------------------------------------------------- smart charging


def profile(p: v.ChargingProfile) -> Payload:
    if p.purpose == "tx" and not p.transaction_id:
        raise NotExpressible("a 'tx' profile needs transaction_id")
    if p.v21_fields():
        raise NotExpressible(f"{', '.join(p.v21_fields())}: charging profile fields of OCPP 2.1 only")
    schedule = drop_none(
        {
            "chargingRateUnit": p.unit,
            "chargingSchedulePeriod": [
                drop_none({"startPeriod": x.start_s, "limit": x.limit, "numberPhases": x.phases}) for x in p.periods
            ],
            "duration": p.duration_s,
            "startSchedule": iso_or_none(p.start_at),
        }
    )
    return drop_none(
        {
            "chargingProfileId": p.id,
            "transactionId": transaction_id(p.transaction_id) if p.transaction_id else None,
            "stackLevel": p.stack_level,
            "chargingProfilePurpose": PURPOSE[p.purpose],
            "chargingProfileKind": p.kind,
            "recurrencyKind": p.recurrency,
            "validFrom": iso_or_none(p.valid_from),
            "validTo": iso_or_none(p.valid_to),
            "chargingSchedule": schedule,
        }
    )


@out(v.SetChargingProfile)
def set_charging_profile(verb: v.SetChargingProfile, t: Target) -> Plan[v.Status]:
    payload = {"connectorId": verb.evse_id, "csChargingProfiles": profile(verb.profile)}
    return Plan.single("SetChargingProfile", payload, status)


@out(v.ClearChargingProfile)
def clear_charging_profile(verb: v.ClearChargingProfile, t: Target) -> Plan[v.Status]:
    payload = drop_none(
        {
            "id": verb.profile_id,
            "connectorId": verb.evse_id,
            "chargingProfilePurpose": PURPOSE[verb.purpose] if verb.purpose else None,
            "stackLevel": verb.stack_level,
        }
    )
    return Plan.single("ClearChargingProfile", payload, status)


@out(v.GetCompositeSchedule)
def composite_schedule(verb: v.GetCompositeSchedule, t: Target) -> Plan[v.CompositeScheduleResult]:
    payload = drop_none({"connectorId": verb.evse_id, "duration": verb.duration_s, "chargingRateUnit": verb.unit})

    def decode(a: Payload) -> v.CompositeScheduleResult:
        schedule = a.get("chargingSchedule") or {}
        return v.CompositeScheduleResult(
            a["status"],
            a.get("connectorId"),
            a.get("scheduleStart") or schedule.get("startSchedule"),
            schedule.get("chargingRateUnit"),
            schedule.get("duration"),
            [
                v.SchedulePeriod(p["startPeriod"], p["limit"], p.get("numberPhases"))
                for p in schedule.get("chargingSchedulePeriod", [])
            ],
        )

    return Plan.single("GetCompositeSchedule", payload, decode)


# ----------------------------------------------------------------- firmware, diagnostics


@out(v.UpdateFirmware)
def update_firmware(verb: v.UpdateFirmware, t: Target) -> Plan[v.Status]:
    if verb.signature or verb.signing_certificate:
        return _signed_update_firmware(verb)
    payload = drop_none(
        {
            "location": verb.location,
            "retrieveDate": iso(verb.retrieve_at or datetime.now(UTC)),
            "retries": verb.retries,
            "retryInterval": verb.retry_interval_s,
        }
    )
    # UpdateFirmware.conf is empty in 1.6: the station took the request.
    return Plan.single("UpdateFirmware", payload, lambda a: v.Status("Accepted"))


def _signed_update_firmware(verb: v.UpdateFirmware) -> Plan[v.Status]:
    """The 1.6 security extension's SignedUpdateFirmware: both the signature and its certificate."""
    if not (verb.signature and verb.signing_certificate):
        raise NotExpressible("signed firmware needs both signature and signing_certificate")
    return signed_firmware_plan(verb, "SignedUpdateFirmware", status)


@out(v.GetLog)
def get_log(verb: v.GetLog, t: Target) -> Plan[v.LogRequested]:
    if verb.log_type == "SecurityLog":  # only the 1.6 security extension's GetLog carries it (TC_079)
        return get_log_plan(verb)
    payload = drop_none(
        {
            "location": verb.location,
            "startTime": iso_or_none(verb.since),
            "stopTime": iso_or_none(verb.until),
            "retries": verb.retries,
            "retryInterval": verb.retry_interval_s,
        }
    )

    def decode(a: Payload) -> v.LogRequested:
        name = a.get("fileName")
        return v.LogRequested("Accepted" if name else "NoLogs", name)

    return Plan.single("GetDiagnostics", payload, decode)


# ----------------------------------------------------------------- authorization


@out(v.ClearCache)
def clear_cache(verb: v.ClearCache, t: Target) -> Plan[v.Status]:
    return Plan.single("ClearCache", {}, status)


@out(v.SendLocalList)
def send_local_list(verb: v.SendLocalList, t: Target) -> Plan[v.Status]:
    items = []
    for e in verb.entries:
        item: Payload = {"idTag": e.id_token}
        if e.status is not None:
            item["idTagInfo"] = drop_none(
                {"status": e.status, "expiryDate": iso_or_none(e.expiry), "parentIdTag": e.group_id}
            )
        items.append(item)
    parts = chunks(items, max_items=t.limits.items_for("SendLocalList"))
    return local_list_plan(
        verb,
        [{"listVersion": verb.version, "localAuthorizationList": part} for part in parts],
    )


@out(v.GetLocalListVersion)
def local_list_version(verb: v.GetLocalListVersion, t: Target) -> Plan[v.LocalListVersion]:
    return Plan.single("GetLocalListVersion", {}, lambda a: v.LocalListVersion(a["listVersion"]))


# ----------------------------------------------------------------- reservations


@out(v.ReserveNow)
def reserve(verb: v.ReserveNow, t: Target) -> Plan[v.Status]:
    if verb.connector_type is not None:
        raise NotExpressible("OCPP 1.6 reserves a connector, not a connector type")
    payload = drop_none(
        {
            "connectorId": verb.evse_id or 0,
            "expiryDate": iso(verb.expires_at),
            "idTag": verb.id_token,
            "parentIdTag": verb.group_id_token,
            "reservationId": verb.reservation_id,
        }
    )
    return Plan.single("ReserveNow", payload, status)


@out(v.CancelReservation)
def cancel_reservation(verb: v.CancelReservation, t: Target) -> Plan[v.Status]:
    return Plan.single("CancelReservation", {"reservationId": verb.reservation_id}, status)


# ----------------------------------------------------------------- security extension


@out(v.RequestCertificate)
def request_certificate(verb: v.RequestCertificate, t: Target) -> Plan[v.Status]:
    if verb.certificate_type != "ChargingStationCertificate":
        raise NotExpressible("OCPP 1.6 stations have only a charge point certificate to renew")
    return Plan.single("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}, status)


@out(v.CertificateSigned)
def certificate_signed(verb: v.CertificateSigned, t: Target) -> Plan[v.Status]:
    if verb.certificate_type != "ChargingStationCertificate":
        raise NotExpressible("OCPP 1.6 has only charge point certificates")
    return Plan.single("CertificateSigned", {"certificateChain": verb.chain}, status)


@out(v.SetBasicAuthPassword)
def set_basic_auth_password(verb: v.SetBasicAuthPassword, t: Target) -> Plan[v.Status]:
    # The whitepaper: AuthorizationKey carries the password's bytes hex-encoded (docs/security.md).
    value = verb.password.encode().hex() if verb.hex_encoded else verb.password
    return Plan.single("ChangeConfiguration", {"key": "AuthorizationKey", "value": value}, status)


@out(v.SetSecurityProfile)
def set_security_profile(verb: v.SetSecurityProfile, t: Target) -> Plan[v.Status]:
    return Plan.single("ChangeConfiguration", {"key": "SecurityProfile", "value": str(verb.profile)}, status)


# The 1.6 extension knows two of the 2.x certificate uses, one under another name.
CERTIFICATE_USE = {"CSMSRootCertificate": "CentralSystemRootCertificate",
                   "ManufacturerRootCertificate": "ManufacturerRootCertificate"}  # fmt: skip
CERTIFICATE_USE_BACK = {v16: domain for domain, v16 in CERTIFICATE_USE.items()}


def _use(name: str) -> str:
    if name not in CERTIFICATE_USE:
        raise NotExpressible(f"OCPP 1.6 has no {name} (only {', '.join(CERTIFICATE_USE)})")
    return CERTIFICATE_USE[name]


@out(v.InstallCertificate)
def install_certificate(verb: v.InstallCertificate, t: Target) -> Plan[v.Status]:
    payload = {"certificateType": _use(verb.certificate_type), "certificate": verb.certificate}
    return Plan.single("InstallCertificate", payload, status)


@out(v.DeleteCertificate)
def delete_certificate(verb: v.DeleteCertificate, t: Target) -> Plan[v.Status]:
    return Plan.single("DeleteCertificate", {"certificateHashData": verb.hash.ocpp()}, status)


@out(v.GetInstalledCertificateIds)
def installed_certificates(verb: v.GetInstalledCertificateIds, t: Target) -> Plan[v.InstalledCertificates]:
    types = list(verb.certificate_types or CERTIFICATE_USE)
    calls = [Call("GetInstalledCertificateIds", {"certificateType": _use(name)}) for name in types]

    def decode(answers: list[Payload]) -> v.InstalledCertificates:
        found = [
            v.InstalledCertificate(name, v.CertificateHash.from_ocpp(h))
            for name, a in zip(types, answers, strict=True)
            for h in a.get("certificateHashData", [])
        ]
        accepted = any(a["status"] == "Accepted" for a in answers)
        return v.InstalledCertificates("Accepted" if accepted else "NotFound", found)

    return Plan(calls, decode)
