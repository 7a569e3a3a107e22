"""The billing export and totals at scale: 100,000 priced transactions served by a real ``ocppd serve``.

    .venv/bin/python -m bench.billing_export [--transactions 100000] [--totals-only]
        [--database-url postgresql+psycopg://postgres@127.0.0.1/ocppd_bench]  (an empty database)

Seeds the database (SQLite in a temporary folder by default; tests/seed.py, 100 stations, 10,000
tokens) and gives every finished transaction a cost row (bulk, as pricing at the end would leave it),
starts ``ocppd serve`` on it, streams ``GET /api/v1/billing/export`` (CSV and JSON lines), then the
totals reports over all of them (per day, per month by station, site and token, and the first JSON
page per day by token, in Europe/Berlin): each summed by the database through the API, and in-process
both ways in the same run: the database's GROUP BY (``totals_op``) against the Python fold it
replaced (tests/billing/totals_reference.py), checked equal, with their ratio. Prints one JSON object
(and writes it to bench/results/billing-<backend>-<transactions>.json): rows, seconds, rows/s and the
server's resident memory before, after the exports and after the reports (VmRSS, and its peak VmHWM).
Also times the pure calculator on a multi-part tariff over a 50-reading session.
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
from sqlalchemy import Connection, create_engine, insert, select
from tests.billing.test_cost import DAY_NIGHT
from tests.billing.totals_reference import python_totals
from tests.csms_process import run_csms
from tests.seed import seed

from ocppd.csms.billing import reports
from ocppd.csms.billing.cost import MeterPoint, SessionData, price_session
from ocppd.csms.billing.service import totals_op
from ocppd.csms.billing.tariff import parse_tariff
from ocppd.store import Store
from ocppd.store.schema import transaction_costs, transactions

RESULTS = Path(__file__).parent / "results"
TOKENS = 10_000  # for the totals by token
REPORTS: dict[str, dict[str, str]] = {
    "day": {"period": "day", "tz": "Europe/Berlin"},
    "month_by_station": {"period": "month", "by": "station", "tz": "Europe/Berlin"},
    "month_by_site": {"period": "month", "by": "site", "tz": "Europe/Berlin"},
    "month_by_token": {"period": "month", "by": "token", "tz": "Europe/Berlin"},
    "day_by_token_first_page": {"period": "day", "by": "token", "tz": "Europe/Berlin", "limit": "1000"},
}


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
        await seed(store, stations=100, transactions=count, tokens=TOKENS, messages=0)

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
    """One report through the API: rows answered and seconds (CSV: every row; with a limit: that JSON page)."""
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as client:
        fmt = {"format": "json"} if "limit" in params else {"format": "csv"}
        response = await client.get("/api/v1/billing/totals", params={**params, **fmt})
        response.raise_for_status()
    rows = len(response.json()) if "limit" in params else response.text.count("\n") - 1
    return rows, time.perf_counter() - started


def _in_process(url: str) -> dict[str, Any]:
    """Every report summed by the database and by the old Python fold on one connection: equal, timed."""
    engine = create_engine(url)
    filters: dict[str, str | None] = {"site_id": None, "station_id": None, "group_id": None, "id_token": None}
    out: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            for name, params in REPORTS.items():
                zone, by, limit = reports.zone_of(params["tz"]), params.get("by"), params.get("limit")
                began = time.perf_counter()
                new = totals_op(
                    conn, params["period"], by, zone, None, None, filters, limit=int(limit) if limit else None
                )
                sql_s = time.perf_counter() - began
                began = time.perf_counter()
                old = python_totals(conn, params["period"], by, zone, None, None, filters)
                python_s = time.perf_counter() - began
                if limit:
                    old = old[: int(limit)]
                if new != old:
                    raise SystemExit(f"{name}: the database's totals differ from the Python fold's")
                out[name] = {
                    "rows": len(new),
                    "sql_s": round(sql_s, 3),
                    "python_s": round(python_s, 3),
                    "python_over_sql": round(python_s / sql_s, 1),
                }
    finally:
        engine.dispose()
    return out


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
    parser.add_argument("--database-url", default=None, help="an empty database (default: SQLite in a temp folder)")
    parser.add_argument("--totals-only", action="store_true", help="skip the exports")
    args = parser.parse_args()
    results: dict[str, Any] = {"transactions": args.transactions, "tokens": TOKENS}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "ocppd-data"
        data.mkdir()
        url = args.database_url or f"sqlite:///{data}/ocppd.db"
        results["backend"] = backend = "postgresql" if url.startswith("postgresql") else "sqlite"
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
            for fmt in () if args.totals_only else ("csv", "json"):
                rows, seconds, size = asyncio.run(_stream(server.http_url, key, fmt))
                results[fmt] = {
                    "rows": rows,
                    "seconds": round(seconds, 2),
                    "rows_per_s": int(rows / seconds),
                    "bytes": size,
                }
            results["rss_after_export_kb"] = _memory_kb(server.process.pid)
            for name, params in REPORTS.items():
                rows, seconds = asyncio.run(_totals(server.http_url, key, params))
                results[f"totals_{name}"] = {"rows": rows, "seconds": round(seconds, 2)}
            results["rss_after_kb"] = _memory_kb(server.process.pid)
        results["totals_in_process"] = _in_process(url)
    results["calculator_ms_per_session"] = round(_calculator(), 3)
    text = json.dumps(results, indent=2)
    (RESULTS / f"billing-{backend}-{args.transactions}.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
