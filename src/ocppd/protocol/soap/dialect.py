"""OCPP 1.2 and 1.5 messages in the shape of their OCPP 1.6 counterparts, and back.

Both ends of ocppd speak the 1.6 shape to their domain (the CSMS's 1.6 adapter, the simulator's 1.6
station model); OCPP-S 1.6 decodes to exactly that shape (checked against the JSON schemas in the
tests), so only 1.2 and 1.5 need translating. The differences, from the WSDLs:

* MeterValues: 1.5 ``values[]`` of ``{timestamp, value[]}`` where each value is text with attributes
  (context, format, measurand, location, unit); 1.2 ``values[]`` of ``{timestamp, value}`` with one
  integer (the energy register in Wh). 1.6 calls them ``meterValue[]`` / ``sampledValue[]``. 1.5 says
  ``Amp``/``Volt`` for 1.6's ``A``/``V`` and has fewer measurands (no SoC, offered current or power,
  frequency), contexts and locations and no phase: such samples are left out towards 1.5.
* StopTransaction: 1.5 ``transactionData[]`` holds ``values[]`` of meter values; 1.2 has none;
  neither has ``reason``.
* StartTransaction (1.2): no ``reservationId``. StatusNotification (1.2): no timestamp, info or
  vendor fields. Status ``Occupied`` (1.2/1.5) is kept as it is: the domain knows it from 2.x.
  Error code ``Mode3Error`` (1.2/1.5) is 1.6's ``EVCommunicationError``.
* BootNotification.conf: ``heartbeatInterval`` (1.2/1.5) is 1.6's ``interval``.
* SendLocalList (1.5): ``localAuthorisationList`` and an optional ``hash``.
* UnlockConnector.conf (1.2/1.5): ``Accepted``/``Rejected`` are 1.6's ``Unlocked``/``UnlockFailed``.
* RemoteStartTransaction (1.2/1.5): no ``chargingProfile`` (refused, not dropped).
"""

from __future__ import annotations

from typing import Any

from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.protocol.soap.wsdl import SoapVersion

Payload = dict[str, Any]

ENERGY_REGISTER = "Energy.Active.Import.Register"
# What a 1.5 sampled value may say (the WSDL's enumerations); 1.6 added the rest.
_MEASURANDS_15 = frozenset(
    {
        *(
            f"Energy.{kind}.{way}.{what}"
            for kind in ("Active", "Reactive")
            for way in ("Export", "Import")
            for what in ("Register", "Interval")
        ),
        *(f"Power.{kind}.{way}" for kind in ("Active", "Reactive") for way in ("Export", "Import")),
        "Current.Export",
        "Current.Import",
        "Voltage",
        "Temperature",
    }
)
_CONTEXTS_15 = frozenset(
    {
        "Interruption.Begin",
        "Interruption.End",
        "Sample.Clock",
        "Sample.Periodic",
        "Transaction.Begin",
        "Transaction.End",
    }
)
_LOCATIONS_15 = frozenset({"Inlet", "Outlet", "Body"})
_UNITS_TO_15 = {"A": "Amp", "V": "Volt"}
_UNITS_FROM_15 = {v: k for k, v in _UNITS_TO_15.items()}
_UNITS_15 = frozenset({"Wh", "kWh", "varh", "kvarh", "W", "kW", "var", "kvar", "Amp", "Volt", "Celsius"})
_SAMPLE_ATTRIBUTES_15 = ("context", "format", "measurand", "location", "unit")
_OCCUPIED_16 = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})
_ERROR_CODES_12 = frozenset(
    {
        "ConnectorLockFailure",
        "HighTemperature",
        "Mode3Error",
        "NoError",
        "PowerMeterFailure",
        "PowerSwitchFailure",
        "ReaderFailure",
        "ResetFailure",
    }
)
_ERROR_CODES_15 = _ERROR_CODES_12 | {"GroundFailure", "OverCurrentFailure", "UnderVoltage", "WeakSignal"}


# ------------------------------------------------------------------------------ meter values
def _meter_value_to_16(version: SoapVersion, value: Payload) -> Payload:
    if version is SoapVersion.V12:
        return {
            "timestamp": value["timestamp"],
            "sampledValue": [{"value": str(value["value"]), "measurand": ENERGY_REGISTER, "unit": "Wh"}],
        }
    samples = []
    for v in value.get("value", []):
        sample = dict(v)
        if sample.get("unit") in _UNITS_FROM_15:
            sample["unit"] = _UNITS_FROM_15[sample["unit"]]
        samples.append(sample)
    return {"timestamp": value["timestamp"], "sampledValue": samples}


def _meter_value_from_16(version: SoapVersion, value: Payload) -> Payload | None:
    samples = value.get("sampledValue", [])
    if version is SoapVersion.V12:
        # One integer: the energy register (the measurand 1.2 meters report), in Wh.
        energy = next((s for s in samples if s.get("measurand", ENERGY_REGISTER) == ENERGY_REGISTER), None)
        if energy is None:
            return None
        wh = float(energy["value"]) * (1000 if energy.get("unit") == "kWh" else 1)
        return {"timestamp": value["timestamp"], "value": round(wh)}
    return {"timestamp": value["timestamp"], "value": [v for v in map(_sample_to_15, samples) if v is not None]}


def _sample_to_15(sample: Payload) -> Payload | None:
    """A 1.6 sampled value as 1.5 can say it, or None (a per-phase value, or one 1.5 has no words for)."""
    if sample.get("phase") is not None:  # 1.5 has no phase attribute: it would be read as the total
        return None
    out = {k: sample[k] for k in ("value", *_SAMPLE_ATTRIBUTES_15) if k in sample}
    if "unit" in out:
        out["unit"] = _UNITS_TO_15.get(out["unit"], out["unit"])
    if (
        out.get("measurand", ENERGY_REGISTER) not in _MEASURANDS_15
        or out.get("unit", "Wh") not in _UNITS_15
        or out.get("context", "Sample.Periodic") not in _CONTEXTS_15
        or out.get("location", "Outlet") not in _LOCATIONS_15
    ):
        return None
    return out


def _values_from_16(version: SoapVersion, values: list[Payload]) -> list[Payload]:
    out = [_meter_value_from_16(version, v) for v in values]
    return [v for v in out if v is not None and (version is SoapVersion.V12 or v["value"])]


# ------------------------------------------------------------------------------ station -> CSMS
def _request_to_16(version: SoapVersion, operation: str, p: Payload) -> Payload:
    if operation == "MeterValues":
        out = {k: v for k, v in p.items() if k != "values"}
        out["meterValue"] = [_meter_value_to_16(version, v) for v in p.get("values", [])]
        return out
    if operation == "StopTransaction" and "transactionData" in p:
        out = {k: v for k, v in p.items() if k != "transactionData"}
        out["transactionData"] = [
            _meter_value_to_16(version, v) for data in p["transactionData"] for v in data.get("values", [])
        ]
        return out
    if operation == "StatusNotification" and p.get("errorCode") == "Mode3Error":
        return {**p, "errorCode": "EVCommunicationError"}
    return p


def _request_from_16(version: SoapVersion, operation: str, p: Payload) -> Payload:
    if operation == "MeterValues":
        out = {k: v for k, v in p.items() if k != "meterValue"}
        if version is SoapVersion.V12:
            out.pop("transactionId", None)
        out["values"] = _values_from_16(version, p.get("meterValue", []))
        return out
    if operation == "StopTransaction":
        out = {k: v for k, v in p.items() if k not in ("transactionData", "reason")}
        if version is SoapVersion.V15 and p.get("transactionData"):
            out["transactionData"] = [{"values": _values_from_16(version, p["transactionData"])}]
        return out
    if operation == "StartTransaction" and version is SoapVersion.V12:
        return {k: v for k, v in p.items() if k != "reservationId"}
    if operation == "StatusNotification":
        out = dict(p)
        if out.get("status") in _OCCUPIED_16:
            out["status"] = "Occupied"
        if out.get("errorCode") == "EVCommunicationError":
            out["errorCode"] = "Mode3Error"
        known = _ERROR_CODES_12 if version is SoapVersion.V12 else _ERROR_CODES_15
        if out.get("errorCode") not in known:
            out["errorCode"] = "NoError" if out.get("status") != "Faulted" else "PowerSwitchFailure"
        if version is SoapVersion.V12:
            for key in ("timestamp", "info", "vendorId", "vendorErrorCode"):
                out.pop(key, None)
        return out
    return p


# ------------------------------------------------------------------------------ CSMS -> station
def _cp_request_from_16(version: SoapVersion, operation: str, p: Payload) -> Payload:
    if operation == "RemoteStartTransaction" and "chargingProfile" in p:
        raise OcppError(
            ErrorKind.NOT_SUPPORTED, f"charging profiles need OCPP 1.6; this station speaks {version.label}"
        )
    if operation == "SendLocalList":
        out = {k: v for k, v in p.items() if k != "localAuthorizationList"}
        if "localAuthorizationList" in p:
            out["localAuthorisationList"] = p["localAuthorizationList"]
        return out
    return p


def _cp_request_to_16(version: SoapVersion, operation: str, p: Payload) -> Payload:
    if operation == "SendLocalList":
        out = {k: v for k, v in p.items() if k not in ("localAuthorisationList", "hash")}
        if "localAuthorisationList" in p:
            out["localAuthorizationList"] = p["localAuthorisationList"]
        return out
    return p


_UNLOCK_TO_16 = {"Accepted": "Unlocked", "Rejected": "UnlockFailed"}
_UNLOCK_FROM_16 = {"Unlocked": "Accepted", "UnlockFailed": "Rejected", "NotSupported": "Rejected"}


def _response_to_16(version: SoapVersion, operation: str, p: Payload) -> Payload:
    if operation == "BootNotification" and "heartbeatInterval" in p:
        out = {k: v for k, v in p.items() if k != "heartbeatInterval"}
        out["interval"] = p["heartbeatInterval"]
        return out
    if operation == "UnlockConnector":
        return {**p, "status": _UNLOCK_TO_16.get(p.get("status", ""), p.get("status"))}
    if operation == "SendLocalList":
        return {k: v for k, v in p.items() if k != "hash"}
    return p


def _response_from_16(version: SoapVersion, operation: str, p: Payload) -> Payload:
    if operation == "BootNotification" and "interval" in p:
        out = {k: v for k, v in p.items() if k != "interval"}
        out["heartbeatInterval"] = p["interval"]
        return out
    if operation == "UnlockConnector":
        return {**p, "status": _UNLOCK_FROM_16.get(p.get("status", ""), p.get("status"))}
    if operation == "ChangeConfiguration" and p.get("status") == "RebootRequired":
        return {**p, "status": "Accepted"}
    return p


# ------------------------------------------------------------------------------ the two entry points
def to_16(version: SoapVersion, side: str, operation: str, payload: Payload, *, response: bool) -> Payload:
    """A decoded message of ``side``'s service (``cs``/``cp``) in the 1.6 shape."""
    if version is SoapVersion.V16:
        return payload
    if response:
        return _response_to_16(version, operation, payload)
    return (_request_to_16 if side == "cs" else _cp_request_to_16)(version, operation, payload)


def from_16(version: SoapVersion, side: str, operation: str, payload: Payload, *, response: bool) -> Payload:
    """A 1.6-shaped payload as ``version``'s ``side`` service expects it; OcppError if it cannot be said."""
    if version is SoapVersion.V16:
        return payload
    if response:
        return _response_from_16(version, operation, payload)
    return (_request_from_16 if side == "cs" else _cp_request_from_16)(version, operation, payload)
