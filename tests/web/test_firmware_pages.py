"""The firmware and log pages in real headless Chromium against a real ``ocppd serve`` and simulated
stations that download the image from ocppd and upload their logs to it: an image uploaded from the
dashboard (multipart, with its progress), a campaign started from a search of stations and followed
wave by wave and station by station, stopped and resumed, an image deleted, a log requested from the
station page and downloaded."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from ocppd.station.files import firmware_image
from tests.csms_process import CsmsProcess
from tests.web.test_dashboard import WAIT_MS, login, shot

_ids = itertools.count(1)


def _config(server: CsmsProcess) -> StationConfig:
    return StationConfig(identity=f"WEBFW-{next(_ids)}", url=server.ws_url, version=OcppVersion.V201,
                         call_timeout=10, step_delay=0.05, reboot_delay=0.2, firmware="1.0.0")  # fmt: skip


async def _upload(page: Page, path: Path, version: str) -> None:
    await page.get_by_label("Image file").set_input_files(path)
    await page.get_by_label("Version").fill(version)
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator("#fw-upload output")).to_contain_text(f"Stored {path.name}", timeout=WAIT_MS)
    await expect(page.locator("#fw-progress")).to_have_attribute("value", "100")
    await expect(page.locator("#images-table")).to_contain_text(path.name, timeout=WAIT_MS)  # after the reload


async def test_firmware_upload_campaign_stop_resume_and_a_log_download(
    server: CsmsProcess, browser: Any, tmp_path: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    await login(page, server)
    await page.get_by_role("link", name="Firmware", exact=True).click()
    await expect(page.get_by_role("heading", name="Firmware", exact=True)).to_be_visible()
    image = tmp_path / "fw-6.0.0.bin"
    image.write_bytes(firmware_image("6.0.0", 3 * 1024 * 1024))
    await _upload(page, image, "6.0.0")
    await expect(page.locator("#images-table")).to_contain_text("6.0.0")

    stations = [Station(_config(server)) for _ in range(3)]
    try:
        for station in stations:
            await station.__aenter__()
        for station in stations:
            await station.wait_booted(timeout=20)
        # a campaign from the stations a search finds
        await page.get_by_label("Add the stations whose id, vendor or model contains").fill("WEBFW-")
        await page.get_by_role("button", name="Add matching").click()
        await expect(page.locator("#campaign-form output")).to_contain_text("3 in the campaign")
        await page.get_by_label("Wave size").fill("2")
        await page.get_by_label("Pause between waves, s").fill("0.2")
        await page.get_by_label("Stop above failure rate").fill("0.5")
        await page.get_by_label("Wave timeout, s").fill("60")
        await page.get_by_role("button", name="Start campaign").click()
        await expect(page.locator("#campaign-form output")).to_contain_text("running", timeout=WAIT_MS)
        link = page.locator("#campaigns-table a").first
        await expect(link).to_be_visible(timeout=WAIT_MS)
        await link.click()
        # followed live: every station Installed with the new version, the campaign completed
        await expect(page.locator("#campaign-state")).to_have_text("completed", timeout=WAIT_MS)
        rows = page.locator("#campaign-stations tbody tr")
        await expect(rows).to_have_count(3)
        for station in stations:
            row = page.locator(f'[data-station-progress="{station.identity}"]')
            await expect(row).to_contain_text("Installed", timeout=WAIT_MS)
            await expect(row).to_contain_text("6.0.0")
        await expect(page.locator("#waves-table tbody tr")).to_have_count(2)
        await shot(page, "firmware-campaign")

        # the station page: a log requested, its upload downloadable; the version read back
        sid = stations[0].identity
        await page.goto(f"{server.http_url}/stations/{sid}")
        await expect(page.locator("#station-files")).to_contain_text("6.0.0")
        await page.get_by_role("button", name="Request the log").click()
        await expect(page.locator("#log-request output")).to_contain_text("Accepted", timeout=WAIT_MS)
        file_link = page.locator("#log-jobs a")
        await expect(file_link).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#log-jobs")).to_contain_text("Uploaded")
        async with page.expect_download() as info:
            await file_link.click()
        download = await info.value
        saved = tmp_path / "log.txt"
        await download.save_as(saved)
        assert sid in saved.read_text()
        await shot(page, "station-logs")
    finally:
        for station in stations:
            await station.__aexit__(None, None, None)

    # stop and resume a campaign that waits for a station that is not there
    await page.goto(f"{server.http_url}/firmware")
    other = tmp_path / "fw-7.0.0.bin"
    other.write_bytes(firmware_image("7.0.0", 64 * 1024))
    await _upload(page, other, "7.0.0")
    await page.get_by_label("Image", exact=True).select_option(label="fw-7.0.0.bin (7.0.0)")
    await page.get_by_label("Stations (ids, in this order; commas, spaces or lines)").fill("WEBFW-NOT-THERE")
    await page.get_by_role("button", name="Start campaign").click()
    await expect(page.locator("#campaign-form output")).to_contain_text("running", timeout=WAIT_MS)
    await expect(page.locator("#campaigns-table a")).to_have_count(2, timeout=WAIT_MS)  # after the reload
    await page.locator("#campaigns-table a").first.click()  # newest first
    await expect(page.locator('[data-station-progress="WEBFW-NOT-THERE"]')).to_contain_text(
        "AwaitingConnection", timeout=WAIT_MS)  # fmt: skip
    await page.get_by_role("button", name="Stop").click()
    await expect(page.locator("#campaign-state")).to_have_text("stopped", timeout=WAIT_MS)
    await page.get_by_role("button", name="Resume").click()
    await expect(page.locator("#campaign-state")).to_have_text("running", timeout=WAIT_MS)
    await page.get_by_role("button", name="Stop").click()
    await expect(page.locator("#campaign-state")).to_have_text("stopped", timeout=WAIT_MS)
    # an image no campaign is running with can be deleted
    await page.goto(f"{server.http_url}/firmware")
    row = page.locator("#images-table tr", has_text="fw-7.0.0.bin")
    await row.get_by_role("button", name="Delete").click()
    await expect(page.locator("#images-table")).not_to_contain_text("fw-7.0.0.bin", timeout=WAIT_MS)
    await shot(page, "firmware")
    await context.close()
