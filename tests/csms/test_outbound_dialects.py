"""Every domain verb through the wire dialects: OCPP 2.0 (translated from the 2.0.1 plan) must pass
the official 2.0 schemas, OCPP-S 1.2/1.5/1.6 (translated from the 1.6 plan) the WSDL's schema; a verb a
version cannot say is refused with NotSupported, and only the ones listed here may be."""

from __future__ import annotations

from typing import Any

import pytest

from ocppd.csms import verbs as v
from ocppd.csms.outbound import Target
from ocppd.csms.service import outbound_adapters
from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.protocol.soap import SoapVersion, service
from ocppd.protocol.soap.dialect import from_16
from ocppd.protocol.v20 import V20Dialect
from ocppd.protocol.validation import schemas
from ocppd.protocol.versions import OcppVersion
from tests.csms.test_outbound import ONLY_2X, ONLY_21, SAMPLES

UP_TO_201 = [s for s in SAMPLES if type(s) not in ONLY_21]  # 2.0 and OCPP-S are older than 2.1's verbs

V16, V20, V201 = OcppVersion.V16, OcppVersion.V20, OcppVersion.V201

# Verbs OCPP 2.0 cannot carry with the sample arguments: a report of a whole component (2.0 needs the
# variable named). Resetting one EVSE is refused too, tested below.
NOT_IN_20: set[type] = {v.GetReport}
# (verb, OCPP-S version) pairs the version's Charge Point service lacks.
NOT_IN_SOAP = {
    SoapVersion.V12: {
        "ReserveNow",
        "CancelReservation",
        "SendLocalList",
        "GetLocalListVersion",
        "GetConfiguration",
        "DataTransfer",
        "SetChargingProfile",
        "ClearChargingProfile",
        "GetCompositeSchedule",
        "TriggerMessage",
    },
    SoapVersion.V15: {"SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule", "TriggerMessage"},
    SoapVersion.V16: set(),
}
# 1.6 security-extension messages travel as DataTransfer or do not exist in any OCPP-S WSDL.
SECURITY_EXTENSION = {
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "SignedUpdateFirmware",
}


@pytest.mark.parametrize("verb", UP_TO_201, ids=lambda x: x.name)
def test_every_verb_in_ocpp_20(verb: v.Verb[Any]) -> None:
    dialect = V20Dialect("csms")
    plan = outbound_adapters(V201).plan(verb, Target("CS", V201))
    for call in plan.calls:
        try:
            wire = dialect.request_out(call.action, call.payload)
        except OcppError as exc:
            assert exc.kind is ErrorKind.NOT_SUPPORTED and type(verb) in NOT_IN_20, exc
            continue
        schemas(V20).validate(call.action, wire)


def test_ocpp_20_refuses_what_it_cannot_say() -> None:
    with pytest.raises(OcppError, match="whole station"):
        V20Dialect("csms").request_out("Reset", {"type": "Immediate", "evseId": 1})
    with pytest.raises(OcppError, match="not a connector"):
        V20Dialect("csms").request_out(
            "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 1}}
        )


def test_ocpp_20_station_messages_read_as_201() -> None:
    """What a 2.0 station sends, after translation, is a valid 2.0.1 message for the domain."""
    dialect = V20Dialect("csms")
    token = {"idToken": "A", "type": "ISO14443"}
    samples = {
        "TransactionEvent": {
            "eventType": "Started",
            "timestamp": "2024-01-01T00:00:00Z",
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionData": {"id": "T1", "chargingState": "Charging"},
            "idToken": token,
        },
        "Authorize": {"idToken": token, "evseId": [1]},
        "NotifyReport": {
            "requestId": 1,
            "generatedAt": "2024-01-01T00:00:00Z",
            "tbc": False,
            "seqNo": 0,
            "reportData": [
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "variableAttribute": [{"value": "60", "persistence": True, "constant": False}],
                }
            ],
        },
    }
    for action, payload in samples.items():
        schemas(V20).validate(action, payload)
        schemas(V201).validate(action, dialect.request_in(action, payload))
    assert dialect.request_in("TransactionEvent", samples["TransactionEvent"])["transactionInfo"] == {
        "transactionId": "T1",
        "chargingState": "Charging",
    }
    answer = {"idTokenInfo": {"status": "Accepted", "evseId": [1]}, "customData": {"vendorId": "x"}}
    wire = dialect.response_out("Authorize", answer)
    schemas(V20).validate("Authorize", wire, response=True)
    assert wire == {"idTokenInfo": {"status": "Accepted"}, "evseId": [1]}


@pytest.mark.parametrize("soap", list(SoapVersion), ids=lambda x: x.label)
@pytest.mark.parametrize("verb", [s for s in UP_TO_201 if type(s) not in ONLY_2X], ids=lambda x: x.name)
def test_every_verb_in_ocpp_s(verb: v.Verb[Any], soap: SoapVersion) -> None:
    cp = service(soap, "cp")
    for call in outbound_adapters(V16).plan(verb, Target("CS", V16)).calls:
        if call.action in SECURITY_EXTENSION or call.action not in cp.operations:
            assert call.action in NOT_IN_SOAP[soap] | SECURITY_EXTENSION, call.action
            continue
        assert call.action not in NOT_IN_SOAP[soap]
        wire = from_16(soap, "cp", call.action, call.payload, response=False)
        element = cp.encode(cp.operations[call.action].request, wire)
        assert cp.validate(element) is None, (call.action, wire)
