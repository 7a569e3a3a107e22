"""Swagger UI at /api/docs works for a dashboard login (issue 8, item 13): "Try it out" of a POST sends
the session's CSRF token, so it is not refused with 403."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect

from tests.api.conftest import bearer
from tests.csms_process import CsmsProcess
from tests.web.conftest import ARTIFACTS
from tests.web.test_dashboard import WAIT_MS, login


async def test_try_it_out_post_with_a_dashboard_session(server: CsmsProcess, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await login(page, server)
    await page.goto(f"{server.http_url}/api/docs")
    sections = page.locator(".opblock-tag-section")
    await expect(sections.last).to_be_visible(timeout=WAIT_MS)
    assert await sections.count() >= 20  # every section is listed (they start folded)
    await page.locator("#operations-tag-tokens").click()
    operation = page.locator("#operations-tokens-create_token_api_v1_tokens_post")
    await expect(operation).to_be_visible(timeout=WAIT_MS)
    await operation.locator(".opblock-summary").first.click()
    await operation.get_by_role("button", name="Try it out").click()
    await operation.locator("textarea.body-param__text").fill('{"id_token": "SWAGGER-1", "group_id": "DOCS"}')
    await operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    await expect(status).to_have_text("201", timeout=WAIT_MS)
    await page.screenshot(path=ARTIFACTS / "api-docs-try-it-out.png")
    assert errors == []
    await context.close()
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(server.admin_token)) as api:
        token = (await api.get("/api/v1/tokens/SWAGGER-1")).json()
    assert token["group_id"] == "DOCS"
