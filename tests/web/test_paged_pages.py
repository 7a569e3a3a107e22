"""Dashboard lists are server-side pages with search and filters, and the stations page updates only
the rows an event concerns (issue 8, item 14), in headless Chromium on a seeded database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.async_api import Page, expect

from tests.api.stations import connected
from tests.csms_process import CsmsProcess, run_csms
from tests.seed import seed_url
from tests.web.conftest import ARTIFACTS, PASSWORD, USER, _require_browser
from tests.web.test_dashboard import WAIT_MS, login

STATIONS, TRANSACTIONS, MESSAGES, TOKENS = 130, 400, 260, 120


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    _require_browser()
    tmp: Path = tmp_path_factory.mktemp("paged")
    (tmp / "ocppd-data").mkdir()
    url = f"sqlite:///{tmp / 'ocppd-data' / 'ocppd.db'}"
    asyncio.run(
        seed_url(url, stations=STATIONS, transactions=TRANSACTIONS, messages=MESSAGES, tokens=TOKENS, prefix="PW")
    )
    with run_csms(tmp) as s:
        s.cli("users", "add", USER, "--password", PASSWORD, "--role", "admin")
        yield s


def ids(rows: list[str]) -> list[str]:
    return [r.strip() for r in rows]


async def station_ids(page: Page) -> list[str]:
    return ids(await page.locator("#stations-table tbody tr[data-station-row] th").all_inner_texts())


async def test_stations_pages_search_and_live_rows(server: CsmsProcess, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await login(page, server)
    await page.goto(f"{server.http_url}/stations")
    await expect(page.locator("#live-indicator")).to_have_text("live", timeout=WAIT_MS)
    first = await station_ids(page)
    assert first == [f"PW{i:05d}" for i in range(1, 51)]
    await page.screenshot(path=ARTIFACTS / "stations-paged.png")

    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/stations" in r.url else None)
    # A new station that sorts onto this page appears in place; one beyond it does not; nothing but
    # the rows concerned is fetched.
    async with connected(server.ws_url, "PW00010X", "1.6"), connected(server.ws_url, "PW00099X", "2.0.1"):
        row = page.locator('[data-station-row="PW00010X"]')
        await expect(row.locator("[data-status]")).to_have_text("Available", timeout=WAIT_MS)
        shown = await station_ids(page)
        assert shown.index("PW00010X") == shown.index("PW00010") + 1
        assert "PW00099X" not in shown
    await expect(page.locator('[data-station-row="PW00010X"] [data-status]')).to_have_text("Offline", timeout=WAIT_MS)
    assert fetched, "no live row fetch"
    for url in fetched:
        query = parse_qs(urlparse(url).query)
        assert query.get("fragment") == ["rows"], url  # never the whole page or table
        assert set(query["ids"][0].split(",")) <= {"PW00010X", "PW00099X"}, url

    await page.get_by_role("link", name="Next page").click()
    second = await station_ids(page)
    assert second[0] == "PW00051" and len(second) == 50  # continues after the last row page one had
    await page.get_by_role("link", name="First page").click()
    assert (await station_ids(page))[0] == "PW00001"

    await page.get_by_label("Search").fill("pw0012")
    await page.get_by_role("button", name="Find").click()
    assert await station_ids(page) == [f"PW{i:05d}" for i in range(120, 130)]
    await expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    await page.get_by_label("Search").fill("")
    await page.get_by_label("Connection").select_option("true")
    await page.get_by_role("button", name="Find").click()
    await expect(page.locator("#stations-table tbody")).to_contain_text("No station matches.")
    await context.close()


async def test_transactions_messages_and_tokens_pages(server: CsmsProcess, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await login(page, server)

    await page.goto(f"{server.http_url}/transactions")
    rows = page.locator("#transactions-table tbody tr")
    await expect(rows).to_have_count(50)
    # The newest are the running ones: their energy so far shows in the list, not "–".
    running = rows.filter(has_text="active")
    assert await running.count() > 0
    for i in range(await running.count()):
        await expect(running.nth(i)).to_contain_text("0.75 kWh")
    seen = set(await rows.locator("td:first-child").all_inner_texts())
    await page.get_by_role("link", name="Older").click()
    await expect(rows).to_have_count(50)
    older = set(await rows.locator("td:first-child").all_inner_texts())
    assert not seen & older
    await page.screenshot(path=ARTIFACTS / "transactions-paged.png")
    await page.get_by_label("Station").fill("PW00007")
    await page.get_by_role("button", name="Filter").click()
    station_rows = await page.locator("#transactions-table tbody tr td:nth-child(2)").all_inner_texts()
    assert station_rows and set(ids(station_rows)) == {"PW00007"}

    await page.goto(f"{server.http_url}/messages")
    frames = page.locator("#messages-table tbody tr")
    await expect(frames).to_have_count(100)
    newest_page = await frames.locator("td:first-child").all_inner_texts()
    await page.get_by_role("link", name="Older").click()
    await expect(frames).to_have_count(100)
    older_page = await frames.locator("td:first-child").all_inner_texts()
    assert max(older_page) <= min(newest_page)

    await page.goto(f"{server.http_url}/tokens")
    await expect(page.locator("#tokens-table tbody tr")).to_have_count(50)
    await expect(page.get_by_role("link", name="Next page")).to_be_visible()
    await page.get_by_label("Search").fill("tag00011")
    await page.get_by_role("button", name="Find").click()
    tags = ids(await page.locator("#tokens-table tbody tr th").all_inner_texts())
    assert tags == [f"TAG{i:06d}" for i in range(110, 120)]
    await page.get_by_label("Search").fill("")
    await page.get_by_label("Status").select_option("Expired")
    await page.get_by_role("button", name="Find").click()
    statuses = await page.locator("#tokens-table tbody tr td:nth-child(3)").all_inner_texts()
    assert statuses and set(ids(statuses)) == {"Expired"}
    await context.close()
