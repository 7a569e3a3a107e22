"""Security headers (issue 8): every dashboard page works in real Chromium under the
Content-Security-Policy, with no violation reported, and cannot be framed."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.api.stations import connected
from tests.csms_process import CsmsProcess
from tests.web.conftest import PASSWORD, USER

WAIT_MS = 30_000


async def test_every_page_runs_under_the_csp_without_violations(server: CsmsProcess, browser: Any) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    await page.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " e => console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    response = await page.goto(f"{server.http_url}/login")
    assert response is not None
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    await page.get_by_label("Username").fill(USER)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Log in", exact=True).click()
    await expect(page.get_by_role("heading", name="Network overview")).to_be_visible()
    async with connected(server.ws_url, "CSP-1", "1.6", meter_interval=0.5):
        for path in (
            "/",
            "/stations",
            "/stations/CSP-1",
            "/tokens",
            "/transactions",
            "/messages",
            "/certificates",
            "/stations/CSP-1/certificates",
            "/api/docs",
        ):
            await page.goto(f"{server.http_url}{path}")
            await page.wait_for_load_state("networkidle")
        await page.goto(f"{server.http_url}/stations/CSP-1")
        await expect(page.locator("#live-indicator")).to_have_text("live", timeout=WAIT_MS)  # scripts ran
    assert violations == []

    # Another origin cannot frame the dashboard.
    framing = await context.new_page()
    blocked: list[str] = []
    framing.on("console", lambda m: blocked.append(m.text))
    await framing.set_content(f'<iframe src="{server.http_url}/login"></iframe>')
    frame = framing.frames[-1]
    await frame.wait_for_load_state()
    assert await frame.evaluate("document.getElementsByName('csrf_token').length") == 0
    await context.close()
