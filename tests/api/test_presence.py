"""Any message counts as "seen", and an offline station's connectors show as offline (issue 8, item 6)."""

from __future__ import annotations

import json
from datetime import datetime

import httpx

from tests.api.conftest import eventually, new_station_id, ok
from tests.api.stations import connected
from tests.csms_process import CsmsProcess


def _at(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


async def test_last_seen_moves_on_any_message(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_station_id("SEEN")
    async with connected(server.ws_url, sid, "1.6") as station:
        booted = _at(ok(await api.get(f"/api/v1/stations/{sid}"))["last_seen_at"])
        before_status = datetime.now(booted.tzinfo)
        await station.status(1, "Preparing")  # neither a boot nor a heartbeat
        row = ok(await api.get(f"/api/v1/stations/{sid}"))
        assert _at(row["last_seen_at"]) >= before_status > booted  # at once, from memory
        assert row["last_heartbeat_at"] is None

        def stored() -> datetime | None:
            out = server.cli("stations", "list", "--json").stdout
            mine = next(r for r in json.loads(out) if r["station_id"] == sid)
            return _at(mine["last_seen_at"]) if mine["last_seen_at"] else None

        async def flushed() -> bool:  # and in the database a few seconds later (one bulk write)
            at = stored()
            return at is not None and at >= before_status

        await eventually(flushed, "the last-seen time in the stations table")


async def test_offline_station_connectors_are_offline(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_station_id("GONE")
    async with connected(server.ws_url, sid, "2.0.1"):

        async def reported() -> dict | None:
            row = ok(await api.get(f"/api/v1/stations/{sid}"))
            return row if row["connectors"] and row["connectors"][0]["status"] == "Available" else None

        await eventually(reported, "the connector's Available status")

    async def offline() -> dict | None:
        row = ok(await api.get(f"/api/v1/stations/{sid}"))
        return None if row["connected"] else row

    row = await eventually(offline, "the station to be offline")
    assert row["status"] == "Offline"
    assert [c["status"] for c in row["connectors"]] == ["Offline"]
    assert [c["connector_status"] for c in row["connectors"]] == ["Available"]  # the last report stays visible
    listed = ok(await api.get("/api/v1/stations", params={"q": sid}))
    assert [c["status"] for c in listed[0]["connectors"]] == ["Offline"]
