"""Dashboard and API at scale: ``python -m bench.dashboard [--stations 10000] [--transactions 1000000]``.

Seeds a database (tests/seed.py: bulk inserts through the store; kept between runs in
``--data``), starts ``ocppd serve`` on it, then in headless Chromium loads every dashboard page
(median of ``--repeat`` loads: navigation start to the load event, and the server's share, i.e. until
the HTML's last byte), times a few API pages, and streams the whole transaction CSV export while
sampling the server's RSS. Prints a Markdown table and writes bench/results/dashboard-<sqlite|postgresql>.json.

    python -m bench.dashboard                                   # SQLite in bench/results/dashboard-data
    python -m bench.dashboard --database-url postgresql+psycopg://postgres@127.0.0.1/ocppd_dash
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.csms_process import free_port, serve  # noqa: E402
from tests.seed import seed_url  # noqa: E402
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

RESULTS = ROOT / "bench" / "results"
USER, PASSWORD = "bench", "bench-password-1"


def pages(station: str, token: str) -> list[tuple[str, str]]:
    return [
        ("Overview", "/"),
        ("Stations, first page", "/stations"),
        ("Stations, page after CS09000", "/stations?cursor={deep_station}"),
        ("Stations, search 'model 3'", "/stations?q=model+3"),
        ("Stations, status Charging", "/stations?status=Charging"),
        ("Stations, offline", "/stations?connected=false"),
        ("Station detail", f"/stations/{station}"),
        ("Transactions, newest", "/transactions"),
        ("Transactions, ~900,000 rows deep", "/transactions?cursor={deep_tx}"),
        ("Transactions of one station", f"/transactions?station={station}"),
        ("Transactions of one token", f"/transactions?id_token={token}"),
        ("Transactions, active only", "/transactions?active=true"),
        ("Tokens", "/tokens"),
        ("Tokens, status Expired", "/tokens?status=Expired"),
        ("Messages, newest", "/messages"),
        ("Messages of one station", f"/messages?station={station}"),
    ]


async def cursors(url: str, transactions: int) -> dict[str, str]:
    """Cursors deep into the lists: the page after station CS09000, and the transaction 90 % down the
    list (found once with an OFFSET here; the dashboard itself never uses one)."""
    from sqlalchemy import Connection, text

    from ocppd.api import paging
    from ocppd.store import Store
    from ocppd.store.types import as_utc

    def at_depth(conn: Connection) -> tuple[Any, int]:
        row = conn.execute(
            text("SELECT started_at, id FROM transactions ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET :n"),
            {"n": int(transactions * 0.9)},
        ).one()
        started = row[0] if not isinstance(row[0], str) else datetime.fromisoformat(row[0])
        return as_utc(started), int(row[1])

    async with Store(url) as store:
        deep = await store.read(at_depth)
    return {"deep_station": paging.encode(["CS09000"]), "deep_tx": paging.encode(list(deep))}


def sample_rss(pid: int, stop: threading.Event, out: list[int]) -> None:
    process = psutil.Process(pid)
    while not stop.is_set():
        out.append(process.memory_info().rss)
        time.sleep(0.05)


async def export(base: str, key: str, pid: int) -> dict[str, Any]:
    rss: list[int] = []
    stop = threading.Event()
    before = psutil.Process(pid).memory_info().rss
    sampler = threading.Thread(target=sample_rss, args=(pid, stop, rss), daemon=True)
    sampler.start()
    rows = size = 0
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=600) as client,
        client.stream("GET", "/api/v1/transactions/export.csv") as response,
    ):
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            rows += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    return {
        "rows": rows - 1,
        "bytes": size,
        "seconds": seconds,
        "rows_per_s": (rows - 1) / seconds,
        "rss_before_mb": before / 2**20,
        "rss_peak_mb": max(rss) / 2**20,
    }


async def measure(base: str, key: str, station: str, token: str, deep: dict[str, str], repeat: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as api:
        api_times = {}
        for name, path, params in [
            ("API transactions, limit 1000", "/api/v1/transactions", {"limit": 1000}),
            ("API transactions, limit 1000, 90% deep", "/api/v1/transactions",
             {"limit": 1000, "cursor": deep["deep_tx"]}),
            ("API stations, limit 1000", "/api/v1/stations", {"limit": 1000}),
            ("API overview", "/api/v1/overview", {}),
        ]:  # fmt: skip
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                (await api.get(path, params=params)).raise_for_status()
                times.append(time.perf_counter() - t)
            api_times[name] = statistics.median(times) * 1000
    results: dict[str, Any] = {"pages": {}, "api_ms": api_times}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        await page.goto(f"{base}/login")
        await page.get_by_label("Username").fill(USER)
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_role("button", name="Log in", exact=True).click()
        await page.wait_for_url(f"{base}/")
        for name, path in pages(station, token):
            url = base + path.format(**deep)
            loads, server = [], []
            rows = 0
            for _ in range(repeat):
                await page.goto(url, wait_until="load")
                timing = await page.evaluate(
                    "() => { const n = performance.getEntriesByType('navigation')[0];"
                    " return [n.loadEventEnd - n.startTime, n.responseEnd - n.startTime]; }"
                )
                loads.append(timing[0])
                server.append(timing[1])
                rows = await page.locator("main table tbody tr").count()
            results["pages"][name] = {
                "load_ms": statistics.median(loads),
                "html_ms": statistics.median(server),
                "rows": rows,
                "bytes": len(await page.content()),
            }
        await browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=RESULTS / "dashboard-data")
    parser.add_argument("--database-url", default=None, help="default: SQLite in --data")
    args = parser.parse_args()
    data = args.data
    data.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite:///{data / 'ocppd.db'}"
    marker = data / f"seeded-{args.stations}-{args.transactions}-{args.messages}"
    if args.database_url or not marker.exists():
        done = asyncio.run(
            seed_url(url, stations=args.stations, transactions=args.transactions, messages=args.messages)
        )
        print(f"seeded {args.stations} stations, {done.transactions} transactions in {done.seconds:.1f} s")
        marker.touch()
    deep = asyncio.run(cursors(url, args.transactions))
    with serve(data, free_port(), free_port(), data / "serve.log", args.database_url) as server:
        server.cli("users", "add", USER, "--password", PASSWORD, "--role", "admin")
        results = asyncio.run(measure(server.http_url, server.admin_token, "CS05000", "TAG000100", deep, args.repeat))
        results["export"] = asyncio.run(export(server.http_url, server.admin_token, server.process.pid))
    results["setup"] = {"stations": args.stations, "transactions": args.transactions, "messages": args.messages,
                        "database": url.split(":")[0]}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"dashboard-{results['setup']['database'].split('+')[0]}.json").write_text(json.dumps(results, indent=2))
    print("| page | rows | load (ms) | HTML (ms) |\n| --- | ---: | ---: | ---: |")
    for name, r in results["pages"].items():
        print(f"| {name} | {r['rows']} | {r['load_ms']:.0f} | {r['html_ms']:.0f} |")
    for name, ms in results["api_ms"].items():
        print(f"| {name} | | {ms:.0f} | |")
    e = results["export"]
    print(f"\nCSV export: {e['rows']} rows, {e['bytes'] / 2**20:.0f} MiB in {e['seconds']:.1f} s = "
          f"{e['rows_per_s']:.0f} rows/s; server RSS {e['rss_before_mb']:.0f} MiB before, "
          f"peak {e['rss_peak_mb']:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
