"""The device model inventory against a real ``ocppd serve`` (SQLite and PostgreSQL) and ocppd's own
simulator (2.0.1) or an `ocpp`-package 1.6 station: the base report kept with characteristics and
mutability, values outside them refused before sending (the message log proves nothing went out), the
answers of sets kept (RebootRequired until the next boot), the views across stations, and monitors set
from ocppd kept with the station's answer and reconciled with its report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from tests.csms_process import CsmsProcess
from tests.verbs.conftest import command, eventually, new_id, ok
from tests.verbs.stations import connected

HEARTBEAT = {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}


@asynccontextmanager
async def simulator(csms: CsmsProcess, sid: str, **config: Any) -> AsyncIterator[Station]:
    cfg = StationConfig(identity=sid, url=csms.ws_url, version=OcppVersion.V201, evses=[1, 1], call_timeout=10,
                        reconnect_min=0.1, reconnect_max=0.5, reboot_delay=0.1, step_delay=0.05,
                        settings={"heartbeat_interval": 60}, **config)  # fmt: skip
    async with Station(cfg) as station:
        await station.wait_booted(timeout=20)
        yield station


async def full_report(api: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    await command(api, sid, "get-configuration", {})

    async def reported() -> dict[str, Any] | None:
        view = ok(await api.get(f"/api/v1/stations/{sid}/device-model"))
        names = {c["component"] for c in view["components"]}
        return view if {"Connector@evse2.1", "OCPPCommCtrlr", "ChargingStation"} <= names else None

    return await eventually(reported, "the full report stored")


def variable(view: dict[str, Any], component: str | None, name: str) -> dict[str, Any]:
    comp = next(c for c in view["components"] if c["component"] == component)
    return next(v for v in comp["variables"] if v["variable"] == name)


async def sent(api: httpx.AsyncClient, sid: str, action: str) -> list[dict[str, Any]]:
    rows = ok(await api.get(f"/api/v1/stations/{sid}/messages", params={"action": action}))
    return [r for r in rows if r["direction"] == "out" and r["message_type"] == 2]


async def test_tc_b_13_full_inventory_kept_with_characteristics_per_evse_and_connector(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("DM13")
    async with simulator(csms, sid):
        view = await full_report(api, sid)
        connector = next(c for c in view["components"] if c["component"] == "Connector@evse2.1")
        assert (connector["name"], connector["evse_id"], connector["connector_id"]) == ("Connector", 2, 1)
        heartbeat = variable(view, "OCPPCommCtrlr", "HeartbeatInterval")
        assert (heartbeat["data_type"], heartbeat["unit"], heartbeat["min_limit"], heartbeat["max_limit"]) == (
            "integer", "s", 1, 86400)  # fmt: skip
        assert heartbeat["attributes"][0]["mutability"] == "ReadWrite"
        power = variable(view, "EVSE@evse1", "Power")
        assert [a["type"] for a in power["attributes"]] == ["Actual", "MaxSet"] and power["supports_monitoring"]
        assert variable(view, "ChargingStation", "Model")["attributes"][0]["readonly"] is True
        # a later GetVariables keeps what the report said about mutability
        await command(api, sid, "get-variables", {"variables": [{"component": "ChargingStation",
                                                                 "variable": "Model"}]})  # fmt: skip
        view = ok(await api.get(f"/api/v1/stations/{sid}/device-model"))
        assert variable(view, "ChargingStation", "Model")["attributes"][0]["readonly"] is True


async def test_values_outside_the_characteristics_are_refused_before_sending(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("DMV")
    async with simulator(csms, sid) as station:
        await full_report(api, sid)
        for body, named in (
            ({**HEARTBEAT, "value": "90000"}, "OCPPCommCtrlr.HeartbeatInterval must be at most 86400 s"),
            ({**HEARTBEAT, "value": "soon"}, "OCPPCommCtrlr.HeartbeatInterval must be an integer"),
            ({"component": "ChargingStation", "variable": "Model", "value": "X"}, "ChargingStation.Model is read-only"),
            ({"component": "ClockCtrlr", "variable": "TimeSource", "value": "NTP,Sundial"}, "'Sundial' is not one of"),
        ):
            r = await api.post(f"/api/v1/stations/{sid}/commands/set-variables", json={"variables": [body]})
            assert r.status_code == 400 and r.json()["code"] == "value_refused", r.text
            assert named in r.json()["detail"] and "nothing was sent" in r.json()["detail"]
        r = await api.post(f"/api/v1/stations/{sid}/commands/change-configuration",
                           json={"component": "OCPPCommCtrlr", "key": "HeartbeatInterval", "value": "0"})  # fmt: skip
        assert r.status_code == 400 and "at least 1" in r.json()["detail"]
        done = await command(api, sid, "set-variables", {"variables": [{**HEARTBEAT, "value": "120"}]})
        assert done["result"]["results"][0]["status"] == "Accepted" and station.settings["heartbeat_interval"] == 120

        async def logged() -> list[dict[str, Any]]:
            return await sent(api, sid, "SetVariables")

        [only] = await eventually(logged, "the accepted SetVariables in the message log")
        assert '"120"' in only["frame"]  # the refused ones never went out
        # force: the station decides, and its refusal is kept with the reason
        forced = await command(api, sid, "set-variables", {"variables": [{**HEARTBEAT, "value": "90000"}],
                                                           "force": True})  # fmt: skip
        assert forced["result"]["results"][0]["status"] == "Rejected"
        last = variable(ok(await api.get(f"/api/v1/stations/{sid}/device-model")), "OCPPCommCtrlr",
                        "HeartbeatInterval")["attributes"][0]["last_set"]  # fmt: skip
        assert (last["value"], last["status"], last["reason"]) == ("90000", "Rejected", "ValueTooHigh")


async def test_tc_b_09_reboot_required_is_kept_until_the_station_boots_again(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("DMR")
    async with simulator(csms, sid) as station:
        await full_report(api, sid)
        body = {"variables": [{"component": "OCPPCommCtrlr", "variable": "WebSocketPingInterval", "value": "30"}]}
        r = await command(api, sid, "set-variables", body)
        assert r["result"]["results"][0]["status"] == "RebootRequired" and r["result"]["accepted"]
        view = ok(await api.get(f"/api/v1/stations/{sid}/device-model"))
        assert view["reboot_required"] and view["pending_reboot"][0]["variable"] == "WebSocketPingInterval"
        waiting = ok(await api.get("/api/v1/inventory-reboot-required"))
        assert any(w["station_id"] == sid for w in waiting)
        await command(api, sid, "reset", {"type": "hard"})

        async def rebooted() -> bool:
            return not ok(await api.get(f"/api/v1/stations/{sid}/device-model"))["reboot_required"]

        await eventually(rebooted, "reboot required cleared by the next BootNotification")
        assert station.settings["ws_ping_interval"] == 30


async def test_1_6_readonly_keys_refused_and_feature_profiles(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("DM16")
    async with connected(csms.ws_url, sid, "1.6") as st:
        await command(api, sid, "get-configuration", {})
        view = ok(await api.get(f"/api/v1/stations/{sid}/device-model"))
        assert view["feature_profiles"] == ["Core", "RemoteTrigger", "LocalAuthListManagement"]
        r = await api.post(f"/api/v1/stations/{sid}/commands/change-configuration",
                           json={"key": "NumberOfConnectors", "value": "2"})  # fmt: skip
        assert r.status_code == 400 and "NumberOfConnectors is read-only" in r.json()["detail"], r.text
        assert not [a for a, _ in st.received if a == "ChangeConfiguration"]
        r = await command(api, sid, "change-configuration", {"key": "Unknown", "value": "1"})
        assert r["result"]["results"][0]["status"] == "NotSupported"
        view = ok(await api.get(f"/api/v1/stations/{sid}/device-model"))
        unknown = variable(view, None, "Unknown")["attributes"][0]
        assert unknown["value"] is None and unknown["last_set"]["status"] == "NotSupported"


async def test_inventory_across_stations_counts_drill_down_and_settings(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    model = new_id("Model")
    ids = [new_id("DMI") for _ in range(3)]
    for i, sid in enumerate(ids):
        async with simulator(csms, sid, model=model, firmware=f"fw-{i % 2}"):
            await command(api, sid, "set-variables", {"variables": [{**HEARTBEAT, "value": str(100 + i % 2)}]})
    counts = ok(await api.get("/api/v1/inventory/model", params={"q": model}))
    assert counts == [{"value": model, "stations": 3}]
    firmware = {c["value"]: c["stations"] for c in ok(await api.get("/api/v1/inventory/firmware_version"))}
    assert firmware["fw-0"] >= 2 and firmware["fw-1"] >= 1
    page = await api.get("/api/v1/inventory-stations", params={"model": model, "limit": 2})
    assert [s["station_id"] for s in page.json()] == ids[:2] and page.headers["X-Next-Cursor"]
    rest = ok(
        await api.get("/api/v1/inventory-stations", params={"model": model, "cursor": page.headers["X-Next-Cursor"]})
    )
    assert [s["station_id"] for s in rest] == ids[2:]
    having = ok(
        await api.get(
            "/api/v1/inventory-settings",
            params={"variable": "HeartbeatInterval", "component": "OCPPCommCtrlr", "value": "101"},
        )
    )
    assert [h["station_id"] for h in having if h["station_id"] in ids] == [ids[1]]
    values = ok(
        await api.get(
            "/api/v1/inventory-settings/values", params={"variable": "HeartbeatInterval", "component": "OCPPCommCtrlr"}
        )
    )
    assert {"value": "100", "stations": 2} in values or any(v["value"] == "100" and v["stations"] >= 2
                                                            for v in values)  # fmt: skip
    r = await api.get("/api/v1/inventory/colour")
    assert r.status_code == 400


async def test_monitors_set_from_ocppd_are_kept_with_the_answer_and_reconciled(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("DMM")
    async with simulator(csms, sid):
        body = {"monitors": [
            {"component": "EVSE", "evse_id": 1, "variable": "Power", "type": "UpperThreshold", "value": 5000,
             "severity": 2},
            {"component": "EVSE", "evse_id": 1, "variable": "AvailabilityState", "type": "UpperThreshold",
             "value": 1},
        ]}  # fmt: skip
        r = await command(api, sid, "set-monitoring", body)
        assert [x["status"] for x in r["result"]["results"]] == ["Accepted", "UnsupportedMonitorType"]
        monitor_id = r["result"]["results"][0]["id"]
        kept, refused = ok(await api.get(f"/api/v1/stations/{sid}/monitors"))
        assert (kept["monitor_id"], kept["state"], kept["status"], kept["severity"], kept["value"]) == (
            monitor_id, "set", "Accepted", 2, 5000.0)  # fmt: skip
        assert (refused["variable"], refused["state"], refused["status"], refused["monitor_id"]) == (
            "AvailabilityState", "refused", "UnsupportedMonitorType", None)  # fmt: skip
        r = await command(api, sid, "get-monitoring-report", {})
        assert r["result"]["status"] == "Accepted"

        async def both() -> list[dict[str, Any]] | None:
            rows = [m for m in ok(await api.get(f"/api/v1/stations/{sid}/monitors")) if m["state"] != "refused"]
            return rows if len(rows) == 2 else None

        rows = await eventually(both, "the station's own monitor reported")
        assert {(m["monitor_id"], m["state"]) for m in rows} == {(monitor_id, "set"), (1000, "reported")}
        r = await command(api, sid, "clear-monitoring", {"ids": [monitor_id]})
        assert ok(await api.get(f"/api/v1/stations/{sid}/monitors"))[0]["monitor_id"] == 1000
        assert (await command(api, sid, "set-monitoring-base", {"base": "HardWiredOnly"}))["result"]["accepted"]
        assert ok(await api.get(f"/api/v1/stations/{sid}/monitors")) == []
        r = await api.post(f"/api/v1/stations/{sid}/commands/set-monitoring-level", json={"severity": 12})
        assert r.status_code == 400 and "severity" in r.json()["detail"]
