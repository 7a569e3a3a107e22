"""Bad input against a real ``ocppd serve``: every case gets the version-correct answer or a clean
close, and never disturbs the server or another station's session (1.6 and 2.0.1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
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

DEEP_DATA_TRANSFER = '[2, "d1", "DataTransfer", {"vendorId": "x", "data": ' + "[" * 300 + "]" * 300 + "}]"
DEEP_TYPE = "[" + "[" * 1000 + "2" + "]" * 1000 + ', "m8", "Heartbeat", {}]'
STATUS16 = '[2, "b1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}]'
STATUS201 = (
    '[2, "b1", "StatusNotification", {"timestamp": "2026-01-01T00:00:00Z", "connectorStatus": "Available",'
    ' "evseId": 1, "connectorId": 1}]'
)

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
    # Nested ~300 deep (past the validator's limit): a malformed payload, not an internal error.
    (V16, DEEP_DATA_TRANSFER, ["d1", "FormationViolation"]),
    (V201, DEEP_DATA_TRANSFER, ["d1", "FormatViolation"]),
    (V16, '[2, "d2", "Heartbeat", {"x": ' + '{"a": ' * 300 + "1" + "}" * 300 + "}]", ["d2", "FormationViolation"]),
    # A message-type element nested 1,000 deep: not a message type number (J16 §4.1.3: ignored).
    (V16, DEEP_TYPE, None),
    (V201, DEEP_TYPE, ["m8", "MessageTypeNotSupported"]),
    # U+0000 in a schema-valid string: no OCPP field carries it (nor can PostgreSQL text).
    (V16, '[2, "n1", "Authorize", {"idTag": "AB\\u0000C"}]', ["n1", "PropertyConstraintViolation"]),
    (
        V201,
        '[2, "n1", "Authorize", {"idToken": {"idToken": "AB\\u0000C", "type": "Central"}}]',
        ["n1", "PropertyConstraintViolation"],
    ),
    (
        V16,
        '[2, "n2", "BootNotification", {"chargePointVendor": "V\\u0000", "chargePointModel": "M"}]',
        ["n2", "PropertyConstraintViolation"],
    ),
    # A raw NUL byte after the frame: not JSON.
    (V16, '[2, "x1", "Heartbeat", {}]\x00', ["-1", "FormationViolation"]),
    (V201, '[2, "x1", "Heartbeat", {}]\x00', ["-1", "RpcFrameworkError"]),
    # Integers are 32 bit (2.0.1 Part 2, primitive datatypes); a database column holds no more.
    (V16, STATUS16.replace('"connectorId": 1', '"connectorId": 2147483648'), ["b1", "PropertyConstraintViolation"]),
    (V201, STATUS201.replace('"evseId": 1', '"evseId": 2147483648'), ["b1", "PropertyConstraintViolation"]),
    (V201, STATUS201.replace('"evseId": 1', '"evseId": 18446744073709551615'), ["b1", "PropertyConstraintViolation"]),
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


@pytest.mark.parametrize("identity", ["RDAM%20123", "a*-_=:+|@.", "a.b_c-d~e"])
async def test_odd_station_identities(server: CsmsProcess, identity: str) -> None:
    async with websockets.connect(f"{server.ws_url}/{identity}", subprotocols=[V16]) as ws:
        answer = await exchange(ws, json.dumps([2, "b", "BootNotification", BOOT16]))
        assert answer is not None and answer[2]["status"] == "Accepted"
    from urllib.parse import unquote

    listed = json.loads(server.cli("stations", "list", "--json").stdout)
    assert unquote(identity) in {s["station_id"] for s in listed}


async def test_no_common_subprotocol_is_refused(server: CsmsProcess) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:  # no upgrade (OCA TC_B_58 / TC_088)
        async with websockets.connect(f"{server.ws_url}/NOPROTO", subprotocols=["ocpp1.5"]):
            pass
    assert refused.value.response.status_code == 400


async def test_second_connection_replaces_first(server: CsmsProcess) -> None:
    """When it authenticates as the station (tests/integration/test_station_security.py: takeovers)."""
    server.cli("stations", "add", "TWICE", "--password", "twice-twice-twice-1")
    url = f"ws://TWICE:twice-twice-twice-1@127.0.0.1:{server.ocpp_port}/ocpp/TWICE"
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


async def test_odd_frames_lose_no_message_log_rows(csms: CsmsProcess) -> None:
    """A NUL byte or a U+0000 string from one station costs no station its message-log rows (the whole
    batch was dropped on PostgreSQL); the odd frames themselves are kept too, and answered per spec."""
    odd = ['[2, "x1", "Heartbeat", {}]\x00', '[2, "x2", "DataTransfer", {"vendorId": "a\\u0000b"}]']
    async with (
        websockets.connect(f"{csms.ws_url}/ODD", subprotocols=[V16]) as station,
        websockets.connect(f"{csms.ws_url}/NEIGHBOUR", subprotocols=[V16]) as neighbour,
    ):
        for i, frame in enumerate(odd):
            await asyncio.gather(station.send(frame), neighbour.send(f'[2, "n{i}", "Heartbeat", {{}}]'))
            answer, beat = await asyncio.gather(station.recv(), neighbour.recv())
            assert json.loads(answer)[0] == 4 and json.loads(beat)[0] == 3
        assert (await exchange(station, '[2, "after", "Heartbeat", {}]') or [])[:2] == [3, "after"]

    async with httpx.AsyncClient(
        base_url=csms.http_url, headers={"Authorization": f"Bearer {csms.admin_token}"}
    ) as api:

        async def logged(station_id: str, count: int) -> list[dict[str, Any]]:
            deadline = asyncio.get_running_loop().time() + 10
            while True:  # the answer's row may commit just after the answer
                rows = (await api.get("/api/v1/messages", params={"station": station_id})).json()
                if len(rows) >= count or asyncio.get_running_loop().time() > deadline:
                    return rows
                await asyncio.sleep(0.1)

        assert len(await logged("NEIGHBOUR", 4)) == 4
        frames = [r["frame"] for r in await logged("ODD", 6)]
    assert len(frames) == 6, frames
    assert '[2, "x1", "Heartbeat", {}]\\x00' in frames  # shown escaped; the exact bytes are kept
    assert odd[1] in frames


@pytest.mark.parametrize(
    ("version", "command", "body"),
    [
        (V201, "reset", {"type": "immediate", "evse_id": 2**70}),
        (V201, "unlock", {"evse_id": 1, "connector_id": 2**64}),
        (V16, "remote-stop", {"transaction_id": "9" * 30}),
        (V16, "unlock", {"connector_id": 2**31}),
    ],
)
async def test_typed_command_with_huge_integer_is_400(
    server: CsmsProcess, version: str, command: str, body: dict[str, Any]
) -> None:
    identity = f"BIGINT-{version}-{command}"
    boot = BOOT16 if version == V16 else BOOT201
    async with websockets.connect(f"{server.ws_url}/{identity}", subprotocols=[version]) as ws:
        assert (await exchange(ws, json.dumps([2, "b", "BootNotification", boot])) or [])[0] == 3
        async with httpx.AsyncClient(
            base_url=server.http_url, headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=30
        ) as api:
            answer = await api.post(f"/api/v1/stations/{identity}/commands/{command}", json=body)
    assert answer.status_code == 400, answer.text
    assert "maximum" in answer.json()["detail"] or "64" in answer.json()["detail"], answer.text


def meter_values_16(transaction_id: int, at: str, energy: str, power: str) -> str:
    return json.dumps(
        [2, f"mv-{energy}-{at}", "MeterValues", {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [{"timestamp": at, "sampledValue": [
                {"value": energy, "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": power, "measurand": "Power.Active.Import", "unit": "W"},
            ]}],
        }]
    )  # fmt: skip


POISONS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "inf"]


@pytest.mark.parametrize("poison", POISONS)
async def test_poisoned_meter_values_are_ignored_and_the_api_keeps_answering(server: CsmsProcess, poison: str) -> None:
    """1.6 sampled values are decimal strings: "NaN", "Infinity" or "1e400" are none. The frame is kept (in
    the message log) and answered, as for any unreadable value; such a value counts for neither energy
    nor power, so every endpoint about the transaction and the station keeps answering."""
    identity = f"POISON-{POISONS.index(poison)}"
    server.cli("tokens", "add", identity)
    async with websockets.connect(f"{server.ws_url}/{identity}", subprotocols=[V16]) as ws:
        assert (await exchange(ws, json.dumps([2, "b", "BootNotification", BOOT16])) or [])[0] == 3
        start = await exchange(
            ws,
            json.dumps([2, "s", "StartTransaction", {"connectorId": 1, "idTag": identity, "meterStart": 1000,
                                                     "timestamp": "2026-01-01T10:00:00Z"}]),
        )  # fmt: skip
        assert start is not None and start[0] == 3, start
        tx = start[2]["transactionId"]
        good = await exchange(ws, meter_values_16(tx, "2026-01-01T10:01:00Z", "1500", "7000"))
        assert good is not None and good[0] == 3, good
        poisoned = await exchange(ws, meter_values_16(tx, "2026-01-01T10:02:00Z", poison, poison))
        assert poisoned is not None and poisoned[:3] == [3, poisoned[1], {}], poisoned
        async with httpx.AsyncClient(
            base_url=server.http_url, headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=30
        ) as api:
            [listed] = json.loads(server.cli("transactions", "list", "--station", identity, "--json").stdout)
            pk = listed["id"]
            for path in (
                f"/api/v1/transactions/{pk}",
                f"/api/v1/transactions/{pk}/power",
                f"/api/v1/stations/{identity}/power",
                f"/api/v1/stations/{identity}",
                "/api/v1/overview",
                "/api/v1/transactions",
                f"/api/v1/transactions/export.csv?station={identity}",
            ):
                answer = await api.get(path)
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                if "export.csv" in path:
                    assert "inf" not in answer.text.lower() and "nan" not in answer.text.lower(), answer.text
                else:  # strict JSON: no NaN or Infinity tokens
                    for token in ("NaN", "Infinity"):
                        assert token not in answer.text, (path, answer.text[:300])
                    assert answer.headers["content-type"].startswith("application/json"), (path, answer.text[:200])
                    answer.json()
            detail = (await api.get(f"/api/v1/transactions/{pk}")).json()
    assert detail["energy_wh"] == 500, detail  # the good reading counts, the poisoned one does not
