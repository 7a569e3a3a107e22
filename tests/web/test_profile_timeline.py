"""The dashboard's profile timeline of a station and the site's excluded stations, in headless Chromium."""

from __future__ import annotations

import re
from typing import Any

import httpx
from ocpp.v16 import call as call16
from playwright.async_api import expect

from tests.csms_process import CsmsProcess
from tests.integration.test_smart_charging import TREE, Refusing16, Station201, start16, start201, station, until
from tests.web.test_dashboard import WAIT_MS, login, shot


async def test_profile_timeline_and_composite_schedule_and_excluded_stations(server: CsmsProcess, browser: Any) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as http:
        assert (await http.put("/api/v1/limit-tree", json=TREE)).status_code == 200
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        await login(page, server)
        async with station(server, "CP201", Station201) as b, station(server, "CP16", Refusing16) as a:
            await start201(b, "TX-TL")
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 32.0, "the balancer's TxProfile")
            # the operator caps the station at 20 A (a station maximum profile, stack level 0)
            cap = {"id": 7, "evse_id": 0, "purpose": "station_max", "stack_level": 0, "kind": "Absolute",
                   "unit": "A", "periods": [{"start_s": 0, "limit": 20}]}  # fmt: skip
            r = await http.post("/api/v1/stations/CP201/charging-profiles", json=cap)
            assert r.status_code == 200 and r.json()["status"] == "Accepted", r.text
            await page.goto(f"{server.http_url}/stations/CP201")
            await page.get_by_role("link", name="profile timeline").click()
            await expect(page.get_by_role("heading", name="Charging profiles of CP201")).to_be_visible()
            await expect(page.locator("#live-indicator")).to_have_text("live", timeout=WAIT_MS)
            timeline = page.locator("#profile-timeline")
            for who, purpose in (("balancer", "tx"), ("fallback", "txdefault"), ("operator", "max")):
                row = timeline.get_by_role("row").filter(has_text=who).filter(has_text=purpose).first
                await expect(row).to_contain_text("Accepted")
                await expect(row).to_contain_text("installed")
            await expect(timeline.get_by_role("row").filter(has_text="balancer").first).to_contain_text("6")
            # the composite schedule the CSMS computes: the operator's 20 A caps the balancer's 32 A, and
            # when the TxProfile's lease ends the fallback's 16 A applies
            figure = page.locator("#composite-figure canvas")
            await expect(figure).to_have_attribute("data-points", "2", timeout=WAIT_MS)
            label = await figure.get_attribute("aria-label")
            assert label is not None and label.startswith("Composite schedule (EVSE 1): 20.0 A from "), label
            assert ", 16.0 A from " in label
            # live: the operator lowers the cap; the new row appears, the old one is replaced, the plot follows
            r = await http.post("/api/v1/stations/CP201/charging-profiles", json={**cap, "periods": [
                {"start_s": 0, "limit": 12}]})  # fmt: skip
            assert r.status_code == 200
            await expect(timeline.get_by_role("row").filter(has_text="replaced").first).to_be_visible(timeout=WAIT_MS)
            await expect(figure).to_have_attribute("aria-label", re.compile(r"^Composite schedule \(EVSE 1\): 12\.0 A"),
                                                   timeout=WAIT_MS)  # fmt: skip
            await shot(page, "profile-timeline")
            # the site lists the station that refuses every profile, with why
            await start16(a)

            async def refused_once() -> bool:
                rows = (await http.get("/api/v1/stations/CP16/charging-profiles?history=true")).json()
                return any(r["purpose"] == "tx" and r["state"] == "rejected" for r in rows)

            await until(refused_once, "CP16 refused its first TxProfile")
            # a status change is an event the balancer runs on: its second refusal excludes it
            await a.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))

            async def excluded() -> bool:
                return "CP16" in (await http.get("/api/v1/smart")).json()["excluded"]

            await until(excluded, "CP16 excluded")
            await page.goto(f"{server.http_url}/sites/depot")
            listed = page.get_by_role("list", name="Excluded from balancing")
            await expect(listed).to_contain_text("CP16: refuses charging profiles", timeout=WAIT_MS)
            await listed.get_by_role("link", name="CP16").click()
            await expect(page.get_by_text("Excluded from balancing: refuses charging profiles")).to_be_visible()
            refused = page.locator("#profile-timeline").get_by_role("row").filter(has_text="Rejected").first
            await expect(refused).to_be_visible()
        await context.close()
