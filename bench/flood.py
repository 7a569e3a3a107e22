"""One station floods ``ocppd serve`` with calls and never reads: what it costs the server and the others.

    python -m bench.flood [--seconds 20] [--stations 50] [--action MeterValues|Heartbeat]

50 well-behaved stations send one call at a time (a Heartbeat every 100 ms each) throughout; their
latency is measured before the flood (5 s), during it, and after it. The flooder writes calls as fast as
TCP lets it and never reads a byte. Server RSS is sampled every 0.25 s. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import websockets

from bench.health import wait_healthy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def text_frame(payload: bytes) -> bytes:
    size = len(payload)
    head = bytes([0x81, 0x80 | size]) if size < 126 else bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    return head + b"\0\0\0\0" + payload


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)


async def well_behaved(port: int, identity: str, samples: dict[str, list[float]], phase: list[str]) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/{identity}", subprotocols=["ocpp1.6"]) as ws:
        await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
        await ws.recv()
        i = 0
        while phase[0] != "done":
            i += 1
            started = time.perf_counter()
            await ws.send(json.dumps([2, f"h{i}", "Heartbeat", {}]))
            await ws.recv()
            samples[phase[0]].append(time.perf_counter() - started)
            await asyncio.sleep(0.1)


async def flooder(port: int, action: str, stop: asyncio.Event) -> dict[str, object]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ocpp/FLOODER HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")

    def frame(i: int) -> bytes:
        if action == "MeterValues":
            return text_frame(
                b'[2,"f%d","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z",'
                b'"sampledValue":[{"value":"%d"}]}]}]' % (i, i)
            )
        return text_frame(b'[2,"f%d","Heartbeat",{}]' % i)

    sent = 0
    started = time.monotonic()
    cut_off_after: float | None = None
    pending: asyncio.Task[None] | None = None
    try:
        while not stop.is_set():
            if pending is None:  # write the next 500 calls once TCP took the last ones
                writer.write(b"".join(frame(sent + i) for i in range(500)))
                sent += 500
                pending = asyncio.ensure_future(writer.drain())
            done, _ = await asyncio.wait({pending}, timeout=0.2)
            if done:
                pending.result()
                pending = None
            elif reader.at_eof():
                raise ConnectionResetError
    except ConnectionError:
        cut_off_after = time.monotonic() - started
    if pending is not None:
        pending.cancel()
    writer.close()
    return {"flood_calls_written": sent, "flooder_disconnected_after_s": cut_off_after and round(cut_off_after, 1)}


async def run(ocpp: int, pid: int, seconds: float, stations: int, action: str) -> dict[str, object]:
    samples: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    phase = ["before"]
    others = [asyncio.create_task(well_behaved(ocpp, f"GOOD-{i}", samples, phase)) for i in range(stations)]
    rss_samples: list[int] = []

    async def sample_rss() -> None:
        while phase[0] != "done":
            rss_samples.append(rss(pid))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample_rss())
    await asyncio.sleep(5)
    rss_before = max(rss_samples[-8:])
    phase[0] = "during"
    stop = asyncio.Event()
    flood = asyncio.create_task(flooder(ocpp, action, stop))
    await asyncio.sleep(seconds)
    stop.set()
    flood_result = await flood
    phase[0] = "after"
    await asyncio.sleep(5)
    phase[0] = "done"
    await asyncio.gather(*others, sampler, return_exceptions=True)
    return {
        "action": action,
        "stations": stations,
        "flood_s": seconds,
        **flood_result,
        "rss_before_mb": round(rss_before / 1e6, 1),
        "rss_max_mb": round(max(rss_samples) / 1e6, 1),
        "rss_growth_mb": round((max(rss_samples) - rss_before) / 1e6, 1),
        **{f"{p}_p50_ms": percentile(v, 0.5) for p, v in samples.items()},
        **{f"{p}_p99_ms": percentile(v, 0.99) for p, v in samples.items()},
        **{f"{p}_max_ms": percentile(v, 1.0) for p, v in samples.items()},
        **{f"{p}_answers": len(v) for p, v in samples.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--action", default="MeterValues", choices=["MeterValues", "Heartbeat"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ocpp, http = free_port(), free_port()
        env = {
            **os.environ,
            "OCPPD_DATA_DIR": str(Path(tmp) / "data"),
            "OCPPD_OCPP__PORT": str(ocpp),
            "OCPPD_HTTP__PORT": str(http),
            "OCPPD_OCPP__HOST": "127.0.0.1",
            "OCPPD_HTTP__HOST": "127.0.0.1",
        }
        with open(Path(tmp) / "serve.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "ocppd.cli", "serve"], env=env, stdout=log, stderr=log)
        try:
            wait_healthy(proc, http, Path(tmp) / "serve.log")
            result = asyncio.run(run(ocpp, proc.pid, args.seconds, args.stations, args.action))
            text = (Path(tmp) / "serve.log").read_text(errors="replace")
            result["server_log_flood_lines"] = [line[24:] for line in text.splitlines() if "FLOODER" in line][:3]
            print(json.dumps(result), flush=True)
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:  # still busy with the flood it took in
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
