"""The local controller's status surface (``local_controller.http_port``) on a real controller between
a real ``ocppd serve`` and two stations played by the ``ocpp`` package: the JSON status, the page
(in headless Chromium, with its plot), the token, bad input, and the operator's group limit."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from playwright.async_api import expect

from ocppd.localctl.status import limit_sources
from ocppd.smart.tree import ExternalLimit
from tests.csms_process import CsmsProcess, free_port, run_csms
from tests.integration.test_smart_charging import Station16, Station201, meter201, start201, station
from tests.localctl.process import ControllerProcess, run_controller
from tests.localctl.test_balancing import probe
from tests.localctl.test_command import run
from tests.localctl.test_relay import api, connected
from tests.waiting import eventually
from tests.web.conftest import ARTIFACTS

TOKEN = "lc-status-token-0123456789"
LEVEL = 6  # smart.stack_level
IDENTITY = "LC-STATUS"  # the controller's own station at the CSMS


@pytest.fixture(scope="module")
def csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("csms")) as server:
        yield server


@pytest.fixture(scope="module")
def lc(tmp_path_factory: pytest.TempPathFactory, csms: CsmsProcess) -> Iterator[tuple[ControllerProcess, str]]:
    port = free_port()
    env = {
        "OCPPD_LOCAL_CONTROLLER__GROUP_AMPS": "32",
        "OCPPD_LOCAL_CONTROLLER__HTTP_PORT": str(port),
        "OCPPD_LOCAL_CONTROLLER__HTTP_TOKEN": TOKEN,
        "OCPPD_LOCAL_CONTROLLER__IDENTITY": IDENTITY,
    }
    with run_controller(tmp_path_factory.mktemp("lc"), f"ws://127.0.0.1:{csms.ocpp_port}", env) as controller:
        yield controller, f"http://127.0.0.1:{port}"


def client(base: str, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=base, headers=headers, timeout=30)


async def status_when(http: httpx.AsyncClient, check: Any, what: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        r = await http.get("/api/status")
        if r.status_code != 200:  # the status server starts right after the controller
            return None
        body = r.json()
        return body if check(body) else None

    return await eventually(probe, what)


async def test_status_of_two_stations_the_limit_and_the_operator_limit(lc: tuple[ControllerProcess, str]) -> None:
    controller, base = lc
    async with client(base) as http, station(controller, "ST-16", Station16), \
            station(controller, "ST-201", Station201) as b:  # fmt: skip
        await start201(b, "ST-TX")
        await eventually(probe(lambda: b.profiles.get((1, "TxProfile", LEVEL)) == 32.0), "the EV gets the group")
        await meter201(b, "ST-TX", 1)

        def ready(s: dict[str, Any]) -> bool:
            by = {x["identity"]: x for x in s["stations"]}
            relayed = set(by) == {"ST-16", "ST-201"} and all(x["upstream"]["state"] == "connected" for x in by.values())
            return (
                relayed and bool(by["ST-201"]["allocations"]) and by["ST-201"]["fallback"]["amps_per_evse"] is not None
            )

        s = await status_when(http, ready, "both stations relayed, the EV allocated")
        by = {x["identity"]: x for x in s["stations"]}
        assert (by["ST-16"]["subprotocol"], by["ST-201"]["subprotocol"]) == ("ocpp1.6", "ocpp2.0.1")
        for st in by.values():
            # Boot, status (and the transaction) went up; their answers and the profiles came down
            assert st["frames"]["up"] >= 2 and st["frames"]["down"] >= 2 and st["frames"]["unforwarded"] == 0, st
            assert st["upstream"]["since"] and st["upstream"]["url"].endswith(f"/ocpp/{st['identity']}")
        alloc = by["ST-201"]["allocations"][0]
        assert (alloc["evse_id"], alloc["amps"], alloc["mode"], alloc["transaction_id"]) == (1, 32.0, "tx", "ST-TX")
        assert alloc["sent_a"] == 32.0 and alloc["lease_until"]
        assert by["ST-16"]["allocations"] == []
        assert by["ST-201"]["fallback"] == {"amps_per_evse": 16.0, "refused": False}
        assert s["group_limit"]["amps"] == [32.0, 32.0, 32.0] and s["group_limit"]["source"] == "configured"
        assert s["fallback"] == {"active": False, "stations": [], "refused": []}

        one = await http.get("/api/stations/ST-16")
        assert one.status_code == 200 and one.json()["identity"] == "ST-16"
        missing = await http.get("/api/stations/NOPE")
        assert missing.status_code == 404 and "identity" in missing.json()["detail"], missing.text

        page = await http.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        for text in ("ST-16", "ST-201", "ocpp1.6", "connected", "set by <strong>configured</strong>", "data-series="):
            assert text in page.text, text

        # bad input names the field; nothing changes
        bad = [({"amps": -1}, "amps"), ({"watts": "lots"}, "watts"), ({}, "amps"), ({"volts": 3}, "volts"),
               ({"amps": True}, "amps")]  # fmt: skip
        for body, field in bad:
            r = await http.put("/api/group-limit", json=body)
            assert r.status_code == 400 and field in r.json()["detail"], (body, r.text)
        # the operator lowers the group: the EV follows, the status names the operator
        r = await http.put("/api/group-limit", json={"amps": 20})
        assert r.status_code == 200 and r.json()["amps"] == 20, r.text
        await eventually(probe(lambda: b.profiles.get((1, "TxProfile", LEVEL)) == 20.0), "the EV at the new limit")
        s = await status_when(http, lambda s: s["group_limit"]["amps"] == [20.0] * 3, "the new limit in force")
        assert s["group_limit"]["source"] == "operator", s["group_limit"]


async def test_a_limit_from_the_csms_is_named_as_the_source(
    lc: tuple[ControllerProcess, str], csms: CsmsProcess
) -> None:
    """The CSMS limits the group through the controller's identity (a station-max profile): the status
    names it, its own connection and the limit it put on the group."""
    _, base = lc
    await eventually(lambda: connected(csms, IDENTITY), "the controller's identity at the CSMS")
    profile = {"id": 5, "evse_id": 0, "purpose": "station_max", "stack_level": 0, "unit": "A",
               "periods": [{"start_s": 0, "limit": 10}]}  # fmt: skip
    async with client(base) as http, api(csms) as upstream:
        r = await upstream.post(f"/api/v1/stations/{IDENTITY}/charging-profiles", json=profile)
        assert r.status_code == 200 and r.json()["status"] == "Accepted", r.text
        try:
            s = await status_when(http, lambda s: s["group_limit"]["source"] == "csms", "the CSMS's limit named")
            row = next(x for x in s["group_limit"]["sources"] if x["source"] == "csms")
            assert row["binding"] and row["watts"] == 6900.0 and row["until"] is None, row  # 10 A x 3 x 230 V
            assert s["group_limit"]["watts"] == 6900.0
            identity = s["controller"]["identity"]
            assert (identity["identity"], identity["state"], identity["subprotocol"]) == (IDENTITY, "connected",
                                                                                          "ocpp2.0.1")  # fmt: skip
            assert "csms" in (await http.get("/")).text
        finally:
            clear = {"chargingProfileId": 5}
            r = await upstream.post(f"/api/v1/stations/{IDENTITY}/call/ClearChargingProfile", json=clear)
            assert r.json()["status"] == "Accepted", r.text
        await status_when(http, lambda s: s["group_limit"]["source"] != "csms", "the CSMS's limit lifted")


async def test_a_station_without_its_csms_is_reconnecting_and_on_fallback(tmp_path: Path) -> None:
    port = free_port()
    env = {"OCPPD_LOCAL_CONTROLLER__GROUP_AMPS": "16", "OCPPD_LOCAL_CONTROLLER__HTTP_PORT": str(port)}
    with run_controller(tmp_path, f"ws://127.0.0.1:{free_port()}", env) as controller:  # nobody listens there
        async with (
            client(f"http://127.0.0.1:{port}", None) as http,
            websockets.connect(f"{controller.ws_url}/LONE", subprotocols=["ocpp2.0.1"]) as ws,
        ):
            boot = {"chargingStation": {"vendorName": "ACME", "model": "AC22"}, "reason": "PowerUp"}
            await ws.send(json.dumps([2, "boot-1", "BootNotification", boot]))  # left unanswered: no CSMS

            def cut_off(s: dict[str, Any]) -> bool:
                return s["fallback"]["active"] and s["stations"][0]["frames"]["unforwarded"] >= 1

            s = await status_when(http, cut_off, "the station cut off from its CSMS")
        lone = s["stations"][0]
        assert s["fallback"]["stations"] == ["LONE"] and lone["upstream"]["state"] == "reconnecting", lone
        assert lone["upstream"]["since"] and lone["upstream"]["last_error"], lone
        assert lone["frames"]["up"] == 0 and lone["frames"]["unforwarded"] >= 1, lone  # its boot reached nobody


async def test_the_token_is_required(lc: tuple[ControllerProcess, str]) -> None:
    _, base = lc
    async with client(base, None) as anonymous, client(base, "wrong-token") as wrong:
        await eventually(lambda: _reachable(anonymous), "the status server")
        for http in (anonymous, wrong):
            for method, path in (("GET", "/api/status"), ("GET", "/api/stations/ST-16"), ("GET", "/"),
                                 ("PUT", "/api/group-limit")):  # fmt: skip
                r = await http.request(method, path, json={"amps": 1} if method == "PUT" else None)
                assert r.status_code == 401, (method, path, r.text)
        page = await anonymous.get("/")
        assert page.headers["www-authenticate"].startswith("Basic")  # a browser asks for the token
        basic = base64.b64encode(f"operator:{TOKEN}".encode()).decode()
        assert (await anonymous.get("/", headers={"Authorization": f"Basic {basic}"})).status_code == 200


async def test_the_page_plots_the_draw_against_the_limit(lc: tuple[ControllerProcess, str], browser: Any) -> None:
    _, base = lc
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, http_credentials={
        "username": "operator", "password": TOKEN})  # fmt: skip
    page = await context.new_page()

    async def samples() -> bool:
        await page.goto(f"{base}/")
        points = await page.locator("#lc-figure canvas").get_attribute("data-points")
        return int(points or 0) >= 4  # the limit and the draw, two samples each at least

    await eventually(samples, "two samples of the group on the page")
    await expect(page.get_by_role("heading", name="Draw against the limit")).to_be_visible()
    canvas = page.locator("#lc-figure canvas")
    await expect(canvas).to_have_attribute("aria-label", re.compile(re.escape("limit (lowest phase)")))
    await page.locator("#lc-figure").get_by_text("Group draw against its limit as a table").click()
    await expect(page.locator("#lc-figure table tbody tr").first).to_be_visible()
    await page.screenshot(path=ARTIFACTS / "local-controller.png", full_page=True)
    await context.close()


def test_a_status_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    env = {"OCPPD_LOCAL_CONTROLLER__UPSTREAM_URL": "ws://csms", "OCPPD_LOCAL_CONTROLLER__HTTP_PORT": "9",
           "OCPPD_LOCAL_CONTROLLER__HTTP_HOST": "0.0.0.0"}  # fmt: skip
    out = run([], env, tmp_path)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1 and "local_controller.http_token is required" in lines[0], out


def test_the_binding_source_of_the_group_limit() -> None:
    spec = {"id": "g", "kind": "site", "amps": 32}
    csms = ExternalLimit("g", "csms", None, 9000.0)
    lower = limit_sources(spec, [csms], {"amps": [13.0, 13.0, 13.0], "watts": 9000.0}, "configured")
    assert lower["source"] == "csms" and [r["binding"] for r in lower["sources"]] == [False, True]
    higher = limit_sources(spec, [ExternalLimit("g", "csms", (40.0, 40.0, 40.0), None)],
                           {"amps": [32.0, 32.0, 32.0], "watts": None}, "configured")  # fmt: skip
    assert higher["source"] == "configured"
    assert limit_sources(None, [], None, "configured")["source"] == "none"


async def _reachable(http: httpx.AsyncClient) -> bool:
    try:
        await http.get("/api/status")
    except httpx.TransportError:
        return False
    return True
