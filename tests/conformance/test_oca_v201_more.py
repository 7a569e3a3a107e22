"""More OCA OCPP 2.0.1 CSMS cases (blocks B, C, F, K, L, N, P) against ``ocppd serve``, with the ``ocpp``
package playing the test tool's station; each on SQLite and PostgreSQL (one server per module and backend).

Operator actions go through the REST API; every request the CSMS sends is recorded by the station and
checked field by field (present, absent) as the case's tool validations say.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201
from websockets.exceptions import InvalidStatus

from tests.conformance.stations import Station201, add_tokens, connect, eventually, new_id, transactions, ts
from tests.csms_process import CsmsProcess

VALID = "04A1B2C3"


def _answering(action: str, default: dict[str, Any]) -> Any:
    """A handler that records the request and answers ``default`` overridden by ``answers[action]``.

    The ``ocpp`` package finds handlers by function name, so it is named ``on_<Action>`` and must be
    assigned to an attribute of that name."""

    async def handler(self: Station201, **p: Any) -> Any:
        return getattr(r201, action)(**{**default, **self.got(action, p)})

    handler.__name__ = f"on_{action}"  # the route map looks handlers up by this name
    return on(action)(handler)


class Tool(Station201):
    """The test tool's station: answers every request these cases need (Accepted unless told otherwise)."""

    on_SetChargingProfile = _answering("SetChargingProfile", {"status": "Accepted"})
    on_ClearChargingProfile = _answering("ClearChargingProfile", {"status": "Accepted"})
    on_GetChargingProfiles = _answering("GetChargingProfiles", {"status": "Accepted"})
    on_GetCompositeSchedule = _answering("GetCompositeSchedule", {"status": "Accepted"})
    on_RequestStartTransaction = _answering("RequestStartTransaction", {"status": "Accepted"})
    on_TriggerMessage = _answering("TriggerMessage", {"status": "Accepted"})
    on_SetNetworkProfile = _answering("SetNetworkProfile", {"status": "Accepted"})
    on_PublishFirmware = _answering("PublishFirmware", {"status": "Accepted"})
    on_UnpublishFirmware = _answering("UnpublishFirmware", {"status": "Unpublished"})
    on_UpdateFirmware = _answering("UpdateFirmware", {"status": "Accepted"})
    on_GetLog = _answering("GetLog", {"status": "Accepted"})


async def command(api: httpx.AsyncClient, station: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(f"/api/v1/stations/{station}/commands/{name}", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def generic(api: httpx.AsyncClient, station: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(f"/api/v1/stations/{station}/call/{action}", json=payload)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def notifications(api: httpx.AsyncClient, station: str, kind: str) -> list[dict[str, Any]]:
    found = (await api.get(f"/api/v1/stations/{station}/notifications", params={"limit": 200})).json()
    return [e for e in found if e["kind"] == kind]


async def tx_row(api: httpx.AsyncClient, station: str, tx_id: str) -> dict[str, Any]:
    [row] = [t for t in await transactions(api, station) if t["transaction_id"] == tx_id]
    return row


def iso(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


async def charging(cp: Station201, tx_id: str, evse: int = 1) -> None:
    """EnergyTransferStarted on ``evse`` with the valid token."""
    await cp.event("Started", tx_id, "Authorized", evse=evse, token=VALID, token_type="ISO14443", wh=0,
                   info={"charging_state": "Charging"})  # fmt: skip


# ----------------------------------------------------------------------------- B: provisioning


async def test_tc_b_58_websocket_subprotocol_validation(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("B58")
    # Only an unsupported subprotocol: the CSMS rejects the connection and does NOT upgrade.
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(f"{csms.ws_url}/{station}", subprotocols=["ocpp0.1"]):
            pass
    assert refused.value.response.status_code == 400
    offered = ["ocpp0.1", "ocpp2.0.1"]  # an unsupported one first: ours is picked and echoed back
    async with websockets.connect(f"{csms.ws_url}/{station}", subprotocols=offered) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        cp = Tool(station, ws)
        task = asyncio.create_task(cp.start())
        try:
            await cp.boot()
        finally:
            task.cancel()
    detail = (await api.get(f"/api/v1/stations/{station}")).json()
    assert detail["ocpp_version"] == "2.0.1"


@pytest.mark.parametrize("answer", ["Accepted", "Failed"])
async def test_tc_b_42_b_44_set_network_profile(csms: CsmsProcess, api: httpx.AsyncClient, answer: str) -> None:
    station = new_id("B42")
    connection = {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": f"{csms.ws_url}/",
                  "messageTimeout": 30, "securityProfile": 1, "ocppInterface": "Wired0"}  # fmt: skip
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        cp.answers["SetNetworkProfile"] = {"status": answer}
        got = await generic(api, station, "SetNetworkProfile", {"configurationSlot": 2, "connectionData": connection})
        assert got["status"] == answer  # B_44: Failed is handed back as it came
        [sent] = cp.requests("SetNetworkProfile")
        assert sent["configuration_slot"] == 2
        assert sent["connection_data"] == {"ocpp_version": "OCPP20", "ocpp_transport": "JSON",
                                           "ocpp_csms_url": f"{csms.ws_url}/", "message_timeout": 30,
                                           "security_profile": 1, "ocpp_interface": "Wired0"}  # fmt: skip


# ----------------------------------------------------------------------------- C: authorization


async def test_tc_c_43_group_id_with_the_local_list(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    """The OCA scenario as a public suite quotes it: two valid tokens of one group (in the local list);
    start with one, stop with the other; every answer carries Accepted and the group id token."""
    station = new_id("C43")
    add_tokens(csms, "04C43001", "04C43002", group="GROUP-C43")
    tx_id = new_id("TX")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        listed = await api.put(f"/api/v1/stations/{station}/local-list", json={"groups": ["GROUP-C43"]})
        assert listed.status_code == 200 and listed.json()["entries"] == 2
        start = await cp.event("Started", tx_id, "Authorized", token="04C43001", token_type="ISO14443", wh=0)
        await cp.event("Updated", tx_id, "ChargingStateChanged", wh=10, info={"charging_state": "Charging"})
        auth = await cp.authorize("04C43002", "ISO14443")
        stop = await cp.event("Updated", tx_id, "StopAuthorized", token="04C43002", token_type="ISO14443")
        await cp.event("Updated", tx_id, "ChargingStateChanged", info={"charging_state": "EVConnected"})
        await cp.status(1, "Available")
        await cp.event("Ended", tx_id, "EVCommunicationLost",
                       info={"charging_state": "Idle", "stopped_reason": "EVDisconnected"})  # fmt: skip
    for info in (start.id_token_info, auth, stop.id_token_info):
        assert info["status"] == "Accepted" and info["group_id_token"]["id_token"] == "GROUP-C43", info
    row = await tx_row(api, station, tx_id)
    assert not row["active"] and row["id_token"] == "04C43001"


# ----------------------------------------------------------------------------- F: remote control


async def test_tc_f_01_remote_start_cable_plugin_first(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("F01")
    add_tokens(csms, VALID, token_type="ISO14443")
    tx_id = new_id("TX")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        await cp.status(1, "Occupied")
        await cp.event("Started", tx_id, "CablePluggedIn", info={"charging_state": "EVConnected"})
        cp.answers["RequestStartTransaction"] = {"status": "Accepted", "transaction_id": tx_id}
        started = await command(api, station, "remote-start", {"id_token": VALID, "evse_id": 1})
        [sent] = cp.requests("RequestStartTransaction")
        assert sent["id_token"] == {"id_token": VALID, "type": "ISO14443"} and sent["evse_id"] == 1
        remote_start_id = sent["remote_start_id"]
        assert isinstance(remote_start_id, int)
        assert started["response"]["transactionId"] == tx_id
        answer = await cp.event("Updated", tx_id, "RemoteStart", token=VALID, token_type="ISO14443",
                                info={"remote_start_id": remote_start_id})  # fmt: skip
        assert answer.id_token_info["status"] == "Accepted"
        await cp.event("Updated", tx_id, "ChargingStateChanged", wh=100, info={"charging_state": "Charging"})
    row = await tx_row(api, station, tx_id)
    assert row["active"] and row["id_token"] == VALID


async def test_tc_f_04_remote_start_cable_plugin_timeout(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("F04")
    add_tokens(csms, VALID, token_type="ISO14443")
    tx_id = new_id("TX")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        await command(api, station, "remote-start", {"id_token": VALID, "evse_id": 1})
        [sent] = cp.requests("RequestStartTransaction")
        started = await cp.event("Started", tx_id, "RemoteStart", token=VALID, token_type="ISO14443",
                                 info={"remote_start_id": sent["remote_start_id"]})  # fmt: skip
        assert started.id_token_info["status"] == "Accepted"
        await cp.event("Ended", tx_id, "EVConnectTimeout", info={"stopped_reason": "Timeout"})
    row = await tx_row(api, station, tx_id)
    assert not row["active"] and row["stop_reason"] == "Timeout"


async def test_tc_f_12_f_14_trigger_for_all_evses(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("F12")
    add_tokens(csms, VALID, token_type="ISO14443")
    one, two = new_id("TX"), new_id("TX")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        await command(api, station, "trigger-message", {"message": "MeterValues"})  # F_12: evse omitted
        clock = [{"timestamp": ts(), "sampled_value": [{"value": 7, "context": "Trigger"}]}]
        for evse in (1, 2):
            await cp.call(c201.MeterValues(evse_id=evse, meter_value=clock))
        await charging(cp, one, 1)
        await charging(cp, two, 2)
        await command(api, station, "trigger-message", {"message": "TransactionEvent"})  # F_14: evse omitted
        for evse, tx_id in ((1, one), (2, two)):
            await cp.event("Updated", tx_id, "Trigger", evse=evse, wh=500)
        assert cp.requests("TriggerMessage") == [{"requested_message": "MeterValues"},
                                                 {"requested_message": "TransactionEvent"}]  # fmt: skip
    assert (await tx_row(api, station, one))["energy_wh"] == 500
    assert (await tx_row(api, station, two))["energy_wh"] == 500


async def test_tc_f_13_trigger_transaction_event_for_an_evse(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("F13")
    add_tokens(csms, VALID, token_type="ISO14443")
    tx_id = new_id("TX")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        await charging(cp, tx_id, 1)
        await command(api, station, "trigger-message", {"message": "TransactionEvent", "evse_id": 1})
        assert cp.requests("TriggerMessage") == [{"requested_message": "TransactionEvent", "evse": {"id": 1}}]
        await cp.event("Updated", tx_id, "Trigger", wh=250, info={"charging_state": "Charging"})
    assert (await tx_row(api, station, tx_id))["energy_wh"] == 250


async def test_tc_f_24_trigger_status_notification_occupied(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("F24")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        await cp.status(1, "Occupied")
        await command(api, station, "trigger-message",
                      {"message": "StatusNotification", "evse_id": 1, "connector_id": 1})  # fmt: skip
        assert cp.requests("TriggerMessage") == [
            {"requested_message": "StatusNotification", "evse": {"id": 1, "connector_id": 1}}
        ]
        await cp.status(1, "Occupied")

        async def occupied() -> bool:
            detail = (await api.get(f"/api/v1/stations/{station}")).json()
            return any(c.get("status") == "Occupied" for c in detail.get("connectors", []))

        await eventually(occupied, "connector 1 Occupied")


# ----------------------------------------------------------------------------- K: smart charging


def period(limit: float, start_s: int = 0, phases: int | None = None) -> dict[str, Any]:
    return {"start_s": start_s, "limit": limit, **({"phases": phases} if phases else {})}


async def test_tc_k_01_k_10_k_03_absolute_profiles(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("K01")
    start, end = datetime.now(UTC).replace(microsecond=0), datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        for evse, purpose, pid, limit in ((1, "tx_default", 101, 6000.0), (0, "tx_default", 110, 6000.0),
                                          (0, "station_max", 103, 8000.0)):  # fmt: skip
            body = {"evse_id": evse, "profile": {"id": pid, "purpose": purpose, "kind": "Absolute", "unit": "W",
                    "periods": [period(limit, phases=3)], "start_at": start.isoformat(), "duration_s": 3600,
                    "valid_from": start.isoformat(), "valid_to": end.isoformat()}}  # fmt: skip
            assert (await command(api, station, "set-charging-profile", body))["response"]["status"] == "Accepted"
        sent = cp.requests("SetChargingProfile")
    purposes = ["TxDefaultProfile", "TxDefaultProfile", "ChargingStationMaxProfile"]
    assert [s["evse_id"] for s in sent] == [1, 0, 0]  # K_01 configured EVSE, K_10 / K_03: evseId 0
    for s, purpose, limit in zip(sent, purposes, (6000.0, 6000.0, 8000.0), strict=True):
        p = s["charging_profile"]
        assert p["charging_profile_purpose"] == purpose and p["charging_profile_kind"] == "Absolute"
        assert p["valid_from"] and p["valid_to"] and "transaction_id" not in p
        [schedule] = p["charging_schedule"]
        assert schedule["start_schedule"] and schedule["duration"] == 3600 and schedule["charging_rate_unit"] == "W"
        assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": limit, "number_phases": 3}]
    installed = (await api.get(f"/api/v1/stations/{station}/charging-profiles")).json()
    assert {p["profile_id"] for p in installed} >= {101, 110, 103}


async def test_tc_k_04_replace_a_profile_by_id(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("K04")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        for limit in (8.0, 6.0):
            body = {"evse_id": 1, "profile": {"id": 404, "stack_level": 1, "purpose": "tx_default", "kind": "Absolute",
                    "unit": "A", "periods": [period(limit)], "start_at": iso()}}  # fmt: skip
            await command(api, station, "set-charging-profile", body)
        sent = [s["charging_profile"] for s in cp.requests("SetChargingProfile")]
    assert [p["id"] for p in sent] == [404, 404] and [p["stack_level"] for p in sent] == [1, 1]
    assert [p["charging_schedule"][0]["charging_schedule_period"][0]["limit"] for p in sent] == [8.0, 6.0]
    installed = [p for p in (await api.get(f"/api/v1/stations/{station}/charging-profiles")).json()
                 if p["profile_id"] == 404]  # fmt: skip
    assert len(installed) == 1  # replaced, not stacked


class NotSupportingProfiles(Tool):
    @on("SetChargingProfile")
    async def on_SetChargingProfile(self, **p: Any) -> Any:
        self.got("SetChargingProfile", p)
        raise NotSupportedError("smart charging is not supported")


async def test_tc_k_15_set_charging_profile_not_supported(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("K15")
    async with connect(csms, station, NotSupportingProfiles) as cp:
        await cp.boot()
        body = {"evse_id": 1, "profile": {"id": 415, "purpose": "tx_default", "kind": "Absolute", "unit": "W",
                "periods": [period(6000.0)], "start_at": iso()}}  # fmt: skip
        response = await api.post(f"/api/v1/stations/{station}/commands/set-charging-profile", json=body)
        assert response.status_code == 502, response.text
        assert response.json()["details"]["error_code"] == "NotSupported"
        assert len(cp.requests("SetChargingProfile")) == 1
        # the CSMS survives the CALLERROR: the station stays usable, the profile is not taken as installed
        await cp.call(c201.Heartbeat())
        assert (await command(api, station, "clear-cache", {}))["response"] == {"status": "Accepted"}
    assert 415 not in await _profiles(api, station)


async def test_tc_k_19_recurring_profile(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("K19")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        body = {"evse_id": 1, "profile": {"id": 419, "purpose": "tx_default", "kind": "Recurring",
                "recurrency": "Daily", "unit": "W", "periods": [period(6000.0)], "start_at": iso(),
                "duration_s": 86400}}  # fmt: skip
        await command(api, station, "set-charging-profile", body)
        [sent] = cp.requests("SetChargingProfile")
    p = sent["charging_profile"]
    assert p["charging_profile_kind"] == "Recurring" and p["recurrency_kind"] == "Daily"
    assert p["charging_schedule"][0]["charging_schedule_period"][0]["start_period"] == 0


async def test_tc_k_60_k_02_tx_profile_with_and_without_a_transaction(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("K60")
    add_tokens(csms, VALID, token_type="ISO14443")
    tx_id = new_id("TX")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        await charging(cp, tx_id)
        body = {"evse_id": 1, "profile": {"id": 460, "purpose": "tx", "kind": "Relative", "unit": "W",
                "periods": [period(7000.0)], "transaction_id": tx_id}}  # fmt: skip
        assert (await command(api, station, "set-charging-profile", body))["response"]["status"] == "Accepted"
        # K_02: a TxProfile for a transaction the station does not have; the station refuses it, not ocppd
        cp.answers["SetChargingProfile"] = {"status": "Rejected"}
        body = {"evse_id": 2, "profile": {**body["profile"], "id": 402, "transaction_id": "NO-SUCH-TX"}}  # EVSE 2 idle
        assert (await command(api, station, "set-charging-profile", body))["response"]["status"] == "Rejected"
        live, unknown = (s["charging_profile"] for s in cp.requests("SetChargingProfile"))
    assert live["transaction_id"] == tx_id and live["charging_profile_purpose"] == "TxProfile"
    assert "start_schedule" not in live["charging_schedule"][0]  # Relative: no startSchedule
    assert live["charging_schedule"][0]["charging_schedule_period"][0]["start_period"] == 0
    assert unknown["transaction_id"] == "NO-SUCH-TX" and unknown["charging_profile_kind"] == "Relative"
    assert "start_schedule" not in unknown["charging_schedule"][0]
    installed = {p["profile_id"] for p in (await api.get(f"/api/v1/stations/{station}/charging-profiles")).json()}
    assert 460 in installed and 402 not in installed


async def test_tc_k_70_two_profiles_with_different_ids(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("K70")
    add_tokens(csms, VALID, token_type="ISO14443")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        await charging(cp, new_id("TX"))
        for pid, purpose in ((470, "tx_default"), (471, "station_max")):
            body = {"evse_id": 0, "profile": {"id": pid, "purpose": purpose, "kind": "Absolute", "unit": "W",
                    "periods": [period(11000.0)], "start_at": iso()}}  # fmt: skip
            await command(api, station, "set-charging-profile", body)
        sent = [s["charging_profile"] for s in cp.requests("SetChargingProfile")]
    assert [p["id"] for p in sent] == [470, 471]
    assert [p["charging_profile_purpose"] for p in sent] == ["TxDefaultProfile", "ChargingStationMaxProfile"]
    assert all(p["charging_schedule"][0]["start_schedule"] for p in sent)


async def test_tc_k_05_k_06_k_08_clear_charging_profile(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("K05")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        for pid, level in ((405, 0), (406, 2)):
            body = {"evse_id": 1, "profile": {"id": pid, "stack_level": level, "purpose": "tx_default",
                    "kind": "Absolute", "unit": "W", "periods": [period(6000.0)], "start_at": iso()}}  # fmt: skip
            await command(api, station, "set-charging-profile", body)
        k05 = await command(api, station, "clear-charging-profile", {"profile_id": 405})
        k06 = await command(api, station, "clear-charging-profile",
                            {"evse_id": 1, "purpose": "tx_default", "stack_level": 2})  # fmt: skip
        cp.answers["ClearChargingProfile"] = {"status": "Unknown"}
        k08 = await command(api, station, "clear-charging-profile",
                            {"evse_id": 1, "purpose": "tx_default", "stack_level": 2})  # fmt: skip
        sent = cp.requests("ClearChargingProfile")
    assert sent[0] == {"charging_profile_id": 405}  # K_05: only the id, criteria omitted
    criteria = {"evse_id": 1, "charging_profile_purpose": "TxDefaultProfile", "stack_level": 2}
    assert sent[1] == sent[2] == {"charging_profile_criteria": criteria}  # K_06 / K_08: criteria, no id
    assert [k05["response"]["status"], k06["response"]["status"], k08["response"]["status"]] == [
        "Accepted", "Accepted", "Unknown"]  # fmt: skip
    installed = {p["profile_id"] for p in (await api.get(f"/api/v1/stations/{station}/charging-profiles")).json()}
    assert not installed & {405, 406}


TXD = {"charging_profile_purpose": "TxDefaultProfile"}
CRITERIA_CASES = {
    # case: (command body, the request the tool expects: only these criteria present)
    "k_29": ({"evse_id": 0, "purpose": "tx_default"}, {"evse_id": 0, "charging_profile": TXD}),
    "k_30": ({"evse_id": 1, "purpose": "tx_default"}, {"evse_id": 1, "charging_profile": TXD}),
    "k_31": ({"purpose": "tx_default"}, {"charging_profile": TXD}),
    "k_32": ({"profile_ids": [432]}, {"charging_profile": {"charging_profile_id": [432]}}),
    "k_33": ({"evse_id": 1, "stack_level": 0}, {"evse_id": 1, "charging_profile": {"stack_level": 0}}),
    "k_34": ({"evse_id": 1, "sources": ["CSO"]},
             {"evse_id": 1, "charging_profile": {"charging_limit_source": ["CSO"]}}),
    "k_35": ({"evse_id": 1, "purpose": "tx_default"}, {"evse_id": 1, "charging_profile": TXD}),
    "k_36": ({"evse_id": 1, "purpose": "tx_default", "stack_level": 0},
             {"evse_id": 1, "charging_profile": {**TXD, "stack_level": 0}}),
}  # fmt: skip


async def _profiles(api: httpx.AsyncClient, station: str) -> dict[int, dict[str, Any]]:
    return {p["profile_id"]: p for p in (await api.get(f"/api/v1/stations/{station}/charging-profiles")).json()}


async def test_tc_k_29_to_k_36_get_charging_profiles_with_exactly_the_criteria(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("K29")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        body = {"evse_id": 1, "profile": {"id": 432, "purpose": "tx_default", "kind": "Absolute", "unit": "W",
                "periods": [period(6000.0)], "start_at": iso()}}  # fmt: skip
        await command(api, station, "set-charging-profile", body)
        [installed] = cp.requests("SetChargingProfile")
        for case, (criteria, expected) in CRITERIA_CASES.items():
            got = await command(api, station, "get-charging-profiles", criteria)
            request = dict(cp.requests("GetChargingProfiles")[-1])
            request_id = request.pop("request_id")
            assert request == expected, case
            assert got["result"] == {"status": "Accepted", "request_id": request_id}
            # the station reports in two parts (K_31: one per EVSE; tbc on all but the last)
            for evse, tbc in ((2, True), (1, False)):
                report = c201.ReportChargingProfiles(request_id=request_id, charging_limit_source="CSO",
                                                     evse_id=evse, tbc=tbc,
                                                     charging_profile=[installed["charging_profile"]])  # fmt: skip
                await cp.call(report)
            assert (await _profiles(api, station))[432]["drift"] is None, case  # reported as installed
        bad = await api.post(f"/api/v1/stations/{station}/commands/get-charging-profiles", json={"purpose": "x"})
        assert bad.status_code in (400, 422) and "purpose" in bad.text  # bad input names the field, nothing sent
        assert len(cp.requests("GetChargingProfiles")) == len(CRITERIA_CASES)
        # a report without it: the CSMS sees the station lost the profile
        got = await command(api, station, "get-charging-profiles", {"evse_id": 1})
        other = {**installed["charging_profile"], "id": 999}
        await cp.call(c201.ReportChargingProfiles(request_id=got["result"]["request_id"], charging_limit_source="CSO",
                                                  evse_id=1, charging_profile=[other]))  # fmt: skip
    assert (await _profiles(api, station))[432]["drift"] == "missing on the station"


async def test_tc_k_52_external_constraints_in_the_report(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("K52")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        body = {"evse_id": 1, "profile": {"id": 452, "purpose": "tx_default", "kind": "Absolute", "unit": "W",
                "periods": [period(6000.0)], "start_at": iso()}}  # fmt: skip
        await command(api, station, "set-charging-profile", body)
        [installed] = cp.requests("SetChargingProfile")
        got = await command(api, station, "get-charging-profiles", {"evse_id": 1})
        request_id = got["result"]["request_id"]
        external = {"id": 9001, "stack_level": 0, "charging_profile_purpose": "ChargingStationExternalConstraints",
                    "charging_profile_kind": "Absolute", "charging_schedule": [
                        {"id": 1, "start_schedule": ts(), "charging_rate_unit": "A",
                         "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]}]}  # fmt: skip
        await cp.call(c201.ReportChargingProfiles(request_id=request_id, charging_limit_source="EMS", evse_id=1,
                                                  charging_profile=[external], tbc=True))  # fmt: skip
        await cp.call(c201.ReportChargingProfiles(request_id=request_id, charging_limit_source="CSO", evse_id=1,
                                                  charging_profile=[installed["charging_profile"]]))  # fmt: skip
    profiles = await _profiles(api, station)
    assert profiles[452]["drift"] is None and 9001 not in profiles  # the EMS's constraint is not ocppd's profile


async def test_tc_k_37_remote_start_with_a_charging_profile(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("K37")
    add_tokens(csms, VALID, token_type="ISO14443")
    profile = {"id": 437, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
               "chargingSchedule": [{"id": 1, "chargingRateUnit": "W",
                                     "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6000.0}]}]}  # fmt: skip
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        await command(api, station, "remote-start", {"id_token": VALID, "evse_id": 1, "charging_profile": profile})
        [sent] = cp.requests("RequestStartTransaction")
        tx_id = new_id("TX")
        await cp.event("Started", tx_id, "RemoteStart", token=VALID, token_type="ISO14443",
                       info={"remote_start_id": sent["remote_start_id"]})  # fmt: skip
    p = sent["charging_profile"]
    assert sent["evse_id"] == 1 and sent["id_token"] == {"id_token": VALID, "type": "ISO14443"}
    assert p["charging_profile_purpose"] == "TxProfile" and "transaction_id" not in p
    assert "start_schedule" not in p["charging_schedule"][0]  # Relative


async def test_tc_k_43_k_44_composite_schedule(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("K43")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        for evse in (1, 0):
            cp.answers["GetCompositeSchedule"] = {"status": "Accepted", "schedule": {
                "evse_id": evse, "duration": 300, "schedule_start": ts(), "charging_rate_unit": "A",
                "charging_schedule_period": [{"start_period": 0, "limit": 10.0}]}}  # fmt: skip
            got = await command(api, station, "composite-schedule", {"evse_id": evse, "duration_s": 300, "unit": "A"})
            assert got["result"]["status"] == "Accepted" and got["result"]["evse_id"] == evse
            assert got["result"]["periods"][0]["limit"] == 10.0
        sent = cp.requests("GetCompositeSchedule")
    assert sent == [{"evse_id": 1, "duration": 300, "charging_rate_unit": "A"},
                    {"evse_id": 0, "duration": 300, "charging_rate_unit": "A"}]  # fmt: skip


async def test_tc_k_48_k_50_k_51_external_charging_limits(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("K48")
    add_tokens(csms, VALID, token_type="ISO14443")
    tx_id = new_id("TX")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        await cp.call(c201.NotifyChargingLimit(charging_limit={"charging_limit_source": "EMS"}, evse_id=1))  # K_48
        await cp.call(c201.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1))  # K_50
        await charging(cp, tx_id)
        await cp.call(c201.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1))  # K_51
        await cp.event("Updated", tx_id, "ChargingRateChanged", wh=100)
    assert (await tx_row(api, station, tx_id))["active"]
    kinds = {e["kind"] for e in (await api.get(f"/api/v1/stations/{station}/notifications")).json()}
    assert {"NotifyChargingLimit", "ClearedChargingLimit"} <= kinds


# ----------------------------------------------------------------------------- L: firmware


async def _image(api: httpx.AsyncClient, name: str, **signed: str) -> int:
    response = await api.put(f"/api/v1/firmware/{name}", content=b"f" * 64, params=signed)
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def test_tc_l_11_unable_to_cancel_keeps_the_first_update(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("L11")
    image = await _image(api, f"{station}.bin")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        url = f"/api/v1/stations/{station}/firmware-update"
        first = (await api.post(url, json={"image_id": image})).json()
        [request] = cp.requests("UpdateFirmware")
        await cp.call(c201.FirmwareStatusNotification(status="Downloading", request_id=request["request_id"]))
        cp.answers["UpdateFirmware"] = {"status": "Rejected"}
        second = (await api.post(url, json={"image_id": image})).json()
        for status in ("Downloaded", "Installing", "Installed"):
            await cp.call(c201.FirmwareStatusNotification(status=status, request_id=request["request_id"]))
        assert cp.requests("UpdateFirmware")[1]["request_id"] != request["request_id"]

        async def jobs() -> dict[int, str] | None:
            listed = (await api.get("/api/v1/firmware-jobs", params={"station_id": station})).json()
            found = {j["id"]: j["status"] for j in listed}
            return found if found.get(first["id"]) == "Installed" else None

        found = await eventually(jobs, "the first job to reach Installed")
    assert first["status"] == "Accepted" and second["status"] == "Rejected"
    assert found[second["id"]] == "Rejected"


async def test_tc_l_13_update_during_a_transaction(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("L13")
    add_tokens(csms, VALID, token_type="ISO14443")
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    image = await _image(api, f"{station}.bin", signature="c2lnbmF0dXJl", signing_certificate=pem)
    tx_id = new_id("TX")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        await charging(cp, tx_id)
        job = await api.post(f"/api/v1/stations/{station}/firmware-update", json={"image_id": image})
        assert job.status_code == 200, job.text
        [request] = cp.requests("UpdateFirmware")
        assert request["firmware"]["signing_certificate"] and request["firmware"]["signature"]
        rid = request["request_id"]
        await cp.call(c201.FirmwareStatusNotification(status="DownloadScheduled", request_id=rid))
        await cp.status(2, "Unavailable")
        await cp.event("Ended", tx_id, "StopAuthorized", wh=300, info={"stopped_reason": "Local"})
        await cp.status(1, "Unavailable")
        for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting"):
            await cp.call(c201.FirmwareStatusNotification(status=status, request_id=rid))
    async with connect(csms, station, Tool) as cp:
        await cp.boot("FirmwareUpdate")
        await cp.call(c201.FirmwareStatusNotification(status="Installed", request_id=rid))
    assert not (await tx_row(api, station, tx_id))["active"]

    async def installed() -> bool:
        listed = (await api.get("/api/v1/firmware-jobs", params={"station_id": station})).json()
        return listed[0]["status"] == "Installed"

    await eventually(installed, "the job to reach Installed")


async def _job_status(api: httpx.AsyncClient, station: str) -> str:
    [job] = (await api.get("/api/v1/firmware-jobs", params={"station_id": station})).json()
    return job["status"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("case", "before_reboot", "final"),
    [
        ("l_02", ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled", "Installing",
                  "InstallRebooting"], "Installed"),
        ("l_03", ["DownloadScheduled", "Downloading", "Downloaded", "SignatureVerified", "Installing",
                  "InstallRebooting"], "Installed"),
        ("l_06", ["Downloading", "Downloaded", "InvalidSignature"], None),
        ("l_08", ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallVerificationFailed"], None),
    ],
)  # fmt: skip
async def test_tc_l_02_l_03_l_06_l_08_secure_firmware_update_outcomes(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, before_reboot: list[str], final: str | None
) -> None:
    station = new_id(case.upper())
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    image = await _image(api, f"{station}.bin", signature="c2lnbmF0dXJl", signing_certificate=pem)
    body: dict[str, Any] = {"image_id": image}
    if case == "l_02":
        body["install_at"] = iso(3600)
    if case == "l_03":
        body["retrieve_at"] = iso(3600)
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        job = await api.post(f"/api/v1/stations/{station}/firmware-update", json=body)
        assert job.status_code == 200, job.text
        [request] = cp.requests("UpdateFirmware")
        firmware, rid = request["firmware"], request["request_id"]
        assert firmware["signing_certificate"] == pem and firmware["signature"] == "c2lnbmF0dXJl"
        now = datetime.now(UTC)
        if case == "l_02":  # installDateTime in the future
            assert datetime.fromisoformat(firmware["install_date_time"].replace("Z", "+00:00")) > now
        if case == "l_03":  # retrieveDateTime in the future
            assert datetime.fromisoformat(firmware["retrieve_date_time"].replace("Z", "+00:00")) > now
        for status in before_reboot:
            await cp.call(c201.FirmwareStatusNotification(status=status, request_id=rid))
        if case == "l_06":
            await cp.call(c201.SecurityEventNotification(type="InvalidFirmwareSignature", timestamp=ts()))
    if final:
        async with connect(csms, station, Tool) as cp:
            await cp.boot("FirmwareUpdate")  # Boot Accepted after the install reboot
            await cp.call(c201.FirmwareStatusNotification(status=final, request_id=rid))
    expected = final or before_reboot[-1]

    async def reached() -> bool:
        return await _job_status(api, station) == expected

    await eventually(reached, f"the job to reach {expected}")
    if case == "l_06":
        events = (await api.get(f"/api/v1/stations/{station}/security-events")).json()
        assert [e for e in events if e["type"] == "InvalidFirmwareSignature"]


@pytest.mark.parametrize(
    ("case", "statuses"),
    [
        ("l_17", ["Downloading", "Downloaded", "ChecksumVerified", "Published"]),
        ("l_19", ["Downloading", "Downloaded", "InvalidChecksum"]),
        ("l_20", ["Downloading", "Downloaded", "ChecksumVerified", "PublishFailed"]),
        ("l_24", ["Downloading", "DownloadFailed"]),
    ],
)
async def test_tc_l_17_l_19_l_20_l_24_publish_firmware(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, statuses: list[str]
) -> None:
    station = new_id("L17")
    payload = {"location": "https://fw.example.com/fw.bin", "checksum": "0" * 32, "requestId": 1700}
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        assert (await generic(api, station, "PublishFirmware", payload))["status"] == "Accepted"
        [sent] = cp.requests("PublishFirmware")
        assert sent["location"] == payload["location"] and sent["checksum"] == payload["checksum"]
        for status in statuses:
            extra = {"location": ["https://station.local/fw.bin"]} if status == "Published" else {}
            answer = await cp.call(c201.PublishFirmwareStatusNotification(status=status, request_id=1700, **extra))
            assert answer is not None
    recorded = [e["payload"]["status"] for e in await notifications(api, station, "PublishFirmwareStatusNotification")]
    assert sorted(recorded) == sorted(statuses)


@pytest.mark.parametrize("answer", ["Unpublished", "NoFirmware", "DownloadOngoing"])
async def test_tc_l_21_l_22_l_23_unpublish_firmware(csms: CsmsProcess, api: httpx.AsyncClient, answer: str) -> None:
    station = new_id("L21")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        cp.answers["UnpublishFirmware"] = {"status": answer}
        assert (await generic(api, station, "UnpublishFirmware", {"checksum": "0" * 32}))["status"] == answer
        assert cp.requests("UnpublishFirmware") == [{"checksum": "0" * 32}]


# ----------------------------------------------------------------------------- N: diagnostics


async def test_tc_n_36_a_second_log_request_while_one_runs(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("N36")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        first = await api.post(f"/api/v1/stations/{station}/logs", json={"log_type": "DiagnosticsLog"})
        assert first.status_code == 200, first.text
        one = cp.requests("GetLog")[0]["request_id"]
        await cp.call(c201.LogStatusNotification(status="Uploading", request_id=one))
        cp.answers["GetLog"] = {"status": "AcceptedCanceled", "filename": "second.log"}
        second = await api.post(f"/api/v1/stations/{station}/logs", json={"log_type": "DiagnosticsLog"})
        assert second.status_code == 200, second.text
        two = cp.requests("GetLog")[1]["request_id"]
        assert one != two
        await cp.call(c201.LogStatusNotification(status="AcceptedCanceled", request_id=one))
        await cp.call(c201.LogStatusNotification(status="Uploading", request_id=two))
        await cp.call(c201.LogStatusNotification(status="Uploaded", request_id=two))

        async def states() -> dict[int, str] | None:
            rows = (await api.get("/api/v1/logs", params={"station_id": station})).json()
            found = {r["request_id"]: r["status"] for r in rows}
            return found if found.get(two) == "Uploaded" else None

        found = await eventually(states, "the second log to be Uploaded")
    assert found[one] == "AcceptedCanceled" and first.json()["id"] != second.json()["id"], found


async def test_tc_n_48_alert_event_on_a_write_only_variable(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("N48")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        event = {"event_id": 4801, "timestamp": ts(), "trigger": "Delta", "actual_value": "",
                 "event_notification_type": "CustomMonitor", "component": {"name": "SecurityCtrlr"},
                 "variable": {"name": "BasicAuthPassword"}}  # fmt: skip
        answer = await cp.call(c201.NotifyEvent(generated_at=ts(), seq_no=0, event_data=[event]))
        assert answer is not None  # an empty NotifyEventResponse, no CALLERROR for the empty value
    [recorded] = await notifications(api, station, "NotifyEvent")
    assert recorded["payload"]["eventData"][0]["actualValue"] == ""


# ----------------------------------------------------------------------------- P: data transfer


async def test_tc_p_02_data_transfer_to_the_csms_unknown_vendor(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("P02")
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        answer = await cp.call(c201.DataTransfer(vendor_id="org.openchargealliance.unknown", message_id="Test"))
    assert answer.status in ("UnknownVendorId", "UnknownMessageId", "Rejected")


async def test_tc_p_03_custom_data_is_accepted(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("P03")
    add_tokens(csms, VALID, token_type="ISO14443")
    tx_id = new_id("TX")
    custom = {"vendor_id": "org.openchargealliance.custom", "extra": "value"}
    async with connect(csms, station, Tool) as cp:
        await cp.boot()
        await cp.call(c201.StatusNotification(timestamp=ts(), connector_status="Occupied", evse_id=1, connector_id=1,
                                              custom_data=custom))  # fmt: skip
        info = {"charging_state": "Charging", "custom_data": custom}  # inside transactionInfo and at the top
        answer = await cp.event("Started", tx_id, "Authorized", token=VALID, token_type="ISO14443", wh=0, info=info,
                                custom_data=custom)  # fmt: skip
        assert answer.id_token_info["status"] == "Accepted"
    assert (await tx_row(api, station, tx_id))["active"]
