"""OCPP 2.0.1 and 2.1 station-initiated messages onto the domain (2.1 is a superset of 2.0.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocppd.csms.metering import parse_time, readings_v2x
from ocppd.csms.reporting import report_rows
from ocppd.protocol.actions import station_initiated
from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.protocol.validation import schemas
from ocppd.protocol.versions import OcppVersion
from ocppd.rpc import Handler, Payload, Session

if TYPE_CHECKING:
    from ocppd.csms.service import Csms


def handlers(csms: Csms, version: OcppVersion) -> dict[str, Handler]:
    d = csms

    def require_accepted(session: Session) -> None:
        # B02.FR.09 / B03.FR.08: while Pending or Rejected the CSMS answers other messages with SecurityError.
        registration = session.context.get("registration")
        if registration is not None and registration != "Accepted":
            raise OcppError(ErrorKind.SECURITY_ERROR, f"station registration is {registration}")

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
        status, interval = await d.provisioning.boot(session.identity, session.version.label, info)
        session.context["registration"] = status
        return {"status": status, "currentTime": d.now_iso(), "interval": interval}

    async def heartbeat(session: Session, p: Payload) -> Payload:
        await d.provisioning.heartbeat(session.identity)
        return {"currentTime": d.now_iso()}

    async def status_notification(session: Session, p: Payload) -> Payload:
        require_accepted(session)
        await d.availability.status(
            session.identity,
            p["evseId"],
            p["connectorId"],
            p["connectorStatus"],
            None,
            None,
            parse_time(p["timestamp"]),
            {},
        )
        return {}

    async def authorize(session: Session, p: Payload) -> Payload:
        require_accepted(session)
        verdict = await d.authorization.authorize(p["idToken"]["idToken"])
        return {"idTokenInfo": verdict.id_token_info()}

    async def transaction_event(session: Session, p: Payload) -> Payload:
        require_accepted(session)
        info = p["transactionInfo"]
        evse = p.get("evse") or {}
        token = p.get("idToken")
        verdict = await d.transactions.event(
            session.identity,
            version=session.version.label,
            event_type=p["eventType"],
            transaction_uid=info["transactionId"],
            seq_no=p["seqNo"],
            timestamp=parse_time(p["timestamp"]),
            evse_id=evse.get("id", 0),
            connector_id=evse.get("connectorId", 1),
            id_token=token["idToken"] if token else None,
            charging_state=info.get("chargingState"),
            stopped_reason=info.get("stoppedReason"),
            readings=readings_v2x(p.get("meterValue", [])),
            payload=p,
        )
        return {"idTokenInfo": verdict.id_token_info()} if verdict is not None else {}

    async def meter_values(session: Session, p: Payload) -> Payload:
        require_accepted(session)
        await d.transactions.meter_values(
            session.identity,
            evse_id=p["evseId"],
            connector_id=0,
            transaction_uid=None,
            readings=readings_v2x(p["meterValue"]),
        )
        return {}

    async def notify_report(session: Session, p: Payload) -> Payload:
        await d.reporting.variables(session.identity, report_rows(p.get("reportData", [])))
        await d.reporting.record(session.identity, "NotifyReport", p, p.get("generatedAt"))
        return {}

    async def data_transfer(session: Session, p: Payload) -> Payload:
        return await d.reporting.data_transfer(session.identity, p)

    async def sign_certificate(session: Session, p: Payload) -> Payload:
        await d.reporting.record(session.identity, "SignCertificate", p)
        return {"status": "Rejected", "statusInfo": {"reasonCode": "NoCA"}}

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
    }
    # Everything else a station may report is recorded for the operator and acknowledged, when its
    # answer needs no decision (an empty answer, or a plain "Accepted").
    for action in sorted(station_initiated(version) - table.keys()):
        if acknowledgement(version, action) is not None:
            table[action] = d.recorder(action, acknowledgement(version, action))
    return table


def acknowledgement(version: OcppVersion, action: str) -> Payload | None:
    """The answer that merely acknowledges ``action``, or None if its answer needs a real decision."""
    schema_set = schemas(version)
    if not schema_set.has(action):
        return None
    try:
        response = schema_set.schema(action, response=True)
    except KeyError:
        return {}  # a SEND-only message has no answer
    required = set(response.get("required", []))
    if not required:
        return {}
    if required == {"status"}:
        status = response["properties"]["status"]
        enum = status.get("enum") or response.get("definitions", {}).get(
            status.get("$ref", "").rsplit("/", 1)[-1], {}
        ).get("enum", [])
        if "Accepted" in enum:
            return {"status": "Accepted"}
    return None
