"""The billing page and the cost on the transaction pages, in real headless Chromium against a real
``ocppd serve``: energy and revenue per day and month drawn on canvas with its data table, totals by
site, the filters; the running cost of a 1.6 and a 2.0.1 transaction while they charge, the final cost
with its breakdown and its computations. Stations: the `ocpp` package. Screenshots: test-artifacts/.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as c16
from playwright.async_api import expect

from tests.billing.station import cost_station
from tests.billing.test_billing_api import DAY_NIGHT
from tests.csms_process import CsmsProcess
from tests.web.conftest import ARTIFACTS
from tests.web.test_dashboard import WAIT_MS, login

SITE = "WEB-DEPOT"
ENERGY_ONLY = {"currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": "0.50"}]}]}


def admin_api(server: CsmsProcess) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    return httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=60)


def stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def _finished_sessions(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    """Three days of the hand-calculated day/night session (11.60 EUR each, 15 kWh) on a site's station,
    with a day without sessions in between (drawn as zero)."""
    nodes = [
        {"id": SITE, "kind": "site", "amps": 400},
        {"id": "WEB-BILL", "kind": "station", "parent": SITE, "amps": 32},
    ]
    assert (await api.put("/api/v1/limit-tree", json={"nodes": nodes})).status_code == 200
    body = {"tariff": DAY_NIGHT, "valid_from": "2026-01-01T00:00:00Z"}
    assert (await api.put("/api/v1/tariffs/web-daynight", json=body)).status_code == 201
    assert (
        await api.post("/api/v1/tariff-assignments", json={"tariff_id": "web-daynight", "site_id": SITE})
    ).status_code == 201
    async with cost_station(server.ws_url, "WEB-BILL") as st:
        for day in ("2026-06-10", "2026-06-11", "2026-06-13"):
            uid = f"tx-web-{day}"
            await st.event("Started", uid, f"{day}T15:00:00Z", energy_wh=10_000, charging_state="Charging")
            await st.event("Updated", uid, f"{day}T15:40:00Z", energy_wh=17_000)
            await st.event("Updated", uid, f"{day}T16:20:00Z", energy_wh=23_000)
            await st.event("Updated", uid, f"{day}T16:30:00Z", energy_wh=25_000, charging_state="EVConnected")
            ended = await st.event("Ended", uid, f"{day}T17:00:00Z", energy_wh=25_000, stopped_reason="EVDisconnected")
            assert ended.total_cost == pytest.approx(11.60)


async def test_billing_page_charts_energy_and_revenue_per_day_and_month(server: CsmsProcess, browser: Any) -> None:
    async with admin_api(server) as api:
        await _finished_sessions(server, api)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await login(page, server)
    await page.get_by_role("link", name="Billing", exact=True).click()
    await expect(page.get_by_role("heading", name="Billing", exact=True)).to_be_visible()

    await page.get_by_label("Site").fill(SITE)
    await page.get_by_label("Ended from").fill("2026-06-01")
    await page.get_by_label("Ended before").fill("2026-07-01")
    await page.get_by_label("Time zone").fill("Europe/Berlin")
    await page.get_by_role("button", name="Show").click()
    canvas = page.locator("#billing-chart")
    await expect(canvas).to_have_attribute("data-points", "4", timeout=WAIT_MS)  # 10, 11, 12 (none), 13 June
    await expect(canvas).to_have_attribute("aria-label", "Energy and revenue per day, 2026-06-10 to 2026-06-13: "
                                           "45.000 kWh, 34.80 EUR incl. VAT, 4 periods")  # fmt: skip
    await expect(page.locator("#billing-currency")).to_have_text("EUR")
    await page.locator("#billing-figure").get_by_text("Energy and revenue as a table").click()
    rows = page.locator("#billing-chart-table tbody tr")
    await expect(rows).to_have_count(4)
    await expect(rows.nth(2)).to_contain_text("2026-06-12")
    await expect(rows.nth(3)).to_contain_text("11.60 EUR")
    totals = page.locator("#totals-table tbody tr")
    await expect(totals).to_have_count(3)
    await expect(totals.first).to_contain_text("11.60")
    await page.screenshot(path=ARTIFACTS / "billing-per-day.png", full_page=True)

    await page.get_by_label("Per", exact=True).select_option("month")
    await page.get_by_label("Totals by").select_option("site")
    await page.get_by_role("button", name="Show").click()
    await expect(canvas).to_have_attribute("data-points", "1", timeout=WAIT_MS)
    await expect(totals).to_have_count(1)
    await expect(totals.first).to_contain_text(SITE)
    await expect(totals.first).to_contain_text("34.80")
    href = await page.locator("#totals-csv").get_attribute("href")
    assert href and "format=csv" in href and "by=site" in href
    async with admin_api(server) as api:
        csv_text = (await api.get(href)).text
    assert SITE in csv_text and "34.80" in csv_text

    await page.get_by_label("Time zone").fill("Mars/Olympus")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("alert")).to_contain_text("tz")
    await context.close()


async def test_running_cost_of_16_and_201_transactions_and_the_final_breakdown(
    server: CsmsProcess, browser: Any
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await login(page, server)
    async with admin_api(server) as api:
        for sid in ("WEB-RUN16", "WEB-RUN201"):
            body = {"tariff": ENERGY_ONLY, "valid_from": "2026-01-01T00:00:00Z"}
            assert (await api.put(f"/api/v1/tariffs/{sid}", json=body)).status_code == 201
            assigned = await api.post("/api/v1/tariff-assignments", json={"tariff_id": sid, "station_id": sid})
            assert assigned.status_code == 201
        start = datetime.now(UTC) - timedelta(minutes=30)
        async with (
            websockets.connect(f"{server.ws_url}/WEB-RUN16", subprotocols=["ocpp1.6"]) as ws,
            cost_station(server.ws_url, "WEB-RUN201") as st,
        ):
            cp = ChargePoint16("WEB-RUN16", ws, response_timeout=30)
            runner = asyncio.create_task(cp.start())
            try:
                await cp.call(c16.BootNotification(charge_point_model="W16", charge_point_vendor="ACME"))
                started = await cp.call(
                    c16.StartTransaction(connector_id=1, id_tag="04E16001", meter_start=1000, timestamp=stamp(start))
                )
                value = {"value": "5000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                reading = {"timestamp": stamp(datetime.now(UTC)), "sampled_value": [value]}
                await cp.call(
                    c16.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[reading])
                )
                await st.event("Started", "tx-run", stamp(start), energy_wh=0, charging_state="Charging")
                await st.event("Updated", "tx-run", stamp(datetime.now(UTC)), energy_wh=3_000)

                await page.goto(f"{server.http_url}/transactions?active=true")
                row16 = page.locator("#transactions-table tbody tr", has_text="WEB-RUN16")
                await expect(row16.locator("[data-cost]")).to_have_text("2.00 EUR so far")  # 4 kWh x 0.50
                row201 = page.locator("#transactions-table tbody tr", has_text="WEB-RUN201")
                await expect(row201.locator("[data-cost]")).to_have_text("1.50 EUR so far")  # 3 kWh x 0.50

                await page.goto(f"{server.http_url}/transactions/{started.transaction_id}")
                await expect(page.get_by_role("heading", name="Cost so far")).to_be_visible()
                await expect(page.locator("#tx-cost-total")).to_have_text("2.00 EUR")
                # live: a new reading re-prices the running transaction without a reload
                value = {"value": "7000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                reading = {"timestamp": stamp(datetime.now(UTC)), "sampled_value": [value]}
                await cp.call(
                    c16.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[reading])
                )
                await expect(page.locator("#tx-cost-total")).to_have_text("3.00 EUR", timeout=WAIT_MS)
                await page.screenshot(path=ARTIFACTS / "transaction-running-cost.png", full_page=True)
            finally:
                runner.cancel()

        rows = (await api.get("/api/v1/transactions", params={"station": "WEB-BILL"})).json()
        finished = rows[0]["id"]
        recomputed = await api.post(f"/api/v1/transactions/{finished}/cost/recompute", json={"reason": "web check"})
        assert recomputed.status_code == 200, recomputed.text
    await page.goto(f"{server.http_url}/transactions/{finished}")
    await expect(page.get_by_role("heading", name="Cost", exact=True)).to_be_visible()
    await expect(page.locator("#tx-cost-total")).to_have_text("11.60 EUR")
    await expect(page.locator("#tx-cost-lines tbody tr")).to_have_count(6)
    await expect(page.locator("#tx-cost-lines")).to_contain_text("Idle time")
    await expect(page.locator("#tx-cost-history li")).to_have_count(2)
    await expect(page.locator("#tx-cost-history")).to_contain_text("web check")
    await page.screenshot(path=ARTIFACTS / "transaction-final-cost.png", full_page=True)
    await context.close()
