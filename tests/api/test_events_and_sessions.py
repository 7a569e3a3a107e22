"""Live events (SSE), outgoing webhooks, dashboard login sessions with CSRF, and private metrics."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import bearer, eventually, new_station_id, ok
from tests.api.stations import connected
from tests.csms_process import CsmsProcess, free_port, run_csms


@contextlib.asynccontextmanager
async def sse(client: httpx.AsyncClient, **params: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """Events of ``GET /api/v1/events`` as they arrive, parsed."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    opened = asyncio.Event()

    async def read() -> None:
        async with client.stream("GET", "/api/v1/events", params=params, timeout=None) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = None
            async for line in response.aiter_lines():
                opened.set()  # the server subscribes before its first line: from here on nothing is missed
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    event = json.loads(line[6:])
                    assert event["type"] == kind
                    await queue.put(event)

    task = asyncio.create_task(read())
    await asyncio.wait({task, asyncio.create_task(opened.wait())}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield queue
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def next_event(queue: asyncio.Queue[dict[str, Any]], kind: str, station: str) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(queue.get(), 30)
        if event["type"] == kind and event["station_id"] == station:
            return event


async def test_event_stream(server: CsmsProcess, ro_api: httpx.AsyncClient) -> None:
    sid = new_station_id("SSE")
    async with sse(ro_api) as everything, sse(ro_api, station=sid, types="transaction.,meter.") as filtered:
        async with connected(server.ws_url, sid, "1.6", meter_interval=0.2) as st:
            event = await next_event(everything, "station.connected", sid)
            assert event["ocpp_version"] == "1.6"
            assert (await next_event(everything, "station.booted", sid))["registration"]
            assert (await next_event(everything, "status.changed", sid))["status"] == "Available"
            # A session: the CSMS sees transaction and meter events; the filtered stream sees only those.
            st._charging = asyncio.create_task(st._session("SSE-TAG", 1))  # as a local start would
            started = await next_event(everything, "transaction.started", sid)
            assert started["id_token"] == "SSE-TAG"
            meter = await next_event(filtered, "meter.values", sid)
            assert meter["power_w"] == 7400.0 and meter["energy_wh"] > 0
            await st.stop_session()
            await next_event(everything, "transaction.ended", sid)
        await next_event(everything, "station.disconnected", sid)
    # The filtered stream never carried other types or stations.
    while not filtered.empty():
        event = filtered.get_nowait()
        assert event["station_id"] == sid and event["type"].startswith(("transaction.", "meter."))


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1: answers 500 to the first delivery, 200 afterwards."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                self.deliveries.append((headers, body))
                status = b"500 Internal Server Error" if len(self.deliveries) == 1 else b"200 OK"
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def test_webhooks_signed_and_retried(tmp_path: Path) -> None:
    receiver = WebhookReceiver()
    await receiver.start()
    secret = "hook-secret"
    env = {"OCPPD_HTTP__WEBHOOK_URLS": f"http://127.0.0.1:{receiver.port}/hook", "OCPPD_HTTP__WEBHOOK_SECRET": secret}
    with run_csms(tmp_path, extra_env=env) as server:
        sid = new_station_id("HOOK")
        async with connected(server.ws_url, sid, "2.0.1"):

            async def got_status() -> bool:
                return any(json.loads(b)["type"] == "status.changed" for _, b in receiver.deliveries)

            await eventually(got_status, "status.changed webhook")
    assert receiver.server is not None
    receiver.server.close()
    first_headers, first_body = receiver.deliveries[0]
    # The first delivery was refused with 500 and delivered again, identical, as attempt 2.
    retried = [(h, b) for h, b in receiver.deliveries if h["x-ocppd-delivery"] == first_headers["x-ocppd-delivery"]]
    assert [h["x-ocppd-attempt"] for h, _ in retried] == ["1", "2"]
    assert retried[1][1] == first_body
    for headers, body in receiver.deliveries:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-ocppd-signature"], expected)
        event = json.loads(body)
        assert headers["x-ocppd-event"] == event["type"] and event["id"] == headers["x-ocppd-delivery"]
    assert {"station.connected", "station.booted", "status.changed"} <= {
        json.loads(b)["type"] for _, b in receiver.deliveries
    }


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def _login(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    page = await client.get("/login")
    assert page.status_code == 200
    return await client.post("/login", data={"csrf_token": _csrf(page.text), "next": "/stations", **form})


async def test_dashboard_session_and_csrf(server: CsmsProcess) -> None:
    server.cli("users", "add", "operator", "--password", "correct horse", "--role", "admin")
    server.cli("users", "add", "viewer", "--password", "correct horse", "--role", "read-only")
    async with httpx.AsyncClient(base_url=server.http_url) as browser:
        assert (await browser.get("/")).headers["location"].startswith("/login")
        wrong = await _login(browser, username="operator", password="wrong password")
        assert wrong.status_code == 303 and "error" in wrong.headers["location"]
        forged = await browser.post("/login", data={"username": "operator", "password": "correct horse"})
        assert forged.status_code == 303 and "error" in forged.headers["location"]  # no CSRF token
        good = await _login(browser, username="operator", password="correct horse")
        assert good.status_code == 303 and good.headers["location"] == "/stations"
        page = await browser.get("/stations")
        assert page.status_code == 200 and "<h1>Stations</h1>" in page.text
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        assert ok(await browser.get("/api/v1/me")) == {"name": "operator", "role": "admin", "via": "session"}
        # The session cookie alone cannot change anything: that is what a cross-site form would have.
        no_csrf = await browser.post("/api/v1/tokens", json={"id_token": "SESSION-1"})
        assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "csrf"
        bad_csrf = await browser.post(
            "/api/v1/tokens", json={"id_token": "SESSION-1"}, headers={"X-CSRF-Token": "forged"}
        )
        assert bad_csrf.status_code == 403
        ok(await browser.post("/api/v1/tokens", json={"id_token": "SESSION-1"}, headers={"X-CSRF-Token": token}), 201)
        fragment = await browser.get("/stations", params={"fragment": "rows", "ids": "CS-1"})
        assert fragment.status_code == 200 and "<html" not in fragment.text
        assert (await browser.post("/logout", data={"csrf_token": "forged"})).status_code == 403
        out = await browser.post("/logout", data={"csrf_token": token})
        assert out.status_code == 303
        browser.cookies.clear()
        assert (await browser.get("/api/v1/me")).status_code == 401
    async with httpx.AsyncClient(base_url=server.http_url) as viewer:
        await _login(viewer, username="viewer", password="correct horse")
        page = await viewer.get("/stations")
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        denied = await viewer.post("/api/v1/tokens", json={"id_token": "V"}, headers={"X-CSRF-Token": token})
        assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    async with httpx.AsyncClient(base_url=server.http_url) as by_token:
        resp = await _login(by_token, token=server.admin_token)
        assert resp.status_code == 303 and resp.headers["location"] == "/stations"
        assert ok(await by_token.get("/api/v1/me"))["role"] == "admin"


@pytest.fixture
def private_server(tmp_path: Path) -> Any:
    """``ocppd serve`` with public_metrics off (run_csms waits on a public /health, so start it here)."""
    http_port = free_port()
    env = {
        **os.environ,
        "OCPPD_DATA_DIR": str(tmp_path / "data"),
        "OCPPD_OCPP__HOST": "127.0.0.1",
        "OCPPD_OCPP__PORT": str(free_port()),
        "OCPPD_HTTP__HOST": "127.0.0.1",
        "OCPPD_HTTP__PORT": str(http_port),
        "OCPPD_HTTP__PUBLIC_METRICS": "false",
    }
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "-m", "ocppd.cli", "serve"], env=env, stdout=log, stderr=log)
    try:
        yield f"http://127.0.0.1:{http_port}", tmp_path / "data"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()


async def test_private_metrics(private_server: tuple[str, Path]) -> None:
    url, data_dir = private_server
    async with httpx.AsyncClient(base_url=url) as client:

        async def up() -> httpx.Response | None:
            try:
                return await client.get("/health")
            except httpx.TransportError:
                return None

        assert (await eventually(up, "the server to listen")).status_code == 401
        assert (await client.get("/metrics")).status_code == 401
        token = (data_dir / "admin.token").read_text().strip()
        assert (await client.get("/metrics", headers=bearer(token))).status_code == 200
        assert ok(await client.get("/health", headers=bearer(token)))["status"] == "ok"
