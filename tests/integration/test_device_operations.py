"""Availability, resets, display messages and customer information against the simulator (1.6 and
2.0.1) and a real ``ocppd serve``: the simulator's own behaviour (Scheduled while charging, a reboot that
drops the connection, display capabilities from its device model, customer data from its local list,
cache and transactions) is what ocppd keeps and shows."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from tests.csms_process import CsmsProcess, run_csms
from tests.waiting import eventually

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("devops")) as s:
        yield s


@pytest.fixture
async def api(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as client:
        yield client


def config(server: CsmsProcess, version: OcppVersion, tag: str, **extra: Any) -> StationConfig:
    name = f"OPS-{version.value.removeprefix('ocpp')}-{next(_ids)}"
    return StationConfig(identity=name, url=server.ws_url, version=version, call_timeout=10, reboot_delay=0.2,
                         reconnect_min=0.2, id_tags=[tag], **extra)  # fmt: skip


async def got(api: httpx.AsyncClient, path: str) -> Any:
    r = await api.get(path)
    assert r.status_code == 200, r.text
    return r.json()


async def cmd(api: httpx.AsyncClient, sid: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(f"/api/v1/stations/{sid}/commands/{name}", json=body)
    assert r.status_code == 200, r.text
    return r.json()["result"]  # type: ignore[no-any-return]


async def until(probe: Any, what: str) -> Any:
    async def check() -> Any:
        return await probe()

    return await eventually(check, what, 30)


@pytest.mark.parametrize("version", [OcppVersion.V16, OcppVersion.V201], ids=["1.6", "2.0.1"])
async def test_availability_scheduled_by_the_simulator_then_applied(
    server: CsmsProcess, api: httpx.AsyncClient, version: OcppVersion
) -> None:
    tag = f"04D1{version.value[-2:]}01"
    assert (await api.post("/api/v1/tokens", json={"id_token": tag})).status_code == 201
    async with Station(config(server, version, tag)) as sim:
        await sim.wait_booted(timeout=20)
        sid = sim.identity
        assert await sim.start_transaction(1, tag) is not None
        assert (await cmd(api, sid, "change-availability", {"operative": False, "evse_id": 1}))["status"] == "Scheduled"

        async def wish() -> dict[str, Any]:
            return (await got(api, f"/api/v1/stations/{sid}/availability"))["wishes"][0]  # type: ignore[no-any-return]

        assert (await wish())["state"] == "scheduled"
        sim.stop_transaction(1, "Local")

        async def applied() -> bool:
            return (await wish())["state"] == "applied"

        await until(applied, "the wish applied after the transaction")
        view = await got(api, f"/api/v1/stations/{sid}/availability")
        connector = next(c for c in view["connectors"] if c["evse_id"] == 1)
        assert (connector["status"], connector["wanted"]) == ("Unavailable", "Inoperative")


@pytest.mark.parametrize(
    ("version", "kind", "reason"),
    [(OcppVersion.V16, "hard", None), (OcppVersion.V201, "immediate", "RemoteReset"),
     (OcppVersion.V21, "immediate_and_resume", "RemoteReset")],  # the last: OCA TC_B_104
    ids=["1.6", "2.0.1", "2.1"],
)  # fmt: skip
async def test_tc_013_b_22_b_104_reset_observed_through_the_simulators_reboot(
    server: CsmsProcess, api: httpx.AsyncClient, version: OcppVersion, kind: str, reason: str | None
) -> None:
    async with Station(config(server, version, "04D10001")) as sim:
        await sim.wait_booted(timeout=20)
        sid = sim.identity
        assert (await cmd(api, sid, "reset", {"type": kind}))["status"] == "Accepted"

        async def completed() -> dict[str, Any] | None:
            row = (await got(api, f"/api/v1/stations/{sid}/resets"))[0]
            return row if row["outcome"] == "completed" else None

        row = await until(completed, "the reset completed by the reboot")
        assert row["disconnected_at"] is not None and row["boot_reason"] == reason


async def test_display_messages_with_the_simulator(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    config_ = config(server, OcppVersion.V201, "04D10002", settings={"display_capacity": 3})
    async with Station(config_) as sim:
        await sim.wait_booted(timeout=20)
        sid = sim.identity
        later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        gone = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        assert (await cmd(api, sid, "set-display-message", {"id": 1, "content": "Welcome", "priority": "AlwaysFront",
                                                            "end_at": later}))["status"] == "Accepted"  # fmt: skip
        assert (await cmd(api, sid, "set-display-message", {"id": 2, "content": "Soon gone",
                                                            "end_at": gone}))["status"] == "Accepted"  # fmt: skip
        refused = await cmd(api, sid, "set-display-message", {"id": 3, "content": "<b>x</b>", "format": "HTML"})
        assert refused["status"] == "NotSupportedMessageFormat"
        unknown_tx = await cmd(api, sid, "set-display-message", {"id": 3, "content": "x", "transaction_id": "nope"})
        assert unknown_tx["status"] == "UnknownTransaction"
        kept = await got(api, f"/api/v1/stations/{sid}/display-messages")
        assert [m["message_id"] for m in kept] == [1, 2]

        async def expired_on_the_station() -> bool:  # the simulator drops a message past its end
            return 2 not in sim.adapter._current_messages()  # type: ignore[attr-defined]

        await until(expired_on_the_station, "message 2 past its end")
        assert (await cmd(api, sid, "get-display-messages", {}))["status"] == "Accepted"

        async def reconciled() -> bool:
            return [m["message_id"] for m in await got(api, f"/api/v1/stations/{sid}/display-messages")] == [1]

        await until(reconciled, "message 2 removed by the report")
        assert (await cmd(api, sid, "clear-display-message", {"id": 1}))["status"] == "Accepted"
        assert await got(api, f"/api/v1/stations/{sid}/display-messages") == []
        assert (await cmd(api, sid, "get-display-messages", {}))["status"] == "Unknown"


async def test_customer_information_from_the_simulators_own_data(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    tag = "04D10003"
    assert (await api.post("/api/v1/tokens", json={"id_token": tag})).status_code == 201
    async with Station(config(server, OcppVersion.V201, tag)) as sim:
        await sim.wait_booted(timeout=20)
        sid = sim.identity
        assert await sim.start_transaction(1, tag) is not None
        r = await api.post(f"/api/v1/stations/{sid}/customer-information", json={"id_token": tag})
        assert r.status_code == 200 and r.json()["status"] == "Accepted", r.text

        async def report() -> dict[str, Any] | None:
            row = await got(api, f"/api/v1/customer-information/{r.json()['id']}")
            return row if row["complete"] else None

        row = await until(report, "the customer report")
        assert "running on EVSE 1" in row["data"]
        assert ("authorization cache: Accepted" in row["data"]) is (tag in sim.auth.cache)
        other = await api.post(f"/api/v1/stations/{sid}/customer-information",
                               json={"customer_identifier": "OpenChargeAlliance", "clear": True})  # fmt: skip
        pk = other.json()["id"]

        async def cleared() -> dict[str, Any] | None:
            row = await got(api, f"/api/v1/customer-information/{pk}")
            return row if row["complete"] else None

        assert (await until(cleared, "the clear's report"))["data"] == (
            "no data kept about OpenChargeAlliance (cleared)")  # fmt: skip
