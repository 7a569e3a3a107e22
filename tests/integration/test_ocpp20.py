"""OCPP 2.0 (2018) against a real ``ocppd serve``: the station is the ``ocpp`` package's last release
with a ``v20`` module (0.26.0), run in its own process because it cannot be installed beside the
current ``ocpp``; its wheel is fetched with pip once per machine (tests/integration/ocpp20_station.py)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.csms_process import CsmsProcess

OCPP_20_RELEASE = "0.26.0"
STATION = Path(__file__).with_name("ocpp20_station.py")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def ocpp_v20_package() -> Path:
    """A folder holding ``ocpp`` 0.26.0 (pure Python), for a station process's PYTHONPATH."""
    root = Path(tempfile.gettempdir()) / f"ocppd-test-ocpp-{OCPP_20_RELEASE}"
    # scripts/test fetches the wheel into the venv while installing; fetch here only when run otherwise.
    installed = sorted((Path(sys.prefix) / "test-peers").glob(f"ocpp-{OCPP_20_RELEASE}-*.whl"))
    if installed and not (root / "ocpp" / "v20" / "__init__.py").exists():
        with zipfile.ZipFile(installed[0]) as wheel:
            wheel.extractall(root)
    if not (root / "ocpp" / "v20" / "__init__.py").exists():
        wheels = root.with_name(root.name + "-wheel")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"ocpp=={OCPP_20_RELEASE}", "--no-deps", "-q", "-d", str(wheels)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        found = sorted(wheels.glob("ocpp-*.whl"))
        if done.returncode != 0 or not found:
            message = f"cannot fetch ocpp {OCPP_20_RELEASE} for the 2.0 station: {done.stderr.strip()[-300:]}"
            if _in_ci():
                pytest.fail(message)
            pytest.skip(message)
        with zipfile.ZipFile(found[0]) as wheel:
            wheel.extractall(root)
    return root


async def test_ocpp20_station_completes_a_session(csms: CsmsProcess, ocpp_v20_package: Path) -> None:
    csms.cli("tokens", "add", "04A0B020")
    env = {**os.environ, "PYTHONPATH": str(ocpp_v20_package)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(STATION), csms.ws_url, "CS-2018", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    seen: dict[str, Any] = {}

    async def until(kind: str) -> None:
        assert process.stdout is not None
        while kind not in seen:
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            if not line:
                assert process.stderr is not None
                raise AssertionError(f"station ended before {kind}: {(await process.stderr.read()).decode()[-2000:]}")
            event = json.loads(line)
            seen[event["kind"]] = event["value"]

    try:
        await until("ready")
        assert seen["subprotocol"] == "ocpp2.0"
        assert seen["BootNotification"]["status"] == "Accepted"
        assert seen["Authorize"]["status"] == "Accepted"
        assert seen["TransactionEvent.Started"]["status"] == "Accepted"
        async with httpx.AsyncClient(
            base_url=csms.http_url, headers={"Authorization": f"Bearer {csms.admin_token}"}, timeout=60
        ) as api:
            reset = await api.post("/api/v1/stations/CS-2018/commands/reset", json={"type": "immediate"})
            assert reset.status_code == 200, reset.text
            assert reset.json()["response"] == {"status": "Accepted"}
            # 2.0 cannot reset one EVSE: refused before anything is sent
            one = await api.post("/api/v1/stations/CS-2018/commands/reset", json={"type": "immediate", "evse_id": 1})
            assert one.status_code == 400 and "2.0" in one.text, one.text
            start = await api.post(
                "/api/v1/stations/CS-2018/call/RequestStartTransaction",
                json={"idToken": {"idToken": "04A0B020", "type": "ISO14443"}, "remoteStartId": 5, "evseId": 1},
            )
            assert start.status_code == 200 and start.json()["status"] == "Accepted", start.text
            station = (await api.get("/api/v1/stations/CS-2018")).json()
            assert station["ocpp_version"] == "2.0"
        await until("done")
        assert seen["Reset"] == {"type": "Immediate"}
        assert seen["RequestStartTransaction"]["remoteStartId"] == 5
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    [tx] = json.loads(csms.cli("transactions", "list", "--station", "CS-2018", "--json").stdout)
    assert tx["transaction_id"] == "TX-2018-1" and tx["stopped_at"] is not None
    assert tx["energy_wh"] == 3000, tx
