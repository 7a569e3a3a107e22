"""Message ids cannot collide, against a CSMS played by the ``ocpp`` PyPI package that deliberately
reuses the controller's id; and ocppd's own station simulator charges through the controller."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from websockets.asyncio.server import ServerConnection, serve

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from tests.csms_process import CsmsProcess, free_port, run_csms
from tests.integration.test_smart_charging import Station16, now_iso
from tests.localctl.process import run_controller
from tests.localctl.test_relay import api
from tests.waiting import eventually

pytestmark = pytest.mark.slow  # simulator fleets through the local controller (minutes)

TAG = "04A10001"


class Csms16(ChargePoint16):
    """The CSMS side, played by the ``ocpp`` package; it records every frame the station side sends."""

    seen: list[list[Any]]

    async def route_message(self, raw_msg: str) -> None:
        self.seen.append(orjson.loads(raw_msg))
        await super().route_message(raw_msg)

    @on("BootNotification")
    async def on_boot(self, **_: Any) -> Any:
        return result16.BootNotification(current_time=now_iso(), interval=300, status="Accepted")

    @on("StatusNotification")
    async def on_status(self, **_: Any) -> Any:
        return result16.StatusNotification()


class Slow16(Station16):
    """Records the ids of the CALLs it gets, in order, and takes a while with its first profile."""

    got: list[tuple[str, str]]
    answered_profile = asyncio.Event

    async def route_message(self, raw_msg: str) -> None:
        frame = orjson.loads(raw_msg)
        if frame[0] == 2:
            self.got.append((frame[2], frame[1]))
        await super().route_message(raw_msg)

    @on("SetChargingProfile")
    async def on_set(self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any) -> Any:
        await asyncio.sleep(1.0)  # the CSMS's CALL with the same id arrives at the controller meanwhile
        return await super().on_set(connector_id, cs_charging_profiles)

    @on("GetConfiguration")
    async def on_get_configuration(self, **_: Any) -> Any:
        return result16.GetConfiguration(configuration_key=[{"key": "Seen", "readonly": True, "value": "yes"}])


async def test_a_csms_reusing_the_controllers_message_id_gets_its_own_answer(tmp_path: Path) -> None:
    port = free_port()
    sides: dict[str, Csms16] = {}

    async def handler(ws: ServerConnection) -> None:
        identity = (ws.request.path if ws.request else "/x").rsplit("/", 1)[-1]
        cp = sides[identity] = Csms16(identity, ws)
        cp.seen = []
        await cp.start()

    async with serve(handler, "127.0.0.1", port, subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
        env = {"OCPPD_LOCAL_CONTROLLER__GROUP_AMPS": "32"}
        with run_controller(tmp_path, f"ws://127.0.0.1:{port}", env) as lc:
            async with websockets.connect(f"{lc.ws_url}/ID-1", subprotocols=["ocpp1.6"]) as ws:
                station = Slow16("ID-1", ws)
                station.setup_profiles()
                station.got = []
                task = asyncio.create_task(station.start())
                try:
                    await station.call(call16.BootNotification(charge_point_vendor="ACME", charge_point_model="AC22"))
                    # the controller's fallback profile arrives with its own id; the station sits on it
                    first = await eventually(
                        _first_call(station, "SetChargingProfile"), "the controller's SetChargingProfile"
                    )
                    assert first.startswith("lc-")
                    csms = sides["ID-1"]
                    # the CSMS sends a CALL with that very id while the controller's is unanswered
                    answer = await csms.call(call16.GetConfiguration(), unique_id=first)
                    assert answer.configuration_key == [{"key": "Seen", "readonly": True, "value": "yes"}]
                    # the station got the CSMS's CALL only after it had answered the controller's
                    assert station.got.index(("GetConfiguration", first)) > station.got.index(
                        ("SetChargingProfile", first)
                    ), station.got
                    # the CSMS saw exactly one answer with that id, its own, and none to the controller's calls
                    replies = [f for f in csms.seen if f[0] in (3, 4) and f[1] == first]
                    assert replies == [[3, first, {"configurationKey": answer.configuration_key}]], csms.seen
                    own = [f for f in csms.seen if f[0] in (3, 4) and str(f[1]).startswith("lc-") and f[1] != first]
                    assert own == [] and not any(f[0] == 3 and f[2] == {"status": "Accepted"} for f in csms.seen)
                finally:
                    task.cancel()


def _first_call(station: Slow16, action: str) -> Any:
    async def probe() -> str | None:
        return next((mid for a, mid in station.got if a == action), None)

    return probe


@pytest.fixture
def csms(tmp_path: Path) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path) as server:
        server.cli("tokens", "add", TAG)
        yield server


@pytest.mark.parametrize("version", [OcppVersion.V16, OcppVersion.V201, OcppVersion.V20], ids=["1.6", "2.0.1", "2.0"])
async def test_the_simulator_charges_through_the_controller_under_its_limit(
    tmp_path: Path, csms: CsmsProcess, version: OcppVersion
) -> None:
    env = {"OCPPD_LOCAL_CONTROLLER__GROUP_AMPS": "10"}
    with run_controller(tmp_path, f"ws://127.0.0.1:{csms.ocpp_port}", env) as lc:
        config = StationConfig(
            identity=f"SIM-{version.value}",
            url=lc.ws_url,
            version=version,
            settings={"meter_sample_interval": 1},
            call_timeout=10,
            reconnect_min=0.2,
            reconnect_max=1.0,
            id_tags=[TAG],
        )
        async with Station(config) as st:
            await st.wait_booted(timeout=20)
            st.plug_in(1)
            tx = await st.start_transaction(1, TAG)
            assert tx is not None

            async def limited() -> bool:
                limit = st.connector(1).limit_w
                return limit is not None and abs(limit - 10 * 230 * 3) < 1.0

            await eventually(limited, "the simulated charger applies the controller's 10 A")

            async def tx_profile() -> bool:  # the fallback alone would say 10 A too: the transaction's own
                return any(p.purpose == "tx" and p.stack_level == 6 for p in st.profiles.profiles)

            await eventually(tx_profile, "the controller's TxProfile for the transaction")

            async def drawing() -> bool:
                return 0 < st.connector(1).current_a <= 10.0 + 1e-6

            await eventually(drawing, "the car draws within the limit")

            # the CSMS has the transaction, as if the station were connected to it directly
            async def recorded() -> bool:
                async with api(csms) as http:
                    txs = (await http.get("/api/v1/transactions")).json()
                items = txs["items"] if isinstance(txs, dict) else txs
                return any(t["station_id"] == config.identity for t in items)

            await eventually(recorded, "the CSMS records the transaction")


async def test_unanswered_calls_release_the_turn_and_late_answers_go_to_their_caller(tmp_path: Path) -> None:
    """A station that leaves a CALL unanswered holds the turn for ``call_timeout`` only; a late answer
    to a CSMS CALL is still relayed up (the CSMS decides), a late answer to the controller's is not."""
    port = free_port()
    sides: dict[str, Csms16] = {}

    async def handler(ws: ServerConnection) -> None:
        identity = (ws.request.path if ws.request else "/x").rsplit("/", 1)[-1]
        cp = sides[identity] = Csms16(identity, ws)
        cp.seen = []
        await cp.start()

    async with serve(handler, "127.0.0.1", port, subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
        env = {"OCPPD_LOCAL_CONTROLLER__GROUP_AMPS": "32", "OCPPD_LOCAL_CONTROLLER__CALL_TIMEOUT": "1"}
        with run_controller(tmp_path, f"ws://127.0.0.1:{port}", env) as lc:
            async with websockets.connect(f"{lc.ws_url}/LATE-1", subprotocols=["ocpp1.6"]) as ws:
                # a raw station: it boots, then reads CALLs and answers only when the test says so
                boot = {"chargePointVendor": "ACME", "chargePointModel": "X"}
                await ws.send(orjson.dumps([2, "boot-1", "BootNotification", boot]).decode())
                calls: list[list[Any]] = []

                async def read() -> None:
                    async for raw in ws:
                        frame = orjson.loads(raw)
                        if frame[0] == 2:
                            calls.append(frame)

                reader = asyncio.create_task(read())
                try:
                    own = await eventually(_call_of(calls, "lc-"), "the controller's first CALL")  # left unanswered
                    csms = await eventually(_side(sides, "LATE-1"), "the upstream connection")
                    # the CSMS's CALL waits for the controller's to time out (1 s), then reaches the station
                    asked = asyncio.create_task(csms.call(call16.GetConfiguration(), unique_id="csms-1"))
                    first = await eventually(_call_of(calls, "csms-1"), "the CSMS's CALL after the timeout")
                    assert calls.index(first) > calls.index(own)
                    # the station answers both late: the controller's answer stays, the CSMS's goes up
                    await ws.send(orjson.dumps([3, own[1], {"status": "Accepted"}]).decode())

                    async def csms_turn_over() -> bool:
                        return "no answer to the CSMS's GetConfiguration csms-1" in lc.log()

                    await eventually(csms_turn_over, "the CSMS's CALL times out at the controller too")
                    await ws.send(orjson.dumps([3, "csms-1", {"configurationKey": []}]).decode())
                    assert (await asyncio.wait_for(asked, 10)).configuration_key == []
                    replies = [f for f in csms.seen if f[0] in (3, 4)]
                    assert [f[1] for f in replies] == ["csms-1"], csms.seen
                finally:
                    reader.cancel()


def _call_of(calls: list[list[Any]], prefix: str) -> Any:
    async def probe() -> list[Any] | None:
        return next((c for c in calls if str(c[1]).startswith(prefix)), None)

    return probe


def _side(sides: dict[str, Csms16], identity: str) -> Any:
    async def probe() -> Csms16 | None:
        return sides.get(identity)

    return probe
