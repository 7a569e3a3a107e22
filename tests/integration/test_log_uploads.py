"""Log and diagnostics uploads to ocppd itself, against a real ``ocppd serve``: the simulator uploads a
real file over HTTP to the per-request URL, the status follows LogStatusNotification /
DiagnosticsStatusNotification, the file is downloadable through the API; bad tokens get 403, path
tricks in a file name are neutralised, an oversized upload is refused and never replaces the file."""

from __future__ import annotations

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
MAX_LOG_BYTES = 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("logs"), extra_env={"OCPPD_FILES__MAX_LOG_BYTES": str(MAX_LOG_BYTES)}) as s:
        yield s


@pytest.fixture
async def api(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as client:
        yield client


def _config(server: CsmsProcess, version: OcppVersion) -> StationConfig:
    return StationConfig(identity=f"LOGS-{version.value.removeprefix('ocpp')}-{next(_ids)}", url=server.ws_url,
                         version=version, call_timeout=10, step_delay=0.1)  # fmt: skip


async def _upload_done(api: httpx.AsyncClient, upload_id: int) -> dict[str, Any] | None:
    rows = (await api.get("/api/v1/logs")).json()
    row = next(r for r in rows if r["id"] == upload_id)
    return row if row["status"] == "Uploaded" and row["uploaded_at"] else None


async def _location_sent(api: httpx.AsyncClient, station_id: str) -> str:
    """The upload URL ocppd put in its GetLog (from its message log)."""
    rows = (await api.get(f"/api/v1/stations/{station_id}/messages", params={"action": "GetLog"})).json()
    for row in rows:
        frame = json.loads(row["frame"])
        if row["direction"] == "out" and frame[0] == 2:
            return str(frame[3]["log"]["remoteLocation"])
    raise AssertionError(f"no GetLog sent to {station_id}: {rows}")


@pytest.mark.parametrize("version", [OcppVersion.V16, OcppVersion.V201], ids=["1.6", "2.0.1"])
async def test_tc_n_25_diagnostics_log_uploaded_to_ocppd_and_downloadable(
    server: CsmsProcess, api: httpx.AsyncClient, version: OcppVersion
) -> None:
    async with Station(_config(server, version)) as station:
        await station.wait_booted(timeout=20)
        answer = await api.post(f"/api/v1/stations/{station.identity}/logs", json={"log_type": "DiagnosticsLog"})
        assert answer.status_code == 200, answer.text
        job = answer.json()
        assert job["status"] == "Accepted"
        done = await eventually(lambda: _upload_done(api, job["id"]), "the upload and the Uploaded status")
        assert done["size"] > 0 and done["filename"].endswith(".log") and done["sha256"]
        file = await api.get(f"/api/v1/logs/{job['id']}/file")
        assert file.status_code == 200 and station.identity.encode() in file.content
        assert len(file.content) == done["size"]


async def test_upload_tokens_names_and_size_limit(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    async with Station(_config(server, OcppVersion.V201)) as station:
        await station.wait_booted(timeout=20)
        job = (await api.post(f"/api/v1/stations/{station.identity}/logs", json={"log_type": "SecurityLog"})).json()
        await eventually(lambda: _upload_done(api, job["id"]), "the first upload")
        first = (await api.get(f"/api/v1/logs/{job['id']}/file")).content
        location = await _location_sent(api, station.identity)
    async with httpx.AsyncClient(timeout=30) as raw:
        wrong = location.rsplit("/", 1)[0] + "/not-a-token"
        assert (await raw.put(wrong, content=b"x")).status_code == 403
        # an oversized upload is refused and leaves the complete file as it was
        too_big = await raw.put(f"{location}/securitylog-{station.identity}.log", content=b"y" * (MAX_LOG_BYTES + 1))
        assert too_big.status_code == 413
        assert (await api.get(f"/api/v1/logs/{job['id']}/file")).content == first
        # a name with directory parts: slashes are never routed, backslashes leave only the last part
        assert (await raw.put(f"{location}/..%2F..%2Fadmin.token", content=b"z")).status_code == 404
        tricky = await raw.put(f"{location}/..%5C..%5Cadmin.token", content=b"z")
        assert tricky.status_code == 201 and tricky.json()["filename"] == "admin.token"
    assert (server.data_dir / "admin.token").read_text().strip() != "z"
    assert (await api.get(f"/api/v1/logs/{job['id']}/file")).content == b"z"
    missing = await api.get("/api/v1/logs/999999/file")
    assert missing.status_code == 404
