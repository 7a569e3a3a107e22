"""The local controller balances its group (real processes: ``ocppd serve`` upstream, the controller,
stations played by the ``ocpp`` PyPI package that apply the profiles they receive): under its own
limit, under the limit the CSMS gives its identity, and on through an upstream outage."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import websockets
from ocpp.v201 import call as call201

from tests.csms_process import CsmsProcess, run_csms
from tests.integration.test_smart_charging import Station16, Station201, now_iso, start16, start201, station
from tests.localctl.process import run_controller
from tests.localctl.test_relay import api, connected
from tests.waiting import eventually

LEVEL = 6  # smart.stack_level: the balancer's reserved stack level


def probe(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run


@pytest.fixture
def csms(tmp_path: Path) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path) as server:
        yield server


def tx_limit(cp: Station16 | Station201) -> float | None:
    return cp.profiles.get((1, "TxProfile", LEVEL))


async def test_group_of_16_and_201_stations_balanced_under_the_controller_limit(
    tmp_path: Path, csms: CsmsProcess
) -> None:
    env = {"OCPPD_LOCAL_CONTROLLER__GROUP_AMPS": "32"}
    with run_controller(tmp_path, f"ws://127.0.0.1:{csms.ocpp_port}", env) as lc:
        async with station(lc, "G-16", Station16) as a, station(lc, "G-201", Station201) as b:
            # fallbacks: the group's limit split between its stations, so it holds without the controller
            await eventually(
                probe(lambda: a.profiles.get((0, "TxDefaultProfile", LEVEL)) == 16.0
                      and b.profiles.get((0, "TxDefaultProfile", LEVEL)) == 16.0),
                "each station's fallback is half the group",
            )  # fmt: skip
            tx_a = await start16(a)
            await eventually(probe(lambda: tx_limit(a) == 32.0), "the first EV gets the whole group")
            await start201(b, "G-TX-B")
            await eventually(probe(lambda: tx_limit(a) == 16.0 and tx_limit(b) == 16.0), "fair shares")
            # an operator profile from the CSMS reaches the station next to the controller's
            operator = {"id": 40, "evse_id": 1, "purpose": "tx_default", "stack_level": 1, "unit": "A",
                        "periods": [{"start_s": 0, "limit": 10}]}  # fmt: skip
            async with api(csms) as http:
                r = await http.post("/api/v1/stations/G-201/charging-profiles", json=operator)
                assert r.status_code == 200 and r.json()["status"] == "Accepted", r.text
                # one at the controller's reserved level is relayed too, and the operator is warned
                r = await http.post("/api/v1/stations/G-201/charging-profiles", json={**operator, "stack_level": 7})
                assert r.status_code == 200, r.text
            assert b.profiles[(1, "TxDefaultProfile", 1)] == 10.0 and tx_limit(b) == 16.0
            assert "reserved for the controller's balancer" in lc.log()
            # the first car leaves: the other takes what it freed
            from ocpp.v16 import call as call16

            await a.call(call16.StopTransaction(meter_stop=1000, timestamp=now_iso(), transaction_id=tx_a))
            await eventually(probe(lambda: tx_limit(b) == 32.0), "the remaining EV rises")
            # the CSMS saw both transactions as usual
            async with api(csms) as http:
                txs = (await http.get("/api/v1/transactions")).json()
            items = txs["items"] if isinstance(txs, dict) else txs
            assert {t["station_id"] for t in items} == {"G-16", "G-201"}, items


@pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp1.6"])
async def test_tc_k_the_csms_limits_the_group_through_the_controller_identity(
    tmp_path: Path, csms: CsmsProcess, version: str
) -> None:
    """1.6 §3.13.3 / 2.0.1 local smart charging: the CSMS sends a ChargingStationMaxProfile to the
    local controller's own identity; the controller keeps its group under it."""
    env = {
        "OCPPD_LOCAL_CONTROLLER__GROUP_AMPS": "32",
        "OCPPD_LOCAL_CONTROLLER__IDENTITY": "LC-1",
        "OCPPD_LOCAL_CONTROLLER__IDENTITY_VERSION": version,
    }
    v16 = version == "ocpp1.6"
    with run_controller(tmp_path, f"ws://127.0.0.1:{csms.ocpp_port}", env) as lc:
        await eventually(lambda: connected(csms, "LC-1"), "the controller's own identity connects to the CSMS")
        async with station(lc, "K-201", Station201) as b:
            await start201(b, "K-TX")
            await eventually(probe(lambda: tx_limit(b) == 32.0), "the EV gets the group's configured limit")
            profile = {"id": 5, "evse_id": 0, "purpose": "station_max", "stack_level": 0, "unit": "A",
                       "periods": [{"start_s": 0, "limit": 20}]}  # fmt: skip
            async with api(csms) as http:
                r = await http.post("/api/v1/stations/LC-1/charging-profiles", json=profile)
                assert r.status_code == 200 and r.json()["status"] == "Accepted", r.text
                await eventually(probe(lambda: tx_limit(b) == 20.0), "the group is held under the CSMS's limit")
                ask = {"connectorId" if v16 else "evseId": 0, "duration": 600, "chargingRateUnit": "A"}
                composite = (await http.post("/api/v1/stations/LC-1/call/GetCompositeSchedule", json=ask)).json()
                assert composite["status"] == "Accepted", composite
                schedule = composite["chargingSchedule"] if v16 else composite["schedule"]
                assert schedule["chargingSchedulePeriod"][0]["limit"] == 20.0, composite
                # a TxProfile for the controller itself is refused: it has no EVSE
                tx = {**profile, "id": 6, "evse_id": 1, "purpose": "tx_default"}
                r = await http.post("/api/v1/stations/LC-1/charging-profiles", json=tx)
                assert r.status_code == 200 and r.json()["status"] == "Rejected", r.text
                clear = {"id": 5} if v16 else {"chargingProfileId": 5}
                r = await http.post("/api/v1/stations/LC-1/call/ClearChargingProfile", json=clear)
                assert r.json()["status"] == "Accepted", r.text
            await eventually(probe(lambda: tx_limit(b) == 32.0), "cleared: back to the configured limit")


async def test_upstream_killed_stations_stay_connected_and_balancing_continues(
    tmp_path: Path, csms: CsmsProcess
) -> None:
    env = {"OCPPD_LOCAL_CONTROLLER__GROUP_AMPS": "32"}
    with run_controller(tmp_path, f"ws://127.0.0.1:{csms.ocpp_port}", env) as lc:
        async with station(lc, "O-1", Station201) as a, station(lc, "O-2", Station201) as b:
            await start201(a, "O-TX-1")
            await start201(b, "O-TX-2")
            await eventually(probe(lambda: tx_limit(a) == 16.0 and tx_limit(b) == 16.0), "fair shares")
            csms.process.send_signal(signal.SIGKILL)
            csms.process.wait(10)
            # the upstream connections are gone: the controller closes the stations' (2.0.1 Part 4 §6.3)
            await asyncio.wait_for(a._connection.wait_closed(), 30)
            await asyncio.wait_for(b._connection.wait_closed(), 30)
        # the stations reconnect, as stations do; the CSMS is unreachable, they stay connected and balanced
        async with (
            websockets.connect(f"{lc.ws_url}/O-1", subprotocols=["ocpp2.0.1"]) as ws1,
            websockets.connect(f"{lc.ws_url}/O-2", subprotocols=["ocpp2.0.1"]) as ws2,
        ):
            a2, b2 = Station201("O-1", ws1, response_timeout=1), Station201("O-2", ws2, response_timeout=1)
            for cp in (a2, b2):
                cp.setup_profiles()
            tasks = [asyncio.create_task(cp.start()) for cp in (a2, b2)]
            try:
                await eventually(probe(lambda: lc.metric("ocppd_lc_stations", upstream="offline") == 2.0),
                                 "both stations connected with the CSMS unreachable")  # fmt: skip
                # O-1's car leaves; nobody answers (the station will send it again to the CSMS later) ...
                ended = call201.TransactionEvent(
                    event_type="Ended", timestamp=now_iso(), trigger_reason="EVDeparted", seq_no=2,
                    transaction_info={"transaction_id": "O-TX-1", "stopped_reason": "EVDisconnected"},
                )  # fmt: skip
                with pytest.raises(asyncio.TimeoutError):
                    await a2.call(ended)
                # ... but the controller heard it: O-2 takes the whole group
                await eventually(probe(lambda: tx_limit(b2) == 32.0), "balancing goes on without the CSMS")
                assert lc.metric("ocppd_lc_unforwarded_frames_total") >= 1
            finally:
                for task in tasks:
                    task.cancel()


async def test_stations_connecting_at_once_all_join_the_group(tmp_path: Path, csms: CsmsProcess) -> None:
    """Each join rewrites the limit tree: joins at the same moment must not lose each other."""
    env = {"OCPPD_LOCAL_CONTROLLER__GROUP_AMPS": "48"}
    with run_controller(tmp_path, f"ws://127.0.0.1:{csms.ocpp_port}", env) as lc:
        names = [f"J-{i}" for i in range(4)]
        sockets = await asyncio.gather(
            *(websockets.connect(f"{lc.ws_url}/{n}", subprotocols=["ocpp2.0.1"]) for n in names)
        )
        stations = [Station201(n, ws) for n, ws in zip(names, sockets, strict=True)]
        for cp in stations:
            cp.setup_profiles()
        tasks = [asyncio.create_task(cp.start()) for cp in stations]
        try:
            await eventually(
                probe(lambda: all(cp.profiles.get((0, "TxDefaultProfile", LEVEL)) == 12.0 for cp in stations)),
                "every station's fallback is a quarter of the group",
            )
        finally:
            for task in tasks:
                task.cancel()
            for ws in sockets:
                await ws.close()
