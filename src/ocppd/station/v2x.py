"""OCPP 2.0.1 and 2.1: the station's messages and its answers to every CSMS request.

2.1 is 2.0.1 plus optional fields for the messages a station without V2X/DER/tariff hardware uses,
so one adapter serves both; 2.1-only requests are answered ``NotSupported`` by the RPC session.
Requirement ids (B01.FR.01 ...) are from 2.0.1 Part 2.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocppd.protocol.versions import OcppVersion
from ocppd.rpc.session import Payload, Session
from ocppd.smart.schedule import EXTERNAL, MAX, TX, Profile, format_time, parse_time, purpose_name
from ocppd.station import files
from ocppd.station import firmware as firmware_walk
from ocppd.station.adapter import Adapter
from ocppd.station.metering import SIGNING_METHOD
from ocppd.station.model import (
    CHARGING_STATE_2X,
    STATUS_2X,
    VOLTAGE,
    Connector,
    Reservation,
    Transaction,
    id_token_type,
    register_shows,
)
from ocppd.station.monitors import PRECONFIGURED_FROM, Monitor, MonitorEngine
from ocppd.station.settings import Var2x
from ocppd.station.store import QueuedMessage
from ocppd.station.tariffs import HeldTariffs

if TYPE_CHECKING:
    from ocppd.station.station import Station

_STOP_REASON = {  # 1.6 vocabulary -> (stoppedReason, triggerReason)
    "Local": ("Local", "StopAuthorized"),
    "Remote": ("Remote", "RemoteStop"),
    "EVDisconnected": ("EVDisconnected", "EVCommunicationLost"),
    "DeAuthorized": ("DeAuthorized", "Deauthorized"),
    "PowerLoss": ("PowerLoss", "AbnormalCondition"),
    "Reboot": ("Reboot", "ResetCommand"),
    "HardReset": ("ImmediateReset", "ResetCommand"),
    "SoftReset": ("ImmediateReset", "ResetCommand"),
    "ImmediateReset": ("ImmediateReset", "ResetCommand"),
    "UnlockCommand": ("Other", "UnlockCommand"),
    "EmergencyStop": ("EmergencyStop", "AbnormalCondition"),
    "Other": ("Other", "AbnormalCondition"),
    # 2.1 transaction limits (E16); a cost limit has no stoppedReason of its own: the credit is spent
    "EnergyLimitReached": ("EnergyLimitReached", "EnergyLimitReached"),
    "TimeLimitReached": ("TimeLimitReached", "TimeLimitReached"),
    "CostLimitReached": ("LocalOutOfCredit", "CostLimitReached"),
    "SOCLimitReached": ("SOCLimitReached", "SoCLimitReached"),
}
COST_RECHECK_S = 1.0  # a running cost against maxCost is looked at again this often
_WRITABLE = ("ReadWrite", "WriteOnly")
_PHYSICAL = ("ChargingStation", "EVSE", "Connector")
_AVAILABILITY = "Available,Occupied,Reserved,Unavailable,Faulted"


def temperature(power_w: float) -> float:
    """The station's inside temperature: 25 °C idle, warmer with the power it delivers (1.5 °C per kW)."""
    return 25.0 + 1.5 * power_w / 1000.0


@dataclass(frozen=True, slots=True)
class _Live:
    """A read-only variable of a physical component, with its characteristics."""

    value: str
    data_type: str
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: str | None = None
    max_set: str | None = None  # the MaxSet attribute (rated power)

    def characteristics(self) -> Payload:
        out: Payload = {"dataType": self.data_type, "supportsMonitoring": True}
        for key, value in (("unit", self.unit), ("minLimit", self.min_limit), ("maxLimit", self.max_limit),
                           ("valuesList", self.values_list)):  # fmt: skip
            if value is not None:
                out[key] = value
        return out


FISCAL_METERING = "FiscalMetering"  # the device-model component of an EVSE's meter (PublicKey)


def _sampled(values: list[dict[str, Any]], context: str) -> list[dict[str, Any]]:
    out = []
    for v in values:
        item: dict[str, Any] = {"value": v["value"], "context": context, "measurand": v["measurand"],
                                "location": "Outlet"}  # fmt: skip
        if "unit" in v:
            item["unitOfMeasure"] = {"unit": v["unit"]}
        if "phase" in v:
            item["phase"] = v["phase"]
        out.append(item)
    return out


# TriggerMessage requests for a CSR, and the certificateType it is for (None: combined).
SIGN_TRIGGERS: dict[str, str | None] = {
    "SignChargingStationCertificate": "ChargingStationCertificate",
    "SignV2GCertificate": "V2GCertificate",
    "SignCombinedCertificate": None,
}


class Adapter2x(Adapter):
    def __init__(self, station: Station) -> None:
        super().__init__(station)
        self.certificates: dict[str, tuple[str, str]] = {}
        self.network_profiles: dict[int, dict[str, Any]] = {}
        # 2.1 tariffs the CSMS set, and each transaction's energy readings for the local cost
        self.tariffs = HeldTariffs(sorted({c.evse_id for c in station.connectors}))
        self._readings: dict[str, list[tuple[float, float]]] = {}
        self._driver_tariffs: dict[str, dict[str, Any]] = {}  # id token -> 2.1 tariff from Authorize
        self.pending_settings: dict[str, Any] = {}  # answered RebootRequired: taken at the next reboot
        self.monitoring = MonitorEngine()
        # the station's own monitor: an overheating station warns (it never fires in a normal run)
        self.monitoring.add_preconfigured(Monitor(PRECONFIGURED_FROM, {"name": "ChargingStation"},
                                                  {"name": "Temperature"}, "UpperThreshold", 80.0, 4))  # fmt: skip

    # ================================================================ station -> CSMS
    def boot_payload(self, reason: str | None) -> Payload:
        if reason is not None:  # a reboot (not a reconnect): the settings waiting for it take effect
            self.apply_pending_settings()
        cfg = self.station.config
        cs: Payload = {"model": cfg.model[:20], "vendorName": cfg.vendor[:50], "firmwareVersion": cfg.firmware[:50]}
        if cfg.serial:
            cs["serialNumber"] = cfg.serial[:25]
        if reason == "FirmwareUpdate":
            request_id, outcome = getattr(self, "_firmware_request", None), self.station.firmware_outcome
            self.station.run_after_boot(lambda: self._firmware_status(outcome, request_id))
        return {"chargingStation": cs, "reason": reason or "PowerUp"}

    def _status_payload(self, c: Connector) -> Payload:
        return {"timestamp": self.station.now_iso(), "connectorStatus": STATUS_2X[c.status],
                "evseId": c.evse_id, "connectorId": c.connector_id}  # fmt: skip

    def send_status(self, connector: Connector | None, *, force: bool = False) -> None:
        if connector is None:
            return
        connector.reported_status = connector.status
        self.station.send_later("StatusNotification", self._status_payload(connector))

    def status_changed(self, c: Connector, old: str | None, new: str) -> None:
        if old is None or STATUS_2X[old] != STATUS_2X[new]:
            self.station.send_later("StatusNotification", self._status_payload(c))
        tx = c.tx
        state = CHARGING_STATE_2X.get(new)
        if tx is not None and state is not None and tx.charging_state is not None and state != tx.charging_state:
            tx.charging_state = state
            self._tx_event(c, tx, "Updated", "ChargingStateChanged", chargingState=state)

    async def authorize(self, id_tag: str) -> tuple[str | None, dict[str, Any] | None]:
        contract = self.station.security.contract_hash_data(id_tag)
        if contract is not None:  # plug & charge: the eMAID with the contract certificate's hash data
            payload: Payload = {"idToken": {"idToken": id_tag, "type": "eMAID"},
                                "iso15118CertificateHashData": contract}  # fmt: skip
        else:
            payload = {"idToken": {"idToken": id_tag, "type": id_token_type(id_tag)}}
        answer = await self.station.call("Authorize", payload)
        if answer is None:
            return None, None
        info = answer["idTokenInfo"]
        if "tariff" in answer and info["status"] == "Accepted":  # 2.1: the driver's tariff, for their session
            self._driver_tariffs[id_tag] = answer["tariff"]
        if contract is not None:
            certificate = answer.get("certificateStatus")
            self.station.event("contract_authorized", status=info["status"], certificate=certificate)
        return info["status"], info

    def _tx_event(self, c: Connector, tx: Transaction, event: str, trigger: str, *,
                  meter: list[dict[str, Any]] | None = None, with_token: bool = False,
                  extra: Payload | None = None, **info: Any) -> None:  # fmt: skip
        st = self.station
        payload: Payload = {
            "eventType": event,
            "timestamp": st.now_iso(),
            "triggerReason": trigger,
            "seqNo": tx.next_seq(),
            "transactionInfo": {"transactionId": tx.ref, **info},
            "evse": {"id": c.evse_id, "connectorId": c.connector_id},
        }
        if not st.online:  # E04: generated while offline
            payload["offline"] = True
        if with_token:
            payload["idToken"] = {"idToken": tx.id_tag, "type": tx.token_type}
        if tx.reservation_id is not None and event == "Started":
            payload["reservationId"] = tx.reservation_id
        if meter:
            self._remember_readings(tx, meter)
            payload["meterValue"] = self._signed(c, tx, meter)
        if extra:
            payload.update(extra)
        st.enqueue("TransactionEvent", payload, tx.ref)

    def _remember_readings(self, tx: Transaction, meter: list[dict[str, Any]]) -> None:
        if self.station.version is not OcppVersion.V21:
            return
        readings = self._readings.setdefault(tx.ref, [])
        for mv in meter:
            at = parse_time(mv["timestamp"]) or self.now()
            for sv in mv["sampledValue"]:
                if sv["measurand"] == "Energy.Active.Import.Register" and "phase" not in sv:
                    readings.append((at, float(sv["value"])))

    def _signed(self, c: Connector, tx: Transaction, meter: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """With signing meters, every energy register reading carries its OCMF signedMeterValue. The
        public key is not repeated in each value (PublicKeyWithSignedMeterValue Never): the CSMS reads it
        from the device model, FiscalMetering.PublicKey of the EVSE."""
        meters = self.station.meters
        if meters is None:
            return meter
        for mv in meter:
            at = parse_time(mv["timestamp"]) or self.now()
            for sv in mv["sampledValue"]:
                if sv["measurand"] == "Energy.Active.Import.Register":
                    sv["signedMeterValue"] = meters.signed_meter_value_2x(
                        c.evse_id, float(sv["value"]), at, sv["context"], tx.id_tag, with_key=False
                    )
        return meter

    def tx_started(self, c: Connector, tx: Transaction, trigger: str) -> None:
        driver = self._driver_tariffs.pop(tx.id_tag, None)
        if driver is not None and not self.tariffs.driver(tx.ref, driver, c.evse_id, tx.id_tag):
            self.station.event("driver_tariff_not_priceable", transaction=tx.ref, tariff=driver.get("tariffId"))
        tx.charging_state = "Charging"
        info: dict[str, Any] = {"chargingState": "Charging"}
        if tx.remote_start_id is not None:
            info["remoteStartId"] = tx.remote_start_id
        measurands = self.settings.measurands("tx_started_measurands")
        meter = (
            [{"timestamp": format_time(tx.start), "sampledValue": _sampled(c.sample(measurands), "Transaction.Begin")}]
            if measurands
            else None
        )
        self._tx_event(c, tx, "Started", trigger, meter=meter, with_token=True, **info)  # fmt: skip
        own = self.station.config.tx_limit
        if own and self.station.version is OcppVersion.V21:  # the station's own limit (OCA TC_E_106/107)
            tx.limit = dict(own)
            self._tx_event(c, tx, "Updated", "LimitSet", transactionLimit=dict(own))
        if c.ev is not None and c.ev.iso15118 and self.station.version in (OcppVersion.V201, OcppVersion.V21):
            self.station.after(0, lambda: self._ev_charging_needs(c, tx))

    def tx_ended(self, c: Connector, tx: Transaction, reason: str) -> None:
        stopped, trigger = _STOP_REASON.get(reason, ("Other", "AbnormalCondition"))
        measurands = self.settings.measurands("stop_tx_sampled")
        meter = (
            [{"timestamp": self.station.now_iso(), "sampledValue": _sampled(c.sample(measurands), "Transaction.End")}]
            if measurands
            else None
        )
        extra: Payload | None = None
        tariff: dict[str, Any] = {}
        if self.station.version is OcppVersion.V21:  # the local cost, by the tariff the station holds
            if meter:
                self._remember_readings(tx, meter)
            local = self.tariffs.local_cost(tx.ref, c.evse_id, tx.start, self.now(), tx.meter_start_wh,
                                            c.energy_wh, self._readings.pop(tx.ref, []))  # fmt: skip
            if local is not None:
                tariff = {"tariffId": local[0]}
                extra = {"costDetails": local[1]}
                self.station.event("local_cost", transaction=tx.ref, total=local[1]["totalCost"]["total"])
        self._tx_event(c, tx, "Ended", trigger, meter=meter, with_token=trigger == "StopAuthorized", extra=extra,
                       stoppedReason=stopped, chargingState="EVConnected" if c.plugged else "Idle",
                       **tariff)  # fmt: skip

    def meter_values(self, c: Connector, context: str, at: float | None = None) -> None:
        clock = context == "Sample.Clock"
        measurands = self.settings.measurands("aligned_measurands" if clock else "sampled_measurands")
        if not measurands:
            return
        stamp = format_time(at) if at else self.station.now_iso()
        mv = [{"timestamp": stamp, "sampledValue": _sampled(c.sample(measurands), context)}]
        if c.tx is not None:
            trigger = {"Sample.Clock": "MeterValueClock", "Trigger": "Trigger"}.get(context, "MeterValuePeriodic")
            self._tx_event(c, c.tx, "Updated", trigger, meter=mv)
        else:
            self.station.send_later("MeterValues", {"evseId": c.evse_id, "meterValue": mv})

    def report_interrupted(self, c: Connector, data: dict[str, Any]) -> None:
        tx = Transaction(data["ref"], data["id_tag"], data["start"], data["meter_start_wh"], id=data["ref"],
                         seq_no=int(data.get("seq_no", 1)))  # fmt: skip
        self._tx_event(c, tx, "Ended", "AbnormalCondition", stoppedReason="PowerLoss", chargingState="Idle")

    def limit_given(self, tx_ref: str, limit: dict[str, Any]) -> None:
        """2.1: the CSMS's transactionLimit replaces the values it names; the station reports the limit it
        now applies (LimitSet) and ends the transaction when it is reached."""
        c = self.station.find_tx(tx_ref)
        if c is None or c.tx is None or self.station.version is not OcppVersion.V21:
            return
        tx = c.tx
        tx.limit = {**(tx.limit or {}), **{k: v for k, v in limit.items() if k != "customData"}}
        self.station.event("limit_set", transaction=tx.ref, limit=dict(tx.limit))
        self.station.update_meters()
        self._tx_event(c, tx, "Updated", "LimitSet", transactionLimit=dict(tx.limit))
        self.station.wake_meters()

    def limit_reached(self, c: Connector, tx: Transaction, now: float) -> tuple[str | None, float | None]:
        limit = tx.limit or {}
        if self.station.version is not OcppVersion.V21 or not limit:
            return None, None
        again: list[float] = []
        if "maxTime" in limit:
            end = tx.start + float(limit["maxTime"])
            if now >= end - 0.001:
                return "TimeLimitReached", None
            again.append(end)
        if "maxEnergy" in limit:  # as the register shows it, so the readings the CSMS gets hold the limit
            shown = register_shows(c.energy_wh) - register_shows(tx.meter_start_wh)
            if shown >= float(limit["maxEnergy"]) - 1e-9:
                return "EnergyLimitReached", None
            if c.power_w > 0:
                again.append(now + max(0.05, (float(limit["maxEnergy"]) - shown) * 3600 / c.power_w))
        if "maxSoC" in limit and c.ev is not None:
            if c.ev.soc(tx.energy_wh) >= float(limit["maxSoC"]):
                return "SOCLimitReached", None
            if c.power_w > 0:
                wh = (float(limit["maxSoC"]) - c.ev.soc(tx.energy_wh)) * c.ev.capacity_wh / 100.0
                again.append(now + max(0.05, wh * 3600 / c.power_w))
        if "maxCost" in limit:
            cost = self._cost_so_far(c, tx, now)
            if cost is not None and cost >= float(limit["maxCost"]):
                return "CostLimitReached", None
            again.append(now + COST_RECHECK_S)
        return None, min(again, default=None)

    def _cost_so_far(self, c: Connector, tx: Transaction, now: float) -> float | None:
        """The cost so far incl. tax: computed here by the tariff the station holds for the transaction
        (local cost calculation), else the running total the CSMS last gave (central)."""
        local = self.tariffs.local_cost(tx.ref, c.evse_id, tx.start, now, tx.meter_start_wh, c.energy_wh,
                                        self._readings.get(tx.ref, []))  # fmt: skip
        if local is not None:
            total = local[1]["totalCost"]["total"]
            return float(total.get("inclTax", total.get("exclTax", 0)))
        central = self.station.costs.get(tx.ref)
        return None if central is None or central["total"] is None else float(central["total"])

    def reservation_ended(self, reservation: Reservation, status: str) -> None:
        self.station.send_later("ReservationStatusUpdate", {"reservationId": reservation.id,
                                                            "reservationUpdateStatus": status})  # fmt: skip

    def on_queued_answer(self, message: QueuedMessage, answer: Payload) -> None:
        if message.action == "TransactionEvent" and "totalCost" in answer and message.tx_ref is not None:
            final = message.payload.get("eventType") == "Ended"
            self.station.cost_received(message.tx_ref, answer["totalCost"], "TransactionEventResponse", final)
        if message.action == "TransactionEvent" and "transactionLimit" in answer and message.tx_ref is not None:
            self.limit_given(message.tx_ref, answer["transactionLimit"])
        info = answer.get("idTokenInfo")
        if info is None or info.get("status") == "Accepted" or message.tx_ref is None:
            return
        c = self.station.find_tx(message.tx_ref)
        if c is not None and self.settings["stop_tx_on_invalid_id"]:  # E05.FR.09
            self.station.stop_transaction(c.number, "DeAuthorized")

    async def _firmware_status(self, status: str, request_id: int | None) -> None:
        self.station.firmware_status = status
        payload: Payload = {"status": status}
        if request_id is not None:
            payload["requestId"] = request_id
        await self.station.call("FirmwareStatusNotification", payload)

    # ================================================================ CSMS -> station
    def _evse(self, evse_id: int | None) -> list[Connector] | None:
        if evse_id is None:
            return None
        found = self.station.evse_connectors(evse_id)
        return found or None

    # -------------------------------------------------------------- transactions (F01-F03)
    async def on_RequestStartTransaction(self, session: Session, p: Payload) -> Payload:
        st = self.station
        token = p["idToken"]
        id_tag = token["idToken"]
        evse_id = p.get("evseId")
        pool = st.connectors if evse_id is None else (self._evse(evse_id) or [])
        free = [c for c in pool if st.can_start(c, id_tag) and all(x.tx is None for x in st.evse_connectors(c.evse_id))]
        if not free:
            busy = next((c.tx for c in pool if c.tx is not None), None)
            answer: Payload = {"status": "Rejected"}
            if busy is not None:
                answer["transactionId"] = busy.ref
            return answer
        c = free[0]
        profile = p.get("chargingProfile")
        if profile is not None and profile["chargingProfilePurpose"] != "TxProfile":
            return {"status": "Rejected"}

        async def start() -> None:
            if st.settings["authorize_remote"] and await st.authorize(id_tag) != "Accepted":
                return
            if not st.can_start(c, id_tag):
                return
            tx = st.begin_transaction(c.number, id_tag, remote_start_id=p["remoteStartId"], trigger="RemoteStart")
            tx.token_type = token.get("type", "Central")
            if profile is not None:
                st.profiles.install(Profile.from_ocpp({**profile, "transactionId": tx.ref}, c.evse_id, tx.start))
                st.update_meters()

        st.after(0, start)
        return {"status": "Accepted"}

    async def on_RequestStopTransaction(self, session: Session, p: Payload) -> Payload:
        c = self.station.find_tx(p["transactionId"])
        if c is None:
            return {"status": "Rejected"}
        self.station.after(0, lambda: self.station.stop_transaction(c.number, "Remote"))
        return {"status": "Accepted"}

    async def on_GetTransactionStatus(self, session: Session, p: Payload) -> Payload:
        st = self.station
        tx_id = p.get("transactionId")
        if tx_id is None:
            return {"messagesInQueue": st.queued > 0}
        pending = any(m.tx_ref == tx_id for m in st._queue)
        return {"ongoingIndicator": st.find_tx(tx_id) is not None, "messagesInQueue": pending}

    # -------------------------------------------------------------- 2.1 tariffs (I)
    async def on_SetDefaultTariff(self, session: Session, p: Payload) -> Payload:
        return self.tariffs.set_default(p["evseId"], p["tariff"])

    async def on_GetTariffs(self, session: Session, p: Payload) -> Payload:
        return self.tariffs.report(p["evseId"])

    async def on_ClearTariffs(self, session: Session, p: Payload) -> Payload:
        return self.tariffs.clear(p.get("tariffIds"), p.get("evseId"))

    async def on_ChangeTransactionTariff(self, session: Session, p: Payload) -> Payload:
        c = self.station.find_tx(p["transactionId"])
        held = self.tariffs.applies(p["transactionId"], c.evse_id, c.tx.start) if c and c.tx else None
        current = held[1].tariff.currency if held else None
        return self.tariffs.change_transaction(p["transactionId"], p["tariff"], c.evse_id if c else None, current)

    async def on_CostUpdated(self, session: Session, p: Payload) -> Payload:
        self.station.cost_received(p["transactionId"], p["totalCost"], "CostUpdated")
        return {}

    # -------------------------------------------------------------- availability, reset, unlock
    async def on_Reset(self, session: Session, p: Payload) -> Payload:
        st = self.station
        kind = p["type"]
        evse_id = p.get("evseId")
        if evse_id:
            connectors = self._evse(evse_id)
            if connectors is None:
                return {"status": "Rejected"}
            busy = [c for c in connectors if c.tx is not None]
            if busy and kind == "OnIdle":
                return {"status": "Scheduled"}
            for c in busy:  # B11: an EVSE reset ends its transaction, the station stays up
                st.after(0, lambda c=c: st.stop_transaction(c.number, "ImmediateReset"))
            return {"status": "Accepted"}
        if kind == "OnIdle" and any(c.tx is not None for c in st.connectors):
            st._reset_when_idle = "ScheduledReset"
            return {"status": "Scheduled"}
        st.after(0.05, lambda: st.reboot("RemoteReset", "ImmediateReset"))
        return {"status": "Accepted"}

    async def on_ChangeAvailability(self, session: Session, p: Payload) -> Payload:
        st = self.station
        operative = p["operationalStatus"] == "Operative"
        evse = p.get("evse")
        if evse is None or evse["id"] == 0:
            return {"status": st.change_availability(st.connectors, operative, whole=True)}
        connectors = self._evse(evse["id"])
        if connectors is None:
            return {"status": "Rejected"}
        if "connectorId" in evse:
            connectors = [c for c in connectors if c.connector_id == evse["connectorId"]]
            if not connectors:
                return {"status": "Rejected"}
        return {"status": st.change_availability(connectors, operative, whole=False)}

    async def on_UnlockConnector(self, session: Session, p: Payload) -> Payload:
        connectors = self._evse(p["evseId"]) or []
        c = next((x for x in connectors if x.connector_id == p["connectorId"]), None)
        if c is None:
            return {"status": "UnknownConnector"}
        if c.tx is not None:  # F05.FR.02
            return {"status": "OngoingAuthorizedTransaction"}
        return {"status": "Unlocked"}

    # -------------------------------------------------------------- device model (B05-B08)
    def _live(self, cname: str, evse: dict[str, Any] | None) -> dict[str, _Live] | str:
        """The variables of the physical components (ChargingStation, EVSE, Connector): values that follow
        the station's state, read-only; or the status string when the component does not exist."""
        st = self.station
        if cname == "ChargingStation" and evse is None:
            power = sum(c.power_w for c in st.connectors)
            rated = sum(c.max_power_w for c in st.connectors)
            return {
                "AvailabilityState": _Live("Available" if st.operative else "Unavailable", "OptionList",
                                           values_list=_AVAILABILITY),
                "Available": _Live("true", "boolean"),
                "Power": _Live(f"{power:.1f}", "decimal", "W", max_limit=rated, max_set=f"{rated:.1f}"),
                "Temperature": _Live(f"{temperature(power):.1f}", "decimal", "Celsius", min_limit=-40, max_limit=120),
                "SupplyPhases": _Live(str(max(c.phases for c in st.connectors)), "integer", min_limit=0, max_limit=3),
            }  # fmt: skip
        if cname not in ("EVSE", "Connector") or evse is None:
            return "UnknownComponent"
        connectors = self._evse(evse.get("id"))
        if connectors is None:
            return "UnknownComponent"
        if cname == "EVSE" and "connectorId" not in evse:
            c = connectors[0]
            power = sum(x.power_w for x in connectors)
            return {
                "AvailabilityState": _Live(STATUS_2X[c.status], "OptionList", values_list=_AVAILABILITY),
                "Available": _Live("true" if c.operative else "false", "boolean"),
                "Power": _Live(f"{power:.1f}", "decimal", "W", max_limit=c.max_power_w, max_set=f"{c.max_power_w:.1f}"),
                "SupplyPhases": _Live(str(c.phases), "integer", min_limit=0, max_limit=3),
            }  # fmt: skip
        c = next((x for x in connectors if x.connector_id == evse.get("connectorId", 1)), None)
        if c is None or cname != "Connector":
            return "UnknownComponent"
        return {
            "AvailabilityState": _Live(STATUS_2X[c.status], "OptionList", values_list=_AVAILABILITY),
            "Available": _Live("true" if c.operative else "false", "boolean"),
            "ConnectorType": _Live(c.connector_type, "string", max_limit=20),
            "SupplyPhases": _Live(str(c.phases), "integer", min_limit=0, max_limit=3),
        }  # fmt: skip

    def _lookup(self, component: dict[str, Any], variable: dict[str, Any]) -> tuple[str, Any]:
        """('live', _Live) | ('setting', Var2x) | ('error', status) for a component/variable."""
        cname, vname, evse = component["name"], variable["name"], component.get("evse")
        if cname in _PHYSICAL and (evse is not None or cname == "ChargingStation"):
            live = self._live(cname, evse)
            if isinstance(live, str):
                return ("error", live)
            if vname in live and not variable.get("instance"):
                return ("live", live[vname])
            if evse is not None:
                return ("error", "UnknownVariable")
        elif cname in ("EVSE", "Connector"):
            return ("error", "UnknownComponent")
        if cname == FISCAL_METERING and self.station.meters is not None:
            meters = self.station.meters
            key = meters.public_key_hex(evse["id"]) if evse else meters.shared_key_hex()
            if key is None:
                return ("error", "UnknownComponent")
            fiscal = {"PublicKey": _Live(key, "string"), "SigningMethod": _Live(SIGNING_METHOD, "string")}
            return ("live", fiscal[vname]) if vname in fiscal else ("error", "UnknownVariable")
        spec = self.settings.variable(cname, vname, variable.get("instance"))
        if spec is None:
            if cname not in self.settings.components() and cname not in _PHYSICAL:
                return ("error", "UnknownComponent")
            return ("error", "UnknownVariable")
        return ("setting", spec)

    async def on_GetVariables(self, session: Session, p: Payload) -> Payload:
        self.station.update_meters()  # the live values (power) as of now
        results = []
        for item in p["getVariableData"]:
            attr = item.get("attributeType", "Actual")
            result: Payload = {"component": item["component"], "variable": item["variable"], "attributeType": attr}
            kind, found = self._lookup(item["component"], item["variable"])
            if kind == "error":
                result["attributeStatus"] = found
            elif kind == "live":
                value = found.value if attr == "Actual" else found.max_set if attr == "MaxSet" else None
                if value is None:
                    result["attributeStatus"] = "NotSupportedAttributeType"
                else:
                    result.update(attributeStatus="Accepted", attributeValue=value)
            else:
                spec: Var2x = found
                if attr != "Actual":
                    result["attributeStatus"] = "NotSupportedAttributeType"
                elif spec.mutability == "WriteOnly":
                    result["attributeStatus"] = "Rejected"
                else:
                    result.update(
                        attributeStatus="Accepted", attributeValue=self.settings.render_2x(spec.canonical)[:2500]
                    )
            results.append(result)
        return {"getVariableResult": results}

    async def on_SetVariables(self, session: Session, p: Payload) -> Payload:
        results = []
        for item in p["setVariableData"]:
            attr = item.get("attributeType", "Actual")
            result: Payload = {"component": item["component"], "variable": item["variable"], "attributeType": attr}
            kind, found = self._lookup(item["component"], item["variable"])
            if kind == "error":
                result["attributeStatus"] = found
            elif kind == "live":
                result["attributeStatus"] = "Rejected" if attr in ("Actual", "MaxSet") else "NotSupportedAttributeType"
                if attr in ("Actual", "MaxSet"):
                    result["attributeStatusInfo"] = {"reasonCode": "ReadOnly"}
            elif attr != "Actual":
                result["attributeStatus"] = "NotSupportedAttributeType"
            elif found.mutability not in _WRITABLE:
                result.update(attributeStatus="Rejected", attributeStatusInfo={"reasonCode": "ReadOnly"})  # B05.FR.04
            else:
                result.update(self._set_setting(found, item["attributeValue"]))
            results.append(result)
            if result["attributeStatus"] == "Accepted":
                self._security_variable(item["component"]["name"], item["variable"]["name"], item["attributeValue"])
        return {"setVariableResult": results}

    def _set_setting(self, spec: Var2x, text: str) -> Payload:
        """Check a value against the setting's type and declared limits; take it now, or at the next reboot
        for a setting that needs one (RebootRequired)."""
        try:
            value = self.settings.parse(spec.canonical, text)
        except ValueError as exc:
            info = {"reasonCode": "InvalidValue", "additionalInfo": str(exc)[:500]}
            return {"attributeStatus": "Rejected", "attributeStatusInfo": info}
        problem = spec.refusal(value)
        if problem is not None:
            return {"attributeStatus": "Rejected", "attributeStatusInfo": {"reasonCode": problem}}
        if spec.reboot:
            self.pending_settings[spec.canonical] = value
            return {"attributeStatus": "RebootRequired"}
        self.settings.force(spec.canonical, value)
        return {"attributeStatus": "Accepted"}

    def _security_variable(self, component: str, variable: str, value: str) -> None:
        """A new Basic password (reconnect with it at once, A_09); a network profile priority that makes a
        higher security profile current at the next reset (A_19)."""
        st = self.station
        if (component, variable) == ("SecurityCtrlr", "BasicAuthPassword") and st.security.set_password(value, False):
            st.after(0.05, lambda: st.reconnect("new Basic-auth password"))
        elif (component, variable) == ("OCPPCommCtrlr", "NetworkConfigurationPriority"):
            first = value.split(",")[0].strip()
            profile = self.network_profiles.get(int(first)) if first.isdigit() else None
            if profile is not None:
                st.security.set_profile(int(profile["securityProfile"]), profile.get("ocppCsmsUrl"))

    def _characteristics(self, spec: Var2x) -> Payload:
        data_type = self.settings.data_type(spec.canonical, spec)
        out: Payload = {"dataType": data_type, "supportsMonitoring": data_type in ("integer", "decimal", "boolean")}
        if data_type == "MemberList":
            out["valuesList"] = ",".join(sorted(_measurand_list()))
        if spec.values_list:
            out["valuesList"] = spec.values_list
        if spec.unit:
            out["unit"] = spec.unit
        if spec.min_limit is not None:
            out["minLimit"] = spec.min_limit
        if spec.max_limit is not None:
            out["maxLimit"] = spec.max_limit
        return out

    def _physical_components(self) -> list[dict[str, Any]]:
        components: list[dict[str, Any]] = [{"name": "ChargingStation"}]
        for evse_id in sorted({c.evse_id for c in self.station.connectors}):
            components.append({"name": "EVSE", "evse": {"id": evse_id}})
            for c in self.station.evse_connectors(evse_id):
                components.append({"name": "Connector", "evse": {"id": evse_id, "connectorId": c.connector_id}})
        return components

    def _report_items(self, base: str | None, wanted: list[dict[str, Any]] | None,
                      criteria: list[str] | None) -> list[Payload]:  # fmt: skip
        def asked(component: dict[str, Any], variable: str) -> bool:
            if not wanted:
                return True
            for w in wanted:
                wc = w["component"]
                if wc["name"] != component["name"] or ("variable" in w and w["variable"]["name"] != variable):
                    continue
                if "evse" in wc and (component.get("evse") or {}).get("id") != wc["evse"]["id"]:
                    continue
                return True
            return False

        problem_only = bool(criteria and "Problem" in criteria)
        enabled_only = bool(criteria and "Enabled" in criteria)
        items: list[Payload] = []
        live_names = {(c, v) for c in ("ChargingStation",) for v in self._live("ChargingStation", None)}
        if not problem_only:
            for component, variable, instance, spec in self.settings.report_entries():
                if (component, variable) in live_names:
                    continue
                if base == "ConfigurationInventory" and spec.mutability == "ReadOnly":
                    continue
                if base == "SummaryInventory" and variable != "AvailabilityState":
                    continue
                if (enabled_only and variable != "Enabled") or not asked({"name": component}, variable):
                    continue
                attribute: Payload = {"type": "Actual", "mutability": spec.mutability}
                if spec.mutability != "WriteOnly":
                    attribute["value"] = self.settings.render_2x(spec.canonical)[:2500]
                var: Payload = {"name": variable}
                if instance:
                    var["instance"] = instance
                items.append({"component": {"name": component}, "variable": var, "variableAttribute": [attribute],
                              "variableCharacteristics": self._characteristics(spec)})  # fmt: skip
        if base == "ConfigurationInventory" or enabled_only:
            return items
        for component in self._physical_components():
            live = self._live(component["name"], component.get("evse"))
            assert not isinstance(live, str)
            if problem_only and live["AvailabilityState"].value != "Faulted":
                continue
            for name, v in live.items():
                if (base == "SummaryInventory" and name != "AvailabilityState") or not asked(component, name):
                    continue
                attributes: list[Payload] = [{"type": "Actual", "value": v.value, "mutability": "ReadOnly"}]
                if v.max_set is not None:
                    attributes.append({"type": "MaxSet", "value": v.max_set, "mutability": "ReadOnly"})
                items.append({"component": component, "variable": {"name": name}, "variableAttribute": attributes,
                              "variableCharacteristics": v.characteristics()})  # fmt: skip
        meters = self.station.meters
        if meters is not None and base in (None, "FullInventory") and not problem_only:
            for evse_id in sorted({c.evse_id for c in self.station.connectors}):
                component = {"name": FISCAL_METERING, "evse": {"id": evse_id}}
                if asked(component, "PublicKey"):  # the EVSE meter's key, for verifying signed values
                    key = {"type": "Actual", "value": meters.public_key_hex(evse_id), "mutability": "ReadOnly"}
                    kind = {"dataType": "string", "supportsMonitoring": False}
                    items.append({"component": component, "variable": {"name": "PublicKey"},
                                  "variableAttribute": [key], "variableCharacteristics": kind})  # fmt: skip
        return items

    def _send_report(self, request_id: int, items: list[Payload]) -> None:
        st = self.station
        size = max(1, int(self.settings["items_per_message"]))

        async def send() -> None:
            chunks = [items[i : i + size] for i in range(0, len(items), size)]
            for seq, chunk in enumerate(chunks):
                await st.call("NotifyReport", {"requestId": request_id, "generatedAt": st.now_iso(), "seqNo": seq,
                                               "tbc": seq < len(chunks) - 1, "reportData": chunk})  # fmt: skip

        st.after(0, send)

    async def on_GetBaseReport(self, session: Session, p: Payload) -> Payload:
        self.station.update_meters()
        self._send_report(p["requestId"], self._report_items(p["reportBase"], None, None))
        return {"status": "Accepted"}

    async def on_GetReport(self, session: Session, p: Payload) -> Payload:
        self.station.update_meters()
        items = self._report_items(None, p.get("componentVariable"), p.get("componentCriteria"))
        if not items:
            return {"status": "EmptyResultSet"}
        self._send_report(p["requestId"], items)
        return {"status": "Accepted"}

    def apply_pending_settings(self) -> None:
        """At a reboot: the values answered RebootRequired take effect."""
        for name, value in self.pending_settings.items():
            self.settings.force(name, value)
        self.pending_settings.clear()

    # -------------------------------------------------------------- monitoring (N)
    def _monitorable(self, component: dict[str, Any], variable: dict[str, Any]) -> tuple[str | None, bool, bool]:
        """(status if it cannot be monitored, numeric, supportsMonitoring) of a component/variable."""
        kind, found = self._lookup(component, variable)
        if kind == "error":
            return found, False, False
        if kind == "live":
            return None, found.data_type in ("integer", "decimal"), True
        data_type = self.settings.data_type(found.canonical, found)
        return None, data_type in ("integer", "decimal"), True

    def _read(self, component: dict[str, Any], variable: dict[str, Any]) -> tuple[str | None, bool]:
        kind, found = self._lookup(component, variable)
        if kind == "live":
            return found.value, found.data_type in ("integer", "decimal")
        if kind == "setting" and found.mutability != "WriteOnly":
            return self.settings.render_2x(found.canonical), self.settings.data_type(found.canonical, found) in (
                "integer", "decimal")  # fmt: skip
        return None, False  # a write-only variable: its events carry no value (N_48)

    def _in_transaction(self, component: dict[str, Any]) -> bool:
        evse = component.get("evse")
        connectors = self.station.connectors if evse is None else (self._evse(evse.get("id")) or [])
        return any(c.tx is not None for c in connectors)

    async def on_SetVariableMonitoring(self, session: Session, p: Payload) -> Payload:
        results = []
        for item in p["setMonitoringData"]:
            result: Payload = {"type": item["type"], "severity": item["severity"], "component": item["component"],
                               "variable": item["variable"]}  # fmt: skip
            problem, numeric, supported = self._monitorable(item["component"], item["variable"])
            if problem is not None:
                result["status"] = problem
            else:
                status, monitor_id = self.monitoring.set(item, numeric, supported)
                result["status"] = status
                if monitor_id is not None:
                    result["id"] = monitor_id
            results.append(result)
        self.station._meter_wake.set()
        return {"setMonitoringResult": results}

    async def on_ClearVariableMonitoring(self, session: Session, p: Payload) -> Payload:
        return {"clearMonitoringResult": [{"id": i, "status": self.monitoring.clear(i)} for i in p["id"]]}

    async def on_SetMonitoringBase(self, session: Session, p: Payload) -> Payload:
        return {"status": self.monitoring.set_base(p["monitoringBase"])}

    async def on_SetMonitoringLevel(self, session: Session, p: Payload) -> Payload:
        return {"status": self.monitoring.set_level(int(p["severity"]))}

    async def on_GetMonitoringReport(self, session: Session, p: Payload) -> Payload:
        found = self.monitoring.matching(p.get("monitoringCriteria"), p.get("componentVariable"))
        if not found:
            return {"status": "EmptyResultSet"}
        st = self.station
        v21 = st.version is OcppVersion.V21
        grouped: dict[tuple[Any, ...], Payload] = {}
        for m in found:
            entry = grouped.setdefault(m.key(), {"component": m.component, "variable": m.variable,
                                                 "variableMonitoring": []})  # fmt: skip
            entry["variableMonitoring"].append(m.report(v21))
        entries = list(grouped.values())
        size = max(1, int(self.settings["items_per_message"]))

        async def send() -> None:
            parts = [entries[i : i + size] for i in range(0, len(entries), size)]
            for seq, part in enumerate(parts):
                await st.call("NotifyMonitoringReport", {"requestId": p["requestId"], "seqNo": seq,
                                                         "generatedAt": st.now_iso(), "tbc": seq < len(parts) - 1,
                                                         "monitor": part})  # fmt: skip

        st.after(0, send)
        return {"status": "Accepted"}

    async def monitor_loop(self) -> None:
        """Evaluate the monitors on the station's values (every second, sooner for a periodic monitor)
        and send NotifyEvent for those that report."""
        st = self.station
        seq = 0
        while not st._stopping:
            custom = any(not m.preconfigured for m in self.monitoring.monitors.values())
            if custom:
                st.update_meters()  # the values as of now (the station's own monitor is fine with the last ones)
            now = time.time()
            events = self.monitoring.evaluate(now, self._read, self._in_transaction) if self.monitoring.monitors else []
            if events:
                data = []
                for e in events:
                    item = {k: v for k, v in e.items() if not k.startswith("_")}
                    item["timestamp"] = format_time(e["_at"])
                    if st.version is OcppVersion.V21:
                        item["severity"] = e["_severity"]
                    data.append(item)
                await st.call("NotifyEvent", {"generatedAt": st.now_iso(), "seqNo": seq, "tbc": False,
                                              "eventData": data})  # fmt: skip
                seq += 1
            # only the station's own monitor: a slow look is enough (a fleet of thousands pays for each)
            pace = 1.0 if custom else 10.0
            await asyncio.sleep(max(0.05, min(pace, self.monitoring.next_due(now) - time.time())))

    def online_loops(self) -> list[Coroutine[Any, Any, None]]:
        return [self.monitor_loop()]

    # -------------------------------------------------------------- smart charging (K)
    async def on_SetChargingProfile(self, session: Session, p: Payload) -> Payload:
        st = self.station
        if not self.settings["smart_enabled"]:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "Disabled"}}
        evse_id = p["evseId"]
        data = p["chargingProfile"]
        purpose = {"ChargingStationMaxProfile": MAX, "TxDefaultProfile": "txdefault", "TxProfile": TX,
                   "ChargingStationExternalConstraints": EXTERNAL}.get(data["chargingProfilePurpose"])  # fmt: skip
        if purpose is None or purpose == EXTERNAL:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnsupportedPurpose"}}
        connectors = self._evse(evse_id) if evse_id else None
        if evse_id and connectors is None:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}
        if purpose == MAX and evse_id != 0:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidEvse"}}
        tx_id = data.get("transactionId")
        if purpose == TX and not self.settings["accept_tx_profiles"]:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnsupportedRequest"}}  # a model without
        if purpose == TX:
            active = [c.tx for c in connectors or [] if c.tx is not None]
            if not active or (tx_id is not None and tx_id not in (t.ref for t in active)):
                return {"status": "Rejected", "statusInfo": {"reasonCode": "TxNotFound"}}  # K01.FR.09
            data = {**data, "transactionId": active[0].ref}
        if data["stackLevel"] > self.settings["max_stack_level"]:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidStackLevel"}}
        if any(s.get("chargingRateUnit") not in self.settings.rate_units() for s in data["chargingSchedule"]):
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnsupportedRateUnit"}}  # RateUnit
        st.update_meters()
        st.profiles.install(Profile.from_ocpp(data, evse_id, time.time()))
        st.update_meters()
        st._meter_wake.set()
        if purpose == TX:
            for c in connectors or []:
                if c.tx is not None and c.ev is not None and c.ev.iso15118:
                    st.after(0, lambda c=c, tx=c.tx: self._ev_schedule(c, tx))
        return {"status": "Accepted"}

    # -------------------------------------------------------------- ISO 15118 EVs (K15-K17)
    async def _ev_charging_needs(self, c: Connector, tx: Transaction) -> None:
        """The EV's charging needs once its transaction is known to the CSMS (K15)."""
        st = self.station
        await st.flush(30.0)  # the TransactionEvent(Started) first: the CSMS plans for a known transaction
        ev = c.ev
        if c.tx is not tx or ev is None:
            return
        phases = max(1, min(ev.phases, c.phases))
        transfer = {1: "AC_single_phase", 2: "AC_two_phase"}.get(phases, "AC_three_phase")
        needs: Payload = {
            "requestedEnergyTransfer": transfer,
            "acChargingParameters": {
                "energyAmount": int(max(0.0, ev.need_wh - tx.energy_wh)),
                "evMinCurrent": math.ceil(ev.min_current_a),
                "evMaxCurrent": max(1, int(ev.max_current_a(tx.energy_wh))),
                "evMaxVoltage": 400,
            },
        }
        if ev.departure_s is not None:
            needs["departureTime"] = format_time(tx.start + ev.departure_s)
        answer = await st.call("NotifyEVChargingNeeds", {"evseId": c.evse_id, "chargingNeeds": needs})
        status = answer.get("status") if answer else None
        st.event("ev_charging_needs", connector=c.number, status=status,
                 info=(answer or {}).get("statusInfo", {}).get("additionalInfo"))  # fmt: skip

    async def _ev_schedule(self, c: Connector, tx: Transaction) -> None:
        """The EV's answer to a TxProfile: its own schedule within the limit (K15.FR.16, K17)."""
        st = self.station
        ev = c.ev
        if c.tx is not tx or ev is None:
            return
        now = time.time()
        limit_w = st.profiles.limit_w(c.evse_id, now, c.active_tx())
        amps = ev.max_current_a(tx.energy_wh)
        if limit_w is not None:
            amps = min(amps, max(0.0, limit_w) / (VOLTAGE * c.phases))
        schedule = {"id": 1, "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": math.floor(amps * 10) / 10}]}  # fmt: skip
        answer = await st.call("NotifyEVChargingSchedule", {"timeBase": format_time(now), "evseId": c.evse_id,
                                                            "chargingSchedule": schedule})  # fmt: skip
        st.event("ev_charging_schedule", connector=c.number, status=answer.get("status") if answer else None)

    async def on_ClearChargingProfile(self, session: Session, p: Payload) -> Payload:
        st = self.station
        criteria = p.get("chargingProfileCriteria") or {}
        purpose = criteria.get("chargingProfilePurpose")
        st.update_meters()
        removed = st.profiles.clear(
            profile_id=p.get("chargingProfileId"),
            evse=criteria.get("evseId"),
            purpose={"ChargingStationMaxProfile": MAX, "TxDefaultProfile": "txdefault", "TxProfile": TX}.get(purpose)
            if purpose else None,
            stack_level=criteria.get("stackLevel"),
        )  # fmt: skip
        st.update_meters()
        st._meter_wake.set()
        return {"status": "Accepted" if removed else "Unknown"}

    async def on_GetChargingProfiles(self, session: Session, p: Payload) -> Payload:
        st = self.station
        crit = p["chargingProfile"]
        evse_id = p.get("evseId")
        ids = crit.get("chargingProfileId")
        found = [
            pr for pr in st.profiles.profiles
            if (evse_id is None or pr.evse == evse_id)
            and (ids is None or pr.id in ids)
            and ("stackLevel" not in crit or pr.stack_level == crit["stackLevel"])
            and ("chargingProfilePurpose" not in crit
                 or purpose_name(pr.purpose, "2.x") == crit["chargingProfilePurpose"])
        ]  # fmt: skip
        if not found:
            return {"status": "NoProfiles"}
        by_evse: dict[int, list[Payload]] = {}
        for pr in found:
            by_evse.setdefault(pr.evse, []).append(pr.raw)

        async def report() -> None:
            groups = list(by_evse.items())
            for i, (evse, profiles) in enumerate(groups):
                await st.call("ReportChargingProfiles", {
                    "requestId": p["requestId"], "chargingLimitSource": "CSO", "evseId": evse,
                    "chargingProfile": profiles, "tbc": i < len(groups) - 1,
                })  # fmt: skip

        st.after(0, report)
        return {"status": "Accepted"}

    async def on_GetCompositeSchedule(self, session: Session, p: Payload) -> Payload:
        st = self.station
        evse_id = p["evseId"]
        connectors = self._evse(evse_id) if evse_id else st.connectors
        if not connectors:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}
        unit = "A" if p.get("chargingRateUnit") == "A" else "W"
        now = float(int(time.time()))
        c = connectors[0] if evse_id else None
        active = next((x.active_tx() for x in connectors if x.tx is not None), None) if evse_id else None
        max_power = c.max_power_w if c is not None else sum(x.max_power_w for x in st.connectors)
        periods = st.profiles.composite(evse_id, now, p["duration"], unit, active, max_power)
        return {"status": "Accepted", "schedule": {
            "evseId": evse_id, "duration": p["duration"], "scheduleStart": format_time(now),
            "chargingRateUnit": unit, "chargingSchedulePeriod": periods,
        }}  # fmt: skip

    # -------------------------------------------------------------- authorization (C)
    async def on_ClearCache(self, session: Session, p: Payload) -> Payload:
        if not self.settings["auth_cache_enabled"]:
            return {"status": "Rejected"}
        self.station.auth.cache.clear()
        return {"status": "Accepted"}

    async def on_GetLocalListVersion(self, session: Session, p: Payload) -> Payload:
        return {"versionNumber": self.station.auth.version}

    async def on_SendLocalList(self, session: Session, p: Payload) -> Payload:
        if not self.settings["local_list_enabled"]:
            return {"status": "Failed", "statusInfo": {"reasonCode": "Disabled"}}
        items = [(e["idToken"]["idToken"], e.get("idTokenInfo")) for e in p.get("localAuthorizationList", [])]
        status = self.station.auth.update(p["updateType"], p["versionNumber"], items, self.settings["local_list_max"])
        self.settings.force("local_list_entries", len(self.station.auth.entries))
        return {"status": status}

    # -------------------------------------------------------------- reservations (H)
    async def on_ReserveNow(self, session: Session, p: Payload) -> Payload:
        st = self.station
        evse_id = p.get("evseId")
        if evse_id is not None:
            connectors = self._evse(evse_id)
            if connectors is None:
                return {"status": "Rejected"}
        else:
            connectors = [c for c in st.connectors if c.status == "Available"] or st.connectors
        if "connectorType" in p:
            connectors = [c for c in connectors if c.connector_type == p["connectorType"]]
            if not connectors:
                return {"status": "Rejected"}
        group = p.get("groupIdToken")
        reservation = Reservation(p["id"], p["idToken"]["idToken"], parse_time(p["expiryDateTime"]) or 0.0,
                                  group["idToken"] if group else None)  # fmt: skip
        return {"status": st.reserve(connectors[0], reservation)}

    async def on_CancelReservation(self, session: Session, p: Payload) -> Payload:
        return {"status": "Accepted" if self.station.cancel_reservation(p["reservationId"]) else "Rejected"}

    # -------------------------------------------------------------- trigger (F06)
    async def on_TriggerMessage(self, session: Session, p: Payload) -> Payload:
        st = self.station
        requested = p["requestedMessage"]
        evse = p.get("evse")
        connectors = st.connectors
        if evse is not None:
            found = self._evse(evse["id"])
            if found is None:
                return {"status": "Rejected"}
            connectors = [c for c in found if "connectorId" not in evse or c.connector_id == evse["connectorId"]]
            if not connectors:
                return {"status": "Rejected"}
        if requested in SIGN_TRIGGERS:
            certificate_type = SIGN_TRIGGERS[requested]
            payload: Payload = {"csr": st.security.csr(certificate_type)}
            if certificate_type is not None:
                payload["certificateType"] = certificate_type
            st.after(0, lambda: st.call("SignCertificate", payload))
            return {"status": "Accepted"}
        if requested == "BootNotification":
            if st.boot_status == "Accepted":
                return {"status": "Rejected"}  # F06.FR.17
            st.after(0, lambda: st.call("BootNotification", self.boot_payload("Triggered")))
        elif requested == "Heartbeat":
            st.send_later("Heartbeat", {})
        elif requested == "StatusNotification":
            for c in connectors:
                st.send_later("StatusNotification", self._status_payload(c))
        elif requested == "MeterValues":
            st.update_meters()
            for c in connectors:
                mv = [
                    {
                        "timestamp": st.now_iso(),
                        "sampledValue": _sampled(c.sample(self.settings.measurands("aligned_measurands")), "Trigger"),
                    }
                ]
                st.send_later("MeterValues", {"evseId": c.evse_id, "meterValue": mv})
        elif requested == "TransactionEvent":
            st.update_meters()
            for c in connectors:
                if c.tx is not None:
                    self.meter_values(c, "Trigger")
        elif requested == "FirmwareStatusNotification":
            st.send_later("FirmwareStatusNotification", {"status": st.firmware_status})
        elif requested == "LogStatusNotification":
            st.send_later("LogStatusNotification", {"status": "Idle"})
        elif requested == "PublishFirmwareStatusNotification":
            st.send_later("PublishFirmwareStatusNotification", {"status": "Idle"})
        else:  # certificate signing: no key pair in a simulator
            return {"status": "NotImplemented"}
        return {"status": "Accepted"}

    # -------------------------------------------------------------- firmware, logs (L, N01)
    async def on_UpdateFirmware(self, session: Session, p: Payload) -> Payload:
        st = self.station
        request_id = p["requestId"]
        firmware = p["firmware"]
        answer = "Accepted"
        running: asyncio.Task[None] | None = getattr(self, "_firmware_task", None)
        if running is not None and not running.done():  # a new update cancels the running one (OCA TC_L_10)
            running.cancel()
            answer = "AcceptedCanceled"
        self._firmware_request = request_id

        async def walk() -> None:
            await firmware_walk.install(st, firmware["location"], lambda s: self._firmware_status(s, request_id),
                                        extended=True, signature=firmware.get("signature"),
                                        signing_certificate=firmware.get("signingCertificate"),
                                        retrieve_at=parse_time(firmware.get("retrieveDateTime")),
                                        install_at=parse_time(firmware.get("installDateTime")))  # fmt: skip

        self._firmware_task = st.spawn(walk())
        return {"status": answer}

    async def on_PublishFirmware(self, session: Session, p: Payload) -> Payload:
        st = self.station

        async def walk() -> None:
            for status in ("Downloading", "Downloaded", "ChecksumVerified", "Published"):
                payload: Payload = {"status": status, "requestId": p["requestId"]}
                if status == "Published":
                    payload["location"] = [f"http://{st.identity}.local/firmware.bin"]
                await st.call("PublishFirmwareStatusNotification", payload)
                await asyncio.sleep(st.config.step_delay)

        st.after(0, walk)
        return {"status": "Accepted"}

    async def on_UnpublishFirmware(self, session: Session, p: Payload) -> Payload:
        return {"status": "Unpublished"}

    async def on_GetLog(self, session: Session, p: Payload) -> Payload:
        st = self.station

        filename = f"{p['logType'].lower()}-{st.identity}.log"

        async def walk() -> None:
            await st.call("LogStatusNotification", {"status": "Uploading", "requestId": p["requestId"]})
            done = await files.upload(p["log"]["remoteLocation"], filename, files.log_text(st.identity, p["logType"]))
            await asyncio.sleep(st.config.step_delay)
            status = "UploadFailure" if done is False else "Uploaded"
            await st.call("LogStatusNotification", {"status": status, "requestId": p["requestId"]})

        st.after(0, walk)
        return {"status": "Accepted", "filename": filename}

    async def on_CustomerInformation(self, session: Session, p: Payload) -> Payload:
        """N09/N10: report (and/or clear) what this station keeps about the customer: its local list
        entry, its authorization cache entry, its running transactions. It has no customer identifiers
        or customer certificates of its own, so those reports say so."""
        st = self.station
        named = [k for k in ("idToken", "customerIdentifier", "customerCertificate") if k in p]
        if len(named) != 1:
            return {"status": "Invalid", "statusInfo": {"reasonCode": "InvalidValue",
                                                         "additionalInfo": "name exactly one customer"}}  # fmt: skip
        lines: list[str] = []
        token = (p.get("idToken") or {}).get("idToken")
        if token is not None:
            if token in st.auth.entries:
                lines.append(f"local authorization list v{st.auth.version}: {_token_status(st.auth.entries[token])}")
            if token in st.auth.cache:
                lines.append(f"authorization cache: {_token_status(st.auth.cache[token])}")
            for c in st.connectors:
                if c.tx is not None and c.tx.id_tag == token:
                    lines.append(f"transaction {c.tx.id or c.tx.ref} running on EVSE {c.evse_id}, "
                                 f"{c.tx.energy_wh:.0f} Wh so far")  # fmt: skip
            if p["clear"]:  # the cache is the station's; the local list is the CSMS's to change (N_46)
                st.auth.cache.pop(token, None)
        who = token or p.get("customerIdentifier") or (p.get("customerCertificate") or {}).get("serialNumber")
        if p["report"]:
            data = "; ".join(lines) if lines else f"no data kept about {who}"
        else:
            data = f"data about {who} cleared" if p["clear"] else ""
        if p["clear"] and p["report"]:
            data += " (cleared)"
        parts = [data[i : i + 512] for i in range(0, len(data), 512)] or [""]

        async def send() -> None:
            for n, part in enumerate(parts):
                await st.call("NotifyCustomerInformation", {"data": part, "seqNo": n, "generatedAt": st.now_iso(),
                                                            "requestId": p["requestId"],
                                                            "tbc": n < len(parts) - 1})  # fmt: skip

        st.after(0, send)
        return {"status": "Accepted"}

    # -------------------------------------------------------------- display messages (O)
    def _current_messages(self) -> dict[int, dict[str, Any]]:
        """The messages still valid: one past its endDateTime is gone (O01.FR.09)."""
        st = self.station
        now = time.time()
        expired = [i for i, m in st.display_messages.items()
                   if (parse_time(m.get("endDateTime")) or now + 1) <= now]  # fmt: skip
        for i in expired:
            del st.display_messages[i]
        if expired:
            self.settings.force("display_messages", len(st.display_messages))
        return st.display_messages

    async def on_SetDisplayMessage(self, session: Session, p: Payload) -> Payload:
        st = self.station
        message = p["message"]
        if not self.settings["display_available"]:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "NoDisplay"}}
        if message["priority"] not in self.settings["display_priorities"].split(","):
            return {"status": "NotSupportedPriority"}
        if message["message"]["format"] not in self.settings["display_formats"].split(","):
            return {"status": "NotSupportedMessageFormat"}
        if "transactionId" in message and st.find_tx(message["transactionId"]) is None:
            return {"status": "UnknownTransaction"}
        messages = self._current_messages()
        if message["id"] not in messages and len(messages) >= self.settings["display_capacity"]:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "OutOfStorage"}}
        messages[message["id"]] = message  # the same id replaces the message (O_12)
        self.settings.force("display_messages", len(messages))
        st.event("display", message_id=message["id"], priority=message["priority"],
                 content=message["message"]["content"])  # fmt: skip
        return {"status": "Accepted"}

    async def on_GetDisplayMessages(self, session: Session, p: Payload) -> Payload:
        st = self.station
        found = [m for i, m in sorted(self._current_messages().items())
                 if ("id" not in p or i in p["id"]) and ("priority" not in p or m["priority"] == p["priority"])
                 and ("state" not in p or m.get("state") == p["state"])]  # fmt: skip
        if not found:
            return {"status": "Unknown"}
        size = max(1, self.settings["items_per_message"])
        parts = [found[i : i + size] for i in range(0, len(found), size)]

        async def send() -> None:
            for n, part in enumerate(parts):
                await st.call("NotifyDisplayMessages", {"requestId": p["requestId"], "messageInfo": part,
                                                        "tbc": n < len(parts) - 1})  # fmt: skip

        st.after(0, send)
        return {"status": "Accepted"}

    async def on_ClearDisplayMessage(self, session: Session, p: Payload) -> Payload:
        if self._current_messages().pop(p["id"], None) is None:
            return {"status": "Unknown"}
        self.settings.force("display_messages", len(self.station.display_messages))
        return {"status": "Accepted"}

    # -------------------------------------------------------------- misc
    async def on_SetNetworkProfile(self, session: Session, p: Payload) -> Payload:
        self.network_profiles[p["configurationSlot"]] = p["connectionData"]
        return {"status": "Accepted"}

    async def on_InstallCertificate(self, session: Session, p: Payload) -> Payload:
        serial = hashlib.sha256(p["certificate"].encode()).hexdigest()[:40]
        self.certificates[serial] = (p["certificateType"], p["certificate"])
        return {"status": "Accepted"}

    async def on_GetInstalledCertificateIds(self, session: Session, p: Payload) -> Payload:
        types = p.get("certificateType")
        chain = []
        for serial, (kind, pem) in self.certificates.items():
            if types and kind not in types:
                continue
            digest = hashlib.sha256(pem.encode()).hexdigest()
            chain.append(
                {
                    "certificateType": kind,
                    "certificateHashData": {
                        "hashAlgorithm": "SHA256",
                        "issuerNameHash": digest,
                        "issuerKeyHash": digest,
                        "serialNumber": serial,
                    },
                }
            )
        return {"status": "Accepted", "certificateHashDataChain": chain} if chain else {"status": "NotFound"}

    async def on_DeleteCertificate(self, session: Session, p: Payload) -> Payload:
        if self.certificates.pop(p["certificateHashData"]["serialNumber"], None) is None:
            return {"status": "NotFound"}
        return {"status": "Accepted"}

    async def on_CertificateSigned(self, session: Session, p: Payload) -> Payload:
        st = self.station
        certificate_type = p.get("certificateType")
        problem = st.security.install(p["certificateChain"], certificate_type)
        if problem is not None:
            event = "InvalidChargingStationCertificate"
            st.send_later("SecurityEventNotification", {"type": event, "timestamp": st.now_iso(),
                                                        "techInfo": problem[:255]})  # fmt: skip
            return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCertificate"}}
        if certificate_type != "V2GCertificate" and int(self.settings["security_profile"]) >= 3:
            st.after(0.05, lambda: st.reconnect("new client certificate"))
        return {"status": "Accepted"}


def _token_status(info: dict[str, Any]) -> str:
    status = str(info.get("status", "Unknown"))
    group = (info.get("groupIdToken") or {}).get("idToken")
    return status + (f" (group {group})" if group else "")


def _measurand_list() -> list[str]:
    from ocppd.station.settings import MEASURANDS

    return list(MEASURANDS)
