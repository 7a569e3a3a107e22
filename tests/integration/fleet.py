"""Helpers of the firmware campaign tests: an ``ocppd simulate`` fleet as a real process, an image
uploaded to ocppd, waiting for stations to connect and for a campaign to end."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from ocppd.station.files import firmware_image
from tests.csms_process import terminate
from tests.waiting import eventually


@contextmanager
def fleet(tmp_path: Path, template: str, url: str) -> Iterator[subprocess.Popen[bytes]]:
    """``ocppd simulate`` of the stations in ``template`` (YAML) against ``url``, its files in ``tmp_path``;
    stopped with SIGINT (SIGKILL if it hangs) on exit."""
    path = tmp_path / "fleet.yaml"
    path.write_text(template)
    log = open(tmp_path / "fleet.log", "wb")  # noqa: SIM115 (closed below, after the process)
    command = [sys.executable, "-m", "ocppd.cli", "simulate", "--template", str(path), "--url", url,
               "--scenario", "idle", "--no-live", "--duration", "300", "--ramp-up", "0",
               "--flush-timeout", "1"]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        yield process
    finally:
        terminate(process, signal.SIGINT, 20)  # the simulator's Ctrl-C: it flushes and prints its summary
        log.close()


async def connected(api: httpx.AsyncClient, count: int) -> bool:
    rows = (await api.get("/api/v1/stations", params={"connected": "true", "limit": 500})).json()
    return len(rows) >= count


async def upload_image(api: httpx.AsyncClient, version: str) -> dict[str, Any]:
    image = await api.put(f"/api/v1/firmware/fw-{version}.bin", params={"version": version},
                          content=firmware_image(version, 32 * 1024))  # fmt: skip
    assert image.status_code == 201, image.text
    return dict(image.json())


async def campaign_ended(api: httpx.AsyncClient, campaign_id: int, deadline: float = 120) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = (await api.get(f"/api/v1/firmware-campaigns/{campaign_id}")).json()
        return found if found["state"] != "running" else None

    return dict(await eventually(probe, f"campaign {campaign_id} to end", deadline=deadline))
