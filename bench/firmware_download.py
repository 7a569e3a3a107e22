"""One firmware image served by ocppd to many stations at once: time, and the server's memory.

    python -m bench.firmware_download [--stations 200] [--size-mb 50] [--verify 10]

Starts its own ``ocppd serve`` (SQLite, a temporary data directory), uploads one image of ``--size-mb``
random bytes through the API (streamed), connects ``--stations`` 1.6 stations over WebSocket (each
boots and answers UpdateFirmware), sends each one the update through the API, so each has its own
per-job URL, then all of them download at once over HTTP. Reported: the total time from the first
request to the last byte, per-download time percentiles, how many completed with the right size
(the first ``--verify`` also with the right SHA-256; hashing them all would measure the client), and
the server's RSS before the downloads, its peak during them (sampled every 20 ms from /proc) and after.
Files are streamed from disk: the peak should not grow with stations x size. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.health import wait_healthy

CHUNK = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class RssSampler(threading.Thread):
    """The server's peak RSS while the downloads run (a thread: the event loop is busy)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples = pid, 0, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss(self.pid))
            self.samples += 1


async def image_chunks(size: int, digest: Any) -> AsyncIterator[bytes]:
    sent = 0
    while sent < size:
        piece = os.urandom(min(CHUNK, size - sent))
        digest.update(piece)
        sent += len(piece)
        yield piece


async def station(ocpp_port: int, identity: str, locations: asyncio.Queue[tuple[str, str]],
                  ready: asyncio.Event) -> None:  # fmt: skip
    """A minimal 1.6 station: boots, answers UpdateFirmware (reports the location), stays connected."""
    async with websockets.connect(f"ws://127.0.0.1:{ocpp_port}/ocpp/{identity}", subprotocols=["ocpp1.6"],
                                  open_timeout=30, max_size=None) as ws:  # fmt: skip
        boot = {"chargePointVendor": "Bench", "chargePointModel": "Download"}
        await ws.send(json.dumps([2, "boot", "BootNotification", boot]))
        await ws.recv()
        ready.set()
        async for raw in ws:
            frame = json.loads(raw)
            if frame[0] == 2:
                await ws.send(json.dumps([3, frame[1], {}]))
                if frame[2] == "UpdateFirmware":
                    await locations.put((identity, frame[3]["location"]))


async def fetch(client: httpx.AsyncClient, url: str, verify: str | None) -> tuple[float, int, bool | None]:
    started = time.perf_counter()
    digest = hashlib.sha256() if verify else None
    size = 0
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw(CHUNK):
            size += len(chunk)
            if digest is not None:
                digest.update(chunk)
    ok = digest.hexdigest() == verify if digest is not None else None
    return time.perf_counter() - started, size, ok


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(pid: int, ocpp_port: int, http_port: int, token: str, stations: int, size: int,
              verify: int) -> dict[str, Any]:  # fmt: skip
    base = f"http://127.0.0.1:{http_port}"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as api:
        digest = hashlib.sha256()
        upload_started = time.perf_counter()
        uploaded = await api.put("/api/v1/firmware/bench.bin", content=image_chunks(size, digest))
        upload_s = time.perf_counter() - upload_started
        uploaded.raise_for_status()
        image = uploaded.json()
        assert image["sha256"] == digest.hexdigest(), "the stored image is not the one sent"
        locations: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        ids = [f"DL-{n:04d}" for n in range(stations)]
        readies = [asyncio.Event() for _ in ids]
        tasks = [asyncio.create_task(station(ocpp_port, i, locations, r)) for i, r in zip(ids, readies, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        for start in range(0, stations, 20):  # the update to each station: a job and a URL of its own
            answers = await asyncio.gather(
                *(
                    api.post(f"/api/v1/stations/{i}/firmware-update", json={"image_id": image["id"]})
                    for i in ids[start : start + 20]
                )
            )
            for answer in answers:
                answer.raise_for_status()
        urls = [(await locations.get())[1] for _ in ids]
        assert len(set(urls)) == stations, "each station has its own URL"
        before = rss(pid)
        sampler = RssSampler(pid)
        sampler.start()
        limits = httpx.Limits(max_connections=stations, max_keepalive_connections=stations)
        async with httpx.AsyncClient(timeout=600, limits=limits) as client:
            started = time.perf_counter()
            results = await asyncio.gather(
                *(fetch(client, url, image["sha256"] if n < verify else None) for n, url in enumerate(urls)),
                return_exceptions=True,
            )
            total_s = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
        await asyncio.sleep(1.0)
        after = rss(pid)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    done = [r for r in results if not isinstance(r, BaseException)]
    errors = [type(r).__name__ for r in results if isinstance(r, BaseException)]
    times = [t for t, _size, _ok in done]
    complete = sum(1 for _t, got, _ok in done if got == size)
    return {
        "stations": stations,
        "image_mb": round(size / 1e6, 1),
        "upload_s": round(upload_s, 2),
        "total_s": round(total_s, 2),
        "aggregate_mb_per_s": round(complete * size / 1e6 / total_s, 1),
        "download_s_p50": round(percentile(times, 50), 2) if times else None,
        "download_s_p90": round(percentile(times, 90), 2) if times else None,
        "download_s_p99": round(percentile(times, 99), 2) if times else None,
        "download_s_max": round(max(times), 2) if times else None,
        "complete": complete,
        "sha256_checked": sum(1 for _t, _s, ok in done if ok is not None),
        "sha256_ok": sum(1 for _t, _s, ok in done if ok),
        "errors": errors[:5],
        "server_rss_mb_before": round(before / 1e6, 1),
        "server_rss_mb_peak_during": round(sampler.peak / 1e6, 1),
        "server_rss_mb_after": round(after / 1e6, 1),
        "rss_samples": sampler.samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--size-mb", type=float, default=50.0)
    parser.add_argument("--verify", type=int, default=10, help="downloads whose SHA-256 the client checks")
    args = parser.parse_args()
    size = int(args.size_mb * 1024 * 1024)
    with tempfile.TemporaryDirectory() as tmp:
        ocpp, http = free_port(), free_port()
        data = Path(tmp) / "data"
        env = {**os.environ, "OCPPD_DATA_DIR": str(data), "OCPPD_OCPP__PORT": str(ocpp),
               "OCPPD_HTTP__PORT": str(http), "OCPPD_OCPP__HOST": "127.0.0.1", "OCPPD_HTTP__HOST": "127.0.0.1",
               "OCPPD_HTTP__BODY_TIMEOUT": "300"}  # fmt: skip
        log_path = Path(tmp) / "serve.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "ocppd.cli", "serve"], env=env, stdout=log, stderr=log)
        try:
            wait_healthy(proc, http, log_path)
            token = (data / "admin.token").read_text().strip()
            result = asyncio.run(run(proc.pid, ocpp, http, token, args.stations, size, args.verify))
            result["cpus"] = os.cpu_count()
            print(json.dumps(result), flush=True)
        finally:
            proc.terminate()
            proc.wait(20)


if __name__ == "__main__":
    main()
