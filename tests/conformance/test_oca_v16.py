"""OCA OCPP 1.6 CSMS cases of Core (sessions, authorization, power failure, offline) against
``ocppd serve`` with the ``ocpp`` package playing the test tool's charge point; SQLite and PostgreSQL.
(Reservation cases: test_oca_reservations.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conformance.stations import Station16, add_tokens, connect, events, new_id, transactions, ts
from tests.csms_process import CsmsProcess


async def one(api: httpx.AsyncClient, station: str, transaction_id: int) -> dict[str, Any]:
    [row] = [t for t in await transactions(api, station) if t["transaction_id"] == str(transaction_id)]
    return row


async def test_tc_003_tc_004_1_regular_charging_session(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T16")
    add_tokens(csms, "TC003")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        await cp.status(1, "Preparing")  # TC_003 plug-in first (TC_004_1: the Authorize first)
        assert await cp.call_authorize("TC003") == "Accepted"
        started = await cp.start_tx("TC003", meter_start=0)
        assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
        await cp.status(1, "Charging")
        await cp.meter(started.transaction_id, 700)
        stopped = await cp.stop_tx(started.transaction_id, 1000, reason="Local", id_tag="TC003")
        assert stopped.id_tag_info["status"] == "Accepted"
    row = await one(api, station, started.transaction_id)
    assert row["energy_wh"] == 1000 and row["stop_reason"] == "Local"


async def test_tc_004_2_connection_timeout_leaves_no_transaction(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T16")
    add_tokens(csms, "TC0042")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        assert await cp.call_authorize("TC0042") == "Accepted"
        await cp.status(1, "Preparing")
        await cp.status(1, "Available")
    assert await transactions(api, station) == []


async def test_tc_005_1_ev_side_disconnected(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T16")
    add_tokens(csms, "TC005")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        started = await cp.start_tx("TC005", meter_start=100)
        await cp.status(1, "Charging")
        await cp.status(1, "SuspendedEV")
        stopped = await cp.stop_tx(started.transaction_id, 2100, reason="EVDisconnected", id_tag="TC005")
        assert stopped.id_tag_info["status"] == "Accepted"
        await cp.status(1, "Finishing")
        await cp.status(1, "Available")
    row = await one(api, station, started.transaction_id)
    assert row["meter_stop_wh"] == 2100 and row["stop_reason"] == "EVDisconnected" and not row["flagged"]


async def test_tc_007_cached_id_start_without_authorize(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T16")
    add_tokens(csms, "TC007")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        await cp.status(1, "Preparing")
        assert (await cp.start_tx("TC007")).id_tag_info["status"] == "Accepted"


async def test_tc_023_1_2_3_authorize_invalid_expired_blocked(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T16")
    add_tokens(csms, "TC023-EXP", "TC023-BLK")
    assert (await api.post("/api/v1/tokens/TC023-EXP/expire")).status_code == 200
    assert (await api.post("/api/v1/tokens/TC023-BLK/block")).status_code == 200
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        assert await cp.call_authorize("TC023-NOBODY") == "Invalid"
        assert await cp.call_authorize("TC023-EXP") == "Expired"
        assert await cp.call_authorize("TC023-BLK") == "Blocked"
        # and the same in StartTransaction, with a transactionId all the same
        for tag, status in (("TC023-NOBODY", "Invalid"), ("TC023-EXP", "Expired"), ("TC023-BLK", "Blocked")):
            started = await cp.start_tx(tag)
            assert started.id_tag_info["status"] == status and started.transaction_id > 0
            stopped = await cp.stop_tx(started.transaction_id, 1000, reason="DeAuthorized", id_tag=tag)
            assert stopped.id_tag_info["status"] == status


async def test_tc_024_lock_failure_recorded(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T16")
    add_tokens(csms, "TC024")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        assert await cp.call_authorize("TC024") == "Accepted"
        await cp.status(1, "Preparing")
        await cp.status(1, "Faulted", error_code="ConnectorLockFailure")
    detail = (await api.get(f"/api/v1/stations/{station}")).json()
    [connector] = [c for c in detail["connectors"] if c["connector_id"] == 1]
    assert connector["error_code"] == "ConnectorLockFailure"


async def test_tc_032_1_power_failure_stop_after_the_new_boot(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T16")
    add_tokens(csms, "TC032")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        started = await cp.start_tx("TC032", meter_start=0)
        await cp.status(1, "Charging")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        await cp.status(1, "Finishing")
        stopped = await cp.stop_tx(started.transaction_id, 800, reason="PowerLoss", id_tag="TC032")
        assert stopped.id_tag_info["status"] == "Accepted"
        again = await cp.start_tx("TC032", meter_start=800)  # a new session, not mixed up with the old
        assert again.transaction_id != started.transaction_id
    row = await one(api, station, started.transaction_id)
    assert row["stop_reason"] == "PowerLoss" and row["energy_wh"] == 800 and row["closed_by"] is None


async def test_tc_037_1_tc_039_offline_transactions_keep_their_times(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T16")
    add_tokens(csms, "TC037")
    hours_ago = datetime.now(UTC) - timedelta(hours=4)
    start_at = hours_ago.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    stop_at = (hours_ago + timedelta(hours=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        started = await cp.start_tx("TC037", meter_start=0, timestamp=start_at)
        assert started.id_tag_info["status"] == "Accepted"
        await cp.stop_tx(started.transaction_id, 5000, reason="Local", timestamp=stop_at)
    row = await one(api, station, started.transaction_id)
    assert row["started_at"].startswith(hours_ago.isoformat()[:16]) and row["energy_wh"] == 5000


async def test_tc_037_3_offline_start_invalid_tag_gets_an_id_and_stops(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("T16")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        started = await cp.start_tx("TC0373-UNKNOWN", timestamp=ts(-3600))
        assert started.id_tag_info["status"] == "Invalid" and started.transaction_id > 0
        await cp.status(1, "Charging")
        await cp.stop_tx(started.transaction_id, 1200, reason="DeAuthorized")
        await cp.status(1, "Finishing")
    row = await one(api, station, started.transaction_id)
    assert not row["active"] and row["stop_reason"] == "DeAuthorized"


async def test_stop_for_unknown_transaction_answered_and_recorded(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T16")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        answer = await cp.stop_tx(987654321, 100)
        assert answer.id_tag_info is None
    assert "UnknownTransactionStop" in [e["kind"] for e in await events(api, station)]


async def test_tc_061_clear_authorization_cache(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T16")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        response = await api.post(f"/api/v1/stations/{station}/commands/clear-cache", json={})
        assert response.status_code == 200 and response.json()["response"] == {"status": "Accepted"}
        assert cp.requests("ClearCache") == [{}]
