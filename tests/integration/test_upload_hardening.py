"""Uploads and downloads against a real ``ocppd serve``, the bad cases: a body declared larger than the
limit is refused before it is read, an interrupted upload (raw socket, the client goes away) keeps
nothing and never replaces a complete file, multipart/form-data uploads of firmware (operator) and logs
(station) with the same limits and names, and expired per-job tokens get 403 (the simulator then reports
DownloadFailed / UploadFailure)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from tests.csms_process import CsmsProcess, run_csms
from tests.waiting import eventually

_ids = itertools.count(1)
MAX_FIRMWARE = 64 * 1024
MAX_LOG = 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    env = {"OCPPD_FILES__MAX_FIRMWARE_BYTES": str(MAX_FIRMWARE), "OCPPD_FILES__MAX_LOG_BYTES": str(MAX_LOG)}
    with run_csms(tmp_path_factory.mktemp("uploads"), extra_env=env) as s:
        yield s


@pytest.fixture(scope="module")
def expiring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    """Every per-job URL expires a millisecond after it is made."""
    env = {"OCPPD_FILES__UPLOAD_TOKEN_TTL_S": "0.001", "OCPPD_FILES__DOWNLOAD_TOKEN_TTL_S": "0.001"}
    with run_csms(tmp_path_factory.mktemp("expiring"), extra_env=env) as s:
        yield s


@pytest.fixture
async def api(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with _api(server) as client:
        yield client


def _api(server: CsmsProcess) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    return httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30)


def _station(server: CsmsProcess) -> Station:
    return Station(StationConfig(identity=f"UPL-{next(_ids)}", url=server.ws_url, version=OcppVersion.V201,
                                 call_timeout=10, step_delay=0.05, reboot_delay=0.2))  # fmt: skip


async def _raw_partial(url: str, method: str, declared: int, sent: bytes, headers: dict[str, str],
                       *, answer: bool = False) -> bytes:  # fmt: skip
    """Send a request whose body stops short of its Content-Length; read the answer (``answer``) or
    go away at once (an interrupted upload)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = [f"{method} {parts.path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {declared}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + sent)
    await writer.drain()
    received = b""
    if answer:  # the head, then as much body as it announced
        received = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        length = next((int(line.split(b":")[1]) for line in received.lower().split(b"\r\n")
                       if line.startswith(b"content-length:")), 0)  # fmt: skip
        received += await asyncio.wait_for(reader.readexactly(length), 30)
    writer.close()
    await writer.wait_closed()
    return received


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def _names(api: httpx.AsyncClient) -> list[str]:
    return [i["name"] for i in (await api.get("/api/v1/firmware", params={"limit": 1000})).json()]


async def test_firmware_upload_declared_too_large_or_interrupted_keeps_nothing(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    auth = {"Authorization": f"Bearer {server.admin_token}"}
    answer = await _raw_partial(f"{server.http_url}/api/v1/firmware/huge.bin", "PUT", 10 * MAX_FIRMWARE,
                                b"", auth, answer=True)  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 413") and b"larger than the limit" in answer  # refused before the body
    await _raw_partial(f"{server.http_url}/api/v1/firmware/partial.bin", "PUT", 20_000, b"x" * 5_000, auth)
    complete = await api.put("/api/v1/firmware/after.bin", content=b"z" * 100)  # the server carries on
    assert complete.status_code == 201
    assert "partial.bin" not in await _names(api) and "huge.bin" not in await _names(api)

    async def cleaned() -> bool:
        return not any("incoming" in f or "partial" in f for f in _files_under(server.data_dir / "firmware"))

    await eventually(cleaned, "the interrupted upload's temporary file to go")

    async def counted() -> bool:  # what an operator sees in /metrics
        text = (await api.get("/metrics")).text
        return all(f'ocppd_file_transfers_total{{kind="firmware_upload",outcome="{o}"}}' in text
                   for o in ("too_large", "interrupted", "ok"))  # fmt: skip

    await eventually(counted, "the refused, interrupted and stored uploads in /metrics")


async def test_firmware_upload_as_a_form_with_its_limits(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    image = b"\x7fFW" * 1000
    form = await api.post("/api/v1/firmware", data={"version": "9.1"}, files={"file": ("..\\..\\fw-9.1.bin", image)})
    assert form.status_code == 201, form.text
    stored = form.json()
    assert stored["name"] == "fw-9.1.bin" and stored["version"] == "9.1"
    assert stored["size"] == len(image) and stored["sha256"] == hashlib.sha256(image).hexdigest()
    assert (server.data_dir / "firmware" / str(stored["id"]) / "fw-9.1.bin").read_bytes() == image
    too_big = await api.post("/api/v1/firmware", files={"file": ("big.bin", b"b" * (MAX_FIRMWARE + 1))})
    assert too_big.status_code == 413 and too_big.json()["code"] == "too_large"
    # a form whose file part never ends (no closing boundary): not a complete file, nothing kept
    body = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n\r\n' + b"c" * 500
    cut = await api.post("/api/v1/firmware", content=body,
                         headers={"Content-Type": "multipart/form-data; boundary=XyZ"})  # fmt: skip
    assert cut.status_code == 400 and "before the file part was complete" in cut.json()["detail"]
    no_file = await api.post("/api/v1/firmware", data={"version": "1"}, files={})
    assert no_file.status_code in (400, 415)
    raw = await api.post("/api/v1/firmware", content=b"abc", headers={"Content-Type": "application/octet-stream"})
    assert raw.status_code == 415 and "PUT" in raw.json()["detail"]
    assert "big.bin" not in await _names(api) and "cut.bin" not in await _names(api)


async def _upload_location(api: httpx.AsyncClient, station_id: str) -> str:
    rows = (await api.get(f"/api/v1/stations/{station_id}/messages", params={"action": "GetLog"})).json()
    for row in rows:
        frame = json.loads(row["frame"])
        if row["direction"] == "out" and frame[0] == 2:
            return str(frame[3]["log"]["remoteLocation"])
    raise AssertionError(f"no GetLog sent to {station_id}")


async def _log_job(api: httpx.AsyncClient, job_id: int) -> dict[str, Any]:
    return next(r for r in (await api.get("/api/v1/logs")).json() if r["id"] == job_id)


async def test_tc_n_35_log_upload_as_a_form_and_an_interrupted_one_keeps_the_complete_file(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    async with _station(server) as station:
        await station.wait_booted(timeout=20)
        job = (await api.post(f"/api/v1/stations/{station.identity}/logs", json={"log_type": "SecurityLog"})).json()

        async def uploaded() -> dict[str, Any] | None:
            row = await _log_job(api, job["id"])
            return row if row["status"] == "Uploaded" and row["uploaded_at"] else None

        await eventually(uploaded, "the station's upload")
        location = await _upload_location(api, station.identity)
    async with httpx.AsyncClient(timeout=30) as raw:
        # a station POSTing a form (the 1.6 diagnostics habit): the part's file name, made safe
        form = await raw.post(location, files={"file": ("../diag 1.zip", b"PK-form-body")})
        assert form.status_code == 201 and form.json()["filename"] == "diag_1.zip"
        assert (await api.get(f"/api/v1/logs/{job['id']}/file")).content == b"PK-form-body"
        over = await raw.post(location, files={"file": ("diag_1.zip", b"o" * (MAX_LOG + 1))})
        assert over.status_code == 413
    declared = await _raw_partial(f"{location}/diag_1.zip", "PUT", MAX_LOG + 1, b"", {}, answer=True)
    assert declared.startswith(b"HTTP/1.1 413")
    await _raw_partial(f"{location}/diag_1.zip", "PUT", 3000, b"i" * 100, {})  # goes away mid-upload
    folder = server.data_dir / "logs" / str(job["id"])

    async def only_complete_files() -> bool:
        return all(not name.endswith(".part") for name in _files_under(folder))

    await eventually(only_complete_files, "the interrupted upload's temporary file to go")
    assert (folder / "diag_1.zip").read_bytes() == b"PK-form-body"
    assert (await api.get(f"/api/v1/logs/{job['id']}/file")).content == b"PK-form-body"


async def test_expired_tokens_get_403_and_the_station_reports_the_failure(expiring: CsmsProcess) -> None:
    async with _api(expiring) as api, _station(expiring) as station:
        await station.wait_booted(timeout=20)
        image = (await api.put("/api/v1/firmware/fw.bin", content=b"f" * 1000)).json()
        update = (await api.post(f"/api/v1/stations/{station.identity}/firmware-update",
                                 json={"image_id": image["id"]})).json()  # fmt: skip
        log = (await api.post(f"/api/v1/stations/{station.identity}/logs", json={})).json()

        async def failed() -> bool:
            jobs = (await api.get("/api/v1/firmware-jobs", params={"station_id": station.identity})).json()
            firmware = next(j for j in jobs if j["id"] == update["id"])
            log_status = (await _log_job(api, log["id"]))["status"]
            return firmware["status"] == "DownloadFailed" and log_status == "UploadFailure"

        await eventually(failed, "DownloadFailed and UploadFailure from the station")
        location = await _upload_location(api, station.identity)
        sent = await api.get(f"/api/v1/stations/{station.identity}/messages", params={"action": "UpdateFirmware"})
        rows = sent.json()
        download = next(json.loads(r["frame"])[3]["firmware"]["location"] for r in rows if r["direction"] == "out"
                        and json.loads(r["frame"])[0] == 2)  # fmt: skip
        async with httpx.AsyncClient(timeout=30) as raw:
            assert (await raw.put(location, content=b"late")).status_code == 403
            expired = await raw.get(download)
            assert expired.status_code == 403 and "expired" in expired.json()["detail"]
        assert (await _log_job(api, log["id"]))["uploaded_at"] is None
    assert not (expiring.data_dir / "logs" / str(log["id"])).exists()
