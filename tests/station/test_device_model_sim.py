"""The simulator's device model and monitors against the `ocpp`-package CSMS (2.0.1 and 2.1): a full
report with a component per EVSE and connector and the controllers' characteristics; SetVariables
honours mutability, limits and RebootRequired; a monitor on a changing value sends NotifyEvent when it
crosses and when it clears."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station.station import Station
from tests.station.conftest import fast_config
from tests.station.csms import OcppCsms

ID = "CS-DM"


@pytest.fixture(params=[OcppVersion.V201, OcppVersion.V21], ids=lambda v: v.label)
async def station(request: pytest.FixtureRequest, csms: OcppCsms) -> AsyncIterator[Station]:
    async with Station(fast_config(ID, csms.url, request.param, evses=[1, 2], id_tags=["04A10001"])) as st:
        await st.wait_booted(5)
        await csms.wait_connected(ID)
        yield st
    assert csms.errors == []


def _var(component: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    return {"component": component, "variable": {"name": name}, "attributeValue": value}


async def test_full_report_has_every_evse_and_connector_and_the_controllers_characteristics(
    csms: OcppCsms, station: Station
) -> None:
    assert (await csms.call(ID, "GetBaseReport", request_id=21, report_base="FullInventory"))["status"] == "Accepted"
    await csms.wait_for(ID, "NotifyReport", predicate=lambda m: m["requestId"] == 21 and not m.get("tbc"))
    data = [d for m in csms.messages(ID, "NotifyReport") if m["requestId"] == 21 for d in m["reportData"]]
    components = {(d["component"]["name"], str(d["component"].get("evse"))) for d in data}
    assert {("ChargingStation", "None"), ("EVSE", "{'id': 1}"), ("EVSE", "{'id': 2}"),
            ("Connector", "{'id': 2, 'connectorId': 2}"), ("OCPPCommCtrlr", "None"),
            ("SampledDataCtrlr", "None"), ("SmartChargingCtrlr", "None")} <= components  # fmt: skip
    by_name = {(d["component"]["name"], d["variable"]["name"], str(d["component"].get("evse"))): d for d in data}
    heartbeat = by_name[("OCPPCommCtrlr", "HeartbeatInterval", "None")]["variableCharacteristics"]
    assert heartbeat == {"dataType": "integer", "supportsMonitoring": True, "unit": "s", "minLimit": 1,
                         "maxLimit": 86400}  # fmt: skip
    power = by_name[("EVSE", "Power", "{'id': 1}")]
    assert [a["type"] for a in power["variableAttribute"]] == ["Actual", "MaxSet"]
    assert power["variableCharacteristics"]["unit"] == "W"
    assert by_name[("ClockCtrlr", "TimeSource", "None")]["variableCharacteristics"]["dataType"] == "SequenceList"


async def test_set_variables_honours_mutability_limits_and_reboot_required(csms: OcppCsms, station: Station) -> None:
    answer = await csms.call(ID, "SetVariables", set_variable_data=[
        _var({"name": "OCPPCommCtrlr"}, "HeartbeatInterval", "90000"),
        _var({"name": "OCPPCommCtrlr"}, "HeartbeatInterval", "120"),
        _var({"name": "EVSE", "evse": {"id": 1}}, "Power", "5"),
        _var({"name": "OCPPCommCtrlr"}, "WebSocketPingInterval", "30"),
        _var({"name": "ClockCtrlr"}, "TimeSource", "NTP,Sundial"),
    ])  # fmt: skip
    results = answer["setVariableResult"]
    assert [(r["attributeStatus"], (r.get("attributeStatusInfo") or {}).get("reasonCode")) for r in results] == [
        ("Rejected", "ValueTooHigh"), ("Accepted", None), ("Rejected", "ReadOnly"), ("RebootRequired", None),
        ("Rejected", "InvalidValue"),
    ]  # fmt: skip
    assert station.settings["heartbeat_interval"] == 120 and station.settings["ws_ping_interval"] == 0
    assert (await csms.call(ID, "Reset", type="Immediate"))["status"] == "Accepted"
    await csms.wait_for(ID, "BootNotification", predicate=lambda m: m["reason"] == "RemoteReset")
    assert station.settings["ws_ping_interval"] == 30  # taken at the reboot


async def test_a_threshold_monitor_on_power_fires_and_clears(csms: OcppCsms, station: Station) -> None:
    evse1 = {"name": "EVSE", "evse": {"id": 1}}
    answer = await csms.call(ID, "SetVariableMonitoring", set_monitoring_data=[
        {"value": 1000, "type": "UpperThreshold", "severity": 3, "component": evse1, "variable": {"name": "Power"}},
        {"value": 1, "type": "UpperThreshold", "severity": 3, "component": evse1,
         "variable": {"name": "AvailabilityState"}},
        {"value": 1, "type": "Delta", "severity": 8, "component": {"name": "Nope"}, "variable": {"name": "X"}},
    ])  # fmt: skip
    results = answer["setMonitoringResult"]
    assert [r["status"] for r in results] == ["Accepted", "UnsupportedMonitorType", "UnknownComponent"]
    monitor_id = results[0]["id"]

    def alerting(cleared: bool) -> Any:
        return lambda m: any(e.get("variableMonitoringId") == monitor_id and e.get("cleared") is cleared
                             for e in m["eventData"])  # fmt: skip

    start = await csms.call(ID, "RequestStartTransaction", id_token={"idToken": "04A10001", "type": "ISO14443"},
                            remote_start_id=7, evse_id=1)  # fmt: skip
    assert start["status"] == "Accepted"
    fired = await csms.wait_for(ID, "NotifyEvent", predicate=alerting(False))
    [event] = [e for e in fired["eventData"] if e.get("variableMonitoringId") == monitor_id]
    assert event["trigger"] == "Alerting" and float(event["actualValue"]) > 1000
    assert event["component"] == evse1 and event["eventNotificationType"] == "CustomMonitor"
    started = await csms.wait_for(ID, "TransactionEvent", predicate=lambda m: m["eventType"] == "Started")
    tx_id = started["transactionInfo"]["transactionId"]
    assert (await csms.call(ID, "RequestStopTransaction", transaction_id=tx_id))["status"] == "Accepted"
    await csms.wait_for(ID, "NotifyEvent", predicate=alerting(True))
    report = await csms.call(ID, "GetMonitoringReport", request_id=4, monitoring_criteria=["ThresholdMonitoring"])
    assert report["status"] == "Accepted"
    listed = await csms.wait_for(ID, "NotifyMonitoringReport", predicate=lambda m: m["requestId"] == 4)
    ids = {vm["id"] for m in listed["monitor"] for vm in m["variableMonitoring"]}
    assert ids == {monitor_id, 1000}  # with the station's own temperature monitor
    assert (await csms.call(ID, "SetMonitoringBase", monitoring_base="HardWiredOnly"))["status"] == "Accepted"
    assert (await csms.call(ID, "GetMonitoringReport", request_id=5))["status"] == "EmptyResultSet"
