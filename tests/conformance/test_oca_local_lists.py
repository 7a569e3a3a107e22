"""OCA Local Authorization List cases: 1.6 TC_042/TC_043 and 2.0.1 block D, with the CSMS owning each
station's list (API: /stations/{id}/local-list), against ``ocppd serve`` and the ``ocpp`` package."""

from __future__ import annotations

from typing import Any

import httpx
from ocpp.v16 import call as c16

from tests.conformance.stations import Station16, Station201, add_tokens, connect, eventually, new_id
from tests.csms_process import CsmsProcess


async def put_list(api: httpx.AsyncClient, station: str, **body: Any) -> httpx.Response:
    return await api.put(f"/api/v1/stations/{station}/local-list", json=body)


async def test_tc_d_01_d_02_d_03_full_then_differential_add_and_remove(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("D")
    add_tokens(csms, "04D00001", "04D00002", token_type="ISO14443")
    add_tokens(csms, "04D00003", token_type="ISO14443", group="GROUP-D")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        first = await put_list(api, station, tokens=["04D00001"], groups=["GROUP-D"])
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "Synced" and first.json()["version"] == 1
        [full] = cp.requests("SendLocalList")
        assert full["update_type"] == "Full" and full["version_number"] == 1  # D_01: version > 0
        assert {e["id_token"]["id_token"] for e in full["local_authorization_list"]} == {"04D00001", "04D00003"}
        assert all(e["id_token_info"]["status"] == "Accepted" for e in full["local_authorization_list"])
        # D_02: a new token, differential with a higher version
        second = await put_list(api, station, tokens=["04D00001", "04D00002"], groups=["GROUP-D"])
        assert second.json()["version"] == 2
        diff = cp.requests("SendLocalList")[1]
        assert diff["update_type"] == "Differential" and diff["version_number"] == 2
        assert [e["id_token"]["id_token"] for e in diff["local_authorization_list"]] == ["04D00002"]
        # a token blocked: its entry is updated; a token taken off: D_03, an entry without idTokenInfo
        assert (await api.post("/api/v1/tokens/04D00002/block")).status_code == 200
        blocked = cp.requests("SendLocalList")[2]
        assert blocked["local_authorization_list"][0]["id_token_info"]["status"] == "Blocked"
        await put_list(api, station, tokens=["04D00001"], groups=["GROUP-D"])
        removed = cp.requests("SendLocalList")[3]
        assert removed["update_type"] == "Differential" and removed["version_number"] == 4
        assert removed["local_authorization_list"] == [{"id_token": {"id_token": "04D00002", "type": "ISO14443"}}]
    view = (await api.get(f"/api/v1/stations/{station}/local-list")).json()
    assert {h["id_token"] for h in view["held"]} == {"04D00001", "04D00003"} and not view["pending_changes"]


async def test_tc_d_04_full_with_an_empty_list(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("D")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        assert (await put_list(api, station, tokens=[])).status_code == 200
        [full] = cp.requests("SendLocalList")
        assert full["update_type"] == "Full" and not full.get("local_authorization_list")


async def test_tc_d_08_d_09_local_list_version(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("D")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        for version in (7, 0):  # D_08 a version; D_09 no list
            cp.answers["GetLocalListVersion"] = {"version_number": version}
            response = await api.post(f"/api/v1/stations/{station}/commands/local-list-version", json={})
            assert response.status_code == 200 and response.json()["response"] == {"versionNumber": version}


async def test_reconnect_reconciles_and_version_mismatch_resyncs_full(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("D")
    add_tokens(csms, "04D10001", "04D10002", token_type="ISO14443")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        await put_list(api, station, tokens=["04D10001"])
    async with connect(csms, station, Station201) as cp:
        cp.answers["GetLocalListVersion"] = {"version_number": 0}  # it lost its list
        await cp.boot()

        async def resent() -> list[dict[str, Any]]:
            return cp.requests("SendLocalList")

        [full] = await eventually(resent, "a full list after the reconnect")
        assert full["update_type"] == "Full" and full["version_number"] == 2
        cp.answers["SendLocalList"] = {"status": "VersionMismatch"}
        await put_list(api, station, tokens=["04D10001", "04D10002"])
        diff, retry = cp.requests("SendLocalList")[1:]
        assert diff["update_type"] == "Differential" and retry["update_type"] == "Full"
    view = (await api.get(f"/api/v1/stations/{station}/local-list")).json()
    assert view["status"] == "VersionMismatch" and view["pending_changes"]


async def test_tc_043_4_tc_043_5_full_then_differential_split_per_max_length(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("L16")
    tokens = [f"LL-{i:02d}" for i in range(5)]
    add_tokens(csms, *tokens)
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        cp.answers["GetConfiguration"] = {"configuration_key": [
            {"key": "SendLocalListMaxLength", "readonly": True, "value": "2"},
            {"key": "LocalAuthListMaxLength", "readonly": True, "value": "10"}]}  # fmt: skip
        assert (await api.post(f"/api/v1/stations/{station}/commands/get-configuration", json={})).status_code == 200
        assert (await put_list(api, station, tokens=tokens)).status_code == 200
        parts = cp.requests("SendLocalList")
        assert [(p["update_type"], p["list_version"], len(p["local_authorization_list"])) for p in parts] == [
            ("Full", 1, 2), ("Differential", 2, 2), ("Differential", 3, 1)]  # fmt: skip
        assert all("id_tag_info" in e for p in parts for e in p["local_authorization_list"])  # TC_043_4/5
        # longer than the station can hold: refused, naming the field, nothing sent
        cp.answers["GetConfiguration"]["configuration_key"][1]["value"] = "3"
        await api.post(f"/api/v1/stations/{station}/commands/get-configuration", json={})
        too_long = await put_list(api, station, tokens=tokens)
        assert too_long.status_code == 400 and too_long.json()["detail"].startswith("tokens:")
        assert len(cp.requests("SendLocalList")) == 3


async def test_tc_043_1_tc_043_3_not_supported_and_failed(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("L16")
    add_tokens(csms, "LL-043")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        for status in ("NotSupported", "Failed"):
            cp.answers["SendLocalList"] = {"status": status}
            response = await put_list(api, station, tokens=["LL-043"])
            assert response.status_code == 200 and response.json()["status"] == status
            assert cp.requests("SendLocalList")[-1]["update_type"] == "Full"


async def test_tc_042_1_tc_042_2_get_local_list_version(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("L16")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        for version in (-1, 0):
            cp.answers["GetLocalListVersion"] = {"list_version": version}
            response = await api.post(f"/api/v1/stations/{station}/commands/local-list-version", json={})
            assert response.status_code == 200 and response.json()["response"] == {"listVersion": version}


async def test_local_list_operator_input(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("L16")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        unknown = await put_list(api, station, tokens=["NOBODY-HERE"])
        assert unknown.status_code == 400 and unknown.json()["detail"].startswith("tokens:")
        none = await api.post(f"/api/v1/stations/{station}/local-list/sync")
        assert none.status_code == 400 and none.json()["detail"].startswith("station_id:")
        await cp.call(c16.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
    assert (await api.get("/api/v1/stations/NOPE/local-list")).status_code == 404


async def test_local_list_cli(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    import asyncio
    import json

    station = new_id("L16")
    add_tokens(csms, "LL-CLI-1", "LL-CLI-2")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        out = await asyncio.to_thread(csms.cli, "local-list", "set", station, "-t", "LL-CLI-1", "-t", "LL-CLI-2")
        view = json.loads(out.stdout)
        assert view["status"] == "Synced" and view["version"] == 1 and view["entries"] == 2
        await asyncio.to_thread(csms.cli, "local-list", "sync", station, "--full")
        assert [p["update_type"] for p in cp.requests("SendLocalList")] == ["Full", "Full"]
