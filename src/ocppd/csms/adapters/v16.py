"""OCPP 1.6 (JSON) station-initiated messages onto the domain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocppd.csms.authorization import Presented
from ocppd.csms.billing.evidence import signed_values_v16
from ocppd.csms.ca import CHARGING_STATION
from ocppd.csms.metering import parse_time, readings_v16
from ocppd.rpc import Handler, Payload, Session

if TYPE_CHECKING:
    from ocppd.csms.service import Csms

# Notifications recorded for the operator; their answer is empty (the spec allows nothing else).
RECORDED = (
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "LogStatusNotification",
    "SignedFirmwareStatusNotification",
)


def handlers(csms: Csms) -> dict[str, Handler]:
    d = csms

    async def boot_notification(session: Session, p: Payload) -> Payload:
        info = {
            "vendor": p["chargePointVendor"],
            "model": p["chargePointModel"],
            "serial_number": p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber"),
            "firmware_version": p.get("firmwareVersion"),
            **{k: p[k] for k in ("iccid", "imsi", "meterType", "meterSerialNumber") if k in p},
        }
        status, interval = await d.provisioning.boot(session.identity, session.label, info)
        session.context["registration"] = status
        await d.resets.booted(session.identity, None)  # the boot a reset was waiting for (1.6: no reason)
        if status == "Accepted":
            d.station_booted(session.identity)
        return {"status": status, "currentTime": d.now_iso(), "interval": interval}

    async def heartbeat(session: Session, p: Payload) -> Payload:
        await d.provisioning.heartbeat(session.identity)
        return {"currentTime": d.now_iso()}

    async def status_notification(session: Session, p: Payload) -> Payload:
        connector = p["connectorId"]
        extra = {k: p[k] for k in ("vendorId", "vendorErrorCode") if k in p}
        at = parse_time(p["timestamp"]) if "timestamp" in p else d.now()
        status, error_code, info = p["status"], p["errorCode"], p.get("info")
        await d.availability.status(session.identity, connector, connector, status, error_code, info, at, extra)
        await d.alerts.status(session.identity, connector, connector, status, error_code, p.get("vendorErrorCode"),
                              info, at)  # fmt: skip
        if status == "Available":
            await d.transactions.connector_available(session.identity, connector)
        return {}

    async def authorize(session: Session, p: Payload) -> Payload:
        verdict = await d.authorization.authorize(session.identity, Presented(p["idTag"]))
        return {"idTagInfo": verdict.id_tag_info()}

    async def start_transaction(session: Session, p: Payload) -> Payload:
        outcome = await d.transactions.start(
            session.identity,
            evse_id=p["connectorId"],
            connector_id=p["connectorId"],
            id_token=p["idTag"],
            started_at=parse_time(p["timestamp"]),
            meter_start_wh=float(p["meterStart"]),
            version=session.label,
            reservation_id=p.get("reservationId"),
        )
        return {"transactionId": outcome.pk, "idTagInfo": outcome.verdict.id_tag_info()}

    async def stop_transaction(session: Session, p: Payload) -> Payload:
        verdict = await d.transactions.stop(
            session.identity,
            transaction_uid=str(p["transactionId"]),
            stopped_at=parse_time(p["timestamp"]),
            meter_stop_wh=float(p["meterStop"]),
            reason=p.get("reason", "Local"),
            id_token=p.get("idTag"),
            readings=readings_v16(p.get("transactionData", [])),
            payload=p,
        )
        signed = signed_values_v16(p.get("transactionData", []), 0)
        if signed:
            await d.billing.keep_signed(session.identity, str(p["transactionId"]), signed)
        return {"idTagInfo": verdict.id_tag_info()} if verdict is not None else {}

    async def meter_values(session: Session, p: Payload) -> Payload:
        tx = p.get("transactionId")
        await d.transactions.meter_values(
            session.identity,
            evse_id=p["connectorId"],
            connector_id=p["connectorId"],
            transaction_uid=str(tx) if tx is not None else None,
            readings=readings_v16(p["meterValue"]),
        )
        signed = signed_values_v16(p["meterValue"], p["connectorId"])
        if signed:
            await d.billing.keep_signed(session.identity, str(tx) if tx is not None else None, signed)
        return {}

    async def data_transfer(session: Session, p: Payload) -> Payload:
        return await d.reporting.data_transfer(session.identity, p)

    async def security_event_notification(session: Session, p: Payload) -> Payload:
        await d.security.security_event(session.identity, p)
        return {}

    async def sign_certificate(session: Session, p: Payload) -> Payload:
        # The 1.6 security extension signs only the charge point certificate; 1.6 has no statusInfo.
        accepted, _, _ = d.security.sign_certificate(session.identity, p["csr"], CHARGING_STATION)
        return {"status": "Accepted" if accepted else "Rejected"}

    table: dict[str, Handler] = {
        "BootNotification": boot_notification,
        "Heartbeat": heartbeat,
        "StatusNotification": status_notification,
        "Authorize": authorize,
        "StartTransaction": start_transaction,
        "StopTransaction": stop_transaction,
        "MeterValues": meter_values,
        "DataTransfer": data_transfer,
        "SignCertificate": sign_certificate,
        "SecurityEventNotification": security_event_notification,
    }
    for action in RECORDED:
        table[action] = d.recorder(action)
    for action in ("DiagnosticsStatusNotification", "LogStatusNotification"):
        table[action] = d.log_status_recorder(action)
    for action in ("FirmwareStatusNotification", "SignedFirmwareStatusNotification"):
        table[action] = d.firmware_status_recorder(action)
    return table
