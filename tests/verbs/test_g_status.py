"""Availability reported by the station (OCA G_01 for 2.1, G_20): every connector status is answered and
kept as the reported status, and a lock failure reported by NotifyEvent opens an alert. Real
``ocppd serve`` on SQLite and PostgreSQL, stations of the `ocpp` package (2.1 and 2.0.1)."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import websockets
from ocpp.v21 import ChargePoint as Cp21
from ocpp.v21 import call as c21
from ocpp.v201 import call as c201

from tests.csms_process import CsmsProcess
from tests.verbs.conftest import eventually, new_id, ok
from tests.verbs.stations import connected, now

STATUSES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")


async def test_tc_g_01_every_connector_status_of_a_2_1_station(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("G01")
    async with websockets.connect(f"{csms.ws_url}/{sid}", subprotocols=["ocpp2.1"]) as ws:
        cp = Cp21(sid, ws, response_timeout=30)
        runner = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(c21.BootNotification(charging_station={"model": "G01", "vendor_name": "ACME"},
                                                      reason="PowerUp"))  # fmt: skip
            assert boot.status == "Accepted"
            for status in STATUSES:
                answer = await cp.call(c21.StatusNotification(timestamp=now(), connector_status=status, evse_id=1,
                                                              connector_id=1), suppress=False)  # fmt: skip
                assert answer is not None  # an empty StatusNotificationResponse
                detail = ok(await api.get(f"/api/v1/stations/{sid}/availability"))
                assert [c["status"] for c in detail["connectors"]] == [status]
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner


async def test_tc_g_20_lock_failure_reported_by_notify_event(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("G20")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        event = {"eventId": 7, "timestamp": now(), "trigger": "Delta", "actualValue": "true",
                 "eventNotificationType": "HardWiredNotification", "techCode": "LockFailure",
                 "component": {"name": "ConnectorPlugRetentionLock", "evse": {"id": 1, "connectorId": 1}},
                 "variable": {"name": "Problem"}}  # fmt: skip
        answer = await st.call(c201.NotifyEvent(generated_at=now(), seq_no=0, event_data=[event]), suppress=False)
        assert answer is not None  # an empty NotifyEventResponse

        async def alert() -> bool:
            rows = ok(await api.get("/api/v1/alerts", params={"station_id": sid}))
            return any(a["source"] == "NotifyEvent" and "ConnectorPlugRetentionLock" in str(a) for a in rows)

        await eventually(alert, "the lock failure as an open alert")
