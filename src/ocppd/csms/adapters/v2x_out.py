"""OCPP 2.0.1 and 2.1 forms of the CSMS's verbs: payloads out, answers back into domain results."""

from __future__ import annotations

from typing import Any

from ocppd.csms import verbs as v
from ocppd.csms.adapters.shared_out import get_log_plan, local_list_plan, signed_firmware_plan
from ocppd.csms.authorization import in_language
from ocppd.csms.outbound import (
    Adapters,
    Call,
    NotExpressible,
    Payload,
    Plan,
    Target,
    chunks,
    drop_none,
    iso,
    iso_or_none,
    next_request_id,
)
from ocppd.protocol.versions import OcppVersion

ADAPTERS = Adapters("2.x")
out = ADAPTERS.register

PURPOSE = {"station_max": "ChargingStationMaxProfile", "tx_default": "TxDefaultProfile", "tx": "TxProfile"}
RESET = {"on_idle": "OnIdle", "immediate": "Immediate", "immediate_and_resume": "ImmediateAndResume"}


def reason(answer: Payload) -> str | None:
    info = answer.get("statusInfo")
    if not info:
        return None
    extra = info.get("additionalInfo")
    return f"{info['reasonCode']}: {extra}" if extra else str(info["reasonCode"])


def status(answer: Payload) -> v.Status:
    return v.Status(answer["status"], reason(answer))


def id_token(token: str, kind: str) -> Payload:
    return {"idToken": token, "type": kind}


def evse(evse_id: int | None, connector_id: int | None) -> Payload | None:
    return drop_none({"id": evse_id, "connectorId": connector_id}) if evse_id is not None else None


@out(v.RemoteStart)
def remote_start(verb: v.RemoteStart, t: Target) -> Plan[v.RemoteStarted]:
    if verb.limit is not None and t.version is not OcppVersion.V21:
        raise NotExpressible(f"OCPP {t.version.label} has no transaction limits (2.1 only)")
    rid = verb.remote_start_id if verb.remote_start_id is not None else next_request_id()
    payload = drop_none(
        {
            "evseId": verb.evse_id,
            "idToken": id_token(verb.id_token, verb.id_token_type),
            "remoteStartId": rid,
            "chargingProfile": verb.charging_profile,
            "groupIdToken": id_token(verb.group_id_token, "Central") if verb.group_id_token else None,
        }
    )
    return Plan.single(
        "RequestStartTransaction",
        payload,
        lambda a: v.RemoteStarted(a["status"], rid, a.get("transactionId"), reason(a)),
    )


@out(v.RemoteStop)
def remote_stop(verb: v.RemoteStop, t: Target) -> Plan[v.Status]:
    return Plan.single("RequestStopTransaction", {"transactionId": verb.transaction_id}, status)


@out(v.Reset)
def reset(verb: v.Reset, t: Target) -> Plan[v.Status]:
    if verb.kind == "immediate_and_resume" and t.version is not OcppVersion.V21:
        raise NotExpressible("ImmediateAndResume resets exist only in OCPP 2.1")
    return Plan.single("Reset", drop_none({"type": RESET[verb.kind], "evseId": verb.evse_id}), status)


@out(v.UnlockConnector)
def unlock(verb: v.UnlockConnector, t: Target) -> Plan[v.Status]:
    return Plan.single("UnlockConnector", {"evseId": verb.evse_id or 1, "connectorId": verb.connector_id}, status)


@out(v.TriggerMessage)
def trigger(verb: v.TriggerMessage, t: Target) -> Plan[v.Status]:
    if (verb.message == "CustomTrigger" or verb.custom_trigger is not None) and t.version is not OcppVersion.V21:
        raise NotExpressible("CustomTrigger exists only in OCPP 2.1")
    if (verb.message == "CustomTrigger") != (verb.custom_trigger is not None):
        raise NotExpressible("custom_trigger goes with message CustomTrigger, and CustomTrigger needs custom_trigger")
    payload = drop_none({"requestedMessage": verb.message, "evse": evse(verb.evse_id, verb.connector_id),
                         "customTrigger": verb.custom_trigger})  # fmt: skip
    return Plan.single("TriggerMessage", payload, status)


@out(v.ChangeAvailability)
def change_availability(verb: v.ChangeAvailability, t: Target) -> Plan[v.Status]:
    payload: Payload = {"operationalStatus": "Operative" if verb.operative else "Inoperative"}
    if verb.evse_id:
        payload["evse"] = evse(verb.evse_id, verb.connector_id)
    return Plan.single("ChangeAvailability", payload, status)


# ----------------------------------------------------------------- device model


def component(ref: v.VariableRef) -> Payload:
    if not ref.component:
        raise NotExpressible(f"OCPP 2.x needs the component of the variable {ref.variable!r}: give 'component'")
    return drop_none(
        {
            "name": ref.component,
            "instance": ref.component_instance or None,
            "evse": evse(ref.evse_id, ref.connector_id),
        }
    )


def variable(ref: v.VariableRef) -> Payload:
    return drop_none({"name": ref.variable, "instance": ref.instance or None})


def _split(action: str, items: list[Any], envelope: Any, t: Target) -> list[list[Any]]:
    return chunks(items, max_items=t.limits.items_for(action), max_bytes=t.limits.bytes_for(action), envelope=envelope)


@out(v.GetVariables)
def get_variables(verb: v.GetVariables, t: Target) -> Plan[v.Variables]:
    data = [
        drop_none({"component": component(r), "variable": variable(r), "attributeType": r.attribute}) for r in verb.refs
    ]
    parts = _split("GetVariables", data, lambda part: {"getVariableData": part}, t)
    calls = [Call("GetVariables", {"getVariableData": part}) for part in parts]

    def decode(answers: list[Payload]) -> v.Variables:
        results = [r for a in answers for r in a.get("getVariableResult", [])]
        # The station answers per item; match by position (the order of our request), which the
        # spec does not promise, so fall back to matching by name when the counts differ.
        if len(results) == len(verb.refs):
            pairs = list(zip(verb.refs, results, strict=True))
        else:
            pairs = [(_ref_of(r), r) for r in results]
        return v.Variables([v.VariableValue(ref, r["attributeStatus"], r.get("attributeValue")) for ref, r in pairs])

    return Plan(calls, decode)


def _ref_of(result: Payload) -> v.VariableRef:
    comp = result["component"]
    ev = comp.get("evse") or {}
    return v.VariableRef(
        comp["name"],
        result["variable"]["name"],
        result["variable"].get("instance"),
        ev.get("id"),
        ev.get("connectorId"),
        result.get("attributeType"),
        comp.get("instance"),
    )


@out(v.SetVariables)
def set_variables(verb: v.SetVariables, t: Target) -> Plan[v.VariablesSet]:
    data = [
        drop_none(
            {
                "component": component(s.ref),
                "variable": variable(s.ref),
                "attributeValue": s.value,
                "attributeType": s.ref.attribute,
            }
        )
        for s in verb.settings
    ]
    parts = _split("SetVariables", data, lambda part: {"setVariableData": part}, t)
    calls = [Call("SetVariables", {"setVariableData": part}) for part in parts]

    def decode(answers: list[Payload]) -> v.VariablesSet:
        results = [r for a in answers for r in a.get("setVariableResult", [])]
        if len(results) == len(verb.settings):
            pairs = [(s.ref, r) for s, r in zip(verb.settings, results, strict=True)]
        else:
            pairs = [(_ref_of(r), r) for r in results]
        return v.VariablesSet([v.VariableSet(ref, r["attributeStatus"], reason_of(r)) for ref, r in pairs])

    return Plan(calls, decode)


def reason_of(result: Payload) -> str | None:
    info = result.get("attributeStatusInfo")
    return str(info["reasonCode"]) if info else None


@out(v.GetBaseReport)
def get_base_report(verb: v.GetBaseReport, t: Target) -> Plan[v.Status]:
    rid = verb.request_id if verb.request_id is not None else next_request_id()
    return Plan.single("GetBaseReport", {"requestId": rid, "reportBase": verb.report_base}, status)


@out(v.GetReport)
def get_report(verb: v.GetReport, t: Target) -> Plan[v.Status]:
    items = [drop_none({"component": component(r), "variable": variable(r) if r.variable else None}) for r in verb.refs]
    first = verb.request_id if verb.request_id is not None else next_request_id()
    criteria = list(verb.criteria) or None

    def payload(part: list[Payload], rid: int = first) -> Payload:
        return drop_none({"requestId": rid, "componentCriteria": criteria, "componentVariable": part or None})

    parts = _split("GetReport", items, payload, t)
    calls = [Call("GetReport", payload(part, first + i)) for i, part in enumerate(parts)]

    def decode(answers: list[Payload]) -> v.Status:
        return next((status(a) for a in answers if a["status"] != "Accepted"), v.Status("Accepted"))

    return Plan(calls, decode)


@out(v.ClearVariableMonitoring)
def clear_monitoring(verb: v.ClearVariableMonitoring, t: Target) -> Plan[v.MonitorsCleared]:
    action = "ClearVariableMonitoring"
    ids = list(verb.ids)
    if len(ids) > 1 and t.limits.items_for(action) is None and t.limits.bytes_for(action) is None:
        read_first: tuple[str, str] | None = ("MonitoringCtrlr", action)
    else:
        read_first = None
    parts = _split(action, ids, lambda part: {"id": part}, t)

    def decode(answers: list[Payload]) -> v.MonitorsCleared:
        return v.MonitorsCleared(
            [v.MonitorCleared(r["id"], r["status"]) for a in answers for r in a.get("clearMonitoringResult", [])]
        )

    return Plan([Call(action, {"id": part}) for part in parts], decode, read_first)


@out(v.SetVariableMonitoring)
def set_monitoring(verb: v.SetVariableMonitoring, t: Target) -> Plan[v.MonitorsSet]:
    data = []
    for m in verb.monitors:
        if m.type in ("TargetDelta", "TargetDeltaRelative") and t.version is not OcppVersion.V21:
            raise NotExpressible(f"{m.type} monitors exist only in OCPP 2.1")
        data.append(drop_none({"id": m.id, "transaction": m.transaction, "value": m.value, "type": m.type,
                               "severity": m.severity, "component": component(m.ref),
                               "variable": variable(m.ref)}))  # fmt: skip
    action = "SetVariableMonitoring"
    parts = _split(action, data, lambda part: {"setMonitoringData": part}, t)

    def decode(answers: list[Payload]) -> v.MonitorsSet:
        results = [r for a in answers for r in a.get("setMonitoringResult", [])]
        out = []
        for i, r in enumerate(results):
            ref = verb.monitors[i].ref if len(results) == len(verb.monitors) else _ref_of(r)
            out.append(v.MonitorSet(ref, r["type"], r["severity"], r["status"], r.get("id"), reason_of_status(r)))
        return v.MonitorsSet(out)

    return Plan([Call(action, {"setMonitoringData": part}) for part in parts], decode)


def reason_of_status(result: Payload) -> str | None:
    info = result.get("statusInfo")
    if not info:
        return None
    return f"{info['reasonCode']}: {info['additionalInfo']}" if info.get("additionalInfo") else str(info["reasonCode"])


@out(v.SetMonitoringBase)
def set_monitoring_base(verb: v.SetMonitoringBase, t: Target) -> Plan[v.Status]:
    return Plan.single("SetMonitoringBase", {"monitoringBase": verb.base}, status)


@out(v.SetMonitoringLevel)
def set_monitoring_level(verb: v.SetMonitoringLevel, t: Target) -> Plan[v.Status]:
    if not 0 <= verb.severity <= 9:
        raise NotExpressible(f"severity must be 0 (Danger) to 9 (Debug), not {verb.severity}")
    return Plan.single("SetMonitoringLevel", {"severity": verb.severity}, status)


@out(v.GetMonitoringReport)
def get_monitoring_report(verb: v.GetMonitoringReport, t: Target) -> Plan[v.MonitoringReportRequested]:
    rid = verb.request_id if verb.request_id is not None else next_request_id()
    items = [drop_none({"component": component(r), "variable": variable(r) if r.variable else None}) for r in verb.refs]
    payload = drop_none({"requestId": rid, "monitoringCriteria": list(verb.criteria) or None,
                         "componentVariable": items or None})  # fmt: skip
    return Plan.single("GetMonitoringReport", payload,
                       lambda a: v.MonitoringReportRequested(a["status"], rid, reason(a)))  # fmt: skip


@out(v.ReadConfiguration)
def read_configuration(verb: v.ReadConfiguration, t: Target) -> Plan[v.ConfigurationRead]:
    if verb.keys:
        raise NotExpressible("OCPP 2.x variables live on components: use get-variables with component names")
    # 2.x has no "all keys" read: the full base report arrives as NotifyReport and is stored.
    rid = verb.request_id if verb.request_id is not None else next_request_id()
    return Plan.single(
        "GetBaseReport",
        {"requestId": rid, "reportBase": "FullInventory"},
        lambda a: v.ConfigurationRead([], [], rid, a["status"]),
    )


@out(v.DataTransfer)
def data_transfer(verb: v.DataTransfer, t: Target) -> Plan[v.DataTransferred]:
    payload = drop_none({"vendorId": verb.vendor_id, "messageId": verb.message_id, "data": verb.data})
    return Plan.single("DataTransfer", payload, lambda a: v.DataTransferred(a["status"], a.get("data")))


# ----------------------------------------------------------------- smart charging


def profile(p: v.ChargingProfile) -> Payload:
    if p.purpose == "tx" and not p.transaction_id:
        raise NotExpressible("a 'tx' profile needs transaction_id")
    schedule = drop_none(
        {
            "id": p.id,
            "chargingRateUnit": p.unit,
            "chargingSchedulePeriod": [
                drop_none({"startPeriod": x.start_s, "limit": x.limit, "numberPhases": x.phases,
                           "operationMode": x.operation_mode})
                for x in p.periods
            ],
            "duration": p.duration_s,
            "startSchedule": iso_or_none(p.start_at),
            "limitAtSoC": {"soc": p.limit_at_soc[0], "limit": p.limit_at_soc[1]} if p.limit_at_soc else None,
            "randomizedDelay": p.randomized_delay_s,
            "useLocalTime": p.use_local_time,
        }
    )  # fmt: skip
    return drop_none(
        {
            "id": p.id,
            "transactionId": p.transaction_id,
            "stackLevel": p.stack_level,
            "chargingProfilePurpose": PURPOSE[p.purpose],
            "chargingProfileKind": p.kind,
            "recurrencyKind": p.recurrency,
            "validFrom": iso_or_none(p.valid_from),
            "validTo": iso_or_none(p.valid_to),
            "chargingSchedule": [schedule],
            "maxOfflineDuration": p.max_offline_duration_s,
            "invalidAfterOfflineDuration": p.invalid_after_offline_duration,
        }
    )


@out(v.SetChargingProfile)
def set_charging_profile(verb: v.SetChargingProfile, t: Target) -> Plan[v.Status]:
    if verb.profile.v21_fields() and t.version is not OcppVersion.V21:
        raise NotExpressible(f"{', '.join(verb.profile.v21_fields())}: charging profile fields of OCPP 2.1 only")
    payload = {"evseId": verb.evse_id, "chargingProfile": profile(verb.profile)}
    return Plan.single("SetChargingProfile", payload, status)


@out(v.ClearChargingProfile)
def clear_charging_profile(verb: v.ClearChargingProfile, t: Target) -> Plan[v.Status]:
    criteria = drop_none(
        {
            "evseId": verb.evse_id,
            "chargingProfilePurpose": PURPOSE[verb.purpose] if verb.purpose else None,
            "stackLevel": verb.stack_level,
        }
    )
    payload = drop_none({"chargingProfileId": verb.profile_id, "chargingProfileCriteria": criteria or None})
    return Plan.single("ClearChargingProfile", payload, status)


@out(v.GetCompositeSchedule)
def composite_schedule(verb: v.GetCompositeSchedule, t: Target) -> Plan[v.CompositeScheduleResult]:
    payload = drop_none({"evseId": verb.evse_id, "duration": verb.duration_s, "chargingRateUnit": verb.unit})

    def decode(a: Payload) -> v.CompositeScheduleResult:
        s = a.get("schedule") or {}
        return v.CompositeScheduleResult(
            a["status"],
            s.get("evseId"),
            s.get("scheduleStart"),
            s.get("chargingRateUnit"),
            s.get("duration"),
            [
                v.SchedulePeriod(p["startPeriod"], p["limit"], p.get("numberPhases"))
                for p in s.get("chargingSchedulePeriod", [])
            ],
        )

    return Plan.single("GetCompositeSchedule", payload, decode)


@out(v.GetChargingProfiles)
def get_charging_profiles(verb: v.GetChargingProfiles, t: Target) -> Plan[v.ProfilesRequested]:
    request_id = verb.request_id if verb.request_id is not None else next_request_id()
    criterion = drop_none(
        {
            "chargingProfilePurpose": PURPOSE[verb.purpose] if verb.purpose else None,
            "stackLevel": verb.stack_level,
            "chargingLimitSource": list(verb.sources) or None,
            "chargingProfileId": list(verb.profile_ids) or None,
        }
    )
    payload = drop_none({"requestId": request_id, "evseId": verb.evse_id, "chargingProfile": criterion})
    return Plan.single("GetChargingProfiles", payload, lambda a: v.ProfilesRequested(a["status"], request_id))


# ----------------------------------------------------------------- firmware, logs


@out(v.UpdateFirmware)
def update_firmware(verb: v.UpdateFirmware, t: Target) -> Plan[v.Status]:
    return signed_firmware_plan(verb, "UpdateFirmware", status)


@out(v.GetLog)
def get_log(verb: v.GetLog, t: Target) -> Plan[v.LogRequested]:
    return get_log_plan(verb)


# ----------------------------------------------------------------- authorization


@out(v.ClearCache)
def clear_cache(verb: v.ClearCache, t: Target) -> Plan[v.Status]:
    return Plan.single("ClearCache", {}, status)


def local_list_item(e: v.LocalListEntry) -> Payload:
    item: Payload = {"idToken": id_token(e.id_token, e.type)}
    if e.status is not None:
        item["idTokenInfo"] = drop_none(
            {
                "status": e.status,
                "cacheExpiryDateTime": iso_or_none(e.expiry),
                "groupIdToken": id_token(e.group_id, "Central") if e.group_id else None,
            }
        )
    return item


@out(v.SendLocalList)
def send_local_list(verb: v.SendLocalList, t: Target) -> Plan[v.Status]:
    items = [local_list_item(e) for e in verb.entries]

    def payload(part: list[Payload]) -> Payload:
        body: Payload = {"versionNumber": verb.version, "updateType": verb.update_type}
        if part:
            body["localAuthorizationList"] = part
        return body

    return local_list_plan(verb, [payload(part) for part in _split("SendLocalList", items, payload, t)])


@out(v.GetLocalListVersion)
def local_list_version(verb: v.GetLocalListVersion, t: Target) -> Plan[v.LocalListVersion]:
    return Plan.single("GetLocalListVersion", {}, lambda a: v.LocalListVersion(a["versionNumber"]))


# ----------------------------------------------------------------- reservations


@out(v.ReserveNow)
def reserve(verb: v.ReserveNow, t: Target) -> Plan[v.Status]:
    payload = drop_none(
        {
            "id": verb.reservation_id,
            "expiryDateTime": iso(verb.expires_at),
            "idToken": id_token(verb.id_token, verb.id_token_type),
            "evseId": verb.evse_id or None,
            "connectorType": verb.connector_type,
            "groupIdToken": id_token(verb.group_id_token, "Central") if verb.group_id_token else None,
        }
    )
    return Plan.single("ReserveNow", payload, status)


@out(v.CancelReservation)
def cancel_reservation(verb: v.CancelReservation, t: Target) -> Plan[v.Status]:
    return Plan.single("CancelReservation", {"reservationId": verb.reservation_id}, status)


# ----------------------------------------------------------------- transactions


@out(v.GetTransactionStatus)
def transaction_status(verb: v.GetTransactionStatus, t: Target) -> Plan[v.TransactionStatus]:
    payload = drop_none({"transactionId": verb.transaction_id})
    return Plan.single(
        "GetTransactionStatus",
        payload,
        lambda a: v.TransactionStatus(a.get("ongoingIndicator"), bool(a["messagesInQueue"])),
    )


# ----------------------------------------------------------------- security (A)

SIGN_TRIGGER = {
    "ChargingStationCertificate": "SignChargingStationCertificate",
    "V2GCertificate": "SignV2GCertificate",
    "Combined": "SignCombinedCertificate",
}


@out(v.RequestCertificate)
def request_certificate(verb: v.RequestCertificate, t: Target) -> Plan[v.Status]:
    return Plan.single("TriggerMessage", {"requestedMessage": SIGN_TRIGGER[verb.certificate_type]}, status)


@out(v.CertificateSigned)
def certificate_signed(verb: v.CertificateSigned, t: Target) -> Plan[v.Status]:
    payload: Payload = {"certificateChain": verb.chain}
    if verb.certificate_type != "Combined":  # a combined certificate is sent without certificateType
        payload["certificateType"] = verb.certificate_type
    if verb.request_id is not None and t.version is OcppVersion.V21:
        payload["requestId"] = verb.request_id
    return Plan.single("CertificateSigned", payload, status)


def _single_variable(component_name: str, variable_name: str, value: str) -> Plan[v.Status]:
    payload = {"setVariableData": [{"component": {"name": component_name}, "variable": {"name": variable_name},
                                    "attributeValue": value}]}  # fmt: skip

    def decode(answer: Payload) -> v.Status:
        results = answer.get("setVariableResult") or [{}]
        return v.Status(str(results[0].get("attributeStatus", "Rejected")), reason_of(results[0]))

    return Plan.single("SetVariables", payload, decode)


@out(v.SetBasicAuthPassword)
def set_basic_auth_password(verb: v.SetBasicAuthPassword, t: Target) -> Plan[v.Status]:
    return _single_variable("SecurityCtrlr", "BasicAuthPassword", verb.password)


@out(v.SetSecurityProfile)
def set_security_profile(verb: v.SetSecurityProfile, t: Target) -> Plan[v.Status]:
    connection = {
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": verb.csms_url,
        "messageTimeout": verb.message_timeout_s,
        "securityProfile": verb.profile,
        "ocppInterface": verb.interface,
    }
    if verb.identity is not None or verb.basic_auth_password is not None:
        if t.version is not OcppVersion.V21:
            raise NotExpressible("identity and basicAuthPassword in a network profile need OCPP 2.1")
        connection.update(drop_none({"identity": verb.identity, "basicAuthPassword": verb.basic_auth_password}))
    payload = {"configurationSlot": verb.slot, "connectionData": connection}
    return Plan.single("SetNetworkProfile", payload, status)


@out(v.UseNetworkProfile)
def use_network_profile(verb: v.UseNetworkProfile, t: Target) -> Plan[v.Status]:
    return _single_variable("OCPPCommCtrlr", "NetworkConfigurationPriority", ",".join(map(str, verb.priority)))


@out(v.InstallCertificate)
def install_certificate(verb: v.InstallCertificate, t: Target) -> Plan[v.Status]:
    if verb.certificate_type == "OEMRootCertificate" and t.version is not OcppVersion.V21:
        raise NotExpressible("OEMRootCertificate needs OCPP 2.1")
    payload = {"certificateType": verb.certificate_type, "certificate": verb.certificate}
    return Plan.single("InstallCertificate", payload, status)


@out(v.DeleteCertificate)
def delete_certificate(verb: v.DeleteCertificate, t: Target) -> Plan[v.Status]:
    return Plan.single("DeleteCertificate", {"certificateHashData": verb.hash.ocpp()}, status)


@out(v.GetInstalledCertificateIds)
def installed_certificates(verb: v.GetInstalledCertificateIds, t: Target) -> Plan[v.InstalledCertificates]:
    payload: Payload = {"certificateType": list(verb.certificate_types)} if verb.certificate_types else {}

    def decode(answer: Payload) -> v.InstalledCertificates:
        found = [
            v.InstalledCertificate(
                c["certificateType"],
                v.CertificateHash.from_ocpp(c["certificateHashData"]),
                tuple(v.CertificateHash.from_ocpp(h) for h in c.get("childCertificateHashData", [])),
            )
            for c in answer.get("certificateHashDataChain", [])
        ]
        return v.InstalledCertificates(answer["status"], found)

    return Plan.single("GetInstalledCertificateIds", payload, decode)


@out(v.CostUpdate)
def cost_update(verb: v.CostUpdate, t: Target) -> Plan[None]:
    payload = {"totalCost": float(verb.total_cost), "transactionId": verb.transaction_id}
    return Plan.single("CostUpdated", payload, lambda _answer: None)


# ----------------------------------------------------------------- display messages, customer information

_STATES_21 = frozenset({"Suspended", "Discharging"})


def in_driver_language(m: v.DisplayMessage) -> list[tuple[str | None, str]]:
    """The message's texts (language, content), the one to show first: the text in the driver's first
    language that has one (language1, then language2), else the message's own."""
    texts: list[tuple[str | None, str]] = [(m.language, m.content), *m.translations]
    i = in_language([language or "" for language, _content in texts], m.driver_languages)
    return texts if i is None else [texts[i], *texts[:i], *texts[i + 1 :]]


def message_info(m: v.DisplayMessage, t: Target) -> Payload:
    if m.state in _STATES_21 and t.version is not OcppVersion.V21:
        raise NotExpressible(f"the message state {m.state} needs OCPP 2.1")
    (language, text), *others = in_driver_language(m)
    content = drop_none({"format": m.format, "language": language, "content": text})
    extra = None
    if t.version is OcppVersion.V21 and others:  # 2.1 carries the other languages; 2.0.1 only the first
        extra = [{"format": m.format, "language": lang, "content": c} for lang, c in others[: v.MESSAGE_EXTRA_MAX]]
    return drop_none(
        {
            "id": m.id,
            "priority": m.priority,
            "state": m.state,
            "startDateTime": iso_or_none(m.start_at),
            "endDateTime": iso_or_none(m.end_at),
            "transactionId": m.transaction_id,
            "message": content,
            "messageExtra": extra,
        }
    )


@out(v.SetDisplayMessage)
def set_display_message(verb: v.SetDisplayMessage, t: Target) -> Plan[v.Status]:
    return Plan.single("SetDisplayMessage", {"message": message_info(verb.message, t)}, status)


@out(v.GetDisplayMessages)
def get_display_messages(verb: v.GetDisplayMessages, t: Target) -> Plan[v.RequestStarted]:
    if verb.state in _STATES_21 and t.version is not OcppVersion.V21:
        raise NotExpressible(f"the message state {verb.state} needs OCPP 2.1")
    rid = verb.request_id if verb.request_id is not None else next_request_id()
    payload = drop_none(
        {"requestId": rid, "id": list(verb.ids) or None, "priority": verb.priority, "state": verb.state}
    )
    return Plan.single("GetDisplayMessages", payload, lambda a: v.RequestStarted(a["status"], rid, reason(a)))


@out(v.ClearDisplayMessage)
def clear_display_message(verb: v.ClearDisplayMessage, t: Target) -> Plan[v.Status]:
    return Plan.single("ClearDisplayMessage", {"id": verb.message_id}, status)


@out(v.CustomerInformation)
def customer_information(verb: v.CustomerInformation, t: Target) -> Plan[v.RequestStarted]:
    named = [x for x in (verb.id_token, verb.customer_identifier, verb.customer_certificate) if x is not None]
    if len(named) != 1:
        raise NotExpressible("name the customer by exactly one of id_token, customer_identifier, customer_certificate")
    if not (verb.report or verb.clear):
        raise NotExpressible("ask for a report, a clear, or both")
    rid = verb.request_id if verb.request_id is not None else next_request_id()
    payload = drop_none(
        {
            "requestId": rid,
            "report": verb.report,
            "clear": verb.clear,
            "idToken": id_token(verb.id_token, verb.id_token_type) if verb.id_token is not None else None,
            "customerIdentifier": verb.customer_identifier,
            "customerCertificate": verb.customer_certificate.ocpp() if verb.customer_certificate else None,
        }
    )
    return Plan.single("CustomerInformation", payload, lambda a: v.RequestStarted(a["status"], rid, reason(a)))


# ----------------------------------------------------------------- tariff and cost (OCPP 2.1 only)


def _needs_21(t: Target, action: str) -> None:
    if t.version is not OcppVersion.V21:
        raise NotExpressible(f"{action} exists only in OCPP 2.1 (this station speaks {t.version.label})")


@out(v.SetDefaultTariff)
def set_default_tariff(verb: v.SetDefaultTariff, t: Target) -> Plan[v.Status]:
    _needs_21(t, "SetDefaultTariff")
    return Plan.single("SetDefaultTariff", {"evseId": verb.evse_id, "tariff": verb.tariff}, status)


@out(v.GetTariffs)
def get_tariffs(verb: v.GetTariffs, t: Target) -> Plan[v.TariffsHeld]:
    _needs_21(t, "GetTariffs")

    def decode(answer: Payload) -> v.TariffsHeld:
        held = [
            v.TariffAssignment(
                a["tariffId"], a["tariffKind"], tuple(a.get("evseIds", ())), a.get("validFrom"),
                tuple(a.get("idTokens", ())),
            )
            for a in answer.get("tariffAssignments", [])
        ]  # fmt: skip
        return v.TariffsHeld(answer["status"], held, reason(answer))

    return Plan.single("GetTariffs", {"evseId": verb.evse_id}, decode)


@out(v.ClearTariffs)
def clear_tariffs(verb: v.ClearTariffs, t: Target) -> Plan[v.TariffsCleared]:
    _needs_21(t, "ClearTariffs")
    payload = drop_none({"tariffIds": list(verb.tariff_ids) or None, "evseId": verb.evse_id})

    def decode(answer: Payload) -> v.TariffsCleared:
        return v.TariffsCleared(
            [v.TariffCleared(r.get("tariffId"), r["status"], reason(r)) for r in answer["clearTariffsResult"]]
        )

    return Plan.single("ClearTariffs", payload, decode)


@out(v.ChangeTransactionTariff)
def change_transaction_tariff(verb: v.ChangeTransactionTariff, t: Target) -> Plan[v.Status]:
    _needs_21(t, "ChangeTransactionTariff")
    payload = {"transactionId": verb.transaction_id, "tariff": verb.tariff}
    return Plan.single("ChangeTransactionTariff", payload, status)
