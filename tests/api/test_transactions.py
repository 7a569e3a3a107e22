"""Transactions: filters, detail with meter samples and energy, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx

from tests.api.conftest import eventually, new_station_id, ok
from tests.api.stations import connected
from tests.csms_process import CsmsProcess


async def _charge(api: httpx.AsyncClient, server: CsmsProcess, sid: str, token: str, version: str) -> dict:
    """One complete remote-started session with a few meter values; returns the transaction."""
    async with connected(server.ws_url, sid, version, meter_interval=0.2):
        ok(await api.post(f"/api/v1/stations/{sid}/commands/remote-start", json={"id_token": token, "evse_id": 1}))

        async def sampled() -> dict | None:
            rows = ok(await api.get("/api/v1/transactions", params={"station": sid, "active": "true"}))
            if not rows:
                return None
            detail = ok(await api.get(f"/api/v1/transactions/{rows[0]['id']}"))
            powers = [m for m in detail["meter_samples"] if m["measurand"] == "Power.Active.Import"]
            return detail if len(powers) >= 2 else None

        tx = await eventually(sampled, "an active transaction with meter samples")
        stop = {"transaction_id": tx["transaction_id"]}
        ok(await api.post(f"/api/v1/stations/{sid}/commands/remote-stop", json=stop))

        async def ended() -> dict | None:
            t = ok(await api.get(f"/api/v1/transactions/{tx['id']}"))
            return t if t["stopped_at"] and t["energy_wh"] is not None else None

        return await eventually(ended, "the transaction to end")


async def test_list_filter_detail_and_csv(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    a, b = new_station_id("TXA"), new_station_id("TXB")
    tx_a = await _charge(api, server, a, "CARD-A", "1.6")
    tx_b = await _charge(api, server, b, "CARD-B", "2.0.1")

    assert tx_a["energy_wh"] > 0 and tx_a["meter_start_wh"] == 1000.0 and tx_a["meter_stop_wh"] > 1000.0
    assert tx_b["energy_wh"] > 0 and tx_b["ocpp_version"] == "2.0.1"
    samples = tx_a["meter_samples"]
    assert {"Power.Active.Import", "Energy.Active.Import.Register"} <= {m["measurand"] for m in samples}
    assert all(m["transaction_id"] == tx_a["id"] for m in samples)
    assert next(e["event_type"] for e in tx_b["events"]) == "Started"

    by_station = ok(await api.get("/api/v1/transactions", params={"station": a}))
    assert [t["id"] for t in by_station] == [tx_a["id"]]
    by_token = ok(await api.get("/api/v1/transactions", params={"id_token": "CARD-B"}))
    assert [t["id"] for t in by_token] == [tx_b["id"]]
    in_range = ok(await api.get("/api/v1/transactions", params={"since": start.isoformat(), "limit": 1000}))
    assert {tx_a["id"], tx_b["id"]} <= {t["id"] for t in in_range}
    assert ok(await api.get("/api/v1/transactions", params={"until": start.isoformat(), "station": a})) == []
    assert ok(await api.get("/api/v1/transactions", params={"station": a, "active": "true"})) == []

    export = await api.get("/api/v1/transactions/export.csv", params={"since": start.isoformat()})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(export.text)))
    row = next(r for r in rows if r["station_id"] == a)
    assert row["id_token"] == "CARD-A" and float(row["energy_wh"]) == tx_a["energy_wh"]
    assert row["stop_reason"] == "Remote"


async def test_transaction_errors(api: httpx.AsyncClient, anon: httpx.AsyncClient) -> None:
    missing = await api.get("/api/v1/transactions/999999")
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_transaction"
    assert (await api.get("/api/v1/transactions/abc")).status_code == 400
    backwards = await api.get(
        "/api/v1/transactions", params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    )
    assert backwards.status_code == 400
    assert (await api.get("/api/v1/transactions", params={"since": "last week"})).status_code == 400
    assert (await api.get("/api/v1/transactions/export.csv", params={"limit": -1})).status_code == 400
    assert (await anon.get("/api/v1/transactions/export.csv")).status_code == 401
