"""The OCPP-S codec: WSDL-driven payloads, envelopes as field stations write them, faults, dialects.

The envelopes below are written by hand (as captured from field chargers), not produced by our encoder,
so the parser is checked against what stations send rather than against itself.
"""

from __future__ import annotations

import gzip
import json
import zlib
from importlib import resources
from typing import Any

import pytest

from ocppd.protocol.soap import SoapFault, SoapVersion, build_fault, build_request, build_response, parse, service
from ocppd.protocol.soap.dialect import from_16, to_16
from ocppd.protocol.soap.envelope import RemoteFault, usable_endpoint
from ocppd.protocol.soap.wsdl import ComplexType, SimpleType
from ocppd.transport.soap import decompress

V12, V15, V16 = SoapVersion.V12, SoapVersion.V15, SoapVersion.V16
WSA05 = "http://www.w3.org/2005/08/addressing"
WSA04 = "http://schemas.xmlsoap.org/ws/2004/08/addressing"


def envelope(header: str, body: str, *, ns: str = "urn://Ocpp/Cs/2015/10/", wsa: str = WSA05) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="{wsa}" xmlns:cs="{ns}">'
        f"<soap:Header>{header}</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


BOOT_BODY = (
    "<cs:bootNotificationRequest><cs:chargePointVendor>ACME</cs:chargePointVendor>"
    "<cs:chargePointModel>Wallbox</cs:chargePointModel></cs:bootNotificationRequest>"
)
FULL_HEADER = (
    "<cs:chargeBoxIdentity>CP-1</cs:chargeBoxIdentity><wsa:Action>/BootNotification</wsa:Action>"
    "<wsa:MessageID>urn:uuid:1</wsa:MessageID><wsa:To>http://csms/ocpp/soap</wsa:To>"
    "<wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>"
    "<wsa:From><wsa:Address>http://10.1.2.3:8080/ocpp</wsa:Address></wsa:From>"
)


# ---------------------------------------------------------------------------------------- WSDL shapes
def _json_shape(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("type") == "array":
        return _json_shape(schema["items"])
    return {k: _json_shape(v) for k, v in schema.get("properties", {}).items()}


def _xml_shape(kind: Any) -> dict[str, Any]:
    if isinstance(kind, SimpleType):
        return {}
    assert isinstance(kind, ComplexType)
    return {f.name: _xml_shape(f.type) for f in kind.fields}


def test_soap_16_payloads_have_the_json_16_shape() -> None:
    """1.6S shares the 1.6J adapter: every operation's fields match the official 1.6 JSON schemas."""
    folder = resources.files("ocppd.protocol") / "schemas" / "v16"
    checked = 0
    for side in ("cs", "cp"):
        svc = service(V16, side)
        for op in svc.operations.values():
            for suffix, element in (("", op.request), ("Response", op.response)):
                schema = json.loads((folder / f"{op.name}{suffix}.json").read_text())
                assert _xml_shape(svc._elements[element]) == _json_shape(schema), f"{op.name}{suffix}"
                checked += 1
    assert checked == 2 * (10 + 19)


def test_operations_per_version() -> None:
    assert len(service(V12, "cs").operations) == 9 and "DataTransfer" not in service(V12, "cs").operations
    assert "ReserveNow" in service(V15, "cp").operations and "ReserveNow" not in service(V12, "cp").operations
    assert {"SetChargingProfile", "TriggerMessage"} <= set(service(V16, "cp").operations)
    assert "TriggerMessage" not in service(V15, "cp").operations


def test_types_are_decoded_like_json() -> None:
    body = (
        "<cs:startTransactionRequest><cs:connectorId>2</cs:connectorId><cs:idTag>TAG1</cs:idTag>"
        "<cs:timestamp>2024-05-01T10:00:00Z</cs:timestamp><cs:meterStart>1500</cs:meterStart>"
        "</cs:startTransactionRequest>"
    )
    msg = parse(envelope(FULL_HEADER.replace("/BootNotification", "/StartTransaction"), body), validate=True)
    assert msg.operation == "StartTransaction" and not msg.response
    assert msg.payload == {"connectorId": 2, "idTag": "TAG1", "timestamp": "2024-05-01T10:00:00Z", "meterStart": 1500}


def test_round_trip_keeps_lists_floats_and_booleans() -> None:
    svc = service(V16, "cp")
    payload = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 7,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
            },
        },
    }
    element = svc.encode("setChargingProfileRequest", payload)
    assert svc.validate(element) is None
    assert svc.decode(element) == payload
    config = service(V16, "cp").encode(
        "getConfigurationResponse", {"configurationKey": [{"key": "A", "readonly": True, "value": "1"}]}
    )
    assert service(V16, "cp").decode(config) == {"configurationKey": [{"key": "A", "readonly": True, "value": "1"}]}


# ---------------------------------------------------------------------------------------- field variations
def test_well_formed_request() -> None:
    msg = parse(envelope(FULL_HEADER, BOOT_BODY), validate=True)
    assert (msg.version, msg.side, msg.operation, msg.identity) == (V16, "cs", "BootNotification", "CP-1")
    a = msg.addressing
    assert (a.action, a.message_id, a.from_address, a.namespace) == (
        "/BootNotification",
        "urn:uuid:1",
        "http://10.1.2.3:8080/ocpp",
        WSA05,
    )
    assert a.accepted == []


def test_wsa_2004_namespace_is_accepted_and_recorded() -> None:
    header = FULL_HEADER.replace("2005/08/addressing/anonymous", "ws/2004/08/addressing/role/anonymous")
    msg = parse(envelope(header, BOOT_BODY, wsa=WSA04))
    assert msg.addressing.namespace == WSA04
    assert msg.addressing.from_address == "http://10.1.2.3:8080/ocpp"
    assert "WS-Addressing 2004/08 namespace" in msg.addressing.accepted


def test_from_as_bare_text_with_empty_host() -> None:
    header = (
        "<cs:chargeBoxIdentity>CP-1</cs:chargeBoxIdentity><wsa:Action>/BootNotification</wsa:Action>"
        "<wsa:MessageID>urn:uuid:2</wsa:MessageID><wsa:From>http://:8082/</wsa:From>"
    )
    msg = parse(envelope(header, BOOT_BODY))
    assert msg.addressing.from_address == "http://:8082/"
    assert "From as bare text (no Address element)" in msg.addressing.accepted
    url, notes = usable_endpoint(msg.addressing.from_address, "192.168.7.9")
    assert url == "http://192.168.7.9:8082/"
    assert any("empty host" in n for n in notes) and any("private" in n for n in notes)
    assert usable_endpoint("http://:8082/", None)[0] is None


def test_headers_without_namespace_and_identity_in_any_case() -> None:
    header = (
        "<ChargeBoxIdentity>cp-lower</ChargeBoxIdentity><Action>/BootNotification</Action>"
        "<From><Address>http://station.example:8080/</Address></From>"
    )
    msg = parse(envelope(header, BOOT_BODY))
    assert msg.identity == "cp-lower"
    assert msg.addressing.from_address == "http://station.example:8080/"
    accepted = " | ".join(msg.addressing.accepted)
    assert "no namespace" in accepted and "spelt 'ChargeBoxIdentity'" in accepted and "no MessageID" in accepted


def test_missing_action_is_taken_from_the_body() -> None:
    msg = parse(envelope("<cs:chargeBoxIdentity>CP-1</cs:chargeBoxIdentity>", BOOT_BODY))
    assert msg.operation == "BootNotification" and "no Action header" in msg.addressing.accepted


def test_unprefixed_default_namespace_body() -> None:
    body = (
        '<bootNotificationRequest xmlns="urn://Ocpp/Cs/2012/06/"><chargePointVendor>V</chargePointVendor>'
        "<chargePointModel>M</chargePointModel></bootNotificationRequest>"
    )
    msg = parse(envelope("<chargeBoxIdentity>X</chargeBoxIdentity>", body, ns="urn://Ocpp/Cs/2012/06/"))
    assert msg.version is V15 and msg.payload == {"chargePointVendor": "V", "chargePointModel": "M"}


def test_private_and_anonymous_from() -> None:
    assert usable_endpoint("http://www.w3.org/2005/08/addressing/anonymous", "1.2.3.4")[0] is None
    assert usable_endpoint("ftp://x/", "1.2.3.4")[0] is None
    url, notes = usable_endpoint("http://10.0.0.8:8080/cp", "1.2.3.4")
    assert url == "http://10.0.0.8:8080/cp" and notes == ["From is a private address (10.0.0.8)"]


# ---------------------------------------------------------------------------------------- refusals
def fault_of(data: bytes, **kw: Any) -> SoapFault:
    with pytest.raises(SoapFault) as info:
        parse(data, **kw)
    return info.value


def test_malformed_xml() -> None:
    f = fault_of(b"<soap:Envelope><unclosed>")
    assert (f.code, f.subcode) == ("Sender", "ProtocolError") and "malformed" in f.reason


def test_doctype_and_entities_are_refused_not_expanded() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><x>&lol2;</x>'
    assert "DOCTYPE" in fault_of(bomb).reason
    external = b'<?xml version="1.0"?><!doctype x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    assert "DOCTYPE" in fault_of(external).reason


def test_size_cap() -> None:
    assert "larger than" in fault_of(envelope(FULL_HEADER, BOOT_BODY), max_size=100).reason


def test_soap_11_and_foreign_documents() -> None:
    soap11 = b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>'
    assert "SOAP 1.1" in fault_of(soap11).reason
    assert "not a SOAP envelope" in fault_of(b"<html/>").reason


def test_unknown_operation_and_namespace() -> None:
    f = fault_of(envelope(FULL_HEADER, "<cs:rebootEverythingRequest/>"))
    assert (f.code, f.subcode) == ("Receiver", "NotSupported")
    f = fault_of(envelope(FULL_HEADER, "<x:bootNotificationRequest xmlns:x='urn:other'/>"))
    assert "unknown OCPP-S namespace" in f.reason


def test_action_that_contradicts_the_body() -> None:
    assert (
        "does not match" in fault_of(envelope(FULL_HEADER.replace("/BootNotification", "/Heartbeat"), BOOT_BODY)).reason
    )


def test_strict_validation_names_the_problem() -> None:
    body = "<cs:bootNotificationRequest><cs:chargePointVendor>V</cs:chargePointVendor></cs:bootNotificationRequest>"
    f = fault_of(envelope(FULL_HEADER, body), validate=True)
    assert f.subcode == "ProtocolError" and "chargePointModel" in f.reason
    assert parse(envelope(FULL_HEADER, body)).payload == {"chargePointVendor": "V"}  # lenient


def test_bad_value_type_is_a_fault_even_when_lenient() -> None:
    body = "<cs:heartbeatRequest/>"
    assert parse(envelope(FULL_HEADER.replace("/BootNotification", "/Heartbeat"), body)).payload == {}
    body = (
        "<cs:statusNotificationRequest><cs:connectorId>one</cs:connectorId><cs:status>Available</cs:status>"
        "<cs:errorCode>NoError</cs:errorCode></cs:statusNotificationRequest>"
    )
    f = fault_of(envelope(FULL_HEADER.replace("/BootNotification", "/StatusNotification"), body))
    assert "connectorId" in f.reason


# ---------------------------------------------------------------------------------------- building
def test_response_and_fault_envelopes_parse_back() -> None:
    data = build_response(
        V15,
        "cs",
        "BootNotification",
        {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "heartbeatInterval": 60},
        relates_to="urn:uuid:9",
    )
    msg = parse(data, validate=True)
    assert msg.response and msg.addressing.relates_to == "urn:uuid:9" and msg.payload["heartbeatInterval"] == 60
    fault = build_fault(SoapFault("Sender", "IdentityMismatch", "who?"), namespace=V16.cs_namespace)
    with pytest.raises(RemoteFault) as info:
        parse(fault)
    assert (info.value.code, info.value.subcode, info.value.reason) == ("Sender", "IdentityMismatch", "who?")
    assert info.value.to_error().code == "IdentityMismatch"


def test_request_carries_identity_and_addressing() -> None:
    data, message_id = build_request(
        V12, "cp", "Reset", {"type": "Hard"}, identity="CP-9", to="http://10.0.0.1/", from_address="http://csms/"
    )
    msg = parse(data, validate=True)
    assert (msg.side, msg.identity, msg.addressing.message_id, msg.addressing.to) == (
        "cp",
        "CP-9",
        message_id,
        "http://10.0.0.1/",
    )


def test_decompress() -> None:
    raw = envelope(FULL_HEADER, BOOT_BODY)
    assert decompress(gzip.compress(raw), "gzip", 10_000) == raw
    assert decompress(zlib.compress(raw), "deflate", 10_000) == raw
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decompress(raw_deflate.compress(raw) + raw_deflate.flush(), "deflate", 10_000) == raw
    with pytest.raises(SoapFault, match="decompressed"):
        decompress(gzip.compress(b"x" * 1_000_000), "gzip", 10_000)
    with pytest.raises(SoapFault, match="Content-Encoding"):
        decompress(raw, "br", 10_000)


# ---------------------------------------------------------------------------------------- dialects
def test_12_meter_values_carry_one_integer() -> None:
    wire = {"connectorId": 1, "values": [{"timestamp": "2024-01-01T00:00:00Z", "value": 1234}]}
    as16 = to_16(V12, "cs", "MeterValues", wire, response=False)
    assert as16["meterValue"] == [
        {
            "timestamp": "2024-01-01T00:00:00Z",
            "sampledValue": [{"value": "1234", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}],
        }
    ]
    back = from_16(
        V12,
        "cs",
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": 4,
            "meterValue": [
                {
                    "timestamp": "2024-01-01T00:00:00Z",
                    "sampledValue": [
                        {"value": "7.5", "measurand": "Power.Active.Import", "unit": "kW"},
                        {"value": "2.5", "unit": "kWh"},
                    ],
                }
            ],
        },
        response=False,
    )
    assert back == {"connectorId": 1, "values": [{"timestamp": "2024-01-01T00:00:00Z", "value": 2500}]}
    assert service(V12, "cs").validate(service(V12, "cs").encode("meterValuesRequest", back)) is None


def test_15_values_with_attributes() -> None:
    body = (
        "<cs:meterValuesRequest><cs:connectorId>1</cs:connectorId><cs:transactionId>3</cs:transactionId>"
        "<cs:values><cs:timestamp>2024-01-01T00:00:00Z</cs:timestamp>"
        '<cs:value measurand="Energy.Active.Import.Register" unit="Wh" context="Sample.Periodic">42</cs:value>'
        '<cs:value measurand="Power.Active.Import" unit="W">7000</cs:value></cs:values></cs:meterValuesRequest>'
    )
    msg = parse(
        envelope(FULL_HEADER.replace("/BootNotification", "/MeterValues"), body, ns=V15.cs_namespace), validate=True
    )
    as16 = to_16(V15, "cs", "MeterValues", msg.payload, response=False)
    assert as16["transactionId"] == 3
    assert as16["meterValue"][0]["sampledValue"] == [
        {"value": "42", "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic"},
        {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"},
    ]
    stop = {
        "transactionId": 3,
        "idTag": "T",
        "timestamp": "t",
        "meterStop": 9,
        "reason": "Local",
        "transactionData": as16["meterValue"],
    }
    wire = from_16(V15, "cs", "StopTransaction", stop, response=False)
    assert "reason" not in wire and wire["transactionData"][0]["values"][0]["value"][1]["value"] == "7000"
    assert to_16(V15, "cs", "StopTransaction", wire, response=False)["transactionData"] == as16["meterValue"]


def test_status_and_answers_between_versions() -> None:
    status = {"connectorId": 1, "status": "Charging", "errorCode": "EVCommunicationError", "timestamp": "t"}
    assert from_16(V15, "cs", "StatusNotification", status, response=False)["status"] == "Occupied"
    assert from_16(V12, "cs", "StatusNotification", status, response=False) == {
        "connectorId": 1,
        "status": "Occupied",
        "errorCode": "Mode3Error",
    }
    wire = {"connectorId": 1, "status": "Occupied", "errorCode": "Mode3Error"}
    assert to_16(V15, "cs", "StatusNotification", wire, response=False)["errorCode"] == "EVCommunicationError"
    boot = {"status": "Accepted", "currentTime": "t", "interval": 300}
    assert from_16(V12, "cs", "BootNotification", boot, response=True)["heartbeatInterval"] == 300
    assert to_16(V15, "cp", "UnlockConnector", {"status": "Accepted"}, response=True) == {"status": "Unlocked"}
    local = {"listVersion": 2, "updateType": "Full", "localAuthorizationList": [{"idTag": "A"}]}
    assert "localAuthorisationList" in from_16(V15, "cp", "SendLocalList", local, response=False)
    with pytest.raises(Exception, match=r"charging profiles need OCPP 1\.6"):
        from_16(V15, "cp", "RemoteStartTransaction", {"idTag": "A", "chargingProfile": {}}, response=False)
    assert from_16(V16, "cs", "StatusNotification", status, response=False) is status
