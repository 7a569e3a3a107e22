"""Bad input against a real ``ocppd serve``: every case gets the version-correct answer or a clean
close, and never disturbs the server or another station's session (1.6 and 2.0.1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.csms_process import CsmsProcess, run_csms

V16, V201 = "ocpp1.6", "ocpp2.0.1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(Path(tmp_path_factory.mktemp("bad-input"))) as process:
        yield process


async def exchange(ws: Any, frame: str, *, expect_answer: bool = True) -> list[Any] | None:
    await ws.send(frame)
    try:
        raw = await asyncio.wait_for(ws.recv(), 1.5 if not expect_answer else 10)
    except TimeoutError:
        return None
    return json.loads(raw)


BOOT16 = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT201 = {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}

# (version, frame, expected CALLERROR [id, code]) — None: the frame must be ignored.
CASES = [
    (V16, "this is not json", ["-1", "FormationViolation"]),
    (V201, "this is not json", ["-1", "RpcFrameworkError"]),
    (V16, '{"an": "object"}', ["-1", "FormationViolation"]),
    (V201, "[]", ["-1", "RpcFrameworkError"]),
    (V16, '[2, "m1", "Heartbeat"]', ["m1", "FormationViolation"]),
    (V201, '[2, "m1", "Heartbeat", []]', ["m1", "FormatViolation"]),
    (V16, '[2, "m2", "FlyToTheMoon", {}]', ["m2", "NotImplemented"]),
    (V201, '[2, "m2", "FlyToTheMoon", {}]', ["m2", "NotImplemented"]),
    # Known to OCPP but a CSMS-to-station message: recognised, not supported here.
    (V16, '[2, "m3", "Reset", {"type": "Soft"}]', ["m3", "NotSupported"]),
    (V201, '[2, "m3", "Reset", {"type": "Immediate"}]', ["m3", "NotSupported"]),
    (V16, '[2, "m4", "BootNotification", {"chargePointVendor": "V"}]', ["m4", "OccurenceConstraintViolation"]),
    (V201, '[2, "m4", "BootNotification", {"reason": "PowerUp"}]', ["m4", "OccurrenceConstraintViolation"]),
    (
        V16,
        '[2, "m5", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", "status": "Available"}]',
        ["m5", "TypeConstraintViolation"],
    ),
    (V201, '[2, "m5", "Heartbeat", {"unexpected": 1}]', ["m5", "FormatViolation"]),
    (
        V16,
        json.dumps([2, "m6", "BootNotification", {**BOOT16, "chargePointVendor": "X" * 21}]),
        ["m6", "PropertyConstraintViolation"],
    ),
    (
        V201,
        json.dumps([2, "m6", "BootNotification", {**BOOT201, "reason": "Bored"}]),
        ["m6", "PropertyConstraintViolation"],
    ),
    (V16, '[2, "' + "x" * 37 + '", "Heartbeat", {}]', ["-1", "FormationViolation"]),
    (V201, '[9, "m7", "Heartbeat", {}]', ["m7", "MessageTypeNotSupported"]),
    (V16, '[9, "m7", "Heartbeat", {}]', None),
    (V16, '[3, "nobody-asked", {}]', None),
    (V201, '[4, "nobody-asked", "GenericError", "", {}]', None),
]


@pytest.mark.parametrize(("version", "frame", "expected"), CASES)
async def test_bad_frame_answer(server: CsmsProcess, version: str, frame: str, expected: list[str] | None) -> None:
    async with websockets.connect(f"{server.ws_url}/BAD-{version}", subprotocols=[version]) as ws:
        answer = await exchange(ws, frame, expect_answer=expected is not None)
        if expected is None:
            assert answer is None
        else:
            assert answer is not None and answer[0] == 4, answer
            assert answer[1:3] == expected, answer
            assert isinstance(answer[3], str) and len(answer[3]) <= 255
            assert isinstance(answer[4], dict)
        # The connection is still usable afterwards.
        hb = await exchange(ws, '[2, "after", "Heartbeat", {}]')
        assert hb is not None and hb[0] == 3 and hb[1] == "after" and "currentTime" in hb[2]


async def test_huge_frame_closes_only_that_connection(server: CsmsProcess) -> None:
    async with websockets.connect(f"{server.ws_url}/BYSTANDER", subprotocols=[V16]) as bystander:
        async with websockets.connect(f"{server.ws_url}/HUGE", subprotocols=[V16], max_size=None) as ws:
            await ws.send('[2, "big", "DataTransfer", {"vendorId": "x", "data": "' + "a" * (2 * 1024 * 1024) + '"}]')
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
        hb = await exchange(bystander, '[2, "still-here", "Heartbeat", {}]')
        assert hb is not None and hb[0] == 3


@pytest.mark.parametrize("identity", ["RDAM%20123", "st%C3%A4tion-%C3%BC", "a.b_c-d~e"])
async def test_odd_station_identities(server: CsmsProcess, identity: str) -> None:
    async with websockets.connect(f"{server.ws_url}/{identity}", subprotocols=[V16]) as ws:
        answer = await exchange(ws, json.dumps([2, "b", "BootNotification", BOOT16]))
        assert answer is not None and answer[2]["status"] == "Accepted"
    from urllib.parse import unquote

    listed = json.loads(server.cli("stations", "list", "--json").stdout)
    assert unquote(identity) in {s["station_id"] for s in listed}


async def test_no_common_subprotocol_is_closed(server: CsmsProcess) -> None:
    async with websockets.connect(f"{server.ws_url}/NOPROTO", subprotocols=["ocpp1.5"]) as ws:
        assert ws.subprotocol is None
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)


async def test_second_connection_replaces_first(server: CsmsProcess) -> None:
    url = f"{server.ws_url}/TWICE"
    async with (
        websockets.connect(url, subprotocols=[V201]) as first,
        websockets.connect(url, subprotocols=[V201]) as second,
    ):
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(first.recv(), 10)
        hb = await exchange(second, '[2, "h", "Heartbeat", {}]')
        assert hb is not None and hb[0] == 3


async def test_server_survives_all_of_it(server: CsmsProcess) -> None:
    assert server.process.poll() is None
    assert "Traceback" not in server.log()
