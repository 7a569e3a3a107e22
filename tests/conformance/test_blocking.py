"""Blocking a token with a running transaction: ``transactions.on_block`` remote_stop (RemoteStop /
RequestStopTransaction through the verbs) and deauthorize (2.x: Blocked in the answer to the next
TransactionEvent), visible on the transaction (``deauthorized_at``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conformance.stations import Station16, Station201, add_tokens, connect, eventually, new_id, transactions
from tests.csms_process import CsmsProcess, run_csms


def _server(tmp_path: Path, action: str) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path, extra_env={"OCPPD_TRANSACTIONS__ON_BLOCK": action}) as server:
        yield server


@pytest.fixture(scope="module")
def stopping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    yield from _server(tmp_path_factory.mktemp("block-stop"), "remote_stop")


@pytest.fixture(scope="module")
def deauthorizing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    yield from _server(tmp_path_factory.mktemp("block-deauth"), "deauthorize")


@asynccontextmanager
async def api_of(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=60) as client:
        yield client


async def _tx(api: httpx.AsyncClient, station: str) -> dict[str, Any]:
    [row] = await transactions(api, station)
    return row


async def test_block_with_remote_stop(stopping: CsmsProcess) -> None:
    station = new_id("BLK16")
    add_tokens(stopping, "BLOCK-ME")
    async with api_of(stopping) as api:
        async with connect(stopping, station, Station16) as cp:
            await cp.boot()
            started = await cp.start_tx("BLOCK-ME")
            assert (await api.post("/api/v1/tokens/BLOCK-ME/block")).status_code == 200
            assert cp.requests("RemoteStopTransaction") == [{"transaction_id": started.transaction_id}]
            assert (await _tx(api, station))["deauthorized_at"] is not None
            await cp.stop_tx(started.transaction_id, 1500, reason="Remote")
        assert not (await _tx(api, station))["active"]


async def test_block_with_the_cli_is_picked_up(stopping: CsmsProcess) -> None:
    station = new_id("BLK201")
    add_tokens(stopping, "BLOCK-CLI")
    tx_id = new_id("TX")
    async with connect(stopping, station, Station201) as cp:
        await cp.boot()
        await cp.event("Started", tx_id, "Authorized", token="BLOCK-CLI", wh=0)
        stopping.cli("tokens", "block", "BLOCK-CLI")  # the database only: the server sweeps for it

        async def stopped() -> list[dict[str, Any]]:
            return cp.requests("RequestStopTransaction")

        assert await eventually(stopped, "RequestStopTransaction after a CLI block") == [{"transaction_id": tx_id}]


async def test_block_with_deauthorize_answers_the_next_event(deauthorizing: CsmsProcess) -> None:
    station = new_id("BLK201")
    add_tokens(deauthorizing, "DEAUTH-ME")
    tx_id = new_id("TX")
    async with api_of(deauthorizing) as api:
        async with connect(deauthorizing, station, Station201) as cp:
            await cp.boot()
            await cp.event("Started", tx_id, "Authorized", token="DEAUTH-ME", wh=0)
            assert (await cp.event("Updated", tx_id, "MeterValuePeriodic", wh=100)).id_token_info is None
            assert (await api.post("/api/v1/tokens/DEAUTH-ME/block")).status_code == 200
            answer = await cp.event("Updated", tx_id, "MeterValuePeriodic", wh=200)
            assert answer.id_token_info == {"status": "Blocked"}
            assert cp.requests("RequestStopTransaction") == []
            assert (await cp.event("Updated", tx_id, "MeterValuePeriodic", wh=300)).id_token_info is None  # once
            await cp.event("Ended", tx_id, "Deauthorized", wh=300, info={"stopped_reason": "DeAuthorized"})
        row = await _tx(api, station)
        assert row["deauthorized_at"] is not None and row["stop_reason"] == "DeAuthorized"
