"""The first-time user's scenario (issue 8 item 1, issue 9): ``ocppd simulate`` runs 50 stations with
sessions, is killed with SIGKILL mid-session and started again with a fresh station store. Once the
stations are back, no transaction of the killed run stays open longer than the grace period, no card
is refused with ConcurrentTx, and each closed transaction's energy is its last reading."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ocppd.station.model import default_id_tags
from tests.conformance.conftest import GRACE_S
from tests.conformance.stations import eventually
from tests.csms_process import CsmsProcess

pytestmark = pytest.mark.slow  # a 50-station fleet, killed and restarted (minutes)

STATIONS = 50
TAGS = default_id_tags()  # the simulator's cards


def simulate(server: CsmsProcess, store: Path, log: Path, duration: float = 0) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "ocppd.cli", "simulate", "--url", server.ws_url, "-n", str(STATIONS),
            "--id-pattern", "FTU-{n:03d}", "--ocpp", "mixed", "--no-live", "--ramp-up", "0",
            "--arrival-mean", "1", "--session-min", "30", "--session-max", "60", "--badge-delay", "0.2",
            "--meter-interval", "2", "--store", str(store), "--duration", str(duration), "--seed", "11"]  # fmt: skip
    with open(log, "wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


async def open_transactions(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/transactions", params={"active": "true", "limit": 1000})
    assert response.status_code == 200, response.text
    return [t for t in response.json() if t["station_id"].startswith("FTU-")]


async def booted_again(api: httpx.AsyncClient, since: str) -> bool:
    response = await api.get("/api/v1/stations", params={"limit": 1000})
    assert response.status_code == 200, response.text
    ours = [s for s in response.json() if s["station_id"].startswith("FTU-")]
    return len(ours) == STATIONS and all(s["connected"] and (s.get("last_boot_at") or "") > since for s in ours)


async def test_simulator_killed_and_restarted_with_a_fresh_store(
    csms: CsmsProcess, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    csms.cli("tokens", "add", *TAGS)
    first = simulate(csms, tmp_path / "first.db", tmp_path / "first.log")
    try:
        running = await eventually(
            lambda: _at_least(api, 20), "20 sessions running in the first simulator run", deadline=90
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    killed = {t["id"]: t for t in running}
    await asyncio.sleep(1)  # the last frames of the killed process are in
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    second = simulate(csms, tmp_path / "second.db", tmp_path / "second.log", duration=GRACE_S + 40)
    try:
        await eventually(lambda: booted_again(api, since), "all 50 stations booted again", deadline=120)
        back = time.monotonic()

        async def old_ones_closed() -> bool:
            still = {t["id"] for t in await open_transactions(api)} & killed.keys()
            return not still

        await eventually(old_ones_closed, "every transaction of the killed run closed", deadline=GRACE_S + 60)
        waited = time.monotonic() - back
        # the grace period, plus the supervisor's 1 s sweep and the polling above
        assert waited <= GRACE_S + 10, f"old transactions stayed open {waited:.1f} s after the stations were back"
        print(f"old transactions closed {waited:.1f} s after all {STATIONS} stations were back (grace {GRACE_S} s)")
        for pk in killed:
            detail = (await api.get(f"/api/v1/transactions/{pk}")).json()
            assert not detail["active"] and detail["closed_by"] == "csms", detail["stop_reason"]
            registers = [m["value"] for m in detail["meter_samples"]
                         if m["measurand"] == "Energy.Active.Import.Register" and m["phase"] is None]  # fmt: skip
            last = registers[-1] if registers else detail["meter_start_wh"]
            assert detail["meter_stop_wh"] == last
            start = detail["meter_start_wh"] if detail["meter_start_wh"] is not None else registers[0]
            assert abs(detail["energy_wh"] - (last - start)) < 1e-6
    finally:
        second.wait(GRACE_S + 120)
    assert second.returncode == 0, (tmp_path / "second.log").read_text()[-3000:]
    answers = 0
    for action in ("StartTransaction", "TransactionEvent", "Authorize"):
        frames = (await api.get("/api/v1/messages", params={"action": action, "limit": 10_000})).json()
        ours = [f["frame"] for f in frames if f["station_id"].startswith("FTU-")]
        answers += sum('"Accepted"' in f for f in ours)
        assert not [f for f in ours if "ConcurrentTx" in f], f"a card was refused with ConcurrentTx ({action})"
    assert answers > STATIONS  # the scan above did see the CSMS's answers


async def _at_least(api: httpx.AsyncClient, n: int) -> list[dict[str, Any]] | None:
    running = await open_transactions(api)
    return running if len(running) >= n else None
