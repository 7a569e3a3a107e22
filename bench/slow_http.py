"""Slow HTTP clients against ``ocppd serve``: how many it withstands while stations still connect.

    python -m bench.slow_http [--nofile 1024] [--counts 1100,5000,10000] [--stations 20]

The server runs under ``prlimit --nofile=N:N`` (soft = hard, so it cannot raise its own limit: the
case of the original report, 1,100 unfinished ``GET /health`` under 1,024). For each count, that many
TCP connections send an unfinished request head to the HTTP port and stay open; then ``--stations``
stations connect and boot one after another and ``/health`` is asked, each timed. A count is
withstood when every station boots and /health answers, both within 10 s. Prints one JSON line per count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

from bench.health import wait_healthy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BOOT = json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])


async def open_slow(port: int, count: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    clients: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for start in range(0, count, 200):
        batch = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", port) for _ in range(min(200, count - start))),
            return_exceptions=True,
        )
        for item in batch:
            if isinstance(item, BaseException):
                continue
            item[1].write(b"GET /health HTTP/1.1\r\nHost: slow\r\n")
            clients.append(item)
    return clients


async def probe(ocpp: int, http: int, count: int, stations: int) -> dict[str, object]:
    clients = await open_slow(http, count)
    await asyncio.sleep(0.5)
    boots: list[float] = []
    failures: list[str] = []
    for i in range(stations):
        started = time.perf_counter()
        try:
            async with websockets.connect(
                f"ws://127.0.0.1:{ocpp}/ocpp/SLOW-{count}-{i}", subprotocols=["ocpp1.6"], open_timeout=10
            ) as ws:
                await ws.send(BOOT)
                await asyncio.wait_for(ws.recv(), 10)
            boots.append(time.perf_counter() - started)
        except Exception as exc:  # a measurement: record and go on
            failures.append(type(exc).__name__)
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            status = (await client.get(f"http://127.0.0.1:{http}/health")).status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__  # type: ignore[assignment]
    health_s = time.perf_counter() - started
    await asyncio.sleep(0.5)
    closed_by_server = sum(reader.at_eof() for reader, _ in clients)
    for _, writer in clients:
        writer.close()
    return {
        "slow_clients": count,
        "opened": len(clients),
        "closed_by_server": closed_by_server,
        "stations_booted": len(boots),
        "station_failures": failures[:5],
        "boot_p50_ms": round(sorted(boots)[len(boots) // 2] * 1000, 1) if boots else None,
        "boot_max_ms": round(max(boots) * 1000, 1) if boots else None,
        "health": status,
        "health_ms": round(health_s * 1000, 1),
        "withstood": len(boots) == stations and status == 200,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nofile", type=int, default=1024)
    parser.add_argument("--counts", default="1100,5000,10000")
    parser.add_argument("--stations", type=int, default=20)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the clients need their own sockets
    for count in (int(c) for c in args.counts.split(",")):
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
            cmd = ["prlimit", f"--nofile={args.nofile}:{args.nofile}", sys.executable, "-m", "ocppd.cli", "serve"]
            with open(Path(tmp) / "serve.log", "wb") as log:
                proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
            try:
                wait_healthy(proc, http, Path(tmp) / "serve.log")
                result = asyncio.run(probe(ocpp, http, count, args.stations))
                text = (Path(tmp) / "serve.log").read_text(errors="replace")
                result["nofile"] = args.nofile
                result["too_many_open_files_in_log"] = "Too many open files" in text
                result["http_limit_log_lines"] = sum("ocppd.http" in line for line in text.splitlines())
                result["server_rss_mb"] = round(_rss(proc.pid) / 1e6, 1)
                print(json.dumps(result), flush=True)
            finally:
                proc.terminate()
                proc.wait(20)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


if __name__ == "__main__":
    main()
