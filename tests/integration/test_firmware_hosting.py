"""Firmware hosted by ocppd, against a real ``ocppd serve``: an image uploaded through the API (size
limit, safe name, a refused upload keeps nothing), an update that gives the simulator a per-job URL it
downloads real bytes from, the job's status from FirmwareStatusNotification, 403 for a wrong token or
another image's name."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from tests.api.conftest import eventually
from tests.csms_process import CsmsProcess, run_csms

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


async def test_campaign_in_waves_stops_at_the_wave_with_a_failing_station(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    image = (await api.put("/api/v1/firmware/fw-3.0.bin", content=IMAGE)).json()
    configs = [StationConfig(identity=f"CAMP-{n}-{next(_ids)}", url=server.ws_url, version=OcppVersion.V201,
                             call_timeout=10, step_delay=0.05, reboot_delay=0.2) for n in range(4)]  # fmt: skip
    ids = [c.identity for c in configs]
    offline = f"CAMP-OFFLINE-{next(_ids)}"
    order = [ids[0], ids[1], offline, ids[2], ids[3]]  # waves: [0, 1], [offline, 2], [3]
    stations = [Station(c) for c in configs]
    for station in stations:
        await station.__aenter__()
    try:
        for station in stations:
            await station.wait_booted(timeout=20)
        body = {"image_id": image["id"], "stations": order, "wave_size": 2, "pause_s": 0.2,
                "max_failure_rate": 0.4, "wave_timeout_s": 30}  # fmt: skip
        created = await api.post("/api/v1/firmware-campaigns", json=body)
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]

        async def finished() -> dict[str, Any] | None:
            found = (await api.get(f"/api/v1/firmware-campaigns/{campaign_id}")).json()
            return found if found["state"] != "running" else None

        campaign = await eventually(finished, "the campaign to stop", deadline=90)
    finally:
        for station in stations:
            await station.__aexit__(None, None, None)
    progress = campaign["stations"]
    assert campaign["state"] == "stopped" and campaign["wave"] == 2, campaign
    assert [progress[s]["status"] for s in order] == ["Installed", "Installed", "Offline", "Installed", "Waiting"]
    assert progress[ids[0]]["version"]  # read back from the station's record after its boot
    assert progress[ids[3]]["job_id"] is None  # the third wave never started
