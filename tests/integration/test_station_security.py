"""Security holes a probe found in shipped features (issue 8): station takeover, confusable station ids,
what the server log says about stations. A real ``ocppd serve``, stations from the ``websockets`` package."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.csms_process import CsmsProcess, run_csms

V16 = "ocpp1.6"
PASSWORD = "takeover-takeover-1"
BOOT16 = {"chargePointVendor": "ACME", "chargePointModel": "One"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    extra = {"OCPPD_OCPP__REPLACE_UNAUTHENTICATED": "OPEN-1"}
    with run_csms(tmp_path_factory.mktemp("security"), extra_env=extra) as s:
        yield s


async def call(ws: websockets.ClientConnection, message_id: str, action: str, payload: dict) -> list:
    await ws.send(json.dumps([2, message_id, action, payload]))
    return json.loads(await asyncio.wait_for(ws.recv(), 20))


def url(server: CsmsProcess, station: str, password: str | None = None) -> str:
    auth = f"{station}:{password}@" if password else ""
    return f"ws://{auth}127.0.0.1:{server.ocpp_port}/ocpp/{station}"


async def refused_with(server: CsmsProcess, station: str, password: str | None = None) -> int | None:
    try:
        async with websockets.connect(url(server, station, password), subprotocols=[V16], open_timeout=20):
            return None
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


def login(browser: httpx.Client, username: str, password: str) -> httpx.Response:
    """The dashboard's login form, as a browser posts it."""
    form = browser.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf, form.text
    data = {"csrf_token": csrf.group(1), "next": "/stations", "username": username, "password": password}
    return browser.post("/login", data=data)


def wait_for_log(server: CsmsProcess, text: str, deadline: float = 20) -> str:
    end = time.monotonic() + deadline
    while text not in server.log():
        if time.monotonic() > end:
            raise AssertionError(f"{text!r} not logged:\n{server.log()[-3000:]}")
        time.sleep(0.1)
    return next(line for line in server.log().splitlines() if text in line)


async def test_takeover_of_a_station_without_credentials_is_refused(server: CsmsProcess) -> None:
    async with websockets.connect(url(server, "VICTIM-1"), subprotocols=[V16]) as victim:
        assert (await call(victim, "b", "BootNotification", BOOT16))[2]["status"] == "Accepted"
        assert await refused_with(server, "VICTIM-1") == 409
        line = wait_for_log(server, "VICTIM-1: refused 409 from 127.0.0.1")
        assert "WARNING" in line and "connected from 127.0.0.1" in line
        # the victim keeps its connection and its operator commands
        assert (await call(victim, "h", "Heartbeat", {}))[0] == 3
        reset = httpx.post(
            f"{server.http_url}/api/v1/stations/VICTIM-1/call/Reset",
            json={"type": "Soft"},
            headers={"Authorization": f"Bearer {server.admin_token}"},
            params={"timeout": 5},
            timeout=30,
        )
        request = json.loads(await asyncio.wait_for(victim.recv(), 20))
        assert request[2] == "Reset"
        await victim.send(json.dumps([3, request[1], {"status": "Accepted"}]))
    assert reset.status_code == 200 or reset.status_code == 504  # answered or timed out, but to the victim
    # once the station's own connection is gone, it connects again as before
    for _ in range(100):
        if await refused_with(server, "VICTIM-1") is None:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("VICTIM-1 could not reconnect after its connection closed")


async def test_an_authenticated_connection_replaces_the_live_one_with_a_warning(server: CsmsProcess) -> None:
    server.cli("stations", "add", "PW-1", "--password", PASSWORD)
    async with websockets.connect(url(server, "PW-1", PASSWORD), subprotocols=[V16]) as first:
        assert await refused_with(server, "PW-1") == 401
        async with websockets.connect(url(server, "PW-1", PASSWORD), subprotocols=[V16]) as second:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(first.recv(), 20)
            assert (await call(second, "h", "Heartbeat", {}))[0] == 3
    line = wait_for_log(server, "PW-1: a new connection from 127.0.0.1 replaces the one from 127.0.0.1")
    assert "WARNING" in line


async def test_the_operator_may_allow_replacement_per_station(server: CsmsProcess) -> None:
    async with (
        websockets.connect(url(server, "OPEN-1"), subprotocols=[V16]) as first,
        websockets.connect(url(server, "OPEN-1"), subprotocols=[V16]) as second,
    ):
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(first.recv(), 20)
        assert (await call(second, "h", "Heartbeat", {}))[0] == 3


def test_stations_without_credentials_are_shown(server: CsmsProcess) -> None:
    server.cli("stations", "add", "CRED-PW", "--password", PASSWORD)
    server.cli("stations", "add", "CRED-NONE")
    api = httpx.get(
        f"{server.http_url}/api/v1/stations", headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=30
    ).json()
    items = api["items"] if isinstance(api, dict) else api
    credentials = {s["station_id"]: s["credentials"] for s in items}
    assert credentials["CRED-PW"] == "password" and credentials["CRED-NONE"] == "none"
    listed = {s["station_id"]: s["credentials"] for s in json.loads(server.cli("stations", "list", "--json").stdout)}
    assert listed["CRED-PW"] == "password" and listed["CRED-NONE"] == "none"
    server.cli("users", "add", "cred-viewer", "--password", PASSWORD, "--role", "read-only")
    with httpx.Client(base_url=server.http_url, timeout=30) as browser:
        assert login(browser, "cred-viewer", PASSWORD).status_code == 303
        page = browser.get("/stations", params={"q": "CRED-"})
    assert page.status_code == 200
    rows = {line.split('data-station-row="')[1].split('"')[0]: line for line in page.text.split("<tr") if
            'data-station-row="' in line}  # fmt: skip
    assert "data-no-credentials" in rows["CRED-NONE"] and "data-no-credentials" not in rows["CRED-PW"]


@pytest.mark.parametrize(
    ("identity", "reason"),
    [
        ("SP1%E2%80%8B", "U+200B at position 3"),  # zero-width space after SP1
        ("%E2%80%AESP1", "U+202E at position 0"),  # right-to-left override
        ("%D0%A1P1", "U+0421 at position 0"),  # Cyrillic capital Es, looks like C
        ("SP%01", "U+0001 at position 2"),
    ],
)
async def test_station_ids_that_are_not_printable_ascii_are_refused(
    server: CsmsProcess, identity: str, reason: str
) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{server.ws_url}/{identity}", subprotocols=[V16], open_timeout=20):
            pass
    assert refused.value.response.status_code == 400
    assert reason in refused.value.response.body.decode()
    assert "WARNING" in wait_for_log(server, reason)


async def test_the_log_says_what_happens_to_stations(server: CsmsProcess) -> None:
    async with websockets.connect(url(server, "LOG-1"), subprotocols=[V16]) as ws:
        answer = await call(ws, "bad", "BootNotification", {"chargePointVendor": 5})
        assert answer[0] == 4
    connected = wait_for_log(server, "LOG-1 connected (ocpp1.6) from 127.0.0.1")
    assert "INFO" in connected
    assert "INFO" in wait_for_log(server, "LOG-1 disconnected (from 127.0.0.1)")
    assert "WARNING" in wait_for_log(server, "LOG-1: BootNotification answered with CALLERROR")
    server.cli("stations", "add", "LOG-2", "--password", PASSWORD)
    assert await refused_with(server, "LOG-2", "wrong-password-wrong") == 401
    assert "WARNING" in wait_for_log(
        server, "LOG-2: refused with 401 (wrong Basic-auth password or user name) from 127.0.0.1"
    )


def test_no_tracebacks(server: CsmsProcess) -> None:
    assert server.process.poll() is None
    assert "Traceback" not in server.log()


# ------------------------------------------------------------------------------ login throttling
@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path) as s:
        yield s


def test_logins_are_throttled_per_user_and_per_address(fresh_server: CsmsProcess) -> None:
    server = fresh_server
    server.cli("users", "add", "thr-user", "--password", PASSWORD)
    server.cli("users", "add", "thr-other", "--password", PASSWORD)
    with httpx.Client(base_url=server.http_url, timeout=30) as browser:
        for _ in range(6):  # five free failures, then waits begin
            failed = login(browser, "thr-user", "wrong-password")
            assert failed.status_code == 303 and "error=" in failed.headers["location"]
        throttled = login(browser, "thr-user", PASSWORD)  # right password, but too soon
        assert throttled.status_code == 429
        assert int(throttled.headers["Retry-After"]) >= 1
        assert "Too many failed logins" in throttled.text
        assert login(browser, "thr-other", PASSWORD).status_code == 303  # another user is not held up
        end = time.monotonic() + 60
        while (answer := login(browser, "thr-user", PASSWORD)).status_code == 429:
            assert time.monotonic() < end, "the wait never ended"
            time.sleep(0.2)
        assert answer.status_code == 303 and answer.headers["location"] == "/stations"

        for attempt in range(15):  # many user names from one address: 21 failures in all
            assert login(browser, f"guess-{attempt}", "wrong-password").status_code == 303
        assert login(browser, "thr-other", PASSWORD).status_code == 429
    warning = wait_for_log(server, "dashboard login for 'thr-user' from 127.0.0.1 refused: throttled for")
    assert "WARNING" in warning
    assert "WARNING" in wait_for_log(server, "dashboard login for 'thr-user' from 127.0.0.1 failed (6 in a row)")
