"""Charts in real headless Chromium: a transaction's power and energy (live while it runs) and charging
schedules (the profile being written, and the composite schedule a station returns) drawn on canvas,
each with its data table. Stations: the `ocpp` package (transactions) and ocppd's own simulator (smart
charging, which really combines the profile it was sent). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from tests.api.conftest import eventually
from tests.api.stations import connected
from tests.csms_process import CsmsProcess
from tests.web.conftest import ARTIFACTS
from tests.web.test_dashboard import WAIT_MS, login, shot

AT_LEAST_2 = re.compile(r"^([2-9]|\d{2,})$")


def admin_api(server: CsmsProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=60
    )


async def table_rows(page: Page, figure: str, summary: str) -> Any:
    """Open the chart's data table and return its body rows."""
    await page.locator(figure).get_by_text(summary).click()
    return page.locator(f"{figure} table tbody tr")


async def test_transaction_chart_live_and_on_a_phone(server: CsmsProcess, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await login(page, server)
    sid = "WEB-TXCHART"
    async with admin_api(server) as api, connected(server.ws_url, sid, "2.0.1", meter_interval=0.4) as station:
        started = await api.post(f"/api/v1/stations/{sid}/commands/remote-start", json={"id_token": "RFID-CHART"})
        assert started.status_code == 200, started.text

        async def active() -> dict | None:
            rows = (await api.get("/api/v1/transactions", params={"station": sid, "active": "true"})).json()
            return rows[0] if rows else None

        tx = await eventually(active, "the transaction to start")
        await page.goto(f"{server.http_url}/transactions/{tx['id']}")
        await expect(page.get_by_role("heading", name="Power and energy")).to_be_visible()
        canvas = page.locator("#tx-chart")
        await expect(canvas).to_have_attribute("role", "img")
        await expect(canvas).to_have_attribute("data-points", AT_LEAST_2, timeout=WAIT_MS)
        first = int(await canvas.get_attribute("data-points") or 0)
        # Live: readings arriving over the event stream are added without a reload.
        await expect(canvas).not_to_have_attribute("data-points", str(first), timeout=WAIT_MS)
        rows = await table_rows(page, "#tx-figure", "Power and energy as a table")
        await expect(rows.first).to_contain_text("7.40", timeout=WAIT_MS)  # kW
        await expect(canvas).to_have_attribute("aria-label", re.compile(r"peak 7\.40 kW, \d+\.\d{3} kWh delivered"))

        await station.stop_session()

        async def ended() -> dict | None:
            detail = (await api.get(f"/api/v1/transactions/{tx['id']}")).json()
            return detail if detail["stopped_at"] else None

        done = await eventually(ended, "the transaction to end")
        power = (await api.get(f"/api/v1/transactions/{tx['id']}/power")).json()

    await page.reload()
    rows = await table_rows(page, "#tx-figure", "Power and energy as a table")
    await expect(rows).to_have_count(len(power["series"]))
    await expect(rows.last).to_contain_text(f"{done['energy_wh'] / 1000:.3f}")  # kWh at the last reading
    await expect(page.locator("#tx-chart")).to_have_attribute("data-points", str(len(power["series"])))
    await shot(page, "transaction-chart")

    phone = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    mobile = await phone.new_page()
    await mobile.context.add_cookies(await context.cookies())
    await mobile.goto(f"{server.http_url}/transactions/{tx['id']}")
    chart = mobile.locator("#tx-chart")
    await expect(chart).to_have_attribute("data-points", str(len(power["series"])), timeout=WAIT_MS)
    box = await chart.bounding_box()
    assert box is not None and box["width"] <= 390 and box["height"] >= 150  # fits the screen, not squeezed
    await shot(mobile, "transaction-chart-phone")
    await phone.close()

    # The station page's power chart has its table too.
    await page.goto(f"{server.http_url}/stations/{sid}")
    await expect(page.locator("#power-chart")).to_have_attribute("data-points", AT_LEAST_2, timeout=WAIT_MS)
    rows = await table_rows(page, "#power-figure", "Power as a table")
    await expect(rows.first).to_be_attached()
    await context.close()


RAW_COMPOSITE = {
    OcppVersion.V16: {"connectorId": 0, "duration": 1800},
    OcppVersion.V201: {"evseId": 0, "duration": 1800},
    OcppVersion.V21: {"evseId": 0, "duration": 1800},
}


@pytest.mark.parametrize("version", [OcppVersion.V16, OcppVersion.V201, OcppVersion.V21], ids=lambda v: v.label)
async def test_charging_schedule_charts(server: CsmsProcess, browser: Any, version: OcppVersion) -> None:
    sid = f"WEB-SMART-{version.label}"
    config = StationConfig(
        identity=sid, url=server.ws_url, version=version, call_timeout=10, reconnect_min=0.2, reconnect_max=1.0
    )
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    await login(page, server)
    async with Station(config) as station:
        await station.wait_booted(timeout=WAIT_MS / 1000)
        await page.goto(f"{server.http_url}/stations/{sid}")
        await expect(page.locator("#live-indicator")).to_have_text("live", timeout=WAIT_MS)

        # The profile form previews what it will send, and follows the operator's typing.
        profile = page.locator("#form-set-profile")
        preview = profile.locator("figure.schedule")
        await expect(preview.locator("canvas")).to_have_attribute("data-points", "3")
        await expect(preview.locator("tbody tr")).to_have_count(3)
        await profile.get_by_label("Periods").fill("0:11000, 600:7400, 1200:3700, 1500:0")
        await expect(preview.locator("tbody tr")).to_have_count(4)
        await expect(preview.locator("tbody tr").nth(1)).to_contain_text("+10 min")
        await expect(preview.locator("canvas")).to_have_attribute("aria-label", re.compile(r"7\.4 kW from \+10 min"))
        await profile.get_by_label("Purpose").select_option("station_max")  # 3600 s: outlasts the schedule asked
        await profile.get_by_role("button", name="Send profile").click()
        await expect(profile.locator("output")).to_contain_text("Accepted", timeout=WAIT_MS)
        await expect(preview).to_be_visible()  # the answer has no schedule: the preview stays

        # The station combines its profiles into the composite schedule; drawn next to the JSON.
        composite = page.locator("#form-composite")
        await composite.get_by_label("Duration (s)").fill("1800")
        await composite.get_by_role("button", name="Get schedule").click()
        await expect(composite.locator("output")).to_contain_text("GetCompositeSchedule", timeout=WAIT_MS)
        await expect(composite.locator("output")).to_contain_text("chargingSchedulePeriod")
        chart = composite.locator("figure.schedule")
        await expect(chart.locator("canvas")).to_have_attribute("data-points", "4")
        await expect(chart.locator("canvas")).to_have_attribute("role", "img")
        await chart.get_by_text("Schedule as a table").click()
        rows = chart.locator("tbody tr")
        await expect(rows).to_have_count(4)
        for i, limit in enumerate(["11.0 kW", "7.4 kW", "3.7 kW", "0.0 kW"]):
            await expect(rows.nth(i)).to_contain_text(limit)
        await composite.scroll_into_view_if_needed()
        await shot(page, f"station-schedule-{version.label}")

        # The raw "Any message" form draws a GetCompositeSchedule answer too (here in amperes).
        raw = page.locator("form").filter(has=page.get_by_role("heading", name="Any message"))
        await raw.get_by_label("Action").select_option("GetCompositeSchedule")
        payload = {**RAW_COMPOSITE[version], "chargingRateUnit": "A"}
        await raw.get_by_label("Payload (JSON)").fill(json.dumps(payload))
        await raw.get_by_role("button", name="Send").click()
        await expect(raw.locator("output")).to_contain_text("Accepted", timeout=WAIT_MS)
        raw_rows = raw.locator("figure.schedule tbody tr")
        await expect(raw_rows).to_have_count(4)
        await expect(raw_rows.first).to_contain_text(" A")  # 11 kW / (230 V * 3 phases) = 15.9 A
        await expect(raw_rows.first).to_contain_text("15.9")
        if version is OcppVersion.V201:
            phone = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            mobile = await phone.new_page()
            await mobile.context.add_cookies(await context.cookies())
            await mobile.goto(f"{server.http_url}/stations/{sid}")
            await mobile.locator("#form-composite").get_by_role("button", name="Get schedule").click()
            canvas = mobile.locator("#form-composite figure.schedule canvas")
            await expect(canvas).to_have_attribute("data-points", re.compile(r"^\d+$"), timeout=WAIT_MS)
            box = await canvas.bounding_box()
            assert box is not None and box["width"] <= 390
            await mobile.locator("#form-composite").scroll_into_view_if_needed()
            await mobile.screenshot(path=ARTIFACTS / "station-schedule-phone.png")
            await phone.close()
    await context.close()
