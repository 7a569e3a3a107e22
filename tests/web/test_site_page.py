"""The dashboard's site page in headless Chromium: live per-phase totals against the limit and allocations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import expect

from tests.csms_process import CsmsProcess
from tests.integration.test_smart_charging import TREE, Station201, meter201, start201, station, until
from tests.web.test_dashboard import WAIT_MS, login, shot


async def test_site_page_shows_live_allocations(server: CsmsProcess, browser: Any) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as http:
        assert (await http.put("/api/v1/limit-tree", json=TREE)).status_code == 200
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await login(page, server)
    await page.get_by_role("link", name="Sites", exact=True).click()
    await page.get_by_role("link", name="depot").click()
    await expect(page.get_by_role("heading", name="Site depot")).to_be_visible()
    await expect(page.locator("#live-indicator")).to_have_text("live", timeout=WAIT_MS)
    async with station(server, "CP201", Station201) as b:
        await start201(b, "TX-WEB")
        await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 32.0, "the balancer's profile")
        await meter201(b, "TX-WEB", 1)
        allocations = page.get_by_role("region", name="Allocations")
        row = allocations.get_by_role("row").filter(has_text="CP201")
        await expect(row).to_contain_text("32.0 A", timeout=WAIT_MS)
        await expect(row).to_contain_text("full")  # all it can take: its 32 A cap is also the site limit
        l1 = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="L1", exact=True))
        await expect(l1).to_contain_text("100 %", timeout=WAIT_MS)  # measured 32 A of the 32 A limit
        await shot(page, "site")
        # the grid operator lowers the site to 16 A in 20 minutes; the EV must leave in two hours:
        # its plan is 32 A until then, 16 A after, and the page shows it
        now = datetime.now(UTC)
        drop, departure = now + timedelta(minutes=20), now + timedelta(hours=2)
        async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as http:
            lower = {"amps": 16, "start": drop.isoformat(), "end": (drop + timedelta(hours=3)).isoformat()}
            assert (await http.post("/api/v1/limit-tree/nodes/depot/external-limits", json=lower)).status_code == 201
            needs = {"departure": departure.isoformat(), "energy_wh": 20000}
            assert (await http.put("/api/v1/stations/CP201/evses/1/charging-needs", json=needs)).status_code == 200

            async def planned() -> bool:
                rows = (await http.get("/api/v1/sites/depot")).json()["allocations"]
                return any(len(r.get("plan") or []) > 2 for r in rows)

            await until(planned, "the balancer's plan")
        await meter201(b, "TX-WEB", 2)  # the page follows the station's events
        await expect(row).to_contain_text("plan: 32.0 A from", timeout=WAIT_MS)
        await expect(row).to_contain_text(f"16.0 A from {drop.strftime('%Y-%m-%d %H:%M:%S')}")
        await expect(row).to_contain_text("on time")
    await context.close()
