"""OCPP 2.0.1 and 2.1 station-initiated messages onto the domain (2.1 is a superset of 2.0.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocppd.csms.authorization import Presented
from ocppd.csms.billing.credit import Credit, CreditCheck
from ocppd.csms.billing.evidence import signed_values_v2x
from ocppd.csms.ca import COMBINED
from ocppd.csms.limits import TxLimit
from ocppd.csms.metering import parse_time, readings_v2x
from ocppd.csms.outbound import iso
from ocppd.csms.vat import check_vat_number
from ocppd.protocol.actions import station_initiated
from ocppd.protocol.versions import OcppVersion
from ocppd.rpc import Handler, Payload, Session

if TYPE_CHECKING:
    from ocppd.csms.service import Csms


def handlers(csms: Csms, version: OcppVersion) -> dict[str, Handler]:
    d = csms

    async def boot_notification(session: Session, p: Payload) -> Payload:
        station = p["chargingStation"]
        info = {
            "vendor": station["vendorName"],
            "model": station["model"],
            "serial_number": station.get("serialNumber"),
            "firmware_version": station.get("firmwareVersion"),
            "reason": p["reason"],
            **({"modem": station["modem"]} if "modem" in station else {}),
        }
        status, interval = await d.provisioning.boot(session.identity, session.label, info)
        session.context["registration"] = status
        await d.resets.booted(session.identity, p["reason"])  # the boot a reset was waiting for
        if status == "Accepted":
            d.station_booted(session.identity)
        return {"status": status, "currentTime": d.now_iso(), "interval": interval}

    async def heartbeat(session: Session, p: Payload) -> Payload:
        await d.provisioning.heartbeat(session.identity)
        return {"currentTime": d.now_iso()}

    async def status_notification(session: Session, p: Payload) -> Payload:
        at = parse_time(p["timestamp"])
        evse, connector, status = p["evseId"], p["connectorId"], p["connectorStatus"]
        await d.availability.status(session.identity, evse, connector, status, None, None, at, {})
        await d.alerts.status(session.identity, evse, connector, status, None, None, None, at)
        if status == "Available":
            await d.transactions.connector_available(session.identity, evse)
        return {}

    async def notify_monitoring_report(session: Session, p: Payload) -> Payload:
        await d.reporting.record(session.identity, "NotifyMonitoringReport", p, p.get("generatedAt"))
        await d.monitoring.report(session.identity, p)
        return {}

    async def notify_event(session: Session, p: Payload) -> Payload:
        await d.reporting.record(session.identity, "NotifyEvent", p, p.get("generatedAt"))
        await d.alerts.notify_event(session.identity, p)
        return {}

    async def authorize(session: Session, p: Payload) -> Payload:
        token = p["idToken"]
        verdict = await d.authorization.authorize(session.identity, Presented(token["idToken"], token["type"]))
        answer: Payload = {"idTokenInfo": verdict.id_token_info()}
        message = await d.billing.personal_message(session.identity, None, token["idToken"], verdict.languages)
        if message is not None and verdict.status == "Accepted":
            answer["idTokenInfo"]["personalMessage"] = message
        if "iso15118CertificateHashData" in p or "certificate" in p:  # ISO 15118 contract (C_50-C_52)
            status = await d.security.contract_status(p.get("iso15118CertificateHashData"), p.get("certificate"))
            answer["certificateStatus"] = status
            if status != "Accepted":
                answer["idTokenInfo"] = {**answer["idTokenInfo"], "status": "Invalid"}
        if answer["idTokenInfo"]["status"] == "Accepted":  # prepaid credit (TC_C_103/104)
            credit = await d.credit.check(session.identity, None, token["idToken"])
            answer["idTokenInfo"] = prepaid_info(answer["idTokenInfo"], credit)
        if version is OcppVersion.V21 and answer["idTokenInfo"]["status"] == "Accepted":  # TC_I_109
            tariff = await d.station_tariffs.driver_tariff(session.identity, None, token["idToken"])
            if tariff is not None:  # the driver's tariff, as a 2.1 Tariff
                answer["tariff"] = tariff
        return answer

    async def get_certificate_status(session: Session, p: Payload) -> Payload:
        status, result, reason = await d.security.certificate_status(p["ocspRequestData"])
        if status == "Accepted":
            return {"status": status, "ocspResult": result}
        return {"status": status, "statusInfo": {"reasonCode": "OCSPFailed", "additionalInfo": reason or ""}}

    async def get_15118_ev_certificate(session: Session, p: Payload) -> Payload:
        status, exi, reason = await d.security.ev_certificate(
            session.identity, p["iso15118SchemaVersion"], p["action"], p["exiRequest"]
        )
        answer: Payload = {"status": status, "exiResponse": exi}
        if reason:
            answer["statusInfo"] = {"reasonCode": reason}
        return answer

    async def transaction_event(session: Session, p: Payload) -> Payload:
        info = p["transactionInfo"]
        evse = p.get("evse") or {}
        token = p.get("idToken")
        verdict = await d.transactions.event(
            session.identity,
            version=session.label,
            event_type=p["eventType"],
            transaction_uid=info["transactionId"],
            seq_no=p["seqNo"],
            timestamp=parse_time(p["timestamp"]),
            evse_id=evse.get("id", 0),
            connector_id=evse.get("connectorId", 1),
            id_token=token["idToken"] if token else None,
            token_type=token["type"] if token else None,
            charging_state=info.get("chargingState"),
            stopped_reason=info.get("stoppedReason"),
            trigger_reason=p.get("triggerReason"),
            offline=bool(p.get("offline")),
            remote_start_id=info.get("remoteStartId"),
            reservation_id=p.get("reservationId"),
            readings=readings_v2x(p.get("meterValue", [])),
            payload=p,
        )
        if p.get("triggerReason") == "TxResumed":  # 2.1: its TxProfiles may be lost in the reboot
            d.smart.transaction_resumed(session.identity, info["transactionId"])
        signed = signed_values_v2x(p.get("meterValue", []), evse.get("id", 0))
        if signed:
            await d.billing.keep_signed(session.identity, info["transactionId"], signed)
        answer: Payload = {"idTokenInfo": verdict.id_token_info()} if verdict is not None else {}
        prepaid = None
        if token and verdict is not None and verdict.accepted and p["eventType"] != "Ended":
            credit = await d.credit.check(session.identity, evse.get("id"), token["idToken"], info["transactionId"])
            answer["idTokenInfo"] = prepaid_info(answer["idTokenInfo"], credit)
            prepaid = credit if credit.max_cost is not None and credit.status == "Accepted" else None
        if version is OcppVersion.V21:  # transaction limits: what the station set, what the CSMS gives
            limit = await d.tx_limits.on_event(
                session.identity, info["transactionId"], p["eventType"], p["seqNo"],
                remote_start_id=info.get("remoteStartId"), reported=info.get("transactionLimit"),
                prepaid=TxLimit(max_cost=float(prepaid.max_cost)) if prepaid and prepaid.max_cost else None,
                currency=prepaid.currency if prepaid else None,
            )  # fmt: skip
            if limit is not None:
                answer["transactionLimit"] = limit
        if "costDetails" in p:  # 2.1: the station's local cost, kept beside the CSMS's
            await d.station_tariffs.local_cost(
                session.identity, info["transactionId"], p["eventType"], p["seqNo"], parse_time(p["timestamp"]),
                p["costDetails"], info.get("tariffId"),
            )  # fmt: skip
        if p["eventType"] == "Ended":
            total = await d.billing.final_total(session.identity, info["transactionId"])
            if total is not None:
                answer["totalCost"] = total
        elif p["eventType"] == "Updated":  # the running cost, shown while charging
            total = await d.billing.running_total(session.identity, info["transactionId"], parse_time(p["timestamp"]))
            if total is not None:
                answer["totalCost"] = total
        if token and verdict is not None and verdict.status == "Accepted" and p["eventType"] == "Started":
            message = await d.billing.personal_message(session.identity, evse.get("id"), token["idToken"],
                                                       verdict.languages)  # fmt: skip
            if message is not None:
                answer["idTokenInfo"]["personalMessage"] = message
        return answer

    async def meter_values(session: Session, p: Payload) -> Payload:
        await d.transactions.meter_values(
            session.identity,
            evse_id=p["evseId"],
            connector_id=0,
            transaction_uid=None,
            readings=readings_v2x(p["meterValue"]),
        )
        return {}

    async def notify_report(session: Session, p: Payload) -> Payload:
        await d.device_model.report(session.identity, p.get("reportData", []))
        await d.reporting.record(session.identity, "NotifyReport", p, p.get("generatedAt"))
        if not p.get("tbc"):
            d.reporting.report_complete(session.identity, p["requestId"])
        return {}

    async def data_transfer(session: Session, p: Payload) -> Payload:
        return await d.reporting.data_transfer(session.identity, p)

    async def security_event_notification(session: Session, p: Payload) -> Payload:
        await d.security.security_event(session.identity, p)
        return {}

    async def sign_certificate(session: Session, p: Payload) -> Payload:
        certificate_type = p.get("certificateType") or COMBINED  # omitted: for both CSMS and ISO 15118 links
        accepted, reason, text = d.security.sign_certificate(
            session.identity, p["csr"], certificate_type, p.get("requestId")
        )
        if accepted:
            return {"status": "Accepted"}
        return {"status": "Rejected", "statusInfo": {"reasonCode": str(reason)[:20], "additionalInfo": text[:512]}}

    table: dict[str, Handler] = {
        "BootNotification": boot_notification,
        "Heartbeat": heartbeat,
        "StatusNotification": status_notification,
        "Authorize": authorize,
        "TransactionEvent": transaction_event,
        "MeterValues": meter_values,
        "NotifyReport": notify_report,
        "DataTransfer": data_transfer,
        "SignCertificate": sign_certificate,
        "SecurityEventNotification": security_event_notification,
        "GetCertificateStatus": get_certificate_status,
        "Get15118EVCertificate": get_15118_ev_certificate,
    }

    async def reservation_status_update(session: Session, p: Payload) -> Payload:
        await d.reservations.status_update(session.identity, p["reservationId"], p["reservationUpdateStatus"], p)
        return {}

    table["ReservationStatusUpdate"] = reservation_status_update
    for action in RECORDED:
        if action in station_initiated(version):
            table[action] = d.recorder(action)
    for action, answer in REFUSED.items():
        if action in station_initiated(version):
            table[action] = d.recorder(action, answer.get(version.label, answer["*"]))
    table["NotifyEvent"] = notify_event  # recorded, and turned into alerts
    table["NotifyMonitoringReport"] = notify_monitoring_report  # recorded, and the monitors kept

    async def notify_display_messages(session: Session, p: Payload) -> Payload:
        await d.reporting.record(session.identity, "NotifyDisplayMessages", p)
        await d.display_messages.notify(session.identity, p)
        return {}

    async def notify_customer_information(session: Session, p: Payload) -> Payload:
        await d.reporting.record(session.identity, "NotifyCustomerInformation", p, p.get("generatedAt"))
        await d.customer_info.notify(session.identity, p)
        return {}

    table["NotifyDisplayMessages"] = notify_display_messages  # recorded, and reconciled with what is kept
    table["NotifyCustomerInformation"] = notify_customer_information  # recorded, and assembled per request
    table["LogStatusNotification"] = d.log_status_recorder("LogStatusNotification")
    table["FirmwareStatusNotification"] = d.firmware_status_recorder("FirmwareStatusNotification")
    table.update(d.smart.v2x_handlers())  # profile reports and charging limits: the smart-charging domain

    async def vat_number_validation(session: Session, p: Payload) -> Payload:  # TC_C_108
        await d.reporting.record(session.identity, "VatNumberValidation", p)
        check = check_vat_number(p["vatNumber"])
        answer: Payload = {"vatNumber": p["vatNumber"], "status": "Accepted" if check.valid else "Rejected"}
        if "evseId" in p:
            answer["evseId"] = p["evseId"]
        if not check.valid:
            answer["statusInfo"] = {"reasonCode": check.reason_code, "additionalInfo": check.detail}
        return answer  # no company: ocppd checks the number offline and knows no register's name and address

    async def get_certificate_chain_status(session: Session, p: Payload) -> Payload:
        return {"certificateStatus": await d.security.chain_status(p["certificateStatusRequests"])}

    if version is OcppVersion.V21:
        table["VatNumberValidation"] = vat_number_validation
        table["GetCertificateChainStatus"] = get_certificate_chain_status
    return table


def prepaid_info(info: Payload, credit: CreditCheck) -> Payload:
    """idTokenInfo for a prepaid token: NoCredit when its credit cannot pay here, and a cache expiry of
    now (the balance changes with every session, so the station must not trust an old answer)."""
    if not credit.prepaid:
        return info
    out = {**info, "cacheExpiryDateTime": iso(Credit.cache_expiry())}
    if credit.status != "Accepted":
        out["status"] = credit.status
    return out


# Reports whose only possible answer is an empty one: recorded for the operator (events table, SSE).
RECORDED = (
    "FirmwareStatusNotification",
    "LogStatusNotification",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "PublishFirmwareStatusNotification",
    # OCPP 2.1
    "BatterySwap",
    "ClosePeriodicEventStream",
    "NotifyDERAlarm",
    "NotifyDERStartStop",
    "NotifyPeriodicEventStream",  # a SEND; only arrives if a station streams without asking
    "NotifyPriorityCharging",
    "NotifySettlement",
    "ReportDERControl",
)

_NOT_SUPPORTED = {"reasonCode": "NotSupported"}

# Requests for something ocppd does not do (yet): recorded, and answered with the spec's refusal rather
# than an "Accepted" that would promise it. Keyed by version label, "*" for every version.
REFUSED: dict[str, dict[str, Payload]] = {
    # No smart charging yet: the CSMS will not send a schedule for the EV's needs (2.1 has a status for it).
    "NotifyEVChargingNeeds": {
        "*": {"status": "Rejected", "statusInfo": _NOT_SUPPORTED},
        "2.1": {"status": "NoChargingProfile", "statusInfo": _NOT_SUPPORTED},
    },
    "NotifyEVChargingSchedule": {"*": {"status": "Rejected", "statusInfo": _NOT_SUPPORTED}},
    "PullDynamicScheduleUpdate": {"*": {"status": "Rejected", "statusInfo": _NOT_SUPPORTED}},
    # Periodic event streams are not taken: the station reports by NotifyEvent instead.
    "OpenPeriodicEventStream": {"*": {"status": "Rejected", "statusInfo": _NOT_SUPPORTED}},
}
# Answered CALLERROR NotSupported (no handler), as no schema-valid refusal exists without the feature.
NOT_SUPPORTED: tuple[str, ...] = ()
