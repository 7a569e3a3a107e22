"""Every 2.0.1 CSMS request (and the same for 2.1), sent by the ocpp-package CSMS, answered and acted on."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.smart.schedule import format_time
from ocppd.station.station import Station
from tests.station.conftest import fast_config
from tests.station.csms import OcppCsms

ID = "CS2"


@pytest.fixture(params=[OcppVersion.V201, OcppVersion.V21], ids=lambda v: v.label)
async def station(request: pytest.FixtureRequest, csms: OcppCsms) -> AsyncIterator[Station]:
    async with Station(fast_config(ID, csms.url, request.param, evses=[1, 1])) as st:
        await st.wait_booted(5)
        await csms.wait_connected(ID)
        yield st
    assert csms.errors == []


def token(tag: str) -> dict[str, str]:
    return {"idToken": tag, "type": "Central"}


async def test_request_start_stop(csms: OcppCsms, station: Station) -> None:
    answer = await csms.call(ID, "RequestStartTransaction", id_token=token("R1"), remote_start_id=42, evse_id=2)
    assert answer["status"] == "Accepted"
    started = await csms.wait_for(ID, "TransactionEvent", predicate=lambda m: m["eventType"] == "Started")
    assert started["triggerReason"] == "RemoteStart" and started["transactionInfo"]["remoteStartId"] == 42
    assert started["evse"]["id"] == 2
    tx_id = started["transactionInfo"]["transactionId"]
    status = await csms.call(ID, "GetTransactionStatus", transaction_id=tx_id)
    assert status["ongoingIndicator"] is True
    assert (await csms.call(ID, "RequestStopTransaction", transaction_id=tx_id))["status"] == "Accepted"
    ended = await csms.wait_for(ID, "TransactionEvent", predicate=lambda m: m["eventType"] == "Ended")
    assert ended["triggerReason"] == "RemoteStop" and ended["transactionInfo"]["stoppedReason"] == "Remote"
    assert (await csms.call(ID, "RequestStopTransaction", transaction_id="nope"))["status"] == "Rejected"


async def test_variables_and_reports(csms: OcppCsms, station: Station) -> None:
    answer = await csms.call(ID, "GetVariables", get_variable_data=[
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {"component": {"name": "ChargingStation"}, "variable": {"name": "VendorName"}},
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"}},
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}},
        {"component": {"name": "Nope"}, "variable": {"name": "X"}},
        {"component": {"name": "AuthCtrlr"}, "variable": {"name": "X"}},
    ])  # fmt: skip
    statuses = [r["attributeStatus"] for r in answer["getVariableResult"]]
    assert statuses == ["Accepted", "Accepted", "Accepted", "Rejected", "UnknownComponent", "UnknownVariable"]
    assert answer["getVariableResult"][0]["attributeValue"] == "1"
    answer = await csms.call(ID, "SetVariables", set_variable_data=[
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}, "attributeValue": "5"},
        {"component": {"name": "ChargingStation"}, "variable": {"name": "Model"}, "attributeValue": "X"},
        {"component": {"name": "AlignedDataCtrlr"}, "variable": {"name": "Interval"}, "attributeValue": "abc"},
    ])  # fmt: skip
    assert [r["attributeStatus"] for r in answer["setVariableResult"]] == ["Accepted", "Rejected", "Rejected"]
    assert station.settings["meter_sample_interval"] == 5
    assert (await csms.call(ID, "GetBaseReport", request_id=9, report_base="FullInventory"))["status"] == "Accepted"
    report = await csms.wait_for(ID, "NotifyReport", predicate=lambda m: not m.get("tbc"))
    assert report["requestId"] == 9
    names = {d["variable"]["name"] for m in csms.messages(ID, "NotifyReport") for d in m["reportData"]}
    assert {"HeartbeatInterval", "TxUpdatedInterval", "AvailabilityState"} <= names
    answer = await csms.call(ID, "GetReport", request_id=10, component_variable=[
        {"component": {"name": "AuthCtrlr"}}])  # fmt: skip
    assert answer["status"] == "Accepted"
    answer = await csms.call(ID, "GetReport", request_id=11, component_variable=[{"component": {"name": "Nope"}}])
    assert answer["status"] == "EmptyResultSet"


async def test_trigger_availability_reset_unlock(csms: OcppCsms, station: Station) -> None:
    for requested in ("Heartbeat", "StatusNotification", "MeterValues", "FirmwareStatusNotification",
                      "LogStatusNotification"):  # fmt: skip
        before = len(csms.messages(ID, requested))
        answer = await csms.call(ID, "TriggerMessage", requested_message=requested, evse={"id": 1, "connectorId": 1})
        assert answer["status"] == "Accepted"
        await csms.wait_for(ID, requested, count=before + 1)
    # F06.FR.17: no second boot notification once accepted
    assert (await csms.call(ID, "TriggerMessage", requested_message="BootNotification"))["status"] == "Rejected"
    answer = await csms.call(ID, "ChangeAvailability", operational_status="Inoperative", evse={"id": 1})
    assert answer["status"] == "Accepted"
    await csms.wait_for(ID, "StatusNotification", predicate=lambda m: m["evseId"] == 1
                        and m["connectorStatus"] == "Unavailable")  # fmt: skip
    await csms.call(ID, "ChangeAvailability", operational_status="Operative", evse={"id": 1})
    station.plug_in(2)
    await station.start_transaction(2, "TAG")
    assert (await csms.call(ID, "UnlockConnector", evse_id=2, connector_id=1))["status"] \
        == "OngoingAuthorizedTransaction"  # fmt: skip
    assert (await csms.call(ID, "UnlockConnector", evse_id=1, connector_id=1))["status"] == "Unlocked"
    assert (await csms.call(ID, "UnlockConnector", evse_id=5, connector_id=1))["status"] == "UnknownConnector"
    assert (await csms.call(ID, "Reset", type="OnIdle"))["status"] == "Scheduled"
    station.unplug(2)
    boot = await csms.wait_for(ID, "BootNotification", count=2)
    assert boot["reason"] == "ScheduledReset"
    await station.wait_booted(5)
    assert (await csms.call(ID, "Reset", type="Immediate"))["status"] == "Accepted"
    boot = await csms.wait_for(ID, "BootNotification", count=3)
    assert boot["reason"] == "RemoteReset"


async def test_smart_charging(csms: OcppCsms, station: Station) -> None:
    # 5 kW on three phases is 7.2 A a phase: above the car's 6 A minimum (at 4 kW, 5.8 A, it would pause)
    station.plug_in(1)
    tx = await station.start_transaction(1, "TAG")
    assert tx is not None
    c = station.connector(1)
    now = time.time()
    profile = {
        "id": 3, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Absolute",
        "transactionId": tx.ref,
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "startSchedule": format_time(now - 1),
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 5000.0},
                                                         {"startPeriod": 3600, "limit": 7000.0}]}],
    }  # fmt: skip
    assert (await csms.call(ID, "SetChargingProfile", evse_id=1, charging_profile=profile))["status"] == "Accepted"
    assert c.power_w == 5000
    composite = await csms.call(ID, "GetCompositeSchedule", duration=7200, evse_id=1, charging_rate_unit="W")
    periods = composite["schedule"]["chargingSchedulePeriod"]
    assert [p["limit"] for p in periods] == [5000, 7000]
    answer = await csms.call(
        ID, "GetChargingProfiles", request_id=4, charging_profile={"chargingProfilePurpose": "TxProfile"}
    )
    assert answer["status"] == "Accepted"
    reported = await csms.wait_for(ID, "ReportChargingProfiles")
    assert reported["chargingProfile"][0]["id"] == 3
    assert (await csms.call(ID, "ClearChargingProfile", charging_profile_id=3))["status"] == "Accepted"
    assert c.power_w == 11000
    default = dict(profile, id=4, chargingProfilePurpose="TxDefaultProfile")
    default.pop("transactionId")
    assert (await csms.call(ID, "SetChargingProfile", evse_id=0, charging_profile=default))["status"] == "Accepted"
    assert c.power_w == 5000
    bad = dict(default, id=5, chargingProfilePurpose="TxProfile")
    assert (await csms.call(ID, "SetChargingProfile", evse_id=2, charging_profile=bad))["status"] == "Rejected"


async def test_auth_reservations_monitoring_misc(csms: OcppCsms, station: Station) -> None:
    answer = await csms.call(ID, "SendLocalList", version_number=2, update_type="Full", local_authorization_list=[
        {"idToken": token("L1"), "idTokenInfo": {"status": "Accepted"}}])  # fmt: skip
    assert answer["status"] == "Accepted"
    assert (await csms.call(ID, "GetLocalListVersion"))["versionNumber"] == 2
    assert (await csms.call(ID, "ClearCache"))["status"] == "Accepted"
    expiry = format_time(time.time() + 0.5)
    answer = await csms.call(ID, "ReserveNow", id=8, expiry_date_time=expiry, id_token=token("RES"), evse_id=1)
    assert answer["status"] == "Accepted"
    await csms.wait_for(ID, "StatusNotification", predicate=lambda m: m["connectorStatus"] == "Reserved")
    update = await csms.wait_for(ID, "ReservationStatusUpdate")
    assert update == {"reservationId": 8, "reservationUpdateStatus": "Expired"}
    assert (await csms.call(ID, "CancelReservation", reservation_id=8))["status"] == "Rejected"
    answer = await csms.call(ID, "SetVariableMonitoring", set_monitoring_data=[
        {"value": 10, "type": "Delta", "severity": 5, "component": {"name": "OCPPCommCtrlr"},
         "variable": {"name": "HeartbeatInterval"}}])  # fmt: skip
    monitor_id = answer["setMonitoringResult"][0]["id"]
    assert (await csms.call(ID, "GetMonitoringReport", request_id=3))["status"] == "Accepted"
    await csms.wait_for(ID, "NotifyMonitoringReport")
    answer = await csms.call(ID, "ClearVariableMonitoring", id=[monitor_id, 999])
    assert [r["status"] for r in answer["clearMonitoringResult"]] == ["Accepted", "NotFound"]
    assert (await csms.call(ID, "SetMonitoringBase", monitoring_base="All"))["status"] == "Accepted"
    assert (await csms.call(ID, "SetMonitoringLevel", severity=4))["status"] == "Accepted"
    message = {"id": 1, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "Hello"}}
    assert (await csms.call(ID, "SetDisplayMessage", message=message))["status"] == "Accepted"
    assert (await csms.call(ID, "GetDisplayMessages", request_id=5))["status"] == "Accepted"
    await csms.wait_for(ID, "NotifyDisplayMessages")
    assert (await csms.call(ID, "ClearDisplayMessage", id=1))["status"] == "Accepted"
    assert (await csms.call(ID, "CustomerInformation", request_id=6, report=True, clear=False,
                            customer_identifier="C1"))["status"] == "Accepted"  # fmt: skip
    await csms.wait_for(ID, "NotifyCustomerInformation")
    answer = await csms.call(ID, "DataTransfer", vendor_id="ocppd", message_id="Echo", data={"a": 1})
    assert answer == {"status": "Accepted", "data": {"a": 1}}
    assert (await csms.call(ID, "GetInstalledCertificateIds"))["status"] == "NotFound"
    assert (await csms.call(ID, "InstallCertificate", certificate_type="V2GRootCertificate",
                            certificate="-----BEGIN CERTIFICATE-----x"))["status"] == "Accepted"  # fmt: skip
    installed = await csms.call(ID, "GetInstalledCertificateIds")
    serial = installed["certificateHashDataChain"][0]["certificateHashData"]["serialNumber"]
    hash_data = installed["certificateHashDataChain"][0]["certificateHashData"]
    assert (await csms.call(ID, "DeleteCertificate", certificate_hash_data=hash_data))["status"] == "Accepted"
    assert serial
    assert (await csms.call(ID, "CostUpdated", total_cost=1.5, transaction_id="t1")) == {}
    assert (await csms.call(ID, "SetNetworkProfile", configuration_slot=1, connection_data={
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "ws://127.0.0.1:1/ocpp",
        "messageTimeout": 30, "securityProfile": 1, "ocppInterface": "Wired0"}))["status"] == "Accepted"  # fmt: skip


async def test_firmware_and_logs(csms: OcppCsms, station: Station) -> None:
    answer = await csms.call(ID, "UpdateFirmware", request_id=77, firmware={
        "location": "ftp://example.invalid/fw.bin", "retrieveDateTime": format_time(time.time())})  # fmt: skip
    assert answer["status"] == "Accepted"
    await csms.wait_for(ID, "FirmwareStatusNotification", predicate=lambda m: m["status"] == "Installed")
    statuses = [m["status"] for m in csms.messages(ID, "FirmwareStatusNotification")]
    assert statuses == ["Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed"]
    assert csms.messages(ID, "BootNotification")[-1]["reason"] == "FirmwareUpdate"
    answer = await csms.call(ID, "GetLog", log_type="DiagnosticsLog", request_id=3,
                             log={"remoteLocation": "ftp://example.invalid/"})  # fmt: skip
    assert answer["status"] == "Accepted"
    await csms.wait_for(ID, "LogStatusNotification", predicate=lambda m: m["status"] == "Uploaded")
    if station.version is OcppVersion.V201:
        answer = await csms.call(ID, "PublishFirmware", location="http://x.invalid/f", checksum="ab" * 16,
                                 request_id=5)  # fmt: skip
        assert answer["status"] == "Accepted"
        await csms.wait_for(ID, "PublishFirmwareStatusNotification", predicate=lambda m: m["status"] == "Published")
        assert (await csms.call(ID, "UnpublishFirmware", checksum="ab" * 16))["status"] == "Unpublished"
