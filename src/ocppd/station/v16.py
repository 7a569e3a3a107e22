"""OCPP 1.6J: the station's messages and its answers to every Central System request.

Sections cited are from OCPP 1.6 edition 2 and the 1.6 security whitepaper (edition 3).
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from ocppd.rpc.session import Payload, Session
from ocppd.smart.schedule import MAX, TX, TX_DEFAULT, Profile, format_time, parse_time
from ocppd.station import files, firmware
from ocppd.station.adapter import Adapter
from ocppd.station.model import AVAILABLE, FAULTED, UNAVAILABLE, Connector, Reservation, Transaction
from ocppd.station.store import QueuedMessage

if TYPE_CHECKING:
    from ocppd.station.station import Station

_PURPOSE = {"ChargePointMaxProfile": MAX, "TxDefaultProfile": TX_DEFAULT, "TxProfile": TX}
_BOOT_REASON_TO_STATUS = {"FirmwareUpdate": "Installed"}


def _sampled(values: list[dict[str, Any]], context: str) -> list[dict[str, Any]]:
    """Neutral samples -> 1.6 SampledValue (values are strings in 1.6)."""
    out = []
    for v in values:
        item = {"value": str(v["value"]), "context": context, "measurand": v["measurand"], "location": "Outlet"}
        if "unit" in v:
            item["unit"] = v["unit"]
        if "phase" in v:
            item["phase"] = v["phase"]
        out.append(item)
    return out


class Adapter16(Adapter):
    def __init__(self, station: Station) -> None:
        super().__init__(station)
        self.certificates: dict[str, tuple[str, str]] = {}  # serial -> (type, pem)
        self._signed_firmware_request: int | None = None  # the SignedUpdateFirmware being installed

    # ================================================================ station -> CSMS
    def boot_payload(self, reason: str | None) -> Payload:
        cfg = self.station.config
        payload = {
            "chargePointVendor": cfg.vendor[:20],
            "chargePointModel": cfg.model[:20],
            "firmwareVersion": cfg.firmware[:50],
            "meterType": "SimMeter",
        }
        if cfg.serial:
            payload["chargePointSerialNumber"] = cfg.serial[:25]
        if reason == "FirmwareUpdate":
            signed_request, outcome = self._signed_firmware_request, self.station.firmware_outcome
            if signed_request is None:
                self.station.run_after_boot(lambda: self._firmware_status(outcome))
            else:
                self.station.run_after_boot(lambda: self._signed_firmware_status(outcome, signed_request))
        return payload

    def _status_payload(self, c: Connector | None) -> Payload:
        st = self.station
        if c is None:
            status = AVAILABLE if st.operative else UNAVAILABLE
            return {"connectorId": 0, "errorCode": "NoError", "status": status, "timestamp": st.now_iso()}
        return {
            "connectorId": c.number,
            "errorCode": c.error_code if c.status == FAULTED else "NoError",
            "status": c.status,
            "timestamp": st.now_iso(),
        }

    def send_status(self, connector: Connector | None, *, force: bool = False) -> None:
        if connector is not None:
            connector.reported_status = connector.status
        self.station.send_later("StatusNotification", self._status_payload(connector))

    def status_changed(self, c: Connector, old: str | None, new: str) -> None:
        self.station.send_later("StatusNotification", self._status_payload(c))

    async def authorize(self, id_tag: str) -> tuple[str | None, dict[str, Any] | None]:
        answer = await self.station.call("Authorize", {"idTag": id_tag})
        if answer is None:
            return None, None
        info = answer["idTagInfo"]
        return info["status"], info

    def tx_started(self, c: Connector, tx: Transaction, trigger: str) -> None:
        payload: Payload = {
            "connectorId": c.number,
            "idTag": tx.id_tag,
            "meterStart": int(tx.meter_start_wh),
            "timestamp": format_time(tx.start),
        }
        if tx.reservation_id is not None:
            payload["reservationId"] = tx.reservation_id
        self.station.enqueue("StartTransaction", payload, tx.ref)

    def tx_ended(self, c: Connector, tx: Transaction, reason: str) -> None:
        now = self.now()
        payload: Payload = {
            "meterStop": int(c.energy_wh),
            "timestamp": format_time(now),
            "reason": reason,
            "idTag": tx.id_tag,
        }
        measurands = self.settings.measurands("stop_tx_sampled")
        if measurands:
            payload["transactionData"] = self._signed(c, tx, [
                {"timestamp": format_time(tx.start),
                 "sampledValue": [{"value": str(int(tx.meter_start_wh)), "context": "Transaction.Begin",
                                   "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]},
                {"timestamp": format_time(now), "sampledValue": _sampled(c.sample(measurands), "Transaction.End")},
            ])  # fmt: skip
        self.station.enqueue("StopTransaction", payload, tx.ref)

    def _signed(self, c: Connector, tx: Transaction | None, meter: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """With signing meters, each energy register reading is followed by its OCMF text as a
        ``SignedData`` sampled value; the key is the configuration key MeterPublicKey[connector]."""
        meters = self.station.meters
        if meters is None:
            return meter
        for mv in meter:
            at = parse_time(mv["timestamp"]) or self.now()
            signed = [
                {"value": meters.ocmf(self.station.meter_id(c), float(sv["value"]), at, sv["context"],
                                      tx.id_tag if tx else None),
                 "context": sv["context"], "format": "SignedData", "measurand": sv["measurand"], "location": "Outlet"}
                for sv in mv["sampledValue"]
                if sv["measurand"] == "Energy.Active.Import.Register"
            ]  # fmt: skip
            mv["sampledValue"] = [*mv["sampledValue"], *signed]
        return meter

    def meter_values(self, c: Connector, context: str, at: float | None = None) -> None:
        measurands = self.settings.measurands(
            "aligned_measurands" if context == "Sample.Clock" else "sampled_measurands"
        )
        if not measurands:
            return
        stamp = format_time(at) if at else self.station.now_iso()
        sampled = _sampled(c.sample(measurands), context)
        meter = self._signed(c, c.tx, [{"timestamp": stamp, "sampledValue": sampled}])
        payload: Payload = {"connectorId": c.number, "meterValue": meter}
        if c.tx is not None and context != "Trigger":
            # Transaction-related: queued, and its transactionId filled in when it is sent (§4.7)
            self.station.enqueue("MeterValues", payload, c.tx.ref)
        else:
            if c.tx is not None and c.tx.id is not None:
                payload["transactionId"] = int(c.tx.id)
            self.station.send_later("MeterValues", payload)

    def report_interrupted(self, c: Connector, data: dict[str, Any]) -> None:
        payload = {
            "meterStop": int(c.energy_wh), "timestamp": self.station.now_iso(), "reason": "PowerLoss",
            "idTag": data["id_tag"],
        }  # fmt: skip
        self.station.enqueue("StopTransaction", payload, data["ref"])

    def prepare_queued(self, message: QueuedMessage, tx_map: dict[str, str]) -> Payload | None:
        if message.action == "StartTransaction" or message.tx_ref is None:
            return message.payload
        real = tx_map.get(message.tx_ref)
        if real is None:
            return None
        return {**message.payload, "transactionId": int(real)}

    def on_queued_answer(self, message: QueuedMessage, answer: Payload) -> None:
        if message.action != "StartTransaction" or message.tx_ref is None:
            return
        self.station.map_transaction(message.tx_ref, str(answer["transactionId"]))
        status = answer["idTagInfo"]["status"]
        c = self.station.find_tx(message.tx_ref)
        # §5.2: a transaction the Central System does not authorise is stopped (StopTransactionOnInvalidId)
        if status != "Accepted" and c is not None and self.settings["stop_tx_on_invalid_id"]:
            self.station.stop_transaction(c.number, "DeAuthorized")

    async def _firmware_status(self, status: str) -> None:
        self.station.firmware_status = status
        await self.station.call("FirmwareStatusNotification", {"status": status})

    # ================================================================ CSMS -> station
    def _connector_or_none(self, number: int) -> Connector | None:
        try:
            return self.station.connector(number)
        except KeyError:
            return None

    async def on_RemoteStartTransaction(self, session: Session, p: Payload) -> Payload:
        st = self.station
        id_tag = p["idTag"]
        number = p.get("connectorId")
        if number is None:
            candidates = [c for c in st.connectors if st.can_start(c, id_tag)]
            c = candidates[0] if candidates else None
        else:
            c = self._connector_or_none(number)
        if c is None or not st.can_start(c, id_tag):
            return {"status": "Rejected"}
        profile = p.get("chargingProfile")
        if profile is not None and profile["chargingProfilePurpose"] != "TxProfile":
            return {"status": "Rejected"}

        async def start() -> None:
            if st.settings["authorize_remote"] and await st.authorize(id_tag) != "Accepted":
                return
            if not st.can_start(c, id_tag):
                return
            tx = st.begin_transaction(c.number, id_tag, trigger="RemoteStart")
            if profile is not None:
                st.profiles.install(Profile.from_ocpp({**profile, "transactionId": None}, c.number, tx.start))
                st.update_meters()

        st.after(0, start)  # after the answer has gone out (§5.11)
        return {"status": "Accepted"}

    async def on_RemoteStopTransaction(self, session: Session, p: Payload) -> Payload:
        c = self.station.find_tx(str(p["transactionId"]))
        if c is None:
            return {"status": "Rejected"}
        self.station.after(0, lambda: self.station.stop_transaction(c.number, "Remote"))
        return {"status": "Accepted"}

    async def on_Reset(self, session: Session, p: Payload) -> Payload:
        kind = p["type"]  # Soft | Hard
        self.station.after(0.05, lambda: self.station.reboot("RemoteReset", f"{kind}Reset"))
        return {"status": "Accepted"}

    async def on_ChangeAvailability(self, session: Session, p: Payload) -> Payload:
        st = self.station
        number = p["connectorId"]
        operative = p["type"] == "Operative"
        if number == 0:
            status = st.change_availability(st.connectors, operative, whole=True)
            self.send_status(None)
            return {"status": status}
        c = self._connector_or_none(number)
        if c is None:
            return {"status": "Rejected"}
        return {"status": st.change_availability([c], operative, whole=False)}

    async def on_ChangeConfiguration(self, session: Session, p: Payload) -> Payload:
        st = self.station
        key, value = p["key"], p["value"]
        if key == "AuthorizationKey":  # the security whitepaper: the password's octets, hex-encoded
            if not st.security.set_password(value, hex_encoded=True):
                return {"status": "Rejected"}
            st.after(0.05, lambda: st.reconnect("new Basic-auth password"))
            return {"status": "Accepted"}
        if key == "SecurityProfile":  # takes effect at the next reset (TC_083)
            try:
                ok = st.security.set_profile(int(value))
            except ValueError:
                ok = False
            return {"status": "Accepted" if ok else "Rejected"}
        status, _ = self.settings.change_configuration(key, value)
        return {"status": status}

    async def on_GetConfiguration(self, session: Session, p: Payload) -> Payload:
        known, unknown = self.settings.get_configuration(p.get("key"))
        meters = self.station.meters
        if meters is not None:  # the fiscal meters' keys, one per connector (read-only)
            keys = {f"MeterPublicKey[{c.number}]": meters.public_key_hex(c.number) for c in self.station.connectors}
            asked = p.get("key")
            known = [*known, *({"key": k, "readonly": True, "value": v} for k, v in keys.items()
                               if asked is None or k in asked)]  # fmt: skip
            unknown = [k for k in unknown if k not in keys]
        answer: Payload = {"configurationKey": known}
        if unknown:
            answer["unknownKey"] = unknown
        return answer

    async def on_ClearCache(self, session: Session, p: Payload) -> Payload:
        if not self.settings["auth_cache_enabled"]:
            return {"status": "Rejected"}
        self.station.auth.cache.clear()
        return {"status": "Accepted"}

    async def on_UnlockConnector(self, session: Session, p: Payload) -> Payload:
        c = self._connector_or_none(p["connectorId"])
        if c is None:
            return {"status": "NotSupported"}
        if c.tx is not None:  # §5.18: a running transaction is stopped first
            self.station.stop_transaction(c.number, "UnlockCommand")
        return {"status": "Unlocked"}

    # -------------------------------------------------------------- smart charging (§3.13)
    async def on_SetChargingProfile(self, session: Session, p: Payload) -> Payload:
        st = self.station
        if "SmartCharging" not in self.settings["supported_profiles"]:
            return {"status": "NotSupported"}
        number = p["connectorId"]
        data = p["csChargingProfiles"]
        purpose = _PURPOSE[data["chargingProfilePurpose"]]
        c = self._connector_or_none(number) if number else None
        if number and c is None:
            return {"status": "Rejected"}
        if purpose == MAX and number != 0:
            return {"status": "Rejected"}
        if purpose == TX:
            if c is None or c.tx is None or not self.settings["accept_tx_profiles"]:
                return {"status": "Rejected"}
            if "transactionId" in data and str(data["transactionId"]) not in (c.tx.id, c.tx.ref):
                return {"status": "Rejected"}
        if data["stackLevel"] > self.settings["max_stack_level"]:
            return {"status": "Rejected"}
        if len(data["chargingSchedule"]["chargingSchedulePeriod"]) > self.settings["max_periods"]:
            return {"status": "Rejected"}
        if data["chargingSchedule"].get("chargingRateUnit") not in self.settings.rate_units():
            return {"status": "Rejected"}  # ChargingScheduleAllowedChargingRateUnit
        st.update_meters()  # integrate up to now under the old limit
        st.profiles.install(Profile.from_ocpp(data, number, time.time()))
        st.update_meters()
        st._meter_wake.set()
        return {"status": "Accepted"}

    async def on_ClearChargingProfile(self, session: Session, p: Payload) -> Payload:
        st = self.station
        st.update_meters()
        purpose = p.get("chargingProfilePurpose")
        removed = st.profiles.clear(
            profile_id=p.get("id"),
            evse=p.get("connectorId"),
            purpose=_PURPOSE[purpose] if purpose else None,
            stack_level=p.get("stackLevel"),
        )
        st.update_meters()
        st._meter_wake.set()
        return {"status": "Accepted" if removed else "Unknown"}

    async def on_GetCompositeSchedule(self, session: Session, p: Payload) -> Payload:
        st = self.station
        number = p["connectorId"]
        c = self._connector_or_none(number) if number else None
        if number and c is None:
            return {"status": "Rejected"}
        unit = "A" if p.get("chargingRateUnit") == "A" else "W"
        now = float(int(time.time()))
        max_power = c.max_power_w if c is not None else sum(x.max_power_w for x in st.connectors)
        periods = st.profiles.composite(number, now, p["duration"], unit,
                                        c.active_tx() if c else None, max_power)  # fmt: skip
        return {
            "status": "Accepted",
            "connectorId": number,
            "scheduleStart": format_time(now),
            "chargingSchedule": {
                "duration": p["duration"],
                "startSchedule": format_time(now),
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": periods,
            },
        }

    # -------------------------------------------------------------- local list (§3.5)
    async def on_GetLocalListVersion(self, session: Session, p: Payload) -> Payload:
        if not self.settings["local_list_enabled"]:
            return {"listVersion": -1}
        return {"listVersion": self.station.auth.version}

    async def on_SendLocalList(self, session: Session, p: Payload) -> Payload:
        if not self.settings["local_list_enabled"]:
            return {"status": "NotSupported"}
        items = [(e["idTag"], e.get("idTagInfo")) for e in p.get("localAuthorizationList", [])]
        if len(items) > self.settings["send_local_list_max"]:
            return {"status": "Failed"}
        status = self.station.auth.update(p["updateType"], p["listVersion"], items, self.settings["local_list_max"])
        self.settings.force("local_list_entries", len(self.station.auth.entries))
        return {"status": status}

    # -------------------------------------------------------------- reservations (§3.12)
    async def on_ReserveNow(self, session: Session, p: Payload) -> Payload:
        st = self.station
        number = p["connectorId"]
        if number == 0 and not self.settings["reserve_connector_zero"]:
            return {"status": "Rejected"}
        c = self._connector_or_none(number) if number else st.connectors[0]
        if c is None:
            return {"status": "Rejected"}
        reservation = Reservation(p["reservationId"], p["idTag"], parse_time(p["expiryDate"]) or 0.0,
                                  p.get("parentIdTag"))  # fmt: skip
        return {"status": st.reserve(c, reservation)}

    async def on_CancelReservation(self, session: Session, p: Payload) -> Payload:
        return {"status": "Accepted" if self.station.cancel_reservation(p["reservationId"]) else "Rejected"}

    # -------------------------------------------------------------- remote trigger (§5.17)
    async def on_TriggerMessage(self, session: Session, p: Payload) -> Payload:
        return {"status": self._trigger(p["requestedMessage"], p.get("connectorId"))}

    async def on_ExtendedTriggerMessage(self, session: Session, p: Payload) -> Payload:
        requested = p["requestedMessage"]
        if requested == "LogStatusNotification":
            self.station.send_later("LogStatusNotification", {"status": "Idle"})
            return {"status": "Accepted"}
        if requested == "SignChargePointCertificate":
            st = self.station
            st.after(0, lambda: st.call("SignCertificate", {"csr": st.security.csr("ChargingStationCertificate")}))
            return {"status": "Accepted"}
        return {"status": self._trigger(requested, p.get("connectorId"))}

    def _trigger(self, requested: str, number: int | None) -> str:
        st = self.station
        connectors: list[Connector | None]
        if number is None:
            connectors = list(st.connectors)
        elif number == 0:
            connectors = [None]
        else:
            c = self._connector_or_none(number)
            if c is None:
                return "Rejected"
            connectors = [c]
        if requested == "BootNotification":
            st.after(0, lambda: st.call("BootNotification", self.boot_payload(None)))
        elif requested == "Heartbeat":
            st.send_later("Heartbeat", {})
        elif requested == "StatusNotification":
            targets = [None, *st.connectors] if number is None else connectors
            for c in targets:
                st.send_later("StatusNotification", self._status_payload(c))
        elif requested == "MeterValues":
            st.update_meters()
            for c in connectors if number else st.connectors:
                if c is not None:
                    self.meter_values(c, "Trigger")
        elif requested == "FirmwareStatusNotification":
            st.send_later("FirmwareStatusNotification", {"status": st.firmware_status})
        elif requested == "DiagnosticsStatusNotification":
            st.send_later("DiagnosticsStatusNotification", {"status": st.diagnostics_status})
        else:
            return "NotImplemented"
        return "Accepted"

    # -------------------------------------------------------------- firmware and diagnostics (§3.9, §3.10)
    async def on_UpdateFirmware(self, session: Session, p: Payload) -> Payload:
        st = self.station
        start = parse_time(p["retrieveDate"]) or 0.0
        delay = max(0.0, min(start - time.time(), 3600.0))

        async def walk() -> None:
            self._signed_firmware_request = None
            await firmware.install(st, p["location"], self._firmware_status, extended=False)

        st.after(delay, walk)  # "Installed" follows the next boot
        return {}

    async def on_GetDiagnostics(self, session: Session, p: Payload) -> Payload:
        st = self.station
        filename = f"diagnostics-{st.identity}-{int(time.time())}.log"

        async def walk() -> None:
            st.diagnostics_status = "Uploading"
            await st.call("DiagnosticsStatusNotification", {"status": "Uploading"})
            done = await files.upload(p["location"], filename, files.log_text(st.identity, "diagnostics"))
            await _sleep(st.config.step_delay)
            st.diagnostics_status = "UploadFailed" if done is False else "Uploaded"
            await st.call("DiagnosticsStatusNotification", {"status": st.diagnostics_status})
            await _sleep(st.config.step_delay)
            st.diagnostics_status = "Idle"

        st.after(0, walk)
        return {"fileName": filename}

    async def on_GetLog(self, session: Session, p: Payload) -> Payload:
        st = self.station
        request_id = p["requestId"]

        filename = f"{p['logType'].lower()}-{st.identity}.log"

        async def walk() -> None:
            await st.call("LogStatusNotification", {"status": "Uploading", "requestId": request_id})
            done = await files.upload(p["log"]["remoteLocation"], filename, files.log_text(st.identity, p["logType"]))
            await _sleep(st.config.step_delay)
            status = "UploadFailure" if done is False else "Uploaded"
            await st.call("LogStatusNotification", {"status": status, "requestId": request_id})

        st.after(0, walk)
        return {"status": "Accepted", "filename": filename}

    async def on_SignedUpdateFirmware(self, session: Session, p: Payload) -> Payload:
        st = self.station
        request_id = p["requestId"]

        image = p["firmware"]

        async def walk() -> None:
            self._signed_firmware_request = request_id
            await firmware.install(st, image["location"], lambda s: self._signed_firmware_status(s, request_id),
                                   extended=True, signature=image.get("signature"),
                                   signing_certificate=image.get("signingCertificate"),
                                   retrieve_at=parse_time(image.get("retrieveDateTime")),
                                   install_at=parse_time(image.get("installDateTime")))  # fmt: skip

        st.after(0, walk)
        return {"status": "Accepted"}

    async def _signed_firmware_status(self, status: str, request_id: int) -> None:
        self.station.firmware_status = status
        await self.station.call("SignedFirmwareStatusNotification", {"status": status, "requestId": request_id})

    # -------------------------------------------------------------- certificates (security whitepaper)
    async def on_InstallCertificate(self, session: Session, p: Payload) -> Payload:
        serial = hashlib.sha256(p["certificate"].encode()).hexdigest()[:40]
        self.certificates[serial] = (p["certificateType"], p["certificate"])
        return {"status": "Accepted"}

    async def on_GetInstalledCertificateIds(self, session: Session, p: Payload) -> Payload:
        found = [_hash_data(serial, pem) for serial, (kind, pem) in self.certificates.items()
                 if kind == p["certificateType"]]  # fmt: skip
        return {"status": "Accepted", "certificateHashData": found} if found else {"status": "NotFound"}

    async def on_DeleteCertificate(self, session: Session, p: Payload) -> Payload:
        serial = p["certificateHashData"]["serialNumber"]
        if self.certificates.pop(serial, None) is None:
            return {"status": "NotFound"}
        return {"status": "Accepted"}

    async def on_CertificateSigned(self, session: Session, p: Payload) -> Payload:
        st = self.station
        problem = st.security.install(p["certificateChain"], "ChargingStationCertificate")
        if problem is not None:
            event = {"type": "InvalidChargePointCertificate", "timestamp": st.now_iso(), "techInfo": problem[:255]}
            st.send_later("SecurityEventNotification", event)
            return {"status": "Rejected"}
        if int(self.settings["security_profile"]) >= 3:
            st.after(0.05, lambda: st.reconnect("new client certificate"))
        return {"status": "Accepted"}


def _hash_data(serial: str, pem: str) -> dict[str, str]:
    digest = hashlib.sha256(pem.encode()).hexdigest()
    return {"hashAlgorithm": "SHA256", "issuerNameHash": digest[:64], "issuerKeyHash": digest[:64],
            "serialNumber": serial}  # fmt: skip


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
