"""Every 1.6 Central System request, sent by the ocpp-package CSMS, answered and acted on."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.smart.schedule import format_time
from ocppd.station.station import Station
from tests.station.conftest import fast_config, until
from tests.station.csms import OcppCsms

ID = "CP16"


@pytest.fixture
async def station(csms: OcppCsms) -> AsyncIterator[Station]:
    async with Station(fast_config(ID, csms.url, OcppVersion.V16, evses=[1, 1], vendor="ocppd")) as st:
        await st.wait_booted(5)
        await csms.wait_connected(ID)
        yield st
    assert csms.errors == []


async def test_remote_start_stop(csms: OcppCsms, station: Station) -> None:
    answer = await csms.call(ID, "RemoteStartTransaction", id_tag="REMOTE1", connector_id=2)
    assert answer["status"] == "Accepted"
    start = await csms.wait_for(ID, "StartTransaction")
    assert start["connectorId"] == 2 and start["idTag"] == "REMOTE1"
    assert csms.messages(ID, "Authorize")[0]["idTag"] == "REMOTE1"  # AuthorizeRemoteTxRequests=true
    await until(lambda: station.connector(2).tx is not None and station.connector(2).tx.id == "1000")
    answer = await csms.call(ID, "RemoteStopTransaction", transaction_id=1000)
    assert answer["status"] == "Accepted"
    stop = await csms.wait_for(ID, "StopTransaction")
    assert stop["transactionId"] == 1000 and stop["reason"] == "Remote"
    assert (await csms.call(ID, "RemoteStopTransaction", transaction_id=999))["status"] == "Rejected"
    assert (await csms.call(ID, "RemoteStartTransaction", id_tag="X", connector_id=7))["status"] == "Rejected"


async def test_configuration(csms: OcppCsms, station: Station) -> None:
    answer = await csms.call(ID, "GetConfiguration", key=["HeartbeatInterval", "NumberOfConnectors", "Nope"])
    keys = {k["key"]: k for k in answer["configurationKey"]}
    assert keys["NumberOfConnectors"]["value"] == "2" and keys["NumberOfConnectors"]["readonly"] is True
    assert answer["unknownKey"] == ["Nope"]
    full = await csms.call(ID, "GetConfiguration")
    assert {
        "MeterValuesSampledData",
        "ClockAlignedDataInterval",
        "AuthorizeRemoteTxRequests",
        "LocalAuthorizeOffline",
    } <= {k["key"] for k in full["configurationKey"]}
    ok = await csms.call(ID, "ChangeConfiguration", key="MeterValueSampleInterval", value="2")
    assert ok["status"] == "Accepted" and station.settings["meter_sample_interval"] == 2
    assert (await csms.call(ID, "ChangeConfiguration", key="NumberOfConnectors", value="4"))["status"] == "Rejected"
    assert (await csms.call(ID, "ChangeConfiguration", key="Unknown", value="4"))["status"] == "NotSupported"
    bad = await csms.call(ID, "ChangeConfiguration", key="HeartbeatInterval", value="soon")
    assert bad["status"] == "Rejected"
    bad = await csms.call(ID, "ChangeConfiguration", key="MeterValuesSampledData", value="Bogus.Measurand")
    assert bad["status"] == "Rejected"


async def test_trigger_message(csms: OcppCsms, station: Station) -> None:
    for requested in ("Heartbeat", "StatusNotification", "MeterValues", "FirmwareStatusNotification",
                      "DiagnosticsStatusNotification", "BootNotification"):  # fmt: skip
        before = len(csms.messages(ID, requested))
        answer = await csms.call(ID, "TriggerMessage", requested_message=requested, connector_id=1)
        assert answer["status"] == "Accepted"
        await csms.wait_for(ID, requested, count=before + 1)
    assert (await csms.call(ID, "TriggerMessage", requested_message="Heartbeat", connector_id=9))["status"] \
        == "Rejected"  # fmt: skip


async def test_availability_and_unlock(csms: OcppCsms, station: Station) -> None:
    answer = await csms.call(ID, "ChangeAvailability", connector_id=1, type="Inoperative")
    assert answer["status"] == "Accepted"
    await csms.wait_for(ID, "StatusNotification", predicate=lambda m: m["connectorId"] == 1
                        and m["status"] == "Unavailable")  # fmt: skip
    assert await station.start_transaction(1, "TAG") is None
    await csms.call(ID, "ChangeAvailability", connector_id=1, type="Operative")
    await until(lambda: station.connector(1).status == "Available")
    # A running transaction makes it Scheduled; it takes effect when the transaction ends.
    station.plug_in(2)
    assert await station.start_transaction(2, "TAG") is not None
    answer = await csms.call(ID, "ChangeAvailability", connector_id=2, type="Inoperative")
    assert answer["status"] == "Scheduled"
    answer = await csms.call(ID, "UnlockConnector", connector_id=2)
    assert answer["status"] == "Unlocked"
    stop = await csms.wait_for(ID, "StopTransaction")
    assert stop["reason"] == "UnlockCommand"
    await until(lambda: station.connector(2).status == "Unavailable")


async def test_reset_reboots(csms: OcppCsms, station: Station) -> None:
    station.plug_in(1)
    await station.start_transaction(1, "TAG")
    await csms.wait_for(ID, "StartTransaction")
    assert (await csms.call(ID, "Reset", type="Soft"))["status"] == "Accepted"
    stop = await csms.wait_for(ID, "StopTransaction")
    assert stop["reason"] == "SoftReset"
    await csms.wait_for(ID, "BootNotification", count=2)
    await station.wait_booted(5)


async def test_smart_charging(csms: OcppCsms, station: Station) -> None:
    station.plug_in(1)
    await station.start_transaction(1, "TAG")
    await csms.wait_for(ID, "StartTransaction")
    await until(lambda: station.connector(1).tx.id is not None)
    c = station.connector(1)
    assert c.power_w == 11000  # the EV's own limit, below the connector's 22 kW
    now = time.time()
    profile = {
        "chargingProfileId": 7, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute", "transactionId": int(c.tx.id),
        "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": format_time(now - 1),
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0, "numberPhases": 3}]},
    }  # fmt: skip
    answer = await csms.call(ID, "SetChargingProfile", connector_id=1, cs_charging_profiles=profile)
    assert answer["status"] == "Accepted"
    assert c.power_w == pytest.approx(6900)  # 10 A x 230 V x 3
    # the meter integrates from its last update, not from when the test looks (a busy machine may
    # put a gap between the two): the energy is exact for the time the meter counted at 6.9 kW
    energy_before, counted_from = c.energy_wh, c.last_update
    await until(lambda: time.time() - counted_from > 0.5)
    station.update_meters()
    assert c.energy_wh - energy_before == pytest.approx(6900 * (c.last_update - counted_from) / 3600)
    composite = await csms.call(ID, "GetCompositeSchedule", connector_id=1, duration=600, charging_rate_unit="W")
    assert composite["status"] == "Accepted"
    assert composite["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == pytest.approx(6900)
    station_max = {
        "chargingProfileId": 8, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "W", "startSchedule": format_time(now - 1),
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0}]},
    }  # fmt: skip
    assert (await csms.call(ID, "SetChargingProfile", connector_id=0, cs_charging_profiles=station_max))["status"] \
        == "Accepted"  # fmt: skip
    assert c.power_w == 0
    await csms.wait_for(ID, "StatusNotification", predicate=lambda m: m["status"] == "SuspendedEVSE")
    assert (await csms.call(ID, "ClearChargingProfile", id=8))["status"] == "Accepted"
    assert c.power_w == pytest.approx(6900)
    assert (await csms.call(ID, "ClearChargingProfile", id=99))["status"] == "Unknown"
    # A TxProfile without a transaction is rejected (§5.16)
    bad = dict(profile, chargingProfileId=9)
    bad.pop("transactionId")
    assert (await csms.call(ID, "SetChargingProfile", connector_id=2, cs_charging_profiles=bad))["status"] \
        == "Rejected"  # fmt: skip


async def test_local_list_and_reservations(csms: OcppCsms, station: Station) -> None:
    assert (await csms.call(ID, "GetLocalListVersion"))["listVersion"] == 0
    answer = await csms.call(ID, "SendLocalList", list_version=3, update_type="Full", local_authorization_list=[
        {"idTag": "LOCAL1", "idTagInfo": {"status": "Accepted"}}])  # fmt: skip
    assert answer["status"] == "Accepted"
    assert (await csms.call(ID, "GetLocalListVersion"))["listVersion"] == 3
    stale = await csms.call(ID, "SendLocalList", list_version=2, update_type="Differential")
    assert stale["status"] == "VersionMismatch"
    expiry = format_time(time.time() + 60)
    assert (await csms.call(ID, "ReserveNow", connector_id=1, expiry_date=expiry, id_tag="RES",
                            reservation_id=5))["status"] == "Accepted"  # fmt: skip
    await csms.wait_for(ID, "StatusNotification", predicate=lambda m: m["status"] == "Reserved")
    assert await station.start_transaction(1, "SOMEONE-ELSE") is None
    assert (await csms.call(ID, "CancelReservation", reservation_id=5))["status"] == "Accepted"
    assert (await csms.call(ID, "CancelReservation", reservation_id=5))["status"] == "Rejected"
    assert (await csms.call(ID, "ReserveNow", connector_id=1, expiry_date=expiry, id_tag="RES",
                            reservation_id=6))["status"] == "Accepted"  # fmt: skip
    assert await station.start_transaction(1, "RES") is not None
    start = await csms.wait_for(ID, "StartTransaction")
    assert start["reservationId"] == 6


async def test_firmware_diagnostics_datatransfer(csms: OcppCsms, station: Station) -> None:
    assert await csms.call(ID, "UpdateFirmware", location="ftp://example.invalid/fw.bin",
                           retrieve_date=format_time(time.time())) == {}  # fmt: skip
    await csms.wait_for(ID, "FirmwareStatusNotification", predicate=lambda m: m["status"] == "Installed")
    statuses = [m["status"] for m in csms.messages(ID, "FirmwareStatusNotification")]
    assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert len(csms.messages(ID, "BootNotification")) == 2  # installing reboots
    answer = await csms.call(ID, "GetDiagnostics", location="ftp://example.invalid/")
    assert answer["fileName"].startswith("diagnostics-")
    await csms.wait_for(ID, "DiagnosticsStatusNotification", predicate=lambda m: m["status"] == "Uploaded")
    assert (await csms.call(ID, "DataTransfer", vendor_id="ocppd", data="ping"))["data"] == "ping"
    assert (await csms.call(ID, "DataTransfer", vendor_id="other"))["status"] == "UnknownVendorId"
    assert (await csms.call(ID, "ClearCache"))["status"] == "Accepted"
