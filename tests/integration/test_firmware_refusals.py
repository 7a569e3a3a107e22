"""Stations that refuse, against a real ``ocppd serve``, with the ``ocpp`` package as an independent 2.0.1
station: UpdateFirmware answered RevokedCertificate / InvalidCertificate (OCA TC_L_04 / TC_L_05) and GetLog
answered Rejected (TC_N_34); a second update answered AcceptedCanceled cancels the job of the first
(TC_L_10). The job keeps the station's answer; a campaign counts the refusals as failures
and does not send the same image again (they are not retried)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from ocppd.station.files import firmware_image
from tests.csms_process import CsmsProcess, run_csms
from tests.waiting import eventually

_ids = itertools.count(1)


class Refusing(ChargePoint):
    """Answers UpdateFirmware with ``firmware_answer`` and GetLog with Rejected."""

    firmware_answer = "Accepted"

    @on("UpdateFirmware")
    async def on_update(self, request_id: int, firmware: dict[str, Any], **_: Any) -> result201.UpdateFirmware:
        return result201.UpdateFirmware(status=self.firmware_answer)

    @on("GetLog")
    async def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, **_: Any) -> result201.GetLog:
        return result201.GetLog(status="Rejected")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("refusals")) as s:
        yield s


@asynccontextmanager
async def _station(server: CsmsProcess, answer: str) -> AsyncIterator[str]:
    async with _refusing(server, answer) as cp:
        yield cp.id


@asynccontextmanager
async def _refusing(server: CsmsProcess, answer: str) -> AsyncIterator[Refusing]:
    identity = f"REFUSE-{next(_ids)}"
    async with websockets.connect(f"{server.ws_url}/{identity}", subprotocols=["ocpp2.0.1"], open_timeout=20) as ws:
        cp = Refusing(identity, ws)
        cp.firmware_answer = answer
        task = asyncio.create_task(cp.start())
        try:
            await cp.call(call201.BootNotification(charging_station={"vendor_name": "ACME", "model": "X"},
                                                   reason="PowerUp"))  # fmt: skip
            yield cp
        finally:
            task.cancel()


async def test_tc_l_04_tc_l_05_refused_updates_fail_the_campaign_without_retries(server: CsmsProcess) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as api:
        image = (await api.put("/api/v1/firmware/fw.bin", params={"version": "2.0"},
                               content=firmware_image("2.0", 4096))).json()  # fmt: skip
        async with _station(server, "RevokedCertificate") as revoked, _station(server, "InvalidCertificate") as bad:
            direct = await api.post(f"/api/v1/stations/{revoked}/firmware-update", json={"image_id": image["id"]})
            assert direct.status_code == 200 and direct.json()["status"] == "RevokedCertificate"
            body = {"image_id": image["id"], "stations": [revoked, bad], "wave_size": 2, "retries": 2,
                    "max_failure_rate": 0.5, "wave_timeout_s": 30}  # fmt: skip
            campaign_id = (await api.post("/api/v1/firmware-campaigns", json=body)).json()["id"]

            async def ended() -> dict[str, Any] | None:
                found = (await api.get(f"/api/v1/firmware-campaigns/{campaign_id}")).json()
                return found if found["state"] != "running" else None

            campaign = await eventually(ended, "the campaign to stop")
    progress = campaign["stations"]
    assert campaign["state"] == "stopped" and "2 of 2 failed" in campaign["detail"]
    assert [progress[s]["status"] for s in (revoked, bad)] == ["RevokedCertificate", "InvalidCertificate"]
    assert [progress[s]["attempts"] for s in (revoked, bad)] == [1, 1]  # not retried


async def test_tc_n_34_a_rejected_log_request_keeps_the_answer_and_no_file(server: CsmsProcess) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as api:
        async with _station(server, "Accepted") as identity:
            answer = await api.post(f"/api/v1/stations/{identity}/logs", json={"log_type": "DiagnosticsLog"})
        assert answer.status_code == 200 and answer.json()["status"] == "Rejected"
        assert answer.json()["uploaded_at"] is None
        assert (await api.get(f"/api/v1/logs/{answer.json()['id']}/file")).status_code == 404


async def test_tc_l_10_an_update_answered_accepted_canceled_cancels_the_running_job(server: CsmsProcess) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as api:
        image = (await api.put("/api/v1/firmware/fw-c.bin", content=b"c" * 100)).json()
        async with _refusing(server, "Accepted") as cp:
            url = f"/api/v1/stations/{cp.id}/firmware-update"
            first = (await api.post(url, json={"image_id": image["id"]})).json()
            cp.firmware_answer = "AcceptedCanceled"
            second = (await api.post(url, json={"image_id": image["id"]})).json()
        listed = (await api.get("/api/v1/firmware-jobs", params={"station_id": cp.id})).json()
    jobs = {j["id"]: j["status"] for j in listed}
    assert first["status"] == "Accepted" and second["status"] == "AcceptedCanceled"
    assert jobs == {first["id"]: "Canceled", second["id"]: "AcceptedCanceled"}
