"""Commands to real 1.6 and 2.0.1 stations: typed endpoints, the generic endpoint, and every error status."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import eventually, new_station_id, ok
from tests.api.stations import connected
from tests.csms_process import CsmsProcess

FUTURE = "2099-01-01T00:00:00Z"


def last(station: Any, action: str) -> dict[str, Any]:
    return next(kw for a, kw in reversed(station.received) if a == action)


async def command(api: httpx.AsyncClient, sid: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    return ok(await api.post(f"/api/v1/stations/{sid}/commands/{name}", json=body))


async def test_typed_commands_v16(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_station_id("C16")
    ok(await api.post("/api/v1/tokens", json={"id_token": "LIST-16", "group_id": "G"}), 201)
    async with connected(server.ws_url, sid, "1.6") as st:
        r = await command(api, sid, "reset", {"type": "hard"})
        assert r["action"] == "Reset" and r["request"] == {"type": "Hard"} and r["response"] == {"status": "Accepted"}
        assert r["ocpp_version"] == "1.6"
        r = await command(api, sid, "unlock", {"connector_id": 1})
        assert r["request"] == {"connectorId": 1} and r["response"]["status"] == "Unlocked"
        r = await command(api, sid, "change-availability", {"operative": False})
        assert r["request"] == {"connectorId": 0, "type": "Inoperative"}
        r = await command(api, sid, "get-configuration", {"keys": ["HeartbeatInterval", "Nope"]})
        assert r["response"]["unknownKey"] == ["Nope"]
        r = await command(api, sid, "change-configuration", {"key": "HeartbeatInterval", "value": "30"})
        assert r["request"] == {"key": "HeartbeatInterval", "value": "30"}
        wanted = {"variables": [{"component": "X", "variable": "MeterValueSampleInterval"}]}
        r = await command(api, sid, "get-variables", wanted)
        assert r["action"] == "GetConfiguration" and r["request"] == {"key": ["MeterValueSampleInterval"]}
        r = await command(
            api,
            sid,
            "set-variables",
            {
                "variables": [
                    {"component": "X", "variable": "A", "value": "1"},
                    {"component": "X", "variable": "B", "value": "2"},
                ]
            },
        )
        assert [c["request"]["key"] for c in r["calls"]] == ["A", "B"]  # 1.6: one key per call
        r = await command(api, sid, "trigger-message", {"message": "StatusNotification", "evse_id": 1})
        assert r["request"] == {"requestedMessage": "StatusNotification", "connectorId": 1}
        r = await command(
            api,
            sid,
            "set-charging-profile",
            {"evse_id": 1, "profile": {"id": 7, "purpose": "tx_default", "periods": [{"start_s": 0, "limit": 11000}]}},
        )
        profile = r["request"]["csChargingProfiles"]
        assert profile["chargingProfilePurpose"] == "TxDefaultProfile" and profile["chargingProfileId"] == 7
        assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 11000.0}]
        r = await command(api, sid, "clear-charging-profile", {"profile_id": 7})
        assert r["request"] == {"id": 7}
        r = await command(api, sid, "composite-schedule", {"evse_id": 1, "duration_s": 600, "unit": "W"})
        assert r["request"] == {"connectorId": 1, "duration": 600, "chargingRateUnit": "W"}
        r = await command(api, sid, "update-firmware", {"location": "https://fw.example/1.bin", "retrieve_at": FUTURE})
        assert r["request"] == {"location": "https://fw.example/1.bin", "retrieveDate": FUTURE}
        r = await command(api, sid, "get-log", {"location": "ftp://logs.example/"})
        assert r["action"] == "GetDiagnostics" and r["response"] == {"fileName": "diag.log"}
        r = await command(
            api, sid, "reserve", {"id_token": "LIST-16", "expires_at": FUTURE, "evse_id": 1, "reservation_id": 5}
        )
        assert r["request"] == {"connectorId": 1, "expiryDate": FUTURE, "idTag": "LIST-16", "reservationId": 5}
        r = await command(api, sid, "cancel-reservation", {"reservation_id": 5})
        assert r["request"] == {"reservationId": 5}
        r = await command(api, sid, "send-local-list", {"version": 2})  # no entries: every CSMS token
        entries = r["request"]["localAuthorizationList"]
        assert {"idTag": "LIST-16", "idTagInfo": {"status": "Accepted", "parentIdTag": "G"}} in entries
        r = await command(api, sid, "data-transfer", {"vendor_id": "acme", "data": {"a": 1}})
        assert r["request"]["data"] == '{"a": 1}' and r["response"] == {"status": "Accepted", "data": "pong"}
        assert (await command(api, sid, "clear-cache", {}))["action"] == "ClearCache"
        assert (await command(api, sid, "local-list-version", {}))["response"] == {"listVersion": 3}
        # The generic endpoint: the payload as is, the station's answer as is.
        answer = ok(await api.post(f"/api/v1/stations/{sid}/call/GetLocalListVersion", json={}))
        assert answer == {"listVersion": 3}
        assert st.actions().count("Reset") == 1 and "GetDiagnostics" in st.actions()


async def test_typed_commands_v201(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_station_id("C201")
    async with connected(server.ws_url, sid, "2.0.1") as st:
        r = await command(api, sid, "reset", {"type": "hard"})
        assert r["request"] == {"type": "Immediate"} and r["ocpp_version"] == "2.0.1"
        r = await command(api, sid, "unlock", {"evse_id": 1, "connector_id": 1})
        assert r["request"] == {"evseId": 1, "connectorId": 1}
        r = await command(api, sid, "change-availability", {"operative": False, "evse_id": 1})
        assert r["request"] == {"operationalStatus": "Inoperative", "evse": {"id": 1}}
        r = await command(
            api, sid, "get-variables", {"variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}]}
        )
        assert r["request"] == {
            "getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]
        }
        assert r["response"]["getVariableResult"][0]["attributeValue"] == "42"
        detail = ok(await api.get(f"/api/v1/stations/{sid}"))
        assert {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "42"}.items() <= next(
            v for v in detail["configuration"] if v["variable"] == "HeartbeatInterval"
        ).items()
        r = await command(
            api,
            sid,
            "set-variables",
            {"variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "30"}]},
        )
        assert r["response"]["setVariableResult"][0]["attributeStatus"] == "Accepted"
        r = await command(
            api, sid, "change-configuration", {"component": "OCPPCommCtrlr", "key": "HeartbeatInterval", "value": "20"}
        )
        assert r["action"] == "SetVariables"
        r = await command(api, sid, "get-configuration", {})
        assert r["action"] == "GetBaseReport" and r["request"]["reportBase"] == "FullInventory"
        r = await command(
            api, sid, "trigger-message", {"message": "StatusNotification", "evse_id": 1, "connector_id": 1}
        )
        assert r["request"] == {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}}
        r = await command(
            api,
            sid,
            "set-charging-profile",
            {
                "evse_id": 1,
                "profile": {
                    "id": 3,
                    "purpose": "station_max",
                    "kind": "Absolute",
                    "start_at": FUTURE,
                    "unit": "A",
                    "periods": [{"start_s": 0, "limit": 16}],
                },
            },
        )
        prof = r["request"]["chargingProfile"]
        assert prof["chargingProfilePurpose"] == "ChargingStationMaxProfile"
        assert prof["chargingSchedule"][0]["chargingRateUnit"] == "A"
        r = await command(api, sid, "clear-charging-profile", {"evse_id": 1, "purpose": "TX_DEFAULT"})
        assert r["request"] == {"chargingProfileCriteria": {"evseId": 1, "chargingProfilePurpose": "TxDefaultProfile"}}
        r = await command(api, sid, "composite-schedule", {"evse_id": 1, "duration_s": 60})
        assert r["request"] == {"evseId": 1, "duration": 60}
        r = await command(api, sid, "update-firmware", {"location": "https://fw.example/2.bin", "retrieve_at": FUTURE})
        assert r["request"]["firmware"] == {"location": "https://fw.example/2.bin", "retrieveDateTime": FUTURE}
        r = await command(api, sid, "get-log", {"location": "https://logs.example/", "log_type": "SecurityLog"})
        assert r["request"]["logType"] == "SecurityLog" and r["response"]["filename"] == "station.log"
        r = await command(api, sid, "reserve", {"id_token": "R1", "expires_at": FUTURE, "reservation_id": 9})
        assert r["request"] == {"id": 9, "expiryDateTime": FUTURE, "idToken": {"idToken": "R1", "type": "ISO14443"}}
        r = await command(api, sid, "cancel-reservation", {"reservation_id": 9})
        assert r["response"]["status"] == "Accepted"
        r = await command(
            api,
            sid,
            "send-local-list",
            {
                "version": 4,
                "update_type": "Differential",
                "entries": [
                    {"id_token": "A1", "type": "ISO14443", "status": "Blocked"},
                    {"id_token": "A2", "status": None},
                ],
            },
        )
        assert r["request"]["localAuthorizationList"] == [
            {"idToken": {"idToken": "A1", "type": "ISO14443"}, "idTokenInfo": {"status": "Blocked"}},
            {"idToken": {"idToken": "A2", "type": "ISO14443"}},
        ]
        r = await command(api, sid, "data-transfer", {"vendor_id": "acme", "data": {"a": 1}})
        assert r["request"]["data"] == {"a": 1} and r["response"]["data"] == {"pong": True}
        assert (await command(api, sid, "local-list-version", {}))["response"] == {"versionNumber": 3}
        assert "GetLog" in st.actions() and last(st, "Reset")["type"] == "Immediate"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_remote_start_and_stop(server: CsmsProcess, api: httpx.AsyncClient, version: str) -> None:
    sid = new_station_id("RS")
    async with connected(server.ws_url, sid, version, meter_interval=0.3) as st:
        r = await command(api, sid, "remote-start", {"id_token": "RFID-1", "evse_id": 1})
        if version == "1.6":
            assert r["action"] == "RemoteStartTransaction"
            assert r["request"] == {"connectorId": 1, "idTag": "RFID-1"}
        else:
            assert r["action"] == "RequestStartTransaction"
            assert r["request"]["idToken"] == {"idToken": "RFID-1", "type": "ISO14443"}
            assert isinstance(r["request"]["remoteStartId"], int) and r["request"]["evseId"] == 1
        assert r["response"]["status"] == "Accepted"

        async def charging() -> dict | None:
            s = ok(await api.get(f"/api/v1/stations/{sid}"))
            if s["status"] != "Charging" or not s["transactions"] or not s["power_w"]:
                return None
            # The meter has moved, so the session has energy to bill.
            tx = ok(await api.get(f"/api/v1/transactions/{s['transactions'][0]['id']}"))
            return s if tx["energy_wh"] else None

        detail = await eventually(charging, "station charging with power")
        tx = detail["transactions"][0]
        assert tx["id_token"] == "RFID-1" and detail["power_w"] == 7400.0
        power = ok(await api.get(f"/api/v1/stations/{sid}/power"))
        assert power["series"] and power["series"][-1]["power_w"] == 7400.0
        r = await command(api, sid, "remote-stop", {"transaction_id": tx["transaction_id"]})
        assert r["response"]["status"] == "Accepted"

        async def stopped() -> dict | None:
            t = ok(await api.get(f"/api/v1/transactions/{tx['id']}"))
            return t if not t["active"] and t["energy_wh"] else None

        done = await eventually(stopped, "transaction ended with energy")
        assert done["energy_wh"] > 0 and done["stop_reason"] == "Remote"

        async def station_idle() -> bool:  # the station forgets it when the answer to its stop arrives
            return st.transaction_id is None

        await eventually(station_idle, "the station to finish its session")


async def test_command_errors(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    # 404: nobody knows this station.
    unknown = await api.post("/api/v1/stations/NOPE-404/commands/reset", json={})
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_station"
    assert (await api.post("/api/v1/stations/NOPE-404/call/Reset", json={"type": "Soft"})).status_code == 404
    # 409: registered but not connected.
    sid = new_station_id("ERR")
    ok(await api.post("/api/v1/stations", json={"station_id": sid}), 201)
    offline = await api.post(f"/api/v1/stations/{sid}/commands/reset", json={})
    assert offline.status_code == 409 and offline.json()["code"] == "station_offline"
    async with connected(server.ws_url, sid, "1.6") as st:
        # 400: body invalid for the typed endpoint, payload invalid for the schema, unknown action.
        bad = await api.post(f"/api/v1/stations/{sid}/commands/reset", json={"type": "sideways"})
        assert bad.status_code == 400 and bad.json()["code"] == "invalid_input"
        bad = await api.post(f"/api/v1/stations/{sid}/call/Reset", json={"type": "Sideways"})
        assert bad.status_code == 400 and "Reset" in bad.json()["detail"]
        bad = await api.post(f"/api/v1/stations/{sid}/call/RequestStartTransaction", json={})
        assert bad.status_code == 400 and bad.json()["code"] == "unknown_action"  # a 2.x message on 1.6
        bad = await api.post(f"/api/v1/stations/{sid}/call/BootNotification", json={})
        assert bad.status_code == 400  # station-initiated
        bad = await api.post(f"/api/v1/stations/{sid}/commands/remote-stop", json={"transaction_id": "abc"})
        assert bad.status_code == 400 and "integer" in bad.json()["detail"]
        assert (
            await api.post(
                f"/api/v1/stations/{sid}/call/Reset", content=b"not json", headers={"Content-Type": "application/json"}
            )
        ).status_code == 400
        # 502: the station answered with a CALLERROR (no handler for this message).
        err = await api.post(
            f"/api/v1/stations/{sid}/call/GetInstalledCertificateIds",
            json={"certificateType": "CentralSystemRootCertificate"},
        )
        assert err.status_code == 502 and err.json()["code"] == "call_error"
        # 504: the station did not answer in time.
        slow = await api.post(
            f"/api/v1/stations/{sid}/commands/data-transfer", params={"timeout": 0.5}, json={"vendor_id": "slow"}
        )
        assert slow.status_code == 504 and slow.json()["code"] == "station_timeout"
        assert "DataTransfer" in st.actions()
    async with connected(server.ws_url, new_station_id("ERR2"), "2.0.1") as st2:
        bad = await api.post(f"/api/v1/stations/{st2.id}/commands/get-configuration", json={"keys": ["A"]})
        assert bad.status_code == 400 and "get-variables" in bad.json()["detail"]
        bad = await api.post(
            f"/api/v1/stations/{st2.id}/commands/change-configuration", json={"key": "A", "value": "1"}
        )
        assert bad.status_code == 400 and "component" in bad.json()["detail"]
