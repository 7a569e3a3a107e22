"""Slow or idle clients on the HTTP port never lock out the stations (a real ``ocppd serve``).

Once, 1,100 unfinished ``GET /health`` requests under a 1,024 open-file limit made station handshakes
and /health time out (``Too many open files``). The server now raises its own soft open-file limit,
caps HTTP connections (evicting the one that waited longest for a request head), and bounds how long a
request head may take.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import resource
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import websockets

from tests.csms_process import CsmsProcess, run_csms

SLOW_CLIENTS = 700
SOFT_NOFILE = 512  # what the server inherits; below the number of slow clients
MAX_CONNECTIONS = 100
HEADER_TIMEOUT = 3


@contextmanager
def inherited_soft_nofile(limit: int) -> Iterator[None]:
    """Processes started inside get soft RLIMIT_NOFILE ``limit`` (this process gets its own back)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, soft), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextmanager
def server_with_low_soft_limit(tmp_path: Path) -> Iterator[CsmsProcess]:
    env = {"OCPPD_HTTP__MAX_CONNECTIONS": str(MAX_CONNECTIONS), "OCPPD_HTTP__HEADER_TIMEOUT": str(HEADER_TIMEOUT)}
    with ExitStack() as stack:
        with inherited_soft_nofile(SOFT_NOFILE):
            server = stack.enter_context(run_csms(tmp_path, extra_env=env))
        yield server


async def slow_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: slow\r\n")  # the head is never finished
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):  # evicted at once: that is allowed
        await writer.drain()
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Read until the server closes; what it said (a 408, a 503, or nothing: an evicted connection may
    also be reset, which the kernel reports as a reset rather than an end of stream)."""
    try:
        return await reader.read()
    except ConnectionResetError:
        return b""


async def test_slow_http_clients_never_lock_out_stations(tmp_path: Path) -> None:
    with server_with_low_soft_limit(tmp_path) as server:
        clients = [await slow_client(server.http_port) for _ in range(SLOW_CLIENTS)]
        try:
            # A station still connects and boots, and /health answers at once.
            async with websockets.connect(
                f"{server.ws_url}/STILL-WELCOME", subprotocols=["ocpp1.6"], open_timeout=10
            ) as ws:
                await ws.send(
                    json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])
                )
                answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert answer[0] == 3 and answer[2]["status"] == "Accepted"
            async with httpx.AsyncClient(timeout=10) as http:
                assert (await http.get(f"{server.http_url}/health")).status_code == 200
            # Every slow client is closed: beyond the cap at once, the rest after the head timeout.
            said = await asyncio.wait_for(
                asyncio.gather(*(closed_by_server(reader) for reader, _ in clients)), HEADER_TIMEOUT + 30
            )
            assert all(s == b"" or s.startswith((b"HTTP/1.1 408", b"HTTP/1.1 503")) for s in said)
            assert any(s.startswith(b"HTTP/1.1 408") for s in said)  # the ones left waiting timed out
        finally:
            for _, writer in clients:
                writer.close()
        metrics = httpx.get(f"{server.http_url}/metrics", timeout=10).text
        assert 'ocppd_http_limited_total{limit="evict"}' in metrics, metrics[-2000:]
        log = server.log()
        assert "Too many open files" not in log
        # Rate-limited: a few lines for 700 events.
        assert 0 < sum("HTTP:" in line for line in log.splitlines()) <= 10, log[-3000:]


async def test_idle_keep_alive_connections_are_closed(tmp_path: Path) -> None:
    env = {"OCPPD_HTTP__KEEP_ALIVE_TIMEOUT": "1"}
    with run_csms(tmp_path, extra_env=env) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: idle\r\n\r\n")
        await writer.drain()
        first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert first.startswith(b"HTTP/1.1 200")
        # Nothing more is sent: the server ends the connection (reads to EOF, past the body).
        await asyncio.wait_for(reader.read(), 15)
        writer.close()


async def raw_station(port: int, identity: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client by hand, so that it can send without ever reading."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ocpp/{identity} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n".encode()
    )
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).startswith(b"HTTP/1.1 101")
    return reader, writer


def text_frame(payload: bytes) -> bytes:
    """A masked client text frame (mask 0: the payload goes as is)."""
    size = len(payload)
    head = bytes([0x81, 0x80 | size]) if size < 126 else bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    return head + b"\0\0\0\0" + payload


async def test_a_station_that_floods_and_never_reads_is_cut_off_alone(tmp_path: Path) -> None:
    """It may have only a few calls in flight; once our answers pile up unread, nothing more is read from
    it, and after ocpp.write_stall_timeout it is disconnected with a WARNING. Another station is
    answered all along."""
    env = {"OCPPD_OCPP__WRITE_STALL_TIMEOUT": "2"}
    with run_csms(tmp_path, extra_env=env) as server:
        reader, writer = await raw_station(server.ocpp_port, "FLOODER")
        frames = b"".join(text_frame(b'[2,"f%d","Heartbeat",{}]' % i) for i in range(2000))

        async def flood() -> None:
            with contextlib.suppress(ConnectionError):
                while True:  # blocks once the server stops reading; ends when it disconnects us
                    writer.write(frames)
                    await writer.drain()

        flooding = asyncio.create_task(flood())
        try:
            async with websockets.connect(f"{server.ws_url}/NEIGHBOUR", subprotocols=["ocpp1.6"]) as ws:
                for i in range(20):
                    await ws.send(json.dumps([2, f"h{i}", "Heartbeat", {}]))
                    assert json.loads(await asyncio.wait_for(ws.recv(), 10))[:2] == [3, f"h{i}"]
                # Cut off: the connection ends while the flood goes on (what it reads ends in EOF).
                await asyncio.wait_for(flooding, 60)
                with contextlib.suppress(ConnectionError):  # EOF, or a reset: our unread answers are dropped
                    await asyncio.wait_for(reader.read(), 10)
                await ws.send(json.dumps([2, "after", "Heartbeat", {}]))
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))[:2] == [3, "after"]
        finally:
            flooding.cancel()
            writer.close()
    assert "FLOODER: does not read what we send" in server.log()
    assert "Traceback" not in server.log()
