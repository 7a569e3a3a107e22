"""The dashboard's OSCP page against a real ``ocppd serve`` (SQLite and PostgreSQL) with the
independent Capacity Provider of tests/oscp_peer.py registered and sending a forecast, and a 2.0.1
station (the ``ocpp`` package) whose EV draws more than the forecast allows: peers, groups, the
forecast plotted against the draw, the compliance error sent; bad input; OSCP turned off."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.api.test_web_sessions import login
from tests.csms_process import CsmsProcess, free_port, run_csms, serve
from tests.integration.test_oscp import TREE, Ignoring201, metering
from tests.integration.test_smart_charging import start201, station, until
from tests.oscp_peer import CapacityProvider, block
from tests.pg import pg_db_factory, pg_server_url  # noqa: F401  (re-exported fixtures)
from tests.web.conftest import ARTIFACTS, PASSWORD, USER
from tests.web.test_dashboard import WAIT_MS
from tests.web.test_dashboard import login as dashboard_login


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def oscp_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    database = request.getfixturevalue("pg_db_factory")("ocppd_oscp_page") if request.param == "postgresql" else None
    tmp = tmp_path_factory.mktemp("oscp-page")
    ocpp_port, http_port = free_port(), free_port()
    env = {
        "OCPPD_SMART__INTERVAL_S": "2",
        "OCPPD_SMART__MIN_INTERVAL_S": "0",
        "OCPPD_SMART__DEBOUNCE_S": "0.05",
        "OCPPD_OSCP__ENABLED": "1",
        "OCPPD_OSCP__PUBLIC_URL": f"http://127.0.0.1:{http_port}",
        "OCPPD_OSCP__HEARTBEAT_INTERVAL_S": "1",
        "OCPPD_OSCP__SILENT_AFTER_INTERVALS": "4",
        "OCPPD_OSCP__MEASUREMENTS_INTERVAL_S": "1",
        "OCPPD_OSCP__COMPLIANCE_AFTER_S": "1",
    }
    with serve(tmp / "data", ocpp_port, http_port, tmp / "serve.log", database, env) as server:
        server.cli("users", "add", USER, "--password", PASSWORD, "--role", "admin")
        yield server


def admin(server: CsmsProcess) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    return httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30)


def charts(page: str) -> list[dict[str, Any]]:
    """The data of every chart on a page (what app.js draws)."""
    return [json.loads(html.unescape(m)) for m in re.findall(r"data-series='([^']*)'", page)]


def values(chart: dict[str, Any], name: str) -> list[float]:
    line = next(s for s in chart["series"] if s["name"] == name)
    return [v for _, v in line["points"] if v is not None]


async def test_oscp_page_shows_the_peer_its_forecast_the_draw_and_the_compliance_error(
    oscp_server: CsmsProcess,
) -> None:
    server = oscp_server
    async with admin(server) as api, CapacityProvider() as cp, \
            httpx.AsyncClient(base_url=server.http_url, timeout=30) as web:  # fmt: skip
        assert (await api.put("/api/v1/limit-tree", json=TREE)).status_code == 200
        r = await api.post("/api/v1/oscp/peers", json={"name": "dso"})
        assert r.status_code == 201, r.text
        issued = r.json()["token"]
        r = await api.put("/api/v1/oscp/groups/grp-1", json={"node": "depot", "fallback_amps": 10})
        assert r.status_code == 200, r.text
        await login(web, token=server.admin_token)
        page = await web.get("/oscp")
        assert page.status_code == 200 and "awaiting_register" in page.text, page.text
        assert '<a href="/oscp" aria-current="page">OSCP</a>' in page.text

        assert await cp.register_with(f"{server.http_url}/oscp/fp/2.0", issued) == 204
        await until(lambda: cp.of("handshake"), "ocppd's Handshake")
        cp.beat(every=0.4, offline_after=4)
        async with station(server, "CP1", Ignoring201) as st:
            await start201(st, "TX-PAGE")
            meters = metering(st, "TX-PAGE")
            try:
                assert (await cp.forecast("grp-1", [block(16)])).status_code == 204
                # the EV keeps drawing 32 A against the forecast's 16 A: ocppd complains to the peer
                await until(lambda: cp.of("group_capacity_compliance_error"), "a compliance error")

                async def plotted() -> httpx.Response | None:
                    page = await web.get("/oscp")
                    return page if values(charts(page.text)[0], "drawn (highest phase)") else None

                page = await until(plotted, "the draw on the plot")
            finally:
                meters.cancel()

        text = page.text
        peers = text[text.index('id="oscp-peers"') : text.index('id="groups-h"')]
        assert "dso" in peers and "registered" in peers and "no, unless quiet until" in peers, peers
        groups = text[text.index('id="oscp-groups"') : text.index("</table>", text.index('id="oscp-groups"'))]
        for part in ('href="/oscp/groups/grp-1"', 'href="/sites/depot"', "CP1", "16.0 / 16.0 / 16.0 A", "10.0"):
            assert part in groups, (part, groups)
        compliance = text[text.index('id="oscp-compliance"') :]
        assert "grp-1 (node depot) draws 32.0/32.0/32.0 A" in compliance and "<td>yes</td>" in compliance
        chart = charts(text)[0]
        assert chart["unit"] == "A" and values(chart, "capacity forecast") == [16.0]
        assert values(chart, "fallback capacity (while silent)") == [10.0]
        assert max(values(chart, "drawn (highest phase)")) == 32.0

        one = await web.get("/oscp/groups/grp-1")
        assert one.status_code == 200 and len(charts(one.text)) == 1 and "OSCP group <code>grp-1</code>" in one.text
        missing = await web.get("/oscp/groups/nope")
        assert missing.status_code == 404 and "There is no OSCP group nope" in missing.text
        async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as anonymous:
            r = await anonymous.get("/oscp")
            assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Foscp"
        assert cp.problems == [], cp.problems


async def test_the_capacity_plot_in_a_browser(oscp_server: CsmsProcess, browser: Any) -> None:
    server = oscp_server
    async with admin(server) as api:
        assert (await api.put("/api/v1/limit-tree", json=TREE)).status_code == 200
        r = await api.put("/api/v1/oscp/groups/grp-1", json={"node": "depot", "fallback_amps": 10})
        assert r.status_code == 200, r.text
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await dashboard_login(page, server)
    await page.get_by_role("link", name="OSCP", exact=True).click()
    await expect(page.get_by_role("heading", name="OSCP 2.0")).to_be_visible()
    figure = page.locator("#oscp-figure-1")
    await expect(figure.locator("canvas")).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"), timeout=WAIT_MS)
    await expect(figure.locator("canvas")).to_have_attribute("aria-label", re.compile("fallback capacity"))
    await expect(figure.locator("figcaption")).to_contain_text("fallback capacity (while silent)")
    await figure.get_by_text("as a table").click()
    fallback = figure.locator("table tbody tr").filter(has_text="fallback capacity (while silent)")
    await expect(fallback).to_contain_text("10.0")
    await page.screenshot(path=ARTIFACTS / "oscp.png", full_page=True)
    await context.close()


async def test_oscp_page_when_oscp_is_off(tmp_path: Path) -> None:
    with run_csms(tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as web:
            assert (await web.get("/oscp")).status_code == 303  # no session: to the login
            await login(web, token=server.admin_token)
            page = await web.get("/oscp")
            assert page.status_code == 200 and "OSCP is not enabled on this server" in page.text
            assert 'href="/oscp"' in (await web.get("/sites")).text  # linked from the sites page and the menu
