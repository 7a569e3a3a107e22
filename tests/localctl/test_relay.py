"""``ocppd local-controller`` as a real process between ``ocppd serve`` and stations played by the
``ocpp`` PyPI package: the CSMS sees the stations as usual, its commands reach them, a side that
drops drops the other, and the controller's own calls never reach the CSMS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201

from tests.csms_process import CsmsProcess, run_csms
from tests.integration.test_smart_charging import Station16, Station201, start16
from tests.localctl.process import ControllerProcess, run_controller
from tests.waiting import eventually


@pytest.fixture
def csms(tmp_path: Path) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path) as server:
        yield server


@pytest.fixture
def controller(tmp_path: Path, csms: CsmsProcess) -> Iterator[ControllerProcess]:
    upstream = f"ws://127.0.0.1:{csms.ocpp_port}"
    with run_controller(tmp_path, upstream, {"OCPPD_LOCAL_CONTROLLER__GROUP_AMPS": "32"}) as lc:
        yield lc


def api(server: CsmsProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=30
    )


class Resettable16(Station16):
    resets: list[str]

    @on("Reset")
    async def on_reset(self, type: str, **_: Any) -> Any:
        self.resets.append(type)
        return result16.Reset(status="Accepted")


async def connected(csms: CsmsProcess, identity: str, expected: bool = True) -> bool:
    async with api(csms) as http:
        row = (await http.get(f"/api/v1/stations/{identity}")).json()
    return bool(row.get("connected")) == expected


async def test_16_station_boots_charges_and_takes_commands_through_the_controller(
    csms: CsmsProcess, controller: ControllerProcess
) -> None:
    async with websockets.connect(f"{controller.ws_url}/LC-CP1", subprotocols=["ocpp1.6"]) as ws:
        assert ws.subprotocol == "ocpp1.6"
        cp = Resettable16("LC-CP1", ws)
        cp.setup_profiles()
        cp.resets = []
        task = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(call16.BootNotification(charge_point_vendor="ACME", charge_point_model="AC22"))
            assert boot.status == "Accepted"  # the CSMS's answer, relayed
            await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
            tx = await start16(cp)
            async with api(csms) as http:
                await eventually(lambda: connected(csms, "LC-CP1"), "the CSMS sees the station")
                txs = (await http.get("/api/v1/transactions", params={"station_id": "LC-CP1"})).json()
                items = txs["items"] if isinstance(txs, dict) else txs
                assert [t for t in items if str(t.get("transaction_id")) == str(tx)], txs
                # a remote command from the CSMS reaches the station, and its answer comes back
                r = await http.post("/api/v1/stations/LC-CP1/commands/reset", json={"type": "soft"})
                assert r.status_code == 200, r.text
                assert cp.resets == ["Soft"]
            # the controller balances it: its own profiles arrive (fallback and TxProfile)
            await eventually(lambda: _true(cp.profiles.get((1, "TxProfile", 6)) == 32.0), "the controller's TxProfile")
            assert controller.metric("ocppd_lc_forwarded_frames_total", direction="up") >= 4
        finally:
            task.cancel()
    # the station left: the CSMS sees it offline (the upstream connection was closed)
    await eventually(lambda: connected(csms, "LC-CP1", expected=False), "the CSMS sees the station gone")
    # the controller's own CALLs (SetChargingProfile) never reached the CSMS's message log
    async with api(csms) as http:
        log = (await http.get("/api/v1/stations/LC-CP1/messages", params={"limit": 500})).json()
    frames = [m["frame"] for m in (log["items"] if isinstance(log, dict) else log)]
    assert frames and not any("lc-" in f and "SetChargingProfile" in f for f in frames)
    assert not any('"lc-' in f for f in frames), [f for f in frames if "lc-" in f]


async def _true(value: bool) -> bool:
    return value


async def test_201_station_through_the_controller_and_the_csms_dropping_drops_it(
    csms: CsmsProcess, controller: ControllerProcess
) -> None:
    async with websockets.connect(f"{controller.ws_url}/LC-CS2", subprotocols=["ocpp2.0.1", "ocpp1.6"]) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        cp = Station201("LC-CS2", ws)
        cp.setup_profiles()
        task = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(
                call201.BootNotification(charging_station={"vendor_name": "ACME", "model": "AC22"}, reason="PowerUp")
            )
            assert boot.status == "Accepted"
            await eventually(lambda: connected(csms, "LC-CS2"), "the CSMS sees the station")
            # the CSMS closes the station's connection (deleting the station): the controller closes the station's
            async with api(csms) as http:
                assert (await http.delete("/api/v1/stations/LC-CS2")).status_code in (200, 204)
            await asyncio.wait_for(ws.wait_closed(), 30)
        finally:
            task.cancel()
