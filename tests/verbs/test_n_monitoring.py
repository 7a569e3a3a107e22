"""OCA block N (monitoring, CSMS as system under test) through the typed commands of a real ``ocppd serve``
(SQLite and PostgreSQL), against an `ocpp`-package 2.0.1 station that keeps monitors the way the test
tool plays them: it answers EmptyResultSet for the first report of each case and reports in parts."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import websockets
from ocpp.routing import after, on
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from tests.csms_process import CsmsProcess
from tests.verbs.conftest import command, eventually, new_id, ok
from tests.verbs.stations import Station201, now

EVSE_STATE = {"component": "EVSE", "evse_id": 1, "variable": "AvailabilityState"}
STATION_STATE = {"component": "ChargingStation", "variable": "AvailabilityState"}
STATION_POWER = {"component": "ChargingStation", "variable": "Power"}


def _camel(item: dict[str, Any]) -> dict[str, Any]:
    component = {"name": item["component"]["name"]}
    if item["component"].get("evse"):
        evse = item["component"]["evse"]
        component["evse"] = {"id": evse["id"], **({"connectorId": evse["connector_id"]}
                                                 if "connector_id" in evse else {})}  # fmt: skip
    return {"component": component, "variable": {"name": item["variable"]["name"]}}


class MonitoringStation(Station201):
    """Keeps the monitors it accepts; answers as its fields say (``refuse_level``, ``refuse_clear``)."""

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection)
        self.monitors: dict[int, dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.refuse_level = False
        self.refuse_clear = False
        self.refuse_set: dict[str, dict[str, Any]] = {}  # variable name -> the refused result's fields
        self.empty_first = True  # the tool's first report request of a case finds nothing
        self.reporting: set[int] = set()

    @on("SetVariableMonitoring")
    async def on_set_monitoring(self, set_monitoring_data: list[dict[str, Any]], **kw: Any) -> Any:
        self.record("SetVariableMonitoring", set_monitoring_data=set_monitoring_data)
        results = []
        for d in set_monitoring_data:
            refusal = self.refuse_set.get(d["variable"]["name"])
            if refusal is not None:
                results.append({**refusal, "type": d["type"], "severity": d["severity"],
                                "component": d["component"], "variable": d["variable"]})  # fmt: skip
                continue
            where = _camel(d)
            monitor_id = next(self.ids)
            self.monitors[monitor_id] = {**where, "type": d["type"], "value": d["value"], "severity": d["severity"]}
            results.append({"status": "Accepted", "id": monitor_id, "type": d["type"], "severity": d["severity"],
                            "component": d["component"], "variable": d["variable"]})  # fmt: skip
        return r201.SetVariableMonitoring(set_monitoring_result=results)

    @on("SetMonitoringBase")
    async def on_set_base(self, monitoring_base: str, **kw: Any) -> Any:
        self.record("SetMonitoringBase", monitoring_base=monitoring_base)
        if monitoring_base == "HardWiredOnly":
            self.monitors.clear()
        return r201.SetMonitoringBase(status="Accepted")

    @on("SetMonitoringLevel")
    async def on_set_level(self, severity: int, **kw: Any) -> Any:
        self.record("SetMonitoringLevel", severity=severity)
        return r201.SetMonitoringLevel(status="Rejected" if self.refuse_level else "Accepted")

    @on("ClearVariableMonitoring")
    async def on_clear_monitoring(self, id: list[int], **kw: Any) -> Any:
        self.record("ClearVariableMonitoring", id=id)
        results = []
        for i in id:
            if self.refuse_clear:
                results.append({"id": i, "status": "Rejected", "status_info": {"reason_code": "HardWired"}})
                continue
            status = "Accepted" if self.monitors.pop(i, None) is not None else "NotFound"
            results.append({"id": i, "status": status})
        return r201.ClearVariableMonitoring(clear_monitoring_result=results)

    @on("GetMonitoringReport")
    async def on_monitoring_report(self, request_id: int, **kw: Any) -> Any:
        self.record("GetMonitoringReport", request_id=request_id, **kw)
        if self.empty_first:
            self.empty_first = False
            return r201.GetMonitoringReport(status="EmptyResultSet")
        self.reporting.add(request_id)
        return r201.GetMonitoringReport(status="Accepted")

    @after("GetMonitoringReport")
    async def after_monitoring_report(self, request_id: int, **kw: Any) -> None:
        if request_id in self.reporting:
            self._later(self._report_monitors(request_id))

    async def _report_monitors(self, request_id: int) -> None:
        items = list(self.monitors.items())
        parts = [items[i : i + 1] for i in range(len(items))] or [[]]
        for n, part in enumerate(parts):  # one monitor a part: tbc repeats (N_47)
            monitor = [{"component": m["component"], "variable": m["variable"],
                        "variable_monitoring": [{"id": i, "transaction": False, "value": m["value"],
                                                 "type": m["type"], "severity": m["severity"]}]}
                       for i, m in part]  # fmt: skip
            await self.call(
                c201.NotifyMonitoringReport(request_id=request_id, seq_no=n, generated_at=now(),
                                            monitor=monitor or None, tbc=n < len(parts) - 1),
                suppress=False,
            )  # fmt: skip


@contextlib.asynccontextmanager
async def station(csms: CsmsProcess, sid: str) -> AsyncIterator[MonitoringStation]:
    async with websockets.connect(f"{csms.ws_url}/{sid}", subprotocols=["ocpp2.0.1"]) as ws:
        st = MonitoringStation(sid, ws)
        runner = asyncio.create_task(st.start())
        try:
            await st.boot()
            yield st
        finally:
            runner.cancel()
            for task in list(st._tasks):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner


async def monitors(api: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    return list(ok(await api.get(f"/api/v1/stations/{sid}/monitors")))


def sent(st: MonitoringStation, action: str) -> dict[str, Any]:
    return st.last(action)


async def _two_reports(api: httpx.AsyncClient, sid: str, st: MonitoringStation, first: dict[str, Any],
                       second: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The N_01/N_02/N_03/N_60 pattern: EmptyResultSet for the first request, a report for the second."""
    await command(api, sid, "set-monitoring", {"monitors": [{**EVSE_STATE, "type": "Delta", "value": 1}]})
    r = await command(api, sid, "get-monitoring-report", first)
    assert r["result"]["status"] == "EmptyResultSet" and r["result"]["accepted"] is False
    r = await command(api, sid, "get-monitoring-report", second)
    assert r["result"]["status"] == "Accepted"
    return r


async def test_tc_n_01_get_monitoring_report_by_criteria(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("N01")
    async with station(csms, sid) as st:
        await _two_reports(api, sid, st, {"criteria": ["DeltaMonitoring"]}, {"criteria": ["ThresholdMonitoring"]})
        asked = st.all("GetMonitoringReport")
        assert [a["monitoring_criteria"] for a in asked] == [["DeltaMonitoring"], ["ThresholdMonitoring"]]
        assert all("component_variable" not in a for a in asked)
        await eventually(lambda: monitors(api, sid), "the reported monitor kept")


async def test_tc_n_02_get_monitoring_report_by_component_variable(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("N02")
    async with station(csms, sid) as st:
        await _two_reports(
            api,
            sid,
            st,
            {"variables": [STATION_POWER]},
            {"variables": [{"component": "EVSE", "evse_id": 1, "variable": "AvailabilityState"}]},
        )
        first, second = st.all("GetMonitoringReport")
        assert first["component_variable"] == [{"component": {"name": "ChargingStation"},
                                                 "variable": {"name": "Power"}}]  # fmt: skip
        assert second["component_variable"] == [{"component": {"name": "EVSE", "evse": {"id": 1}},
                                                  "variable": {"name": "AvailabilityState"}}]  # fmt: skip
        assert "monitoring_criteria" not in first


async def test_tc_n_03_and_n_60_criteria_with_components(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("N03")
    async with station(csms, sid) as st:
        both = [STATION_STATE, {"component": "EVSE", "variable": "AvailabilityState"}]
        await _two_reports(
            api,
            sid,
            st,
            {"criteria": ["DeltaMonitoring"], "variables": both},
            {"criteria": ["ThresholdMonitoring"], "variables": both},
        )
        first, second = st.all("GetMonitoringReport")
        assert first["monitoring_criteria"] == ["DeltaMonitoring"] and len(first["component_variable"]) == 2
        assert second["monitoring_criteria"] == ["ThresholdMonitoring"]


async def test_tc_n_05_set_monitoring_base(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("N05")
    async with station(csms, sid) as st:
        await command(api, sid, "set-monitoring", {"monitors": [{**EVSE_STATE, "type": "Delta", "value": 1}]})
        for base in ("All", "FactoryDefault", "HardWiredOnly"):
            r = await command(api, sid, "set-monitoring-base", {"base": base})
            assert r["result"]["status"] == "Accepted" and sent(st, "SetMonitoringBase")["monitoring_base"] == base
        assert await monitors(api, sid) == []  # HardWiredOnly: the custom monitors are gone


async def test_tc_n_08_set_variable_monitoring_one_element(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("N08")
    async with station(csms, sid) as st:
        body = {"monitors": [{**EVSE_STATE, "type": "Delta", "value": 1, "severity": 8}]}
        r = await command(api, sid, "set-monitoring", body)
        [data] = sent(st, "SetVariableMonitoring")["set_monitoring_data"]
        assert (data["value"], data["type"], data["severity"]) == (1, "Delta", 8)
        assert data["component"] == {"name": "EVSE", "evse": {"id": 1}} and "id" not in data
        assert r["result"]["results"][0]["status"] == "Accepted"
        [kept] = await monitors(api, sid)
        assert (kept["component"], kept["variable"], kept["state"]) == ("EVSE@evse1", "AvailabilityState", "set")


async def test_tc_n_09_set_variable_monitoring_multiple_elements(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("N09")
    async with station(csms, sid) as st:
        body = {"monitors": [{**EVSE_STATE, "type": "Delta", "value": 1, "severity": 8},
                             {**STATION_STATE, "type": "Delta", "value": 1, "severity": 8}]}  # fmt: skip
        r = await command(api, sid, "set-monitoring", body)
        assert len(st.all("SetVariableMonitoring")) == 1
        assert [x["status"] for x in r["result"]["results"]] == ["Accepted", "Accepted"]
        assert {m["component"] for m in await monitors(api, sid)} == {"EVSE@evse1", "ChargingStation"}


async def test_tc_n_16_and_n_17_set_monitoring_level(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("N16")
    async with station(csms, sid) as st:
        r = await command(api, sid, "set-monitoring-level", {"severity": 4})
        assert r["result"]["status"] == "Accepted" and sent(st, "SetMonitoringLevel")["severity"] == 4
        st.refuse_level = True  # N_17: the station refuses; a refusal is an answer, not a failure
        r = await command(api, sid, "set-monitoring-level", {"severity": 4})
        assert r["result"]["status"] == "Rejected" and r["result"]["accepted"] is False


async def test_tc_n_44_clear_monitoring_rejected_keeps_the_monitor(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("N44")
    async with station(csms, sid) as st:
        r = await command(api, sid, "set-monitoring", {"monitors": [{**EVSE_STATE, "type": "Delta", "value": 1}]})
        monitor_id = r["result"]["results"][0]["id"]
        st.refuse_clear = True
        r = await command(api, sid, "clear-monitoring", {"ids": [monitor_id]})
        assert [(x["id"], x["status"]) for x in r["result"]["results"]] == [(monitor_id, "Rejected")]
        [kept] = await monitors(api, sid)
        assert (kept["monitor_id"], kept["clear_status"], kept["clear_reason"]) == (monitor_id, "Rejected", "HardWired")


async def test_refused_monitors_are_kept_with_the_answer_until_an_accepted_set_replaces_them(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("NREF")
    async with station(csms, sid) as st:
        st.refuse_set = {
            "AvailabilityState": {"status": "UnknownVariable",
                                  "status_info": {"reason_code": "NoSuchVar", "additional_info": "not on EVSE 1"}},
            "Power": {"status": "UnsupportedMonitorType"},
        }  # fmt: skip
        body = {"monitors": [{**EVSE_STATE, "type": "Delta", "value": 1, "severity": 8},
                             {**STATION_POWER, "type": "UpperThreshold", "value": 22000, "severity": 2}]}  # fmt: skip
        r = await command(api, sid, "set-monitoring", body)
        assert [x["status"] for x in r["result"]["results"]] == ["UnknownVariable", "UnsupportedMonitorType"]
        refused = {m["variable"]: m for m in await monitors(api, sid)}
        assert {v: (m["state"], m["status"], m["reason"], m["monitor_id"]) for v, m in refused.items()} == {
            "AvailabilityState": ("refused", "UnknownVariable", "NoSuchVar: not on EVSE 1", None),
            "Power": ("refused", "UnsupportedMonitorType", None, None),
        }
        assert (refused["Power"]["value"], refused["Power"]["severity"]) == (22000, 2)
        table = csms.cli("stations", "monitors").stdout  # the cross-station views tell them apart too
        everywhere = ok(await api.get("/api/v1/monitors", params={"state": "refused"}))
        assert {(m["variable"], m["state"]) for m in everywhere if m["station_id"] == sid} == {
            ("AvailabilityState", "refused"), ("Power", "refused")}  # fmt: skip
        assert all(m["state"] == "refused" for m in everywhere)
        assert sid in table and "refused" in table and "UnknownVariable (NoSuchVar: not on EVSE 1)" in table
        st.refuse_set.pop("AvailabilityState")  # the station takes it now: the monitor replaces the refusal
        r = await command(api, sid, "set-monitoring", {"monitors": [{**EVSE_STATE, "type": "Delta", "value": 1}]})
        monitor_id = r["result"]["results"][0]["id"]
        rows = await monitors(api, sid)
        assert [(m["variable"], m["state"], m["status"], m["monitor_id"]) for m in rows] == [
            ("AvailabilityState", "set", "Accepted", monitor_id),
            ("Power", "refused", "UnsupportedMonitorType", None),
        ]
        accepted = ok(await api.get("/api/v1/monitors", params={"state": "set"}))
        assert [(m["variable"], m["monitor_id"]) for m in accepted if m["station_id"] == sid] == [
            ("AvailabilityState", monitor_id)]  # fmt: skip
        # every station's list is paged (limit, cursor in the next link): one a page, none twice or lost
        walked, pages, params = [], 0, {"limit": 1}
        while True:
            page = await api.get("/api/v1/monitors", params=params)
            assert page.status_code == 200 and len(page.json()) <= 1, page.text
            walked += page.json()
            pages += 1
            if "X-Next-Cursor" not in page.headers:
                break
            params = {"limit": 1, "cursor": page.headers["X-Next-Cursor"]}
        keys = [(m["station_id"], m["state"], m["monitor_id"], m["variable"]) for m in walked]
        assert pages >= 2 and len(keys) == len(set(keys)), keys
        assert [(m["variable"], m["state"]) for m in walked if m["station_id"] == sid] == [
            ("AvailabilityState", "set"), ("Power", "refused")]  # fmt: skip
        bad = await api.get("/api/v1/monitors", params={"cursor": "bogus"})
        assert bad.status_code == 400 and "cursor" in bad.json()["detail"], bad.text
        cli = json.loads(csms.cli("stations", "monitors", sid, "--json").stdout)
        assert [(m["variable"], m["state"]) for m in cli] == [("AvailabilityState", "set"), ("Power", "refused")]
        r = await command(api, sid, "clear-monitoring", {"ids": [monitor_id]})  # cleared: gone
        assert [m["state"] for m in await monitors(api, sid)] == ["refused"]


async def test_tc_n_47_report_all_in_parts_reconciles(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("N47")
    async with station(csms, sid) as st:
        st.empty_first = False
        body = {"monitors": [{**EVSE_STATE, "type": "Delta", "value": 1}, {**STATION_STATE, "type": "Delta",
                                                                          "value": 1}]}  # fmt: skip
        r = await command(api, sid, "set-monitoring", body)
        first, second = (x["id"] for x in r["result"]["results"])
        st.monitors.pop(first)  # the station lost one (a reboot, a firmware update)
        r = await command(api, sid, "get-monitoring-report", {})
        asked = sent(st, "GetMonitoringReport")
        assert "monitoring_criteria" not in asked and "component_variable" not in asked

        async def reconciled() -> bool:
            return [m["monitor_id"] for m in await monitors(api, sid)] == [second]

        await eventually(reconciled, "the monitor the station no longer has removed")


async def test_tc_n_24_periodic_events_answered_and_kept_as_readings(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("N24")
    async with station(csms, sid) as st:
        r = await command(api, sid, "set-monitoring", {"monitors": [{**STATION_POWER, "type": "Periodic",
                                                                     "value": 1, "severity": 5}]})  # fmt: skip
        monitor_id = r["result"]["results"][0]["id"]
        for n in range(3):
            answer = await st.call(c201.NotifyEvent(generated_at=now(), seq_no=n, event_data=[{
                "event_id": n + 1, "timestamp": now(), "trigger": "Periodic", "actual_value": str(1000 * n),
                "event_notification_type": "CustomMonitor", "variable_monitoring_id": monitor_id,
                "component": {"name": "ChargingStation"}, "variable": {"name": "Power"}}]), suppress=False)  # fmt: skip
            assert answer is not None  # an empty NotifyEventResponse each time

        async def recorded() -> list[dict[str, Any]]:
            rows = ok(await api.get(f"/api/v1/stations/{sid}/notifications"))
            return [e for e in rows if e["kind"] == "NotifyEvent"]

        assert len(await eventually(recorded, "the three events kept")) >= 1
        alerts = ok(await api.get("/api/v1/alerts", params={"station_id": sid}))
        assert alerts == []  # periodic readings are not alerts
