"""Alerts against a real ``ocppd serve``: NotifyEvent (2.0.1) and StatusNotification errors (1.6) open
and clear alerts, offline stations are alerts, a NotifyEvent storm from one station is bounded into one
Storm alert, the API lists / filters / acknowledges, and the event stream carries them."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from tests.api.conftest import eventually, new_station_id
from tests.api.stations import connected, now
from tests.csms_process import CsmsProcess, run_csms

HEARTBEAT_S = 2  # every station here goes offline soon after it stops talking: 2 s + margin 0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    env = {
        "OCPPD_OCPP__HEARTBEAT_INTERVAL": str(HEARTBEAT_S),
        "OCPPD_ALERTS__OFFLINE_MARGIN_S": "0",
        "OCPPD_ALERTS__MAX_NEW_PER_MINUTE": "5",
    }
    with run_csms(tmp_path_factory.mktemp("alerts"), extra_env=env) as s:
        yield s


async def _alerts(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/alerts", params=params)
    assert response.status_code == 200, response.text
    return list(response.json())


def _event(event_id: int, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "timestamp": now(),
        "trigger": "Alerting",
        "actualValue": "91",
        "eventNotificationType": "HardWiredMonitor",
        "component": {"name": "EVSE", "evse": {"id": 1}},
        "variable": {"name": name},
        **fields,
    }


async def _notify(station: Any, *events: dict[str, Any]) -> None:
    await station.call(c201.NotifyEvent(generated_at=now(), seq_no=0, event_data=list(events)))


async def test_tc_n_21_and_tc_n_49_notify_event_opens_repeats_and_clears(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_station_id("ALERT")
    async with connected(server.ws_url, sid, "2.0.1") as station:
        await _notify(station, _event(1, "Temperature", techCode="T42"))

        async def opened() -> list[dict[str, Any]]:
            return await _alerts(api, station_id=sid, source="NotifyEvent")

        [alert] = await eventually(opened, "the NotifyEvent alert")
        assert alert["state"] == "open" and alert["code"] == "T42" and alert["evse_id"] == 1
        await _notify(station, _event(2, "Temperature"))  # the same alert again: counted, not a second one

        async def counted() -> bool:
            rows = await _alerts(api, station_id=sid, source="NotifyEvent")
            return len(rows) == 1 and rows[0]["count"] == 2

        await eventually(counted, "the repeat counted on the open alert")
        await _notify(station, _event(3, "Temperature", cleared=True))

        async def cleared() -> list[dict[str, Any]]:
            return await _alerts(api, station_id=sid, state="cleared", source="NotifyEvent")

        [done] = await eventually(cleared, "the alert cleared")
        assert done["id"] == alert["id"] and done["cleared_at"]
        assert await _alerts(api, station_id=sid, source="NotifyEvent") == []


async def test_tc_n_50_periodic_event_is_no_alert(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_station_id("ALERT")
    async with connected(server.ws_url, sid, "2.0.1") as station:
        await _notify(station, _event(1, "Power", trigger="Periodic"), _event(2, "Current"))

        async def the_alerting_one() -> list[dict[str, Any]]:
            return await _alerts(api, station_id=sid, source="NotifyEvent")

        [alert] = await eventually(the_alerting_one, "the Alerting event's alert")
        assert "Current" in alert["key"]


async def test_16_status_error_opens_and_no_error_clears_with_acknowledge(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_station_id("ALERT")
    async with connected(server.ws_url, sid, "1.6") as station:
        await station.call(
            c16.StatusNotification(
                connector_id=1, error_code="GroundFailure", status="Faulted", vendor_error_code="E42", vendor_id="ACME"
            )
        )

        async def opened() -> list[dict[str, Any]]:
            return await _alerts(api, station_id=sid, source="StatusNotification")

        [alert] = await eventually(opened, "the status alert")
        assert alert["code"] == "E42" and alert["connector_id"] == 1 and alert["severity"] == 1
        ack = await api.post(f"/api/v1/alerts/{alert['id']}/acknowledge")
        assert ack.status_code == 200 and ack.json()["acknowledged_by"] and ack.json()["state"] == "open"
        assert [a["id"] for a in await _alerts(api, station_id=sid, acknowledged=False)] == []
        await station.call(c16.StatusNotification(connector_id=1, error_code="NoError", status="Available"))

        async def cleared() -> bool:
            return await _alerts(api, station_id=sid, source="StatusNotification") == []

        await eventually(cleared, "NoError to clear the alert")
    missing = await api.post("/api/v1/alerts/999999/acknowledge")
    assert missing.status_code == 404


async def test_notify_event_storm_is_bounded_per_station(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    stormy, calm = new_station_id("STORM"), new_station_id("CALM")
    async with connected(server.ws_url, stormy, "2.0.1") as a, connected(server.ws_url, calm, "2.0.1") as b:
        for i in range(20):  # 20 distinct alerts, budget 5 a minute
            await _notify(a, _event(i, f"Var{i}"))
        await _notify(b, _event(1, "Temperature"))

        async def stormed() -> list[dict[str, Any]]:
            return await _alerts(api, station_id=stormy, source="Storm")

        [storm] = await eventually(stormed, "the Storm alert")
        assert storm["severity"] is not None
        events_opened = await _alerts(api, station_id=stormy, source="NotifyEvent")
        assert len(events_opened) == 5

        async def calm_opened() -> list[dict[str, Any]]:
            return await _alerts(api, station_id=calm, source="NotifyEvent")

        assert len(await eventually(calm_opened, "the other station's alert")) == 1

        async def counted() -> bool:
            rows = await _alerts(api, station_id=stormy, source="Storm")
            return bool(rows) and rows[0]["count"] == 15

        await eventually(counted, "the suppressed alerts counted on the Storm alert")


async def test_offline_station_is_an_alert_and_its_return_clears_it(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_station_id("QUIET")
    async with connected(server.ws_url, sid, "1.6"):
        pass  # booted, then gone silent

    async def offline() -> list[dict[str, Any]]:
        return await _alerts(api, station_id=sid, source="Offline")

    [alert] = await eventually(offline, "the offline alert")
    assert alert["severity"] is not None and "heartbeat interval" in alert["message"]
    async with connected(server.ws_url, sid, "1.6") as station:
        # keep talking more often than the interval until the alert clears
        async def back() -> bool:
            await station.call(c16.Heartbeat())
            return await _alerts(api, station_id=sid, source="Offline") == []

        await eventually(back, "the offline alert cleared after the station spoke")
        [done] = await _alerts(api, station_id=sid, source="Offline", state="cleared")
        assert done["id"] == alert["id"]


async def test_alerts_reach_the_event_stream(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_station_id("SSE")
    got: list[dict[str, Any]] = []

    async def read_stream() -> None:
        async with api.stream("GET", "/api/v1/events", params={"types": "alert.", "station": sid}) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event.get("type", "").startswith("alert."):
                        got.append(event)
                        if event["type"] == "alert.cleared":
                            return

    reader = asyncio.create_task(read_stream())
    try:
        async with connected(server.ws_url, sid, "2.0.1") as station:

            async def subscribed() -> bool:  # the stream is open once a first event would reach it
                await _notify(station, _event(1, "Temperature"))
                return bool(got)

            await eventually(subscribed, "the alert.opened event")
            await _notify(station, _event(2, "Temperature", cleared=True))
            await asyncio.wait_for(reader, 30)
    finally:
        reader.cancel()
    assert got[0]["type"] == "alert.opened" and got[0]["alert"]["station_id"] == sid
    assert got[-1]["type"] == "alert.cleared" and got[-1]["alert"]["id"] == got[0]["alert"]["id"]


async def test_dashboard_overview_lists_what_needs_attention(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_station_id("DASH")
    server.cli("users", "add", "alert-viewer", "--password", "correct horse battery", "--role", "read-only")
    async with connected(server.ws_url, sid, "2.0.1") as station:
        await _notify(station, _event(1, "Temperature", techInfo="fan stuck"))

        async def opened() -> list[dict[str, Any]]:
            return await _alerts(api, station_id=sid, source="NotifyEvent")

        await eventually(opened, "the alert")
    async with httpx.AsyncClient(base_url=server.http_url, timeout=60) as browser:
        page = await browser.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf, page.text
        form = {
            "csrf_token": csrf.group(1),
            "next": "/",
            "username": "alert-viewer",
            "password": "correct horse battery",
        }
        assert (await browser.post("/login", data=form)).status_code == 303
        overview = await browser.get("/")
    assert overview.status_code == 200
    section = overview.text.split('id="attention"', 1)[1].split("</section>", 1)[0]
    assert sid in section and "fan stuck" in section


async def test_tc_n_47_monitoring_report_kept_and_its_severity_given_to_events(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_station_id("MON")
    monitor = {"id": 17, "transaction": False, "value": 80.0, "type": "UpperThreshold", "severity": 2}
    report = [{"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Temperature"},
               "variableMonitoring": [monitor]}]  # fmt: skip
    async with connected(server.ws_url, sid, "2.0.1") as station:
        for part, tbc in ((report, True), ([], False)):  # a report in two parts (tbc)
            await station.call(c201.NotifyMonitoringReport(request_id=5, seq_no=0, generated_at=now(),
                                                           monitor=part or None, tbc=tbc))  # fmt: skip

        async def kept() -> list[dict[str, Any]]:
            return list((await api.get(f"/api/v1/stations/{sid}/monitors")).json())

        [row] = await eventually(kept, "the reported monitor")
        assert (row["monitor_id"], row["type"], row["value"], row["severity"]) == (17, "UpperThreshold", 80.0, 2)
        assert row["component"] == "EVSE@evse1" and row["variable"] == "Temperature"
        await _notify(station, _event(1, "Temperature", variableMonitoringId=17, eventNotificationType="CustomMonitor"))

        async def opened() -> list[dict[str, Any]]:
            return await _alerts(api, station_id=sid, source="NotifyEvent")

        [alert] = await eventually(opened, "the monitor's alert")
        assert alert["severity"] == 2
