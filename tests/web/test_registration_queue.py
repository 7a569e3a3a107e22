"""The station page's registration buttons and queued commands, in real headless Chromium."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect

from tests.csms_process import CsmsProcess
from tests.web.test_dashboard import WAIT_MS, login, shot


async def test_station_page_registration_and_queued_commands(server: CsmsProcess, browser: Any) -> None:
    sid = "WEB-QUEUE"
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as api:
        assert (
            await api.post("/api/v1/stations", json={"station_id": sid, "registration": "pending"})
        ).status_code == 201
        queued = await api.post(
            f"/api/v1/stations/{sid}/commands/reset", json={"type": "hard"}, params={"queue_expiry_s": 3600}
        )
        assert queued.status_code == 202
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        await login(page, server)
        await page.goto(f"{server.http_url}/stations/{sid}")
        table = page.locator("#queued-commands")
        await expect(table).to_contain_text("reset")
        await shot(page, "station-queued")
        await table.get_by_role("button", name="Cancel").click()
        await expect(page.locator("#queued-commands")).to_have_count(0, timeout=WAIT_MS)
        assert [q["status"] for q in (await api.get(f"/api/v1/stations/{sid}/queue")).json()] == ["cancelled"]

        actions = page.locator("#registration-actions")
        await actions.get_by_role("button", name="Approve").click()
        await expect(page.locator("#registration-actions").get_by_role("button", name="Set pending")).to_be_visible(
            timeout=WAIT_MS
        )
        assert (await api.get(f"/api/v1/stations/{sid}")).json()["registration"] == "accepted"
        await page.locator("#registration-actions").get_by_role("button", name="Set pending").click()
        await expect(page.locator("#registration-actions").get_by_role("button", name="Approve")).to_be_visible(
            timeout=WAIT_MS
        )
        assert (await api.get(f"/api/v1/stations/{sid}")).json()["registration"] == "pending"
