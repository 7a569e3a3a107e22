"""The device model's pure parts: which values the characteristics refuse, the rows kept from NotifyReport
and from SetVariables / ChangeConfiguration answers, stored component names read back."""

from __future__ import annotations

import pytest

from ocppd.csms.device_model import (
    Characteristics,
    key16_characteristics,
    parse_component,
    ref_key,
    refusal,
    report_characteristics,
    set_results,
)
from ocppd.csms.verbs import VariableRef


@pytest.mark.parametrize(
    ("c", "value", "why"),
    [
        (Characteristics("ReadOnly", "integer"), "5", "is read-only"),
        (Characteristics("ReadWrite", "integer", 1, 3600, unit="s"), "3601", "must be at most 3600 s, not 3601"),
        (Characteristics("ReadWrite", "integer", 1, 3600), "0", "must be at least 1, not 0"),
        (Characteristics("ReadWrite", "integer"), "1.5", "must be an integer, not '1.5'"),
        (Characteristics("ReadWrite", "decimal", 0, 1), "nan", "must be a decimal number, not 'nan'"),
        (Characteristics("ReadWrite", "boolean"), "yes", "must be true or false, not 'yes'"),
        (Characteristics("ReadWrite", "OptionList", values_list="Heartbeat,NTP"), "GPS",
         "must be one of Heartbeat, NTP, not 'GPS'"),
        (Characteristics("ReadWrite", "MemberList", values_list="Voltage,SoC"), "SoC,RPM",
         "'RPM' is not one of SoC, Voltage"),
        (Characteristics("ReadWrite", "string", max_limit=3), "abcd", "must be at most 3 characters long, not 4"),
        (Characteristics("ReadWrite", "dateTime"), "yesterday", "must be a date and time (RFC 3339), not 'yesterday'"),
    ],
)  # fmt: skip
def test_values_outside_the_characteristics_are_refused_with_the_reason(
    c: Characteristics, value: str, why: str
) -> None:
    assert refusal(c, value) == why


@pytest.mark.parametrize(
    ("c", "value"),
    [
        (Characteristics("ReadWrite", "integer", 1, 3600), "3600"),
        (Characteristics("WriteOnly", "string"), "secret"),
        (Characteristics("ReadWrite", "decimal", 0, 1), "0.5"),
        (Characteristics("ReadWrite", "boolean"), "False"),
        (Characteristics("ReadWrite", "MemberList", values_list="Current.Import,SoC"), "Current.Import.L1,SoC"),
        (Characteristics("ReadWrite", "SequenceList", values_list="1,2,3"), "3,1"),
        (Characteristics("ReadWrite", "dateTime"), "2026-12-01T12:00:00Z"),
        (Characteristics(), "anything"),  # nothing declared: the station decides
    ],
)
def test_values_inside_the_characteristics_pass(c: Characteristics, value: str) -> None:
    assert refusal(c, value) is None


def test_1_6_keys_are_refused_only_for_the_stations_readonly_flag() -> None:
    assert refusal(key16_characteristics(True), "2") == "is read-only"
    assert refusal(key16_characteristics(False), "-1") is None  # the station decides (TC_040_2)


def test_notify_report_rows_keep_every_attribute_with_the_characteristics() -> None:
    rows = report_characteristics([
        {
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "Power"},
            "variableAttribute": [{"type": "Actual", "value": "0", "mutability": "ReadOnly"},
                                  {"type": "MaxSet", "value": "22000"}],
            "variableCharacteristics": {"dataType": "decimal", "unit": "W", "maxLimit": 22000,
                                        "supportsMonitoring": True},
        }
    ])  # fmt: skip
    assert [(r["component"], r["attribute"], r["value"], r["mutability"], r["readonly"]) for r in rows] == [
        ("EVSE@evse1", "Actual", "0", "ReadOnly", True),
        ("EVSE@evse1", "MaxSet", "22000", "ReadWrite", False),  # the schema's default mutability
    ]
    assert rows[0]["max_limit"] == 22000 and rows[1]["unit"] == "W" and rows[0]["supports_monitoring"] is True


def test_set_answers_are_kept_with_their_reason() -> None:
    request = {"setVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "30"},
        {"component": {"name": "X"}, "variable": {"name": "Y"}, "attributeValue": "1"},
    ]}  # fmt: skip
    result = {"setVariableResult": [
        {"attributeStatus": "RebootRequired", "component": {"name": "OCPPCommCtrlr"},
         "variable": {"name": "HeartbeatInterval"}},
        {"attributeStatus": "UnknownComponent", "component": {"name": "X"}, "variable": {"name": "Y"},
         "attributeStatusInfo": {"reasonCode": "NotFound", "additionalInfo": "no X here"}},
    ]}  # fmt: skip
    rows = set_results("SetVariables", request, result)
    assert [(r["variable"], r["set_value"], r["set_status"], r["set_reason"]) for r in rows] == [
        ("HeartbeatInterval", "30", "RebootRequired", None),
        ("Y", "1", "UnknownComponent", "NotFound: no X here"),
    ]
    [row] = set_results("ChangeConfiguration", {"key": "K", "value": "v"}, {"status": "NotSupported"})
    assert (row["component"], row["variable"], row["set_status"]) == ("", "K", "NotSupported")


def test_stored_component_names_and_refs_round_trip() -> None:
    ref = VariableRef("Connector", "Temperature", "Inner", 1, 2, "Target", "Main")
    assert ref_key(ref, v16=False) == ("Connector[Main]@evse1.2", "Temperature[Inner]", "Target")
    assert ref_key(ref, v16=True) == ("", "Temperature", "Actual")
    assert parse_component("Connector[Main]@evse1.2") == {"name": "Connector", "instance": "Main", "evse_id": 1,
                                                          "connector_id": 2}  # fmt: skip
    assert parse_component("OCPPCommCtrlr")["evse_id"] is None
