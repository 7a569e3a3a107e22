"""A firmware campaign with two ``ocppd serve`` nodes on one PostgreSQL database, the simulated
stations split between them, and the campaign's driver killed (SIGKILL) in the middle of a wave.

Node A drives the campaign (it was created there and holds its lease); the stations connected to node
B are sent their update by B (no node routes to another's stations). A dies while B's slow stations
of the second wave are installing: B takes the campaign over once A's lease expires, follows the
updates B itself sent, and completes it. Every station is sent the update exactly once.

The nodes share the firmware directory (B's is a link to A's), as nodes must for images an operator
uploads to one of them (docs/device-management.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.csms_process import free_port, serve
from tests.integration.fleet import campaign_ended, connected, fleet, upload_image
from tests.waiting import eventually

pytestmark = pytest.mark.slow  # two servers, one killed mid-campaign (minutes)

ON_A = """
stations:
  - id: "NA-{n}"
    count: 3
    ocpp: mixed
    firmware: "1.0.0"
    step_delay: 0.05
    reboot_delay: 0.2
"""
ON_B = """
stations:
  - id: "NB-1"
    ocpp: "2.0.1"
    firmware: "1.0.0"
    step_delay: 0.05
    reboot_delay: 0.2
  - id: "NB-2"
    ocpp: "1.6"
    firmware: "1.0.0"
    step_delay: 1.5
    reboot_delay: 0.5
  - id: "NB-3"
    ocpp: "2.1"
    firmware: "1.0.0"
    step_delay: 1.5
    reboot_delay: 0.5
"""


def _client(node: Any) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {node.admin_token}"}
    return httpx.AsyncClient(base_url=node.http_url, headers=headers, timeout=30)


async def _jobs(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list((await api.get("/api/v1/firmware-jobs", params={"limit": 1000})).json())


async def test_a_campaign_survives_its_driver_being_killed_and_updates_every_station_once(
    tmp_path: Path, pg_db_factory: Any
) -> None:
    url = pg_db_factory("ocppd_cluster")
    dir_a, dir_b = tmp_path / "node-a", tmp_path / "node-b"
    (dir_a / "firmware").mkdir(parents=True)
    dir_b.mkdir()
    (dir_b / "firmware").symlink_to(dir_a / "firmware", target_is_directory=True)
    ports_a, ports_b = (free_port(), free_port()), (free_port(), free_port())
    fast = {"OCPPD_OCPP__HEARTBEAT_INTERVAL": "60"}
    with serve(dir_a, *ports_a, tmp_path / "a.log", url, fast) as a, \
            serve(dir_b, *ports_b, tmp_path / "b.log", url, fast) as b:  # fmt: skip
        async with _client(a) as api_a, _client(b) as api_b:
            image = await upload_image(api_a, "4.0.0")
            (tmp_path / "fleet-a").mkdir()
            (tmp_path / "fleet-b").mkdir()
            with fleet(tmp_path / "fleet-a", ON_A, a.ws_url), fleet(tmp_path / "fleet-b", ON_B, b.ws_url):
                await eventually(lambda: connected(api_a, 3), "A's three stations to connect", deadline=60)
                await eventually(lambda: connected(api_b, 3), "B's three stations to connect", deadline=60)
                # wave 1: A's three stations and B's fast one; wave 2: B's two slow ones
                order = ["NA-1", "NA-2", "NA-3", "NB-1", "NB-2", "NB-3"]
                body = {"image_id": image["id"], "stations": order, "wave_size": 4, "pause_s": 0.2,
                        "max_failure_rate": 0.0, "wave_timeout_s": 90}  # fmt: skip
                created = await api_a.post("/api/v1/firmware-campaigns", json=body)
                assert created.status_code == 201, created.text
                campaign_id = created.json()["id"]

                async def second_wave_sent() -> bool:
                    return {j["station_id"] for j in await _jobs(api_b)} >= {"NB-2", "NB-3"}

                await eventually(second_wave_sent, "B to send its slow stations their update", deadline=90)
                running = (await api_b.get(f"/api/v1/firmware-campaigns/{campaign_id}")).json()
                assert running["state"] == "running" and running["wave"] == 2, running
                driver = running["driver"]  # as B sees it: A drives
                assert driver["node"].endswith(f":{a.process.pid}") and driver["this_node"] is False, driver
                a.process.kill()  # SIGKILL: no clean stop, its lease stays until it expires
                a.process.wait()
                campaign = await campaign_ended(api_b, campaign_id, deadline=120)
                jobs = await _jobs(api_b)
    log_a, log_b = (tmp_path / "a.log").read_text(), (tmp_path / "b.log").read_text()
    assert campaign["state"] == "completed", campaign
    assert {s: e["status"] for s, e in campaign["stations"].items()} == dict.fromkeys(order, "Installed")
    assert {e["version"] for e in campaign["stations"].values()} == {"4.0.0"}
    assert sorted(j["station_id"] for j in jobs) == sorted(order)  # each station sent the update once
    assert all(j["downloads"] == 1 for j in jobs)
    sent_by = {j["station_id"]: j for j in jobs}
    assert sent_by["NB-1"]["status"] == "Installed"
    assert "sending the update from here" in log_b  # B sent its own stations while A drove
    assert f"firmware campaign {campaign_id} resumes at wave 2, driven by this node" in log_b
    assert "sending the update from here" not in log_a
