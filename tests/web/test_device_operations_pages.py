"""The availability/reset, display-message and customer-information pages of a station, in real headless
Chromium against ``ocppd serve`` and the 2.0.1 simulator: forms send the commands, the tables follow
what the station answers and reports (live, over the event stream)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from tests.csms_process import CsmsProcess
from tests.web.test_dashboard import WAIT_MS, login, shot


async def test_availability_reset_display_messages_and_customer_information_pages(
    server: CsmsProcess, browser: Any
) -> None:
    sid, tag = "WEB-OPS-1", "04E10001"
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    config = StationConfig(identity=sid, url=server.ws_url, version=OcppVersion.V201, call_timeout=10,
                           reboot_delay=0.2, reconnect_min=0.2, id_tags=[tag])  # fmt: skip
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as api, Station(config) as sim:
        assert (await api.post("/api/v1/tokens", json={"id_token": tag})).status_code == 201
        await sim.wait_booted(timeout=20)
        page = await (await browser.new_context(viewport={"width": 1280, "height": 1000})).new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        await login(page, server)
        await page.goto(f"{server.http_url}/stations/{sid}")
        await page.get_by_role("link", name="Availability and resets").click()

        # availability: EVSE 1 inoperative, shown next to the reported status once applied
        row = page.locator('#availability tr[data-connector="1-1"]')
        await expect(row).to_contain_text("Available", timeout=WAIT_MS)
        form = page.locator("#form-availability")
        await form.get_by_label("EVSE").fill("1")
        await form.get_by_label("Set").select_option("false")
        await form.get_by_role("button", name="Send").click()
        await expect(form.locator("output")).to_contain_text("Accepted", timeout=WAIT_MS)
        await expect(row).to_contain_text("Unavailable", timeout=WAIT_MS)
        await expect(row).to_contain_text("Inoperative")
        await expect(page.locator('#wishes tr[data-scope="1-0"]')).to_contain_text("applied", timeout=WAIT_MS)
        await page.goto(f"{server.http_url}/stations/{sid}")  # the station page shows it next to the status
        await expect(page.locator('[data-wanted="1-1"]')).to_have_text("wanted Inoperative (applied)")
        await page.get_by_role("link", name="Availability and resets").click()

        # reset: immediate; the outcome follows the simulator's reboot
        reset = page.locator("#form-reset")
        await reset.get_by_label("Type").select_option("immediate")
        await reset.get_by_role("button", name="Reset").click()
        await expect(reset.locator("output")).to_contain_text("Accepted", timeout=WAIT_MS)
        await expect(page.locator("#resets tbody tr").first).to_contain_text("completed", timeout=WAIT_MS)
        await expect(page.locator("#resets tbody tr").first).to_contain_text("RemoteReset")
        await shot(page, "station-availability")

        # display messages: set, refused format, ask the station, clear
        await page.goto(f"{server.http_url}/stations/{sid}/display-messages")
        form = page.locator("#form-display-message")
        await form.get_by_label("Message").fill("Closed for maintenance on Friday")
        await form.get_by_label("Priority").select_option("InFront")
        await form.get_by_label("Language").fill("en")
        await form.get_by_role("button", name="Set message").click()
        await expect(form.locator("output")).to_contain_text("Accepted", timeout=WAIT_MS)
        message = page.locator('#display-messages tr[data-message="1"]')
        await expect(message).to_contain_text("Closed for maintenance on Friday", timeout=WAIT_MS)
        await expect(message).to_contain_text("InFront")
        await form.get_by_label("Id").fill("2")
        await form.get_by_label("Format").select_option("HTML")
        await form.get_by_role("button", name="Set message").click()
        await expect(form.locator("output")).to_contain_text("NotSupportedMessageFormat", timeout=WAIT_MS)
        await expect(page.locator('#display-messages tr[data-message="2"]')).to_have_count(0)
        await page.get_by_role("button", name="Ask the station (GetDisplayMessages)").click()
        await expect(message).to_contain_text("reported", timeout=WAIT_MS)
        await shot(page, "station-display-messages")
        await page.get_by_role("button", name="Clear message 1").click()
        await expect(page.locator('#display-messages tr[data-message="1"]')).to_have_count(0, timeout=WAIT_MS)
        assert (await api.get(f"/api/v1/stations/{sid}/display-messages")).json() == []
        assert 1 not in sim.display_messages

        # customer information: the simulator reports its local data about the token
        await page.goto(f"{server.http_url}/stations/{sid}/customer-information")
        form = page.locator("#form-customer-information")
        await form.get_by_label("Id token").fill(tag)
        await form.get_by_role("button", name="Send").click()
        await expect(form.locator("output")).to_contain_text("Accepted", timeout=WAIT_MS)
        await expect(page.locator("#customer-information tbody tr").first).to_contain_text(tag, timeout=WAIT_MS)
        await expect(page.locator("#customer-information pre.report").first).to_be_visible(timeout=WAIT_MS)
        await form.get_by_label("Id token").fill("")
        await form.get_by_label("Hash algorithm").select_option("SHA256")
        await form.get_by_label("Issuer name hash").fill("a1b2")
        await form.get_by_label("Issuer key hash").fill("c3d4")
        await form.get_by_label("Serial number").fill("0A1B")
        await form.get_by_role("button", name="Send").click()
        await expect(page.locator("#customer-information tbody tr").first).to_contain_text("0A1B", timeout=WAIT_MS)
        [by_certificate, _] = (await api.get(f"/api/v1/stations/{sid}/customer-information")).json()
        assert by_certificate["certificate"] == {"hashAlgorithm": "SHA256", "issuerNameHash": "a1b2",
                                                 "issuerKeyHash": "c3d4", "serialNumber": "0A1B"}  # fmt: skip
        await shot(page, "station-customer-information")
