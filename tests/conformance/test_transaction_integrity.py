"""Transactions you can trust, against ``ocppd serve``: one open transaction per EVSE, abandoned ones
closed after a reboot (unless a 2.0.1 station continues them), ConcurrentTx only for live use,
operator force-close (API and CLI), and nonsense from stations recorded without negative energy."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conformance.conftest import GRACE_S
from tests.conformance.stations import (
    Station16,
    Station201,
    add_tokens,
    connect,
    events,
    eventually,
    new_id,
    transactions,
)
from tests.csms_process import CsmsProcess


async def _one(api: httpx.AsyncClient, station_id: str, transaction_id: str) -> dict[str, Any]:
    [tx] = [t for t in await transactions(api, station_id) if t["transaction_id"] == transaction_id]
    return tx


async def test_new_start_on_a_busy_connector_closes_the_old_one(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("INT16")
    add_tokens(csms, "INT-A", "INT-B")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        first = await cp.start_tx("INT-A", meter_start=1000)
        await cp.meter(first.transaction_id, 1800)
        second = await cp.start_tx("INT-B", meter_start=2000)
        assert second.id_tag_info["status"] == "Accepted"
    old = await _one(api, station, str(first.transaction_id))
    assert not old["active"] and old["stop_reason"] == "Superseded" and old["flagged"]
    assert old["meter_stop_wh"] == 1800 and old["energy_wh"] == 800  # the last known reading
    assert old["closed_by"] == "csms"
    assert [t["transaction_id"] for t in await transactions(api, station) if t["active"]] == [
        str(second.transaction_id)
    ]


async def test_abandoned_after_reboot_closed_with_last_reading_and_card_free(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    """The first-time user's complaint: a station restarted without its transaction store."""
    station, other = new_id("INT16"), new_id("INT16")
    add_tokens(csms, "INT-C")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        started = await cp.start_tx("INT-C", meter_start=5000)
        await cp.meter(started.transaction_id, 5600)
    async with connect(csms, station, Station16) as cp:
        await cp.boot()  # forgot everything: never mentions the transaction again
        async with connect(csms, other, Station16) as cp2:
            await cp2.boot()
            # the card's old transaction is waiting to be closed, not live: no ConcurrentTx
            again = await cp2.start_tx("INT-C")
            assert again.id_tag_info["status"] == "Accepted"

            async def closed() -> dict[str, Any] | None:
                tx = await _one(api, station, str(started.transaction_id))
                return tx if not tx["active"] else None

            tx = await eventually(closed, "the abandoned transaction closed", deadline=GRACE_S + 30)
    assert tx["stop_reason"] == "Abandoned" and tx["meter_stop_wh"] == 5600 and tx["energy_wh"] == 600
    assert "rebooted" in tx["close_reason"]


async def test_v201_transaction_continued_across_a_reboot_stays_open(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("INT201")
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        await cp.event("Started", tx_id, "CablePluggedIn", wh=100, info={"charging_state": "EVConnected"})
    async with connect(csms, station, Station201) as cp:
        cp.seq = {tx_id: 0}
        await cp.boot(reason="PowerUp")
        await cp.event("Updated", tx_id, "MeterValuePeriodic", wh=300)  # same transactionId, seqNo 1
        ended_other = new_id("TX")  # a second transaction that is not continued: closed
        ongoing = await _one(api, station, tx_id)
        assert ongoing["active"]
        await eventually(
            lambda: _boot_grace_over(api, station, tx_id), "the boot grace period to pass", deadline=GRACE_S + 30
        )
        assert (await _one(api, station, tx_id))["active"], "a continued transaction must not be closed"
        del ended_other


async def _boot_grace_over(api: httpx.AsyncClient, station: str, tx_id: str) -> bool:
    tx = await _one(api, station, tx_id)
    return tx["stale"] is None  # no longer "waiting to be continued"


async def test_available_connector_without_stop_closes_after_the_grace(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("INT16")
    add_tokens(csms, "INT-D")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        started = await cp.start_tx("INT-D", meter_start=0)
        await cp.meter(started.transaction_id, 250)
        await cp.status(1, "Available")  # and never a StopTransaction

        async def closed() -> dict[str, Any] | None:
            tx = await _one(api, station, str(started.transaction_id))
            return tx if not tx["active"] else None

        tx = await eventually(closed, "the transaction closed", deadline=GRACE_S + 30)
        assert tx["energy_wh"] == 250 and "Available" in tx["close_reason"]
        # the station's own stop, arriving late, replaces the CSMS's figures
        await cp.stop_tx(started.transaction_id, 300, reason="Local")
    tx = await _one(api, station, str(started.transaction_id))
    assert tx["meter_stop_wh"] == 300 and tx["energy_wh"] == 300 and tx["stop_reason"] == "Local"


async def test_concurrent_tx_only_for_live_use_and_per_token_policy(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    first, second = new_id("INT16"), new_id("INT16")
    add_tokens(csms, "INT-E", "INT-FLEET-1")
    response = await api.patch("/api/v1/tokens/INT-FLEET-1", json={"concurrent_tx": True})
    assert response.status_code == 200 and response.json()["concurrent_tx"] is True
    async with connect(csms, first, Station16) as a, connect(csms, second, Station16) as b:
        await a.boot()
        await b.boot()
        assert (await a.start_tx("INT-E")).id_tag_info["status"] == "Accepted"
        assert (await b.start_tx("INT-E")).id_tag_info["status"] == "ConcurrentTx"
        assert (await b.call_authorize("INT-E")) == "ConcurrentTx"
        assert (await a.call_authorize("INT-E")) == "Accepted"  # on its own station: may be the stop
        assert (await a.start_tx("INT-FLEET-1", connector=2)).id_tag_info["status"] == "Accepted"
        assert (await b.start_tx("INT-FLEET-1", connector=2)).id_tag_info["status"] == "Accepted"


async def test_force_close_api_and_cli_record_who_and_why(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("INT16")
    add_tokens(csms, "INT-F", "INT-G")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        one = await cp.start_tx("INT-F", meter_start=100)
        await cp.meter(one.transaction_id, 400)
        two = await cp.start_tx("INT-G", connector=2, meter_start=0)
    pk_one = (await _one(api, station, str(one.transaction_id)))["id"]
    pk_two = (await _one(api, station, str(two.transaction_id)))["id"]
    assert (await _one(api, station, str(one.transaction_id)))["stale"] == "the station is offline"

    missing = await api.post(f"/api/v1/transactions/{pk_one}/close", json={})
    assert missing.status_code == 400 and "reason" in missing.text
    blank = await api.post(f"/api/v1/transactions/{pk_one}/close", json={"reason": "   "})
    assert blank.status_code == 400 and "reason" in blank.text
    assert (await api.post("/api/v1/transactions/999999/close", json={"reason": "x"})).status_code == 404
    closed = await api.post(f"/api/v1/transactions/{pk_one}/close", json={"reason": "station replaced"})
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert body["stop_reason"] == "ForceClosed" and body["energy_wh"] == 300 and body["meter_stop_wh"] == 400
    assert (
        body["closed_by"] == "operator:admin.token" and body["close_reason"] == "station replaced" and body["flagged"]
    )
    again = await api.post(f"/api/v1/transactions/{pk_one}/close", json={"reason": "twice"})
    assert again.status_code == 409

    out = csms.cli("transactions", "close", str(pk_two), "--reason", "cable cut")
    assert "closed" in out.stdout
    [row] = [t for t in json.loads(csms.cli("transactions", "list", "--station", station, "--json").stdout)
             if t["id"] == pk_two]  # fmt: skip
    assert row["closed_by"].startswith("operator:cli:") and row["close_reason"] == "cable cut"
    assert csms.cli("transactions", "close", str(pk_two), "--reason", "x", check=False).returncode == 1


async def test_meter_stop_below_start_never_negative_and_recorded(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("INT16")
    add_tokens(csms, "INT-H")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        started = await cp.start_tx("INT-H", meter_start=9000)
        await cp.meter(started.transaction_id, 9500)
        await cp.meter(started.transaction_id, 10)  # the register reset
        await cp.stop_tx(started.transaction_id, 200)
    tx = await _one(api, station, str(started.transaction_id))
    assert tx["energy_wh"] == 500 + 190 and tx["flagged"]
    [anomaly] = [e for e in await events(api, station) if e["kind"] == "EnergyAnomaly"]
    assert any("below meter start" in p for p in anomaly["payload"]["problems"])


async def test_v201_seqno_repeated_with_other_content_and_reused_transaction_id(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station, other = new_id("INT201"), new_id("INT201")
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp, connect(csms, other, Station201) as cp2:
        await cp.boot()
        await cp2.boot()
        await cp.event("Started", tx_id, "CablePluggedIn", wh=0)
        await cp.event("Updated", tx_id, "MeterValuePeriodic", wh=100, seq_no=1)
        await cp.event("Updated", tx_id, "ChargingStateChanged", wh=100, seq_no=1,
                       info={"charging_state": "Charging"})  # fmt: skip
        await cp.event("Updated", tx_id, "MeterValuePeriodic", wh=50, seq_no=0)  # backwards, live
        await cp2.event("Started", tx_id, "CablePluggedIn", wh=0)  # the same id on another station
        await cp.event("Ended", tx_id, "EVCommunicationLost", wh=400, info={"stopped_reason": "EVDisconnected"})
    kinds = [e["kind"] for e in await events(api, station)]
    assert "SeqNoConflict" in kinds and "SeqNoOutOfOrder" not in kinds  # seqNo 0 was seen: a conflict too
    assert "TransactionIdReused" in [e["kind"] for e in await events(api, other)]
    tx = await _one(api, station, tx_id)
    assert tx["energy_wh"] == 400 and tx["charging_state"] != "Charging"  # the conflicting event not applied
    assert (await _one(api, other, tx_id))["active"]


async def test_second_start_on_an_evse_v201_closes_the_first(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("INT201")
    first, second = new_id("TX"), new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        await cp.event("Started", first, "CablePluggedIn", wh=1000)
        await cp.event("Updated", first, "MeterValuePeriodic", wh=1700)
        await cp.event("Started", second, "CablePluggedIn", wh=2000)
    old = await _one(api, station, first)
    assert old["stop_reason"] == "Superseded" and old["energy_wh"] == 700
    assert (await _one(api, station, second))["active"]


async def test_status_for_an_undeclared_connector_is_recorded(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("INT16")
    async with connect(csms, station, Station16) as cp:
        await cp.boot()
        cp.answers["GetConfiguration"] = {
            "configuration_key": [{"key": "NumberOfConnectors", "readonly": True, "value": "2"}]
        }
        response = await api.post(f"/api/v1/stations/{station}/commands/get-configuration", json={})
        assert response.status_code == 200, response.text
        await cp.status(2, "Available")
        await cp.status(3, "Available")  # it has two
    recorded = [e["payload"] for e in await events(api, station) if e["kind"] == "UndeclaredConnector"]
    assert recorded == [{"evse_id": 3, "connector_id": 3, "status": "Available"}]


def test_no_exception_in_the_server_log(csms: CsmsProcess) -> None:
    """Everything above was answered without an exception (runs last in the module)."""
    log = csms.log()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
