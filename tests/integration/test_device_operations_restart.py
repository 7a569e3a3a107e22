"""What ocppd keeps of resets and availability survives its restart: a reset answered before the
restart is completed by the boot after it, and an applied Inoperative is sent again to a station that
comes back without it. Real ``ocppd serve`` restarted on the same data (SQLite, PostgreSQL), a 2.0.1
station of the `ocpp` package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from ocpp.routing import after, on
from ocpp.v201 import call_result as r201

from tests.csms_process import run_csms
from tests.pg import pg_db_factory, pg_server_url  # noqa: F401  (re-exported fixtures)
from tests.verbs.stations import Station201, connected
from tests.waiting import eventually


class QuietStation(Station201):
    """Answers a reset without rebooting on its own (it comes back later, when the test says)."""

    @on("Reset")
    async def on_reset(self, type: str, evse_id: int | None = None, **kw: Any) -> Any:
        self.record("Reset", type=type, evse_id=evse_id)
        return r201.Reset(status="Accepted")

    @after("Reset")
    async def after_reset(self, **kw: Any) -> None:
        pass


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_reset_and_an_applied_wish_outlive_a_restart(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = None
    if backend == "postgresql":
        factory: Callable[[str], str] = request.getfixturevalue("pg_db_factory")
        url = factory("ocppd_ops_restart")
    sid = f"RESTART-{backend}"
    with run_csms(tmp_path, database_url=url) as server:
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        async with (
            httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as api,
            connected(server.ws_url, sid, "2.0.1", station_class=QuietStation) as st,
        ):
            await st.status("Available")
            r = await api.post(f"/api/v1/stations/{sid}/commands/change-availability",
                               json={"operative": False, "evse_id": 1})  # fmt: skip
            assert r.status_code == 200, r.text
            await st.status("Unavailable")

            async def applied() -> bool:
                view = (await api.get(f"/api/v1/stations/{sid}/availability")).json()
                return bool(view["wishes"][0]["state"] == "applied")

            await eventually(applied, "the wish applied")
            r = await api.post(f"/api/v1/stations/{sid}/commands/reset", json={"type": "immediate"})
            assert r.json()["result"]["status"] == "Accepted"
    with run_csms(tmp_path, database_url=url) as server:  # the same data, a new process
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as api:
            [row] = (await api.get(f"/api/v1/stations/{sid}/resets")).json()
            assert row["outcome"] == "awaiting_reboot"
            async with connected(server.ws_url, sid, "2.0.1", boot=False) as st:
                await st.boot("RemoteReset")
                await st.status("Available")  # it lost its Inoperative

                async def completed() -> bool:
                    [row] = (await api.get(f"/api/v1/stations/{sid}/resets")).json()
                    return bool(row["outcome"] == "completed" and row["boot_reason"] == "RemoteReset")

                await eventually(completed, "the reset completed after the restart")

                async def sent_again() -> bool:
                    return bool(st.all("ChangeAvailability"))

                await eventually(sent_again, "the Inoperative sent again")
                assert st.last("ChangeAvailability") == {"operational_status": "Inoperative", "evse": {"id": 1}}
