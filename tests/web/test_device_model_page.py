"""Done-when of issue 13 (device model and monitoring), in real Chromium against a real ``ocppd serve`` and
ocppd's simulator (2.0.1): a monitor set from the station's device-model page fires an alert that opens
and then clears; a setting edited there with a value outside the allowed range is refused before
anything is sent (the message log holds no SetVariables for it)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from tests.csms_process import CsmsProcess
from tests.waiting import eventually
from tests.web.test_dashboard import WAIT_MS, login, shot

SID = "WEB-DM-201"


async def test_monitor_from_the_dashboard_fires_and_clears_and_out_of_range_settings_are_not_sent(
    server: CsmsProcess, browser: Any
) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    server.cli("tokens", "add", "04A10001")
    cfg = StationConfig(identity=SID, url=server.ws_url, version=OcppVersion.V201, call_timeout=10,
                        reconnect_min=0.1, reconnect_max=0.5, id_tags=["04A10001"])  # fmt: skip
    async with Station(cfg) as station, httpx.AsyncClient(base_url=server.http_url, headers=headers,
                                                           timeout=60) as api:  # fmt: skip
        await station.wait_booted(timeout=20)
        r = await api.post(f"/api/v1/stations/{SID}/commands/get-configuration", json={})
        assert r.status_code == 200, r.text
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        page = await context.new_page()
        await login(page, server)
        await page.goto(f"{server.http_url}/stations/{SID}")
        await page.locator("#device-model-link").click()
        row = page.locator('[data-variable="EVSE@evse1.Power"]')
        await expect(row).to_be_visible(timeout=WAIT_MS)

        # a setting outside its range: refused, and nothing goes to the station
        heartbeat = page.locator('[data-variable="OCPPCommCtrlr.HeartbeatInterval"]')
        await heartbeat.get_by_label("New value of OCPPCommCtrlr.HeartbeatInterval").fill("999999")
        await heartbeat.get_by_role("button", name="Set", exact=True).click()
        await expect(heartbeat.locator("output").first).to_contain_text("must be at most 86400", timeout=WAIT_MS)
        await expect(heartbeat.locator("output").first).to_contain_text("nothing was sent")
        await shot(page, "device-model-refused")
        await heartbeat.get_by_label("New value of OCPPCommCtrlr.HeartbeatInterval").fill("600")
        await heartbeat.get_by_role("button", name="Set", exact=True).click()
        await expect(page.locator('[data-variable="OCPPCommCtrlr.HeartbeatInterval"] [data-last-set]')).to_contain_text(
            "Accepted: 600", timeout=WAIT_MS)  # fmt: skip

        async def only_the_valid_one() -> list[str]:
            rows = (await api.get(f"/api/v1/stations/{SID}/messages", params={"action": "SetVariables"})).json()
            return [m["frame"] for m in rows if m["direction"] == "out"]

        [frame] = await eventually(only_the_valid_one, "the accepted SetVariables logged")
        assert '"600"' in frame and "999999" not in frame
        assert station.settings["heartbeat_interval"] == 600

        # a monitor on the EVSE's power, set from the page
        power = page.locator('[data-variable="EVSE@evse1.Power"]')
        await power.get_by_text("Monitor", exact=True).click()
        await power.get_by_label("Type").select_option("UpperThreshold")
        await power.get_by_label("Monitor value").fill("3000")
        await power.get_by_label("Severity").fill("2")
        await power.get_by_role("button", name="Set monitor").click()
        monitor_row = page.locator("#monitors tbody tr").first
        await expect(monitor_row).to_contain_text("UpperThreshold", timeout=WAIT_MS)
        await expect(monitor_row).to_contain_text("set (Accepted)")
        # one the station refuses (a threshold on a non-numeric variable) is listed with its answer
        body = {"monitors": [{"component": "EVSE", "evse_id": 1, "variable": "AvailabilityState",
                              "type": "UpperThreshold", "value": 1}]}  # fmt: skip
        r = await api.post(f"/api/v1/stations/{SID}/commands/set-monitoring", json=body)
        assert r.json()["result"]["results"][0]["status"] == "UnsupportedMonitorType", r.text
        await page.reload()
        refused = page.locator("#monitors tbody tr[data-refused]")
        await expect(refused).to_contain_text("refused: UnsupportedMonitorType", timeout=WAIT_MS)
        await expect(refused).to_contain_text("AvailabilityState")
        await expect(refused.get_by_role("button")).to_have_count(0)  # nothing on the station to clear
        await shot(page, "device-model-monitor")

        start = await api.post(f"/api/v1/stations/{SID}/commands/remote-start",
                               json={"id_token": "04A10001", "evse_id": 1})  # fmt: skip
        assert start.status_code == 200 and start.json()["result"]["status"] == "Accepted", start.text

        async def open_alert() -> list[dict[str, Any]]:
            rows = (await api.get("/api/v1/alerts", params={"station_id": SID, "source": "NotifyEvent"})).json()
            return [a for a in rows if "Power" in a["message"]]

        [alert] = await eventually(open_alert, "the monitor's alert opened")
        assert alert["severity"] == 2 and alert["evse_id"] == 1
        await page.goto(f"{server.http_url}/")
        await expect(page.locator("#attention")).to_contain_text(SID, timeout=WAIT_MS)
        await shot(page, "device-model-alert-open")

        tx = next(c.tx for c in station.connectors if c.tx is not None)
        stop = await api.post(f"/api/v1/stations/{SID}/commands/remote-stop", json={"transaction_id": tx.ref})
        assert stop.status_code == 200, stop.text

        async def cleared() -> list[dict[str, Any]]:
            rows = (await api.get("/api/v1/alerts", params={"station_id": SID, "state": "cleared"})).json()
            return [a for a in rows if a["id"] == alert["id"]]

        await eventually(cleared, "the monitor's alert cleared")

        # the inventory across stations: counts, the drill-down, who has a setting
        await page.get_by_role("link", name="Inventory", exact=True).click()
        await expect(page.locator("#counts-model")).to_contain_text("SimCharger")
        await page.get_by_label("Vendor, model or firmware containing").fill("simch")
        await page.get_by_role("button", name="Filter").click()
        await expect(page.locator("#counts-model tbody tr")).to_have_count(1)
        await page.locator("#counts-model").get_by_role("link", name="SimCharger").click()
        await expect(page.locator("#inventory-stations")).to_contain_text(SID)
        await page.get_by_label("Variable / key").fill("HeartbeatInterval")
        await page.get_by_label("Component").fill("OCPPCommCtrlr")
        await page.get_by_label("Value").fill("600")
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("#setting-stations")).to_contain_text(SID)
        await shot(page, "inventory")
        await context.close()
