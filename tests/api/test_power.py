"""Power charts' data: a transaction's power and energy, and a station's power history that survives a
restart of ``ocppd serve`` (stored readings fill in before the in-memory live series begins)."""

from __future__ import annotations

import asyncio
import itertools
import statistics
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import bearer, eventually, new_station_id, ok
from tests.api.stations import POWER_W, WH_PER_TICK, connected
from tests.api.test_transactions import _charge
from tests.csms_process import CsmsProcess, free_port, serve

ENERGY = "Energy.Active.Import.Register"


def _times(series: list[dict]) -> list[datetime]:
    return [datetime.fromisoformat(p["at"]) for p in series]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_transaction_power_series(
    server: CsmsProcess, api: httpx.AsyncClient, ro_api: httpx.AsyncClient, version: str
) -> None:
    sid = new_station_id("PWT")
    tx = await _charge(api, server, sid, f"CARD-{sid}", version)
    power = ok(await ro_api.get(f"/api/v1/transactions/{tx['id']}/power"))  # read-only may look

    readings = {m["timestamp"] for m in tx["meter_samples"] if m["measurand"] == "Power.Active.Import"}
    series = power["series"]
    assert (power["id"], power["transaction_id"], power["station_id"]) == (tx["id"], tx["transaction_id"], sid)
    assert power["stopped_at"] == tx["stopped_at"] and power["active"] is False
    assert len(series) == len(readings) >= 2
    assert {p["at"] for p in series} == readings
    assert _times(series) == sorted(_times(series))
    assert all(p["power_w"] == POWER_W for p in series) and power["max_power_w"] == POWER_W
    # Energy counts from the transaction's start: the reading's register minus the start value.
    registers = {m["timestamp"]: m["value"] for m in tx["meter_samples"] if m["measurand"] == ENERGY}
    energy = [p["energy_wh"] for p in series]
    assert energy == [registers[p["at"]] - tx["meter_start_wh"] for p in series]
    assert energy == sorted(energy) and energy[0] >= 0 and energy[-1] >= WH_PER_TICK
    assert power["meter_start_wh"] == tx["meter_start_wh"]
    assert power["energy_wh"] == tx["energy_wh"] == pytest.approx(energy[-1])

    fewer = ok(await api.get(f"/api/v1/transactions/{tx['id']}/power", params={"points": 2}))
    assert len(fewer["series"]) == 2 and fewer["series"][0]["at"] == series[0]["at"]
    assert fewer["series"][-1]["energy_wh"] == energy[-1]  # a slice keeps its last energy


async def test_transaction_power_errors(api: httpx.AsyncClient, anon: httpx.AsyncClient) -> None:
    missing = await api.get("/api/v1/transactions/999999/power")
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_transaction"
    assert (await api.get("/api/v1/transactions/abc/power")).status_code == 400
    for bad in ("1", "0", "-5", "many", "100001"):
        response = await api.get("/api/v1/transactions/1/power", params={"points": bad})
        assert response.status_code == 400, bad
    assert (await anon.get("/api/v1/transactions/1/power")).status_code == 401


async def test_station_power_live_and_errors(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_station_id("PWS")
    async with connected(server.ws_url, sid, "1.6", meter_interval=0.2):
        ok(await api.post(f"/api/v1/stations/{sid}/commands/remote-start", json={"id_token": "CARD-PWS", "evse_id": 1}))

        async def charging() -> dict | None:
            power = ok(await api.get(f"/api/v1/stations/{sid}/power"))
            return power if power["power_w"] == POWER_W and len(power["series"]) >= 3 else None

        power = await eventually(charging, "live power readings")
        # The server saw this station's whole life: the live series covers it, nothing stored is mixed in.
        assert {p["source"] for p in power["series"]} == {"live"} and power["history_until"] is None
        assert power["window_s"] == 3600 and power["bucket_s"] == 30
        assert power["series"][-1]["power_w"] == POWER_W

    missing = await api.get("/api/v1/stations/NOPE-404/power")
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_station"
    for params in ({"minutes": 0}, {"minutes": 1441}, {"minutes": "soon"}, {"bucket": 0}, {"bucket": 3601}):
        assert (await api.get(f"/api/v1/stations/{sid}/power", params=params)).status_code == 400, params
    too_fine = await api.get(f"/api/v1/stations/{sid}/power", params={"minutes": 1440, "bucket": 1})
    assert too_fine.status_code == 400 and too_fine.json()["code"] == "invalid_input"


async def test_station_power_history_survives_restart(tmp_path: Path) -> None:
    sid, data_dir = "RESTART-1", tmp_path / "ocppd-data"

    def start(life: str) -> AbstractContextManager[CsmsProcess]:
        return serve(data_dir, free_port(), free_port(), tmp_path / f"serve-{life}.log")

    # First life of the server: one charging session with readings every 0.2 s, then the station leaves.
    with start("first") as first:
        async with httpx.AsyncClient(base_url=first.http_url, headers=bearer(first.admin_token)) as api:
            async with connected(first.ws_url, sid, "1.6", meter_interval=0.2) as station:
                ok(await api.post(f"/api/v1/stations/{sid}/commands/remote-start", json={"id_token": "CARD-R"}))

                async def readings() -> bool:
                    return len(ok(await api.get(f"/api/v1/stations/{sid}/power"))["series"]) >= 12

                await eventually(readings, "a dozen live readings")
                await station.stop_session()
            before = ok(await api.get(f"/api/v1/stations/{sid}/power"))
            assert {p["source"] for p in before["series"]} == {"live"} and before["history_until"] is None

    # Second life: memory is empty, the stored readings give the history.
    with start("second") as second:
        async with httpx.AsyncClient(base_url=second.http_url, headers=bearer(second.admin_token)) as api:
            after = ok(await api.get(f"/api/v1/stations/{sid}/power"))
            assert after["power_w"] == 0 and after["bucket_s"] == 30
            series = after["series"]
            assert series and {p["source"] for p in series} == {"stored"}
            assert _times(series) == sorted(_times(series))
            assert after["history_until"] is not None
            # 30 s buckets average the few seconds of charging with the idle rest of the bucket.
            assert 0 < max(p["power_w"] for p in series) <= POWER_W

            # Wait until the last reading's power has expired (2.5 reading intervals, see docs/api.md),
            # however slow the readings came on a busy machine.
            txs = ok(await api.get("/api/v1/transactions", params={"station": sid}))
            at = _times(ok(await api.get(f"/api/v1/transactions/{txs[0]['id']}/power"))["series"])
            hold = 2.5 * statistics.median((b - a).total_seconds() for a, b in itertools.pairwise(at))
            assert hold < 20
            await asyncio.sleep(max(0.0, (at[-1] - datetime.now(UTC)).total_seconds() + hold + 1.5))
            fine = ok(await api.get(f"/api/v1/stations/{sid}/power", params={"minutes": 10, "bucket": 1}))
            assert fine["bucket_s"] == 1 and {p["source"] for p in fine["series"]} == {"stored"}
            powers = [p["power_w"] for p in fine["series"]]
            assert powers.count(pytest.approx(POWER_W)) >= 1  # whole seconds inside the session
            assert max(powers) == pytest.approx(POWER_W)
            assert powers[-1] == 0  # the EVSE stopped reporting: its last power is not held forever
            started = datetime.fromisoformat(before["series"][0]["at"])  # the live transaction start
            assert abs((_times(fine["series"])[0] - started).total_seconds()) < 5

            # The station comes back and charges again: live points follow the stored history.
            async with connected(second.ws_url, sid, "1.6", meter_interval=0.2):
                ok(await api.post(f"/api/v1/stations/{sid}/commands/remote-start", json={"id_token": "CARD-R"}))

                async def mixed() -> dict | None:
                    power = ok(await api.get(f"/api/v1/stations/{sid}/power", params={"minutes": 10, "bucket": 1}))
                    live = [p for p in power["series"] if p["source"] == "live"]
                    return power if len(live) >= 3 and power["power_w"] == POWER_W else None

                power = await eventually(mixed, "live readings after the stored history")
                sources = [p["source"] for p in power["series"]]
                assert sources[0] == "stored" and sources[-1] == "live"
                assert sources == sorted(sources, key=lambda s: s == "live")  # stored first, then live
                first_live = next(p for p in power["series"] if p["source"] == "live")
                assert power["history_until"] == first_live["at"]
                assert _times(power["series"]) == sorted(_times(power["series"]))
                stored = [p for p in power["series"] if p["source"] == "stored"]
                assert max(p["power_w"] for p in stored) == pytest.approx(POWER_W)  # the first session
