"""Commands for offline stations: opt-in queueing with an expiry, delivery in order on reconnect,
listing and cancelling (API and CLI), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from tests.csms_process import CsmsProcess
from tests.verbs.conftest import command, eventually, new_id, ok, until
from tests.verbs.stations import connected


async def queue(api: httpx.AsyncClient, sid: str, name: str, body: dict, expiry_s: float) -> dict:
    return ok(
        await api.post(f"/api/v1/stations/{sid}/commands/{name}", json=body, params={"queue_expiry_s": expiry_s}),
        202,
    )


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_queued_commands_are_delivered_in_order_on_reconnect(
    csms: CsmsProcess, api: httpx.AsyncClient, version: str
) -> None:
    sid = new_id("Q")
    async with connected(csms.ws_url, sid, version):
        pass  # the CSMS now knows the station and its version
    await eventually(lambda: _offline(api, sid), "the station offline")
    # without opting in, an offline station is a 409 as before
    r = await api.post(f"/api/v1/stations/{sid}/commands/trigger-message", json={"message": "Heartbeat"})
    assert r.status_code == 409 and r.json()["code"] == "station_offline"
    # a queue expiry must be positive, and the field is named
    for bad in (0, -5):
        r = await api.post(
            f"/api/v1/stations/{sid}/commands/trigger-message",
            json={"message": "Heartbeat"},
            params={"queue_expiry_s": bad},
        )
        assert r.status_code == 400 and "queue_expiry_s" in r.json()["detail"]
    variable = {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "120"}  # 1.6: the key
    first = await queue(api, sid, "set-variables", {"variables": [variable]}, 600)
    cancelled = await queue(api, sid, "trigger-message", {"message": "Heartbeat"}, 600)
    expired = await queue(api, sid, "trigger-message", {"message": "BootNotification"}, 0.5)
    cancelled_by_cli = await queue(api, sid, "trigger-message", {"message": "StatusNotification", "evse_id": 1}, 600)
    last = await queue(api, sid, "trigger-message", {"message": "Heartbeat"}, 600)
    assert first["status"] == "queued" and first["command"] == "set-variables" and first["created_by"]
    listed = ok(await api.get(f"/api/v1/stations/{sid}/queue", params={"status": "queued"}))
    in_order = [first, cancelled, expired, cancelled_by_cli, last]
    assert [q["id"] for q in listed] == [q["id"] for q in in_order]
    assert sid in {q["station_id"] for q in ok(await api.get("/api/v1/queue"))}
    # cancel: API and CLI; cancelling twice is a 409, an unknown id a 404
    assert ok(await api.delete(f"/api/v1/stations/{sid}/queue/{cancelled['id']}"))["status"] == "cancelled"
    again = await api.delete(f"/api/v1/stations/{sid}/queue/{cancelled['id']}")
    assert again.status_code == 409 and again.json()["code"] == "not_queued"
    assert (await api.delete(f"/api/v1/stations/{sid}/queue/999999")).status_code == 404
    csms.cli("queue", "cancel", str(cancelled_by_cli["id"]))
    cli_listed = json.loads(csms.cli("queue", "list", sid, "--json").stdout)
    assert [q["id"] for q in cli_listed] == [first["id"], expired["id"], last["id"]]
    expires_at = datetime.fromisoformat(expired["expires_at"])
    await until(lambda: datetime.now(UTC) > expires_at, "the short expiry to pass")

    async with connected(csms.ws_url, sid, version) as st:

        async def all_done() -> list | None:
            rows = ok(await api.get(f"/api/v1/stations/{sid}/queue"))
            return rows if all(q["status"] not in ("queued", "sending") for q in rows) else None

        rows = {q["id"]: q for q in await eventually(all_done, "the queue delivered")}
        assert rows[first["id"]]["status"] == "delivered" and rows[last["id"]]["status"] == "delivered"
        assert rows[expired["id"]]["status"] == "expired"
        assert rows[cancelled["id"]]["status"] == rows[cancelled_by_cli["id"]]["status"] == "cancelled"
        assert rows[first["id"]]["result"]["accepted"] is True
        delivered = [a for a in st.actions() if a in ("ChangeConfiguration", "SetVariables", "TriggerMessage")]
        assert delivered == ["ChangeConfiguration" if version == "1.6" else "SetVariables", "TriggerMessage"]
        assert st.last("TriggerMessage")["requested_message"] == "Heartbeat"
        # what the station accepted is kept as its configuration
        detail = ok(await api.get(f"/api/v1/stations/{sid}"))
        assert any(v["variable"] == "HeartbeatInterval" and v["value"] == "120" for v in detail["configuration"])
        # an online station gets commands at once even when queueing is asked for
        r = await command(api, sid, "trigger-message", {"message": "Heartbeat"})
        assert r["result"]["accepted"]


async def test_a_command_the_last_known_version_cannot_say_is_refused_before_queueing(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("QV")
    async with connected(csms.ws_url, sid, "2.0.1"):
        pass
    await eventually(lambda: _offline(api, sid), "the station offline")
    r = await api.post(
        f"/api/v1/stations/{sid}/commands/get-configuration", json={"keys": ["A"]}, params={"queue_expiry_s": 60}
    )
    assert r.status_code == 400 and "get-variables" in r.json()["detail"]
    assert ok(await api.get(f"/api/v1/stations/{sid}/queue")) == []


async def _offline(api: httpx.AsyncClient, sid: str) -> bool:
    return not ok(await api.get(f"/api/v1/stations/{sid}"))["connected"]


async def test_cli_command_sends_now_or_queues_for_an_offline_station(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("QC")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        # in a thread: the station answering it runs on this event loop
        out = (await asyncio.to_thread(csms.cli, "command", sid, "trigger-message", '{"message": "Heartbeat"}')).stdout
        answer = json.loads(out)
        assert answer["action"] == "TriggerMessage" and answer["result"]["accepted"] is True
        assert st.last("TriggerMessage")["requested_message"] == "Heartbeat"
    await eventually(lambda: _offline(api, sid), "the station offline")
    offline = csms.cli("command", sid, "reset", "{}", check=False)
    assert offline.returncode == 1 and "409" in offline.stdout + offline.stderr
    bad = csms.cli("command", sid, "reset", "{}", "--queue-expiry", "0", check=False)
    assert bad.returncode == 2 and "--queue-expiry" in bad.stdout + bad.stderr
    queued = json.loads(csms.cli("command", sid, "reset", "{}", "--queue-expiry", "60").stdout)
    assert queued["status"] == "queued" and queued["command"] == "reset"
    table = csms.cli("queue", "list", sid).stdout
    assert str(queued["id"]) in table and "reset" in table
    csms.cli("queue", "cancel", str(queued["id"]))
    again = csms.cli("queue", "cancel", str(queued["id"]), check=False)
    assert again.returncode == 1 and "cancelled" in again.stdout + again.stderr
