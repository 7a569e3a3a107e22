"""Firmware hosted by ocppd, against a real ``ocppd serve``: an image uploaded through the API (size
limit, safe name, a refused upload keeps nothing), an update that gives the simulator a per-job URL it
downloads real bytes from, the job's status from FirmwareStatusNotification, 403 for a wrong token or
another image's name."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from ocppd.station.files import firmware_image
from tests.csms_process import CsmsProcess, run_csms
from tests.waiting import eventually

_ids = itertools.count(1)
MAX_FIRMWARE_BYTES = 512 * 1024
IMAGE = bytes(range(256)) * 1024  # 256 KiB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    env = {"OCPPD_FILES__MAX_FIRMWARE_BYTES": str(MAX_FIRMWARE_BYTES)}
    with run_csms(tmp_path_factory.mktemp("firmware"), extra_env=env) as s:
        yield s


@pytest.fixture
async def api(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as client:
        yield client


async def _location_sent(api: httpx.AsyncClient, station_id: str) -> str:
    rows = (await api.get(f"/api/v1/stations/{station_id}/messages", params={"action": "UpdateFirmware"})).json()
    for row in rows:
        frame = json.loads(row["frame"])
        if row["direction"] == "out" and frame[0] == 2:
            payload = frame[3]
            return str(payload["firmware"]["location"] if "firmware" in payload else payload["location"])
    raise AssertionError(f"no UpdateFirmware sent to {station_id}")


async def _job(api: httpx.AsyncClient, job_id: int) -> dict[str, Any]:
    return next(j for j in (await api.get("/api/v1/firmware-jobs")).json() if j["id"] == job_id)


async def test_image_upload_size_limit_and_safe_name(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    too_big = await api.put("/api/v1/firmware/big.bin", content=b"x" * (MAX_FIRMWARE_BYTES + 1))
    assert too_big.status_code == 413 and "body" in too_big.json()["detail"]
    stored = await api.put("/api/v1/firmware/..%5Cevil%20name.bin", content=b"abc")
    assert stored.status_code == 201 and stored.json()["name"] == "evil_name.bin"
    names = [i["name"] for i in (await api.get("/api/v1/firmware")).json()]
    assert "big.bin" not in names and "evil_name.bin" in names
    leftovers = [p.name for p in (server.data_dir / "firmware").rglob("*") if p.is_file()]
    assert sorted(leftovers) == ["evil_name.bin"]


@pytest.mark.parametrize("version", [OcppVersion.V16, OcppVersion.V201], ids=["1.6", "2.0.1"])
async def test_tc_l_01_station_downloads_hosted_image_with_its_job_token(
    server: CsmsProcess, api: httpx.AsyncClient, version: OcppVersion
) -> None:
    image = (await api.put("/api/v1/firmware/fw-2.0.bin", content=IMAGE)).json()
    assert image["size"] == len(IMAGE) and image["sha256"] == hashlib.sha256(IMAGE).hexdigest()
    config = StationConfig(identity=f"FW-{version.value.removeprefix('ocpp')}-{next(_ids)}", url=server.ws_url,
                           version=version, call_timeout=10, step_delay=0.1, reboot_delay=0.2)  # fmt: skip
    async with Station(config) as station:
        await station.wait_booted(timeout=20)
        answer = await api.post(f"/api/v1/stations/{station.identity}/firmware-update", json={"image_id": image["id"]})
        assert answer.status_code == 200, answer.text
        job = answer.json()

        async def downloaded() -> bool:
            current = await _job(api, job["id"])
            return current["downloads"] >= 1 and current["status"] in ("Downloaded", "Installing", "Installed")

        await eventually(downloaded, "the simulator to download the image and report it")
        location = await _location_sent(api, station.identity)
    async with httpx.AsyncClient(timeout=30) as raw:
        fetched = await raw.get(location)
        assert fetched.status_code == 200 and fetched.content == IMAGE
        token_part, name = location.rsplit("/", 2)[-2:]
        assert (await raw.get(location.replace(token_part, "wrong-token"))).status_code == 403
        assert (await raw.get(location.replace(name, "other.bin"))).status_code == 403


async def test_missing_image_and_offline_station(api: httpx.AsyncClient) -> None:
    missing = await api.post("/api/v1/stations/NOBODY/firmware-update", json={"image_id": 999999})
    assert missing.status_code in (404, 409)
    image = (await api.put("/api/v1/firmware/x.bin", content=b"1")).json()
    offline = await api.post("/api/v1/stations/NOBODY/firmware-update", json={"image_id": image["id"]})
    assert offline.status_code == 409


def _config(server: CsmsProcess, prefix: str, fault: str | None = None) -> StationConfig:
    return StationConfig(identity=f"{prefix}-{next(_ids)}", url=server.ws_url, version=OcppVersion.V201,
                         call_timeout=10, step_delay=0.05, reboot_delay=0.2, reconnect_min=0.1, reconnect_max=0.5,
                         firmware="1.0.0", firmware_fault=fault)  # fmt: skip


async def _versioned_image(api: httpx.AsyncClient, version: str) -> dict[str, Any]:
    answer = await api.put(f"/api/v1/firmware/fw-{version}.bin", params={"version": version},
                           content=firmware_image(version, 16 * 1024))  # fmt: skip
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def _campaign_ended(api: httpx.AsyncClient, campaign_id: int, deadline: float = 60) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        found = (await api.get(f"/api/v1/firmware-campaigns/{campaign_id}")).json()
        return found if found["state"] != "running" else None

    return dict(await eventually(ended, f"campaign {campaign_id} to end", deadline=deadline))


@asynccontextmanager
async def _running(configs: list[StationConfig]) -> AsyncIterator[list[Station]]:
    stations = [Station(c) for c in configs]
    try:
        for station in stations:
            await station.__aenter__()
        for station in stations:
            await station.wait_booted(timeout=20)
        yield stations
    finally:
        for station in stations:
            await station.__aexit__(None, None, None)


async def test_tc_l_01_campaign_waits_for_a_late_station_and_marks_a_missing_one(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    image = await _versioned_image(api, "3.0.0")
    early, other, late = _config(server, "CAMP-A"), _config(server, "CAMP-B"), _config(server, "CAMP-LATE")
    never = f"CAMP-NEVER-{next(_ids)}"
    order = [early.identity, late.identity, other.identity, never]  # waves: [early, late], [other, never]
    window_end = (datetime.now(UTC) + timedelta(seconds=8)).isoformat()
    async with _running([early, other]):
        body = {"image_id": image["id"], "stations": order, "wave_size": 2, "pause_s": 0.2,
                "max_failure_rate": 0.0, "wave_timeout_s": 30, "window_end": window_end}  # fmt: skip
        created = await api.post("/api/v1/firmware-campaigns", json=body)
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]

        async def waiting_for_late() -> bool:
            found = (await api.get(f"/api/v1/firmware-campaigns/{campaign_id}")).json()
            return bool(found["stations"][late.identity]["status"] == "AwaitingConnection")

        await eventually(waiting_for_late, "the campaign to wait for the offline station")
        async with _running([late]):  # it connects within the window: it is sent the update then
            campaign = await _campaign_ended(api, campaign_id)
    progress = campaign["stations"]
    assert campaign["state"] == "completed", campaign
    assert [progress[s]["status"] for s in order] == ["Installed", "Installed", "Installed", "Missed"]
    assert {progress[s]["version"] for s in order[:3]} == {"3.0.0"}  # read back from the next boot
    assert progress[never]["job_id"] is None and "1 missed" in campaign["detail"]


async def test_tc_l_07_campaign_retries_stops_on_a_wrong_version_and_resumes(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    image = await _versioned_image(api, "4.0.0")
    good, broken = _config(server, "CR-G"), _config(server, "CR-DL", "download")
    stale, stale2 = _config(server, "CR-KEEP", "keep-version"), _config(server, "CR-KEEP", "keep-version")
    last = _config(server, "CR-Z")
    order = [c.identity for c in (good, broken, stale, stale2, last)]
    async with _running([good, broken, stale, stale2, last]):
        # waves: [good, broken] 1 of 2 failed (not above 0.5), [stale, stale2] 2 of 2: stops; [last]
        body = {"image_id": image["id"], "stations": order, "wave_size": 2, "pause_s": 0.2, "retries": 1,
                "max_failure_rate": 0.5, "wave_timeout_s": 30}  # fmt: skip
        created = (await api.post("/api/v1/firmware-campaigns", json=body)).json()
        campaign = await _campaign_ended(api, created["id"])
        progress = campaign["stations"]
        assert campaign["state"] == "stopped" and campaign["wave"] == 2, campaign
        assert progress[broken.identity]["status"] == "DownloadFailed" and progress[broken.identity]["attempts"] == 2
        jobs = (await api.get("/api/v1/firmware-jobs", params={"station_id": broken.identity})).json()
        assert [j["status"] for j in jobs] == ["DownloadFailed", "DownloadFailed"]  # sent again once
        assert progress[stale.identity]["status"] == "VersionMismatch"  # Installed, but booted with 1.0.0
        assert progress[good.identity]["version"] == "4.0.0" and progress[last.identity]["status"] == "Waiting"
        resumed = await api.post(f"/api/v1/firmware-campaigns/{created['id']}/resume")
        assert resumed.status_code == 200 and resumed.json()["state"] == "running"
        campaign = await _campaign_ended(api, created["id"])
    assert campaign["state"] == "completed" and campaign["wave"] == 3, campaign  # the next wave, not again
    assert campaign["stations"][last.identity]["status"] == "Installed"
    assert campaign["stations"][stale.identity]["status"] == "VersionMismatch"


async def test_an_operator_stops_a_campaign(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    image = await _versioned_image(api, "5.0.0")
    body = {"image_id": image["id"], "stations": [f"CS-OFF-{next(_ids)}"], "wave_timeout_s": 600}
    created = (await api.post("/api/v1/firmware-campaigns", json=body)).json()
    stopped = await api.post(f"/api/v1/firmware-campaigns/{created['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    assert "stopped by" in stopped.json()["detail"]
    assert (await api.post("/api/v1/firmware-campaigns/999999/stop")).status_code == 404
    assert (await api.delete(f"/api/v1/firmware/{image['id']}")).status_code == 204
    assert (await api.delete(f"/api/v1/firmware/{image['id']}")).status_code == 404
