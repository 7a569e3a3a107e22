"""Issue 13's "done when" for firmware: a campaign updates 50 simulated stations in waves through
firmware hosted by ocppd itself, and one wave is stopped by a failing station. Everything is a real
process: ``ocppd serve`` and an ``ocppd simulate`` fleet (1.6, 2.0.1 and 2.1 stations from a template,
one of them failing its installation on purpose), which downloads the image over HTTP from ocppd.

And a campaign resumes after ``ocppd serve`` restarts (its wave progress and pause in the store), on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.csms_process import CsmsProcess, free_port, run_csms, serve, stop
from tests.integration.fleet import campaign_ended, connected, fleet, upload_image
from tests.waiting import eventually

pytestmark = pytest.mark.slow  # a 50-station campaign in waves, one across a restart (minutes)

TEMPLATE = """
stations:
  - id: "FLEET-{n:02d}"
    count: 49
    ocpp: mixed
    firmware: "1.0.0"
    step_delay: 0.05
    reboot_delay: 0.2
  - id: "FLEET-BAD"
    ocpp: "2.0.1"
    firmware: "1.0.0"
    firmware_fault: install
    step_delay: 0.05
    reboot_delay: 0.2
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("fleet-campaign")) as s:
        yield s


async def test_tc_l_01_tc_l_09_campaign_updates_50_fleet_stations_in_waves_and_a_failing_one_stops_it(
    server: CsmsProcess, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as api:
        image = await upload_image(api, "2.0.0")
        good = [f"FLEET-{n:02d}" for n in range(1, 50)]
        order = [*good[:25], "FLEET-BAD", *good[25:]]  # waves of 10: the bad one is in the third
        with fleet(tmp_path, TEMPLATE, server.ws_url):
            await eventually(lambda: connected(api, 50), "the 50 simulated stations to connect", deadline=60)
            body = {"image_id": image["id"], "stations": order, "wave_size": 10, "pause_s": 0.2,
                    "max_failure_rate": 0.05, "wave_timeout_s": 60}  # fmt: skip
            created = await api.post("/api/v1/firmware-campaigns", json=body)
            assert created.status_code == 201, created.text
            campaign = await campaign_ended(api, created.json()["id"])
            # each station's progress, as the API shows it
            progress = campaign["stations"]
            assert campaign["state"] == "stopped" and campaign["wave"] == 3, campaign
            assert campaign["detail"] == "wave 3: 1 of 10 failed, 0 missed"
            assert [progress[s]["status"] for s in order[:20]] == ["Installed"] * 20
            assert progress["FLEET-BAD"]["status"] == "InstallationFailed"
            assert sum(progress[s]["status"] == "Installed" for s in order[20:30]) == 9
            assert {progress[s]["status"] for s in order[30:]} == {"Waiting"}
            assert {progress[s]["version"] for s in order[:20]} == {"2.0.0"}
            station = (await api.get("/api/v1/stations/FLEET-01")).json()
            assert station["firmware_version"] == "2.0.0"  # from its BootNotification after the install
            jobs = (await api.get("/api/v1/firmware-jobs", params={"limit": 1000})).json()
            assert len(jobs) == 30 and all(j["downloads"] == 1 for j in jobs)  # fetched from ocppd, once each
            assert (await api.get("/api/v1/stations/FLEET-40")).json()["firmware_version"] == "1.0.0"
            metrics = (await api.get("/metrics")).text
            assert 'ocppd_firmware_campaign_stations_total{status="Installed"} 29.0' in metrics
            assert 'ocppd_firmware_campaign_stations_total{status="InstallationFailed"} 1.0' in metrics
            assert 'ocppd_file_transfers_total{kind="firmware_download",outcome="ok"} 30.0' in metrics


PAIR = """
stations:
  - id: "PAIR-{n}"
    count: 2
    ocpp: mixed
    firmware: "1.0.0"
    step_delay: 0.05
    reboot_delay: 0.2
"""


async def test_a_campaign_resumes_after_ocppd_restarts(tmp_path: Path, database_url: str | None) -> None:
    ports, data_dir = (free_port(), free_port()), tmp_path / "data"
    body: dict[str, Any] = {"stations": ["PAIR-1", "PAIR-2"], "wave_size": 1, "pause_s": 3,
                            "max_failure_rate": 0.0, "wave_timeout_s": 60}  # fmt: skip
    with fleet(tmp_path, PAIR, f"ws://127.0.0.1:{ports[0]}/ocpp"):
        with serve(data_dir, *ports, tmp_path / "serve-1.log", database_url) as first:
            headers = {"Authorization": f"Bearer {first.admin_token}"}
            async with httpx.AsyncClient(base_url=first.http_url, headers=headers, timeout=30) as api:
                body["image_id"] = (await upload_image(api, "3.1.0"))["id"]
                await eventually(lambda: connected(api, 2), "the stations to connect", deadline=30)
                campaign_id = (await api.post("/api/v1/firmware-campaigns", json=body)).json()["id"]

                async def pausing() -> bool:
                    found = (await api.get(f"/api/v1/firmware-campaigns/{campaign_id}")).json()
                    return found["next_wave_at"] is not None and found["state"] == "running"

                await eventually(pausing, "the first wave to end and the pause to start")
            stop(first)  # within the pause: the second wave is due while ocppd is down
        # the stations reconnect to the restarted ocppd on the same ports; the campaign goes on
        with serve(data_dir, *ports, tmp_path / "serve-2.log", database_url) as second:
            async with httpx.AsyncClient(base_url=second.http_url, headers=headers, timeout=30) as api:
                campaign = await campaign_ended(api, campaign_id, deadline=60)
                jobs = (await api.get("/api/v1/firmware-jobs", params={"station_id": "PAIR-1"})).json()
    assert campaign["state"] == "completed", campaign
    assert [campaign["stations"][s]["status"] for s in ("PAIR-1", "PAIR-2")] == ["Installed", "Installed"]
    assert {campaign["stations"][s]["version"] for s in ("PAIR-1", "PAIR-2")} == {"3.1.0"}
    assert len(jobs) == 1  # the first wave was not sent again
    assert "resumes at wave 1" in (tmp_path / "serve-2.log").read_text()
