"""The dashboard in real headless Chromium against a real ``ocppd serve`` and real OCPP stations.

Screenshots of every page land in test-artifacts/ (kept by CI as artifacts).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from playwright.async_api import Page, expect

from tests.api.stations import connected
from tests.csms_process import CsmsProcess
from tests.web.conftest import ARTIFACTS, PASSWORD, USER

WAIT_MS = 30_000  # liveness bound for live updates, not a performance check


async def login(page: Page, server: CsmsProcess) -> None:
    await page.goto(f"{server.http_url}/")
    await expect(page).to_have_url(f"{server.http_url}/login?next=%2F")
    await page.screenshot(path=ARTIFACTS / "login.png")
    await page.get_by_label("Username").fill(USER)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Log in", exact=True).click()
    await expect(page.get_by_role("heading", name="Network overview")).to_be_visible()


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def test_live_station_remote_start_stop_and_csv(server: CsmsProcess, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = await context.new_page()
    await login(page, server)
    await expect(page.locator("#live-indicator")).to_have_text("live", timeout=WAIT_MS)
    await shot(page, "overview-empty")

    # The stations page is open before the station exists: it must appear without a reload.
    await page.get_by_role("link", name="Stations", exact=True).click()
    await expect(page.locator("#live-indicator")).to_have_text("live", timeout=WAIT_MS)
    sid = "WEB-16"
    async with connected(server.ws_url, sid, "1.6", meter_interval=0.5) as station:
        row = page.locator(f'[data-station-row="{sid}"]')
        await expect(row.locator("[data-status]")).to_have_text("Available", timeout=WAIT_MS)
        await shot(page, "stations")

        await row.get_by_role("link", name=sid).click()
        await expect(page.get_by_role("heading", name=sid, exact=True)).to_be_visible()
        await expect(page.locator("#live-indicator")).to_have_text("live", timeout=WAIT_MS)
        await page.get_by_label("Id token").fill("RFID-WEB")
        await page.get_by_role("button", name="Start charging").click()
        await expect(page.locator("#form-remote-start output")).to_contain_text("Accepted", timeout=WAIT_MS)
        # Live: status goes to Charging and the chart fills with readings, without a reload.
        await expect(page.locator("#station-status")).to_have_text("Charging", timeout=WAIT_MS)
        await expect(page.locator("#station-power")).to_have_text("7.4 kW", timeout=WAIT_MS)
        chart = page.locator("#power-chart")
        # Several readings drawn (the exact count depends on when the chart last reloaded).
        await expect(chart).to_have_attribute("data-points", re.compile(r"^([3-9]|\d{2,})$"), timeout=WAIT_MS)
        await shot(page, "station-charging")
        # The stations list shows it charging too (a second tab, live from its own stream).
        listing = await context.new_page()
        await listing.goto(f"{server.http_url}/stations")
        await expect(listing.locator(f'[data-station-row="{sid}"] [data-status]')).to_have_text("Charging")
        await expect(listing.locator(f'[data-station-row="{sid}"]')).to_contain_text("7.4 kW")
        await listing.close()

        stop = page.get_by_role("button", name=f"Stop transaction {station.transaction_id}")
        await stop.click()
        await expect(page.locator("#no-transactions")).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#station-status")).to_have_text("Available", timeout=WAIT_MS)
        assert station.transaction_id is None
        await shot(page, "station-stopped")

        # Same station on a phone.
        phone = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        mobile = await phone.new_page()
        await mobile.context.add_cookies(await context.cookies())
        await mobile.goto(f"{server.http_url}/stations/{sid}")
        await expect(mobile.get_by_role("heading", name=sid, exact=True)).to_be_visible()
        await shot(mobile, "station-phone")
        await phone.close()

    # Transactions: the finished session with its energy, filtered, and exported as CSV.
    await page.get_by_role("link", name="Transactions", exact=True).click()
    await page.get_by_label("Station").fill(sid)
    await page.get_by_role("button", name="Filter").click()
    table = page.locator("#transactions-table tbody tr")
    await expect(table).to_have_count(1)
    await expect(table.first).to_contain_text("RFID-WEB")
    await expect(table.first).to_contain_text("kWh")
    await shot(page, "transactions")
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Export CSV").click()
    download = await info.value
    target = ARTIFACTS / "transactions.csv"
    await download.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 1 and rows[0]["station_id"] == sid and rows[0]["id_token"] == "RFID-WEB"
    assert float(rows[0]["energy_wh"]) > 0

    # The remaining pages render and are screenshotted for review.
    await page.get_by_role("link", name="Messages", exact=True).click()
    await page.get_by_label("Station").fill(sid)
    await page.get_by_label("Action").fill("RemoteStartTransaction")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#messages-table tbody tr")).to_have_count(2)  # the call and its answer
    await shot(page, "messages")
    await page.get_by_role("link", name="Overview", exact=True).click()
    await expect(page.locator("#count-stations")).to_have_text("1")
    await shot(page, "overview")
    await context.close()


async def test_tokens_page_and_keyboard(server: CsmsProcess, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await login(page, server)
    await page.goto(f"{server.http_url}/tokens")
    await page.get_by_label("Id token").fill("CARD-42")
    await page.get_by_label("Group").fill("FLEET")
    await page.get_by_label("Driver's language").fill("nl")
    await page.get_by_role("button", name="Add").click()
    row = page.locator("#tokens-table tbody tr", has_text="CARD-42")
    await expect(row).to_contain_text("Accepted", timeout=WAIT_MS)
    await expect(row).to_contain_text("nl")
    await row.get_by_role("button", name="Block").click()
    await expect(page.locator("#tokens-table tbody tr", has_text="CARD-42")).to_contain_text("Blocked", timeout=WAIT_MS)
    await shot(page, "tokens")
    # Keyboard: the skip link is the first stop and moves focus to the content.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#main")).to_be_focused()
    # Log out: pages go back to the login form.
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Log in to ocppd")).to_be_visible()
    await context.close()
