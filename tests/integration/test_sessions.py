"""Full charging sessions against a real ``ocppd serve`` process, driven by the independent ``ocpp``
PyPI package as the charging station (1.6, 2.0.1 and 2.1), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call as call21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.csms_process import CsmsProcess


def ts(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Station16(ChargePoint16):
    @on("Reset")
    async def on_reset(self, type: str, **_: Any) -> result16.Reset:
        return result16.Reset(status="Accepted")


class Station201(ChargePoint201):
    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> result201.GetVariables:
        return result201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "300",
                    "component": d["component"],
                    "variable": d["variable"],
                }
                for d in get_variable_data
            ]
        )


@asynccontextmanager
async def station(server: CsmsProcess, identity: str, version: str, cls: type) -> AsyncIterator[Any]:
    async with websockets.connect(f"{server.ws_url}/{identity}", subprotocols=[version]) as ws:
        assert ws.subprotocol == version
        cp = cls(identity, ws)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()


def transactions(server: CsmsProcess, station_id: str) -> list[dict[str, Any]]:
    out = server.cli("transactions", "list", "--station", station_id, "--json")
    return json.loads(out.stdout)


async def test_v16_full_session(csms: CsmsProcess) -> None:
    csms.cli("tokens", "add", "CARD-16")
    async with station(csms, "CP-16", "ocpp1.6", Station16) as cp:
        boot = await cp.call(call16.BootNotification(charge_point_vendor="ACME", charge_point_model="AC22"))
        assert boot.status == "Accepted" and boot.interval == 60
        await cp.call(call16.Heartbeat())
        await cp.call(call16.StatusNotification(connector_id=0, error_code="NoError", status="Available"))
        await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
        auth = await cp.call(call16.Authorize(id_tag="CARD-16"))
        assert auth.id_tag_info["status"] == "Accepted"
        unknown = await cp.call(call16.Authorize(id_tag="NOBODY"))
        assert unknown.id_tag_info["status"] == "Invalid"
        started_at = ts(-60)
        start = await cp.call(
            call16.StartTransaction(connector_id=1, id_tag="CARD-16", meter_start=10_000, timestamp=started_at)
        )
        assert start.id_tag_info["status"] == "Accepted"
        # A resent StartTransaction (its answer was lost) gets the same id and makes no duplicate.
        again = await cp.call(
            call16.StartTransaction(connector_id=1, id_tag="CARD-16", meter_start=10_000, timestamp=started_at)
        )
        assert again.transaction_id == start.transaction_id
        await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        for i in range(1, 4):
            await cp.call(
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=start.transaction_id,
                    meter_value=[
                        {
                            "timestamp": ts(-60 + i * 10),
                            "sampledValue": [
                                {
                                    "value": str(10 + i * 1.5),
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "kWh",
                                },
                                {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
                            ],
                        }
                    ],
                )
            )
        stop = await cp.call(
            call16.StopTransaction(
                meter_stop=16_000,
                timestamp=ts(),
                transaction_id=start.transaction_id,
                reason="EVDisconnected",
                id_tag="CARD-16",
                transaction_data=[
                    {"timestamp": ts(), "sampledValue": [{"value": "16000", "context": "Transaction.End"}]}
                ],
            )
        )
        assert stop.id_tag_info["status"] == "Accepted"
        # A stop for a transaction we never saw is answered normally (no CALLERROR loop) and recorded.
        ghost = await cp.call(call16.StopTransaction(meter_stop=5, timestamp=ts(), transaction_id=424242))
        assert ghost.id_tag_info is None
        dt = await cp.call(call16.DataTransfer(vendor_id="com.example"))
        assert dt.status == "UnknownVendorId"
        await cp.call(call16.FirmwareStatusNotification(status="Idle"))
        await cp.call(call16.DiagnosticsStatusNotification(status="Idle"))

        # CSMS-initiated: through the API of the running server, the station answers.
        async with httpx.AsyncClient(
            base_url=csms.http_url, headers={"Authorization": f"Bearer {csms.admin_token}"}
        ) as api:
            response = await api.post("/api/v1/stations/CP-16/call/Reset", json={"type": "Soft"})
            assert response.status_code == 200, response.text
            assert response.json() == {"status": "Accepted"}

    [tx] = transactions(csms, "CP-16")
    assert tx["transaction_id"] == str(start.transaction_id)
    assert tx["meter_start_wh"] == 10_000 and tx["meter_stop_wh"] == 16_000
    assert tx["energy_wh"] == 6_000
    assert tx["stop_reason"] == "EVDisconnected"
    [listed] = [s for s in json.loads(csms.cli("stations", "list", "--json").stdout) if s["station_id"] == "CP-16"]
    assert listed["vendor"] == "ACME" and listed["registration_status"] == "accepted"
    log = csms.cli("log", "CP-16", "--limit", "500").stdout
    assert "BootNotification" in log and "StopTransaction" in log and "Reset" in log


async def _v2x_session(csms: CsmsProcess, identity: str, version: str, cls: type, call: Any) -> None:
    csms.cli("tokens", "add", "04C0FFEE", "--type", "ISO14443")
    token = {"id_token": "04C0FFEE", "type": "ISO14443"}
    async with station(csms, identity, version, cls) as cp:
        boot = await cp.call(
            call.BootNotification(charging_station={"model": "DC50", "vendor_name": "ACME"}, reason="PowerUp")
        )
        assert boot.status == "Accepted"
        await cp.call(call.Heartbeat())
        await cp.call(call.StatusNotification(timestamp=ts(), connector_status="Occupied", evse_id=1, connector_id=1))
        auth = await cp.call(call.Authorize(id_token=token))
        assert auth.id_token_info["status"] == "Accepted"
        unknown = await cp.call(call.Authorize(id_token={"id_token": "04BADBAD", "type": "ISO14443"}))
        assert unknown.id_token_info["status"] == "Unknown"
        malformed = await cp.call(call.Authorize(id_token={"id_token": "NOBODY", "type": "ISO14443"}))
        assert malformed.id_token_info["status"] == "Invalid"  # not 8 or 14 hex digits

        def energy(wh: float, context: str = "Sample.Periodic") -> list[dict[str, Any]]:
            return [
                {
                    "timestamp": ts(),
                    "sampled_value": [
                        {
                            "value": wh,
                            "measurand": "Energy.Active.Import.Register",
                            "context": context,
                            "unit_of_measure": {"unit": "Wh"},
                        },
                        {"value": 50_000, "measurand": "Power.Active.Import", "context": context},
                    ],
                }
            ]

        info = {"transaction_id": f"{identity}-tx1"}
        started = await cp.call(
            call.TransactionEvent(
                event_type="Started",
                timestamp=ts(),
                trigger_reason="Authorized",
                seq_no=0,
                transaction_info={**info, "charging_state": "Charging"},
                evse={"id": 1, "connector_id": 1},
                id_token=token,
                meter_value=energy(2_000, "Transaction.Begin"),
            )
        )
        assert started.id_token_info["status"] == "Accepted"
        updated = call.TransactionEvent(
            event_type="Updated",
            timestamp=ts(),
            trigger_reason="MeterValuePeriodic",
            seq_no=1,
            transaction_info=info,
            meter_value=energy(4_500),
        )
        await cp.call(updated)
        await cp.call(updated)  # a replay after a lost answer: same answer, no duplicate
        await cp.call(
            call.TransactionEvent(
                event_type="Ended",
                timestamp=ts(),
                trigger_reason="EVCommunicationLost",
                seq_no=2,
                transaction_info={**info, "stopped_reason": "EVDisconnected"},
                meter_value=energy(9_000, "Transaction.End"),
            )
        )
        await cp.call(
            call.NotifyReport(
                request_id=1,
                generated_at=ts(),
                seq_no=0,
                report_data=[
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                        "variable_attribute": [{"type": "Actual", "value": "60", "mutability": "ReadWrite"}],
                    }
                ],
            )
        )
        await cp.call(call.SecurityEventNotification(type="FirmwareUpdated", timestamp=ts()))
        dt = await cp.call(call.DataTransfer(vendor_id="com.example"))
        assert dt.status == "UnknownVendorId"
        if version == "ocpp2.0.1":
            async with httpx.AsyncClient(
                base_url=csms.http_url, headers={"Authorization": f"Bearer {csms.admin_token}"}
            ) as api:
                response = await api.post(
                    f"/api/v1/stations/{identity}/call/GetVariables",
                    json={
                        "getVariableData": [
                            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
                        ]
                    },
                )
                assert response.status_code == 200, response.text
                assert response.json()["getVariableResult"][0]["attributeValue"] == "300"

    [tx] = transactions(csms, identity)
    assert tx["transaction_id"] == f"{identity}-tx1"
    assert tx["energy_wh"] == 7_000
    assert tx["stop_reason"] == "EVDisconnected"


async def test_v201_full_session(csms: CsmsProcess) -> None:
    await _v2x_session(csms, "CS-201", "ocpp2.0.1", Station201, call201)


async def test_v21_full_session(csms: CsmsProcess) -> None:
    await _v2x_session(csms, "CS-21", "ocpp2.1", ChargePoint21, call21)


async def test_registration_policy_pending(tmp_path: Any) -> None:
    from tests.csms_process import run_csms

    with run_csms(tmp_path, extra_env={"OCPPD_OCPP__UNKNOWN_STATIONS": "pending"}) as server:
        async with station(server, "NEW-1", "ocpp2.0.1", ChargePoint201) as cp:
            boot = await cp.call(
                call201.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp")
            )
            assert boot.status == "Pending"
        [listed] = json.loads(server.cli("stations", "list", "--json").stdout)
        assert listed["registration_status"] == "pending"
        server.cli("stations", "approve", "NEW-1")
        await asyncio.sleep(0.2)
        async with station(server, "NEW-1", "ocpp2.0.1", ChargePoint201) as cp:
            boot = await cp.call(
                call201.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp")
            )
            assert boot.status == "Accepted"


async def test_basic_auth_security_profile_1(csms: CsmsProcess) -> None:
    csms.cli("stations", "add", "SECURE-1", "--password", "correct-horse-battery")
    # The running server picks up stations added by the CLI on its next directory refresh.
    for _ in range(100):
        try:
            async with websockets.connect(f"{csms.ws_url}/SECURE-1", subprotocols=["ocpp1.6"]):
                pass
        except websockets.InvalidStatus as refused:
            assert refused.response.status_code == 401
            break
        await asyncio.sleep(0.2)
    else:
        pytest.fail("a station with a password was let in without one")
    wrong = websockets.connect(
        f"{csms.ws_url}/SECURE-1",
        subprotocols=["ocpp1.6"],
        additional_headers={"Authorization": httpx.BasicAuth("SECURE-1", "nope")._auth_header},
    )
    with pytest.raises(websockets.InvalidStatus):
        async with wrong:
            pass
    good = websockets.connect(
        f"{csms.ws_url}/SECURE-1",
        subprotocols=["ocpp1.6"],
        additional_headers={"Authorization": httpx.BasicAuth("SECURE-1", "correct-horse-battery")._auth_header},
    )
    async with good as ws:
        assert ws.subprotocol == "ocpp1.6"


async def test_cli_adds_many_tokens_at_once(csms: CsmsProcess) -> None:
    out = csms.cli("tokens", "add", "MANY-1", "MANY-2", "MANY-3", "--group", "FLEET-M").stdout
    assert "3 tokens" in out
    listed = csms.cli("tokens", "list").stdout
    assert all(f"MANY-{i}" in listed for i in (1, 2, 3)) and "FLEET-M" in listed
