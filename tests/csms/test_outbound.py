"""The outbound adapters as pure functions: every verb's payload is schema-valid in every version it
exists in, list requests are split per the station's limits and the answers merged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ocppd.csms import verbs as v
from ocppd.csms.outbound import Limits, NotExpressible, Target, chunks, from_jsonable, jsonable, limits_from
from ocppd.csms.service import outbound_adapters, remembered_variables
from ocppd.protocol.validation import schemas
from ocppd.protocol.versions import OcppVersion

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)
PROFILE = v.ChargingProfile(id=1, periods=(v.SchedulePeriod(0, 16.0),), unit="A")
REF = v.VariableRef("OCPPCommCtrlr", "HeartbeatInterval")

SAMPLES: list[v.Verb[Any]] = [
    v.RemoteStart("TAG-1", evse_id=1),
    v.RemoteStop("17"),
    v.CostUpdate("tx-1", "11.60"),
    v.Reset("immediate"),
    v.UnlockConnector(1, 1),
    v.TriggerMessage("StatusNotification", 1),
    v.ChangeAvailability(False, 1),
    v.GetVariables((REF,)),
    v.SetVariables((v.VariableSetting(REF, "60"),)),
    v.ReadConfiguration(),
    v.GetBaseReport("ConfigurationInventory"),
    v.GetReport((REF, v.VariableRef("EVSE", evse_id=1)), ("Problem",)),
    v.ClearVariableMonitoring((1, 2)),
    v.SetVariableMonitoring(
        (v.MonitorSetting(v.VariableRef("EVSE", "Power", evse_id=1), "UpperThreshold", 5000.0, 3),)
    ),
    v.SetMonitoringBase("HardWiredOnly"),
    v.SetMonitoringLevel(4),
    v.GetMonitoringReport((v.VariableRef("EVSE", "AvailabilityState", evse_id=1),), ("DeltaMonitoring",)),
    v.DataTransfer("acme", "ping", {"a": 1}),
    v.SetChargingProfile(PROFILE, 1),
    v.ClearChargingProfile(profile_id=1),
    v.GetCompositeSchedule(1, 600, "W"),
    v.GetChargingProfiles(evse_id=1, purpose="tx"),
    v.UpdateFirmware("https://fw.example/1.bin", FUTURE),
    v.GetLog("https://logs.example/"),
    v.ClearCache(),
    v.SendLocalList(1, "Full", (v.LocalListEntry("TAG-1"),)),
    v.GetLocalListVersion(),
    v.ReserveNow(5, "TAG-1", FUTURE, evse_id=1),
    v.CancelReservation(5),
    v.GetTransactionStatus("tx-1"),
    v.RequestCertificate(),
    v.CertificateSigned("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", request_id=3),
    v.SetBasicAuthPassword("a-new-password-of-24-chr"),
    v.SetSecurityProfile(2, "wss://csms.example:9000/ocpp/"),
    v.UseNetworkProfile((1, 0)),
    v.InstallCertificate("CSMSRootCertificate", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
    v.DeleteCertificate(v.CertificateHash("SHA256", "ab" * 32, "cd" * 32, "0A1B")),
    v.GetInstalledCertificateIds(("CSMSRootCertificate",)),
    v.SetDisplayMessage(v.DisplayMessage(1, "Closed on Friday", "InFront", language="en", end_at=FUTURE)),
    v.GetDisplayMessages((1,), "InFront"),
    v.ClearDisplayMessage(1),
    v.CustomerInformation(report=True, clear=True, id_token="04A1B2C3"),
    v.SetDefaultTariff(0, {"tariffId": "std-v1", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0.3}]}}),
    v.GetTariffs(0),
    v.ClearTariffs(("std-v1",), 1),
    v.ChangeTransactionTariff(
        "tx-1", {"tariffId": "std-v2", "currency": "EUR", "fixedFee": {"prices": [{"priceFixed": 1}]}}
    ),
]
# Signed firmware: 1.6 SignedUpdateFirmware (security extension), 2.x UpdateFirmware with the signature.
SIGNED_FIRMWARE = v.UpdateFirmware(
    "https://fw.example/2.bin", FUTURE, signing_certificate="-----BEGIN CERTIFICATE-----", signature="MEUCIQ=="
)
ONLY_2X = {
    v.CostUpdate,
    v.GetBaseReport,
    v.GetTransactionStatus,
    v.UseNetworkProfile,
    v.GetChargingProfiles,
    v.GetReport,
    v.ClearVariableMonitoring,
    v.SetVariableMonitoring,
    v.SetMonitoringBase,
    v.SetMonitoringLevel,
    v.GetMonitoringReport,
    v.SetDisplayMessage,
    v.GetDisplayMessages,
    v.ClearDisplayMessage,
    v.CustomerInformation,
}


# OCPP 2.1 only (tariffs held by the station): 1.6 and 2.0.1 have no form for them
ONLY_21 = {v.SetDefaultTariff, v.GetTariffs, v.ClearTariffs, v.ChangeTransactionTariff}


def test_every_verb_has_a_sample() -> None:
    assert {type(s) for s in SAMPLES} == set(v.ALL_VERBS)
    assert len(v.VERBS_BY_NAME) == len(v.ALL_VERBS)  # names are unique


@pytest.mark.parametrize("version", [V16, V201, V21], ids=lambda x: x.label)
@pytest.mark.parametrize("verb", SAMPLES, ids=lambda x: x.name)
def test_payloads_are_schema_valid(verb: v.Verb[Any], version: OcppVersion) -> None:
    adapters = outbound_adapters(version)
    if type(verb) in ONLY_21 and version is not V21:
        with pytest.raises(NotExpressible):
            adapters.plan(verb, Target("CS", version))
        return
    if version is V16 and type(verb) in ONLY_2X:
        assert not adapters.supports(type(verb))
        with pytest.raises(NotExpressible):
            adapters.plan(verb, Target("CS", version))
        return
    plan = adapters.plan(verb, Target("CS", version))
    assert plan.calls
    for call in plan.calls:
        schemas(version).validate(call.action, call.payload)


@pytest.mark.parametrize("version", [V16, V201, V21], ids=lambda x: x.label)
def test_signed_firmware_keeps_the_signature(version: OcppVersion) -> None:
    (call,) = outbound_adapters(version).plan(SIGNED_FIRMWARE, Target("CS", version)).calls
    assert call.action == ("SignedUpdateFirmware" if version is V16 else "UpdateFirmware")
    assert call.payload["firmware"]["signature"] == "MEUCIQ=="
    schemas(version).validate(call.action, call.payload)


def test_chunks_respect_items_and_bytes_and_keep_order() -> None:
    assert chunks([1, 2, 3, 4, 5], max_items=4) == [[1, 2, 3, 4], [5]]
    assert chunks([], max_items=4) == [[]]
    assert chunks([1, 2, 3], max_items=None) == [[1, 2, 3]]
    words = ["x" * 40] * 5

    def envelope(part: list[str]) -> dict[str, Any]:
        return {"key": part}

    # each item adds 43 bytes of JSON; 90 are the frame around the payload
    parts = chunks(words, max_items=None, max_bytes=90 + 10 + 2 * 43, envelope=envelope)
    assert [len(p) for p in parts] == [2, 2, 1]
    # one item larger than the limit still goes out, alone
    assert chunks(["y" * 500, "z"], max_items=None, max_bytes=200, envelope=envelope) == [["y" * 500], ["z"]]


def test_limits_are_read_from_the_reported_configuration() -> None:
    limits = limits_from(
        V201,
        {
            ("DeviceDataCtrlr", "ItemsPerMessage[GetVariables]"): "4",
            ("DeviceDataCtrlr", "BytesPerMessage[SetVariables]"): "2000",
            ("DeviceDataCtrlr", "ItemsPerMessage[SetVariables]"): "zero",  # not a number: ignored
        },
    )
    assert limits.items == {"GetVariables": 4} and limits.bytes == {"SetVariables": 2000}
    limits = limits_from(V16, {("", "GetConfigurationMaxKeys"): "2", ("", "SendLocalListMaxLength"): "0"})
    assert limits.items == {"GetConfiguration": 2}


def test_tc_b_08_get_variables_split_into_requests_of_at_most_items_per_message() -> None:
    refs = tuple(v.VariableRef("DeviceDataCtrlr", f"V{i}") for i in range(5))
    target = Target("CS", V201, Limits(items={"GetVariables": 4}))
    plan = outbound_adapters(V201).plan(v.GetVariables(refs), target)
    assert [len(c.payload["getVariableData"]) for c in plan.calls] == [4, 1]
    answers = [
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": d["component"],
                    "variable": d["variable"],
                    "attributeValue": "1",
                }
                for d in c.payload["getVariableData"]
            ]
        }
        for c in plan.calls
    ]
    result = plan.decode(answers)
    assert [x.ref.variable for x in result.values] == [f"V{i}" for i in range(5)]
    assert all(x.status == "Accepted" and x.value == "1" for x in result.values)


def test_v16_get_configuration_split_per_max_keys_and_merged() -> None:
    target = Target("CS", V16, Limits(items={"GetConfiguration": 2}))
    refs = tuple(v.VariableRef(variable=k) for k in ("A", "B", "C"))
    plan = outbound_adapters(V16).plan(v.GetVariables(refs), target)
    assert [c.payload for c in plan.calls] == [{"key": ["A", "B"]}, {"key": ["C"]}]
    result = plan.decode(
        [
            {"configurationKey": [{"key": "A", "value": "1", "readonly": True}], "unknownKey": ["B"]},
            {"unknownKey": ["C"]},
        ]
    )
    assert [(x.ref.variable, x.status, x.value, x.readonly) for x in result.values] == [
        ("A", "Accepted", "1", True),
        ("B", "UnknownVariable", None, False),
        ("C", "UnknownVariable", None, False),
    ]


def test_v16_set_variables_is_one_change_configuration_per_key() -> None:
    settings = (
        v.VariableSetting(v.VariableRef(variable="A"), "1"),
        v.VariableSetting(v.VariableRef(variable="B"), "2"),
    )
    plan = outbound_adapters(V16).plan(v.SetVariables(settings), Target("CS", V16))
    assert [c.action for c in plan.calls] == ["ChangeConfiguration"] * 2
    result = plan.decode([{"status": "Accepted"}, {"status": "Rejected"}])
    assert [r.status for r in result.results] == ["Accepted", "Rejected"] and not result.accepted


def test_security_log_on_16_is_the_security_extensions_get_log() -> None:
    """TC_079: GetDiagnostics has no log type; the 1.6 security extension's GetLog carries SecurityLog."""
    plan = outbound_adapters(V16).plan(v.GetLog("ftp://x/", "SecurityLog", request_id=7), Target("CS", V16))
    [call] = plan.calls
    assert call.action == "GetLog"
    assert call.payload == {"logType": "SecurityLog", "requestId": 7, "log": {"remoteLocation": "ftp://x/"}}
    assert plan.decode([{"status": "Accepted", "filename": "s.log"}]) == v.LogRequested("Accepted", "s.log")
    diagnostics = outbound_adapters(V16).plan(v.GetLog("ftp://x/"), Target("CS", V16))
    assert [c.action for c in diagnostics.calls] == ["GetDiagnostics"]


@pytest.mark.parametrize(
    ("verb", "version", "words"),
    [
        (v.RemoteStop("abc"), V16, "integer"),
        (v.Reset("immediate_and_resume"), V16, "no immediate_and_resume"),
        (v.Reset("immediate_and_resume"), V201, "2.1"),
        (v.ReadConfiguration(("A",)), V201, "get-variables"),
        (v.SetVariables((v.VariableSetting(v.VariableRef(variable="A"), "1"),)), V201, "component"),
        (v.SetChargingProfile(v.ChargingProfile(1, (v.SchedulePeriod(0, 1.0),), purpose="tx")), V201, "transaction"),
        (v.SetChargingProfile(v.ChargingProfile(1, (v.SchedulePeriod(0, 1.0),), randomized_delay_s=5)), V201, "2.1"),
        (v.SetChargingProfile(v.ChargingProfile(1, (v.SchedulePeriod(0, 1.0, operation_mode="Idle"),))), V16, "2.1"),
        (v.TriggerMessage("CustomTrigger", custom_trigger="x"), V201, "2.1"),
        (v.TriggerMessage("CustomTrigger"), V21, "custom_trigger"),
        (v.SetSecurityProfile(1, "ws://x/", identity="CS", basic_auth_password="p" * 16), V201, "2.1"),
    ],
)
def test_what_a_version_cannot_say_is_refused_before_sending(
    verb: v.Verb[Any], version: OcppVersion, words: str
) -> None:
    with pytest.raises(NotExpressible, match=words):
        outbound_adapters(version).plan(verb, Target("CS", version))


def test_2_1_profile_fields_are_schema_valid() -> None:
    profile = v.ChargingProfile(1, (v.SchedulePeriod(0, 16.0, operation_mode="ChargingOnly"),), unit="A",
                                max_offline_duration_s=600, invalid_after_offline_duration=True,
                                limit_at_soc=(80, 8.0), randomized_delay_s=300, use_local_time=True)  # fmt: skip
    [call] = outbound_adapters(V21).plan(v.SetChargingProfile(profile, 1), Target("CS", V21)).calls
    schemas(V21).validate(call.action, call.payload)
    schedule = call.payload["chargingProfile"]["chargingSchedule"][0]
    assert schedule["limitAtSoC"] == {"soc": 80, "limit": 8.0} and schedule["randomizedDelay"] == 300


def test_results_in_domain_terms_are_the_same_across_versions() -> None:
    p16 = outbound_adapters(V16).plan(v.Reset(), Target("CS", V16))
    p2 = outbound_adapters(V201).plan(v.Reset(), Target("CS", V201))
    assert p16.calls[0].payload == {"type": "Soft"} and p2.calls[0].payload == {"type": "OnIdle"}
    assert p16.decode([{"status": "Accepted"}]) == p2.decode([{"status": "Accepted"}]) == v.Status("Accepted")
    rejected = p2.decode([{"status": "Rejected", "statusInfo": {"reasonCode": "Busy", "additionalInfo": "tx"}}])
    assert rejected == v.Status("Rejected", "Busy: tx") and not rejected.accepted
    assert jsonable(v.Status("Scheduled")) == {"status": "Scheduled", "reason": None, "accepted": True}


def test_what_the_station_said_is_kept() -> None:
    rows = remembered_variables(
        "SetVariables",
        {
            "setVariableData": [
                {"component": {"name": "C", "instance": "i"}, "variable": {"name": "V"}, "attributeValue": "9"},
                {"component": {"name": "C"}, "variable": {"name": "W"}, "attributeValue": "8"},
            ]
        },
        {
            "setVariableResult": [
                {"attributeStatus": "Accepted", "component": {"name": "C", "instance": "i"}, "variable": {"name": "V"}},
                {"attributeStatus": "Rejected", "component": {"name": "C"}, "variable": {"name": "W"}},
            ]
        },
    )
    assert rows == [("C[i]", "V", "Actual", "9", False)]
    assert remembered_variables("ChangeConfiguration", {"key": "K", "value": "1"}, {"status": "Accepted"}) == [
        ("", "K", "Actual", "1", False)
    ]
    assert remembered_variables("ChangeConfiguration", {"key": "K", "value": "1"}, {"status": "Rejected"}) == []


@pytest.mark.parametrize("version", [V16, V201], ids=lambda x: x.label)
def test_a_long_local_list_goes_out_in_parts_full_then_differential(version: OcppVersion) -> None:
    entries = tuple(v.LocalListEntry(f"TAG-{i}") for i in range(5))
    target = Target("CS", version, Limits(items={"SendLocalList": 2}))
    plan = outbound_adapters(version).plan(v.SendLocalList(7, "Full", entries), target)
    key = "localAuthorizationList"
    assert [len(c.payload[key]) for c in plan.calls] == [2, 2, 1]
    assert [c.payload["updateType"] for c in plan.calls] == ["Full", "Differential", "Differential"]
    version_key = "listVersion" if version is V16 else "versionNumber"
    assert {c.payload[version_key] for c in plan.calls} == {7}
    for call in plan.calls:
        schemas(version).validate(call.action, call.payload)
    assert plan.decode([{"status": "Accepted"}] * 3).accepted
    assert plan.decode([{"status": "Accepted"}, {"status": "Failed"}, {"status": "Accepted"}]) == v.Status("Failed")


@pytest.mark.parametrize("verb", SAMPLES, ids=lambda x: x.name)
def test_verbs_survive_the_queue_round_trip(verb: v.Verb[Any]) -> None:
    data = orjson.loads(orjson.dumps(jsonable(verb)))
    assert from_jsonable(type(verb), data) == verb


def test_tc_n_18_clear_monitoring_reads_the_limit_first_then_splits() -> None:
    adapters = outbound_adapters(V201)
    unknown = adapters.plan(v.ClearVariableMonitoring((1, 2, 3)), Target("CS", V201))
    assert unknown.read_limits_first == ("MonitoringCtrlr", "ClearVariableMonitoring")
    known = Target("CS", V201, Limits(items={"ClearVariableMonitoring": 2}))
    plan = adapters.plan(v.ClearVariableMonitoring((1, 2, 3)), known)
    assert plan.read_limits_first is None and [c.payload for c in plan.calls] == [{"id": [1, 2]}, {"id": [3]}]
    merged = plan.decode(
        [{"clearMonitoringResult": [{"id": 1, "status": "Accepted"}, {"id": 2, "status": "NotFound"}]},
         {"clearMonitoringResult": [{"id": 3, "status": "Accepted"}]}]
    )  # fmt: skip
    assert [(r.id, r.status) for r in merged.results] == [(1, "Accepted"), (2, "NotFound"), (3, "Accepted")]
    assert adapters.plan(v.ClearVariableMonitoring((1,)), Target("CS", V201)).read_limits_first is None


def test_get_report_split_with_a_request_id_per_part() -> None:
    refs = tuple(v.VariableRef("EVSE", evse_id=i) for i in range(1, 6))
    target = Target("CS", V201, Limits(items={"GetReport": 4}))
    plan = outbound_adapters(V201).plan(v.GetReport(refs, ("Available",), request_id=10), target)
    assert [(c.payload["requestId"], len(c.payload["componentVariable"])) for c in plan.calls] == [(10, 4), (11, 1)]
    assert plan.calls[0].payload["componentVariable"][0] == {"component": {"name": "EVSE", "evse": {"id": 1}}}
    assert plan.decode([{"status": "Accepted"}, {"status": "EmptyResultSet"}]).status == "EmptyResultSet"


def test_what_a_not_accepted_station_may_send_follows_what_the_csms_asked() -> None:
    from ocppd.csms.registration import solicited_actions

    assert solicited_actions("TriggerMessage", {"requestedMessage": "StatusNotification"}, {"status": "Accepted"}) == (
        "StatusNotification",
    )
    assert solicited_actions("TriggerMessage", {"requestedMessage": "Heartbeat"}, {"status": "Rejected"}) == ()
    assert solicited_actions(
        "TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}, {"status": "Accepted"}
    ) == ("SignCertificate",)
    assert solicited_actions("GetBaseReport", {}, {"status": "Accepted"}) == ("NotifyReport",)
    assert solicited_actions("GetReport", {}, {"status": "EmptyResultSet"}) == ()
    assert solicited_actions("GetDiagnostics", {}, {"fileName": "d.log"}) == ("DiagnosticsStatusNotification",)
    assert solicited_actions("UpdateFirmware", {}, {}) == ("FirmwareStatusNotification",)  # 1.6: empty answer
    assert solicited_actions("Reset", {}, {"status": "Accepted"}) == ()


def test_station_groups_and_their_settings_per_version() -> None:
    from ocppd.config import StationGroupSettings
    from ocppd.csms.autoprovision import group_for, settings_of, stored_key

    lab = StationGroupSettings(name="lab", stations=["LAB-*"], vendor="ACME")
    fleet = StationGroupSettings(
        name="fleet",
        stations=["CS-*"],
        heartbeat_interval=120,
        measurands=["Energy.Active.Import.Register", "Power.Active.Import"],
        configuration={"ConnectionTimeOut": "60"},
        variables={"DeviceDataCtrlr.ItemsPerMessage[GetVariables]": "8"},
    )
    assert group_for([lab, fleet], "LAB-1", "Other", None) is None
    assert group_for([lab, fleet], "LAB-1", "ACME", "X") is lab
    assert group_for([lab, fleet], "CS-7", None, None) is fleet
    v16 = {(s.ref.variable, s.value) for s in settings_of(fleet, V16)}
    assert v16 == {
        ("HeartbeatInterval", "120"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import"),
        ("ConnectionTimeOut", "60"),
    }
    v2 = settings_of(fleet, V201)
    assert [(s.ref.component, s.ref.variable, s.ref.instance) for s in v2] == [
        ("OCPPCommCtrlr", "HeartbeatInterval", None),
        ("SampledDataCtrlr", "TxUpdatedMeasurands", None),
        ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"),
    ]
    assert stored_key(v2[2].ref) == ("DeviceDataCtrlr", "ItemsPerMessage[GetVariables]")
    assert stored_key(v.VariableRef(variable="HeartbeatInterval")) == ("", "HeartbeatInterval")
