"""The billing export at scale: 100,000 priced transactions streamed by a real ``ocppd serve``.

    .venv/bin/python -m bench.billing_export [--transactions 100000]

Seeds a SQLite database (tests/seed.py) and gives every finished transaction a cost row (bulk, as
pricing at the end would leave it), starts ``ocppd serve`` on it, streams
``GET /api/v1/billing/export`` (CSV and JSON lines), then asks for the totals reports over all of
them (per day, per month by station and by site, in Europe/Berlin) and prints one JSON object: rows,
seconds, rows/s and the server's resident memory before, after the exports and after the reports
(VmRSS, and its peak VmHWM). Also times the pure calculator on a multi-part tariff over a
50-reading session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, insert, select
from tests.billing.test_cost import DAY_NIGHT
from tests.csms_process import run_csms
from tests.seed import seed

from ocppd.csms.billing.cost import MeterPoint, SessionData, price_session
from ocppd.csms.billing.tariff import parse_tariff
from ocppd.store import Store
from ocppd.store.schema import transaction_costs, transactions


def _memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


async def _seed(url: str, count: int) -> None:
    store = Store(url)
    store.migrate()
    async with store:
        await seed(store, stations=100, transactions=count, messages=0)

        def costs(conn: Connection) -> None:
            t = transactions.c
            finished = select(t.id, t.station_id).where(t.stopped_at.is_not(None))
            ids = [(r.id, r.station_id) for r in conn.execute(finished)]
            cost = {"currency": "EUR", "excl_vat": "9.75", "vat": "1.85", "incl_vat": "11.60", "energy_kwh": "15.000"}
            rows = [
                {
                    "transaction_id": pk,
                    "site_id": f"site-{zlib.crc32(station_id.encode()) % 10}",  # ten sites, for the totals by site
                    "tariff_id": "daynight",
                    "tariff_version_id": 1,
                    "currency": "EUR",
                    "excl_vat_minor": 975,
                    "incl_vat_minor": 1160,
                    "energy_wh": 15000.0,
                    "charging_s": 5400.0,
                    "parking_s": 1800.0,
                    "cost": cost | {"charging_s": 5400, "parking_s": 1800},
                    "flags": [],
                    "reason": "transaction ended",
                    "computed_at": datetime.now(UTC),
                }
                for pk, station_id in ids
            ]
            for i in range(0, len(rows), 20_000):
                conn.execute(insert(transaction_costs), rows[i : i + 20_000])

        await store.write(costs)


async def _stream(base: str, key: str, fmt: str) -> tuple[int, float, int]:
    started = time.perf_counter()
    lines = size = 0
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as client,
        client.stream("GET", "/api/v1/billing/export", params={"format": fmt}) as response,
    ):
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
    rows = lines - 1 if fmt == "csv" else lines
    return rows, time.perf_counter() - started, size


async def _totals(base: str, key: str, params: dict[str, str]) -> tuple[int, float]:
    """One report: rows answered and seconds (all of them: limit at its maximum, CSV has no paging)."""
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as client:
        response = await client.get("/api/v1/billing/totals", params={**params, "format": "csv"})
        response.raise_for_status()
    return response.text.count("\n") - 1, time.perf_counter() - started


def _calculator(runs: int = 200) -> float:
    tariff = parse_tariff(DAY_NIGHT)
    start = datetime(2026, 6, 10, 15, tzinfo=UTC)
    readings = [MeterPoint(start + timedelta(minutes=3 * i), Decimal(10_000 + 250 * i)) for i in range(50)]
    session = SessionData(start, start + timedelta(minutes=160), Decimal(10_000), Decimal(22_500), readings)
    began = time.perf_counter()
    for _ in range(runs):
        price_session(tariff, session)
    return (time.perf_counter() - began) / runs * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=100_000)
    args = parser.parse_args()
    results: dict[str, Any] = {"transactions": args.transactions}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "ocppd-data"
        data.mkdir()
        url = f"sqlite:///{data}/ocppd.db"
        began = time.perf_counter()
        asyncio.run(_seed(url, args.transactions))
        results["seed_s"] = round(time.perf_counter() - began, 1)
        with run_csms(Path(tmp), database_url=url) as server:
            key = (
                server.cli("apikeys", "create", "--role", "read-only", "--name", "bench")
                .stdout.strip()
                .splitlines()[-1]
            )
            results["rss_before_kb"] = _memory_kb(server.process.pid)
            for fmt in ("csv", "json"):
                rows, seconds, size = asyncio.run(_stream(server.http_url, key, fmt))
                results[fmt] = {
                    "rows": rows,
                    "seconds": round(seconds, 2),
                    "rows_per_s": int(rows / seconds),
                    "bytes": size,
                }
            results["rss_after_export_kb"] = _memory_kb(server.process.pid)
            reports = {
                "day": {"period": "day", "tz": "Europe/Berlin"},
                "month_by_station": {"period": "month", "by": "station", "tz": "Europe/Berlin"},
                "month_by_site": {"period": "month", "by": "site", "tz": "Europe/Berlin"},
            }
            for name, params in reports.items():
                rows, seconds = asyncio.run(_totals(server.http_url, key, params))
                results[f"totals_{name}"] = {"rows": rows, "seconds": round(seconds, 2)}
            results["rss_after_kb"] = _memory_kb(server.process.pid)
    results["calculator_ms_per_session"] = round(_calculator(), 3)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
