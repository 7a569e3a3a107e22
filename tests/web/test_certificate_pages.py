"""The certificates overview and a station's certificate page against ``ocppd serve``: over HTTP (the
expiry table soonest first, paged, filtered and counted; CSRF on the actions; read-only users), and in
headless Chromium with an ``ocpp``-package 2.0.1 station that renews its certificate and keeps a trust
store (renew, install a root from a file, delete, revoke)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import create_engine

from ocppd.store.schema import installed_certificates
from tests.api.test_web_sessions import login as form_login
from tests.csms_process import CsmsProcess, run_csms
from tests.integration.test_certificates_cli import station
from tests.pki import Ca
from tests.waiting import eventually
from tests.web.conftest import PASSWORD, USER
from tests.web.test_dashboard import WAIT_MS, login, shot

SEEDED = 120  # stations with a seeded trust-store certificate each: three pages of the expiry table
READER = "cert-reader"


@pytest.fixture(scope="module")
def csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("certificate-pages")) as server:
        server.cli("users", "add", USER, "--password", PASSWORD, "--role", "admin")
        server.cli("users", "add", READER, "--password", PASSWORD, "--role", "read-only")
        now = datetime.now(UTC)
        rows = [
            {"station_id": f"SEED-{i:03d}", "certificate_type": "MORootCertificate" if i % 3 else "CSMSRootCertificate",
             "hash_algorithm": "SHA256", "issuer_name_hash": "aa", "issuer_key_hash": "bb", "serial_number": f"{i:x}",
             "subject": f"CN=seed-{i:03d}", "not_after": now + timedelta(days=i - 10, hours=12),
             "source": "reported", "updated_at": now}
            for i in range(SEEDED)
        ]  # fmt: skip
        engine = create_engine(f"sqlite:///{server.data_dir / 'ocppd.db'}")
        with engine.begin() as conn:  # the server reads the store on each page: no restart needed
            conn.execute(installed_certificates.insert(), rows)
        engine.dispose()
        yield server


@pytest.fixture
async def client(csms: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=csms.http_url, timeout=30) as c:
        yield c


def table_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-certificate="([^"]+)"', html)


def next_url(html: str) -> str | None:
    found = re.search(r'href="([^"]+)" id="page-next"', html)
    return found.group(1).replace("&amp;", "&") if found else None


async def test_overview_soonest_first_paged_filtered_and_counted(csms: CsmsProcess, client: httpx.AsyncClient) -> None:
    await form_login(client, username=USER, password=PASSWORD)
    page = await client.get("/certificates")
    assert page.status_code == 200
    first = table_rows(page.text)
    assert first == [f"SEED-{i:03d}/installed/{i + 1}" for i in range(50)]  # soonest (expired) first
    assert re.search(r'id="count-expired">10<', page.text) and re.search(r'id="count-expiring">30<', page.text)
    assert re.search(r'id="count-held">120<', page.text)
    assert 'class="expired"' in page.text and "status-faulted" in page.text

    seen, url = list(first), next_url(page.text)
    while url is not None:
        page = await client.get(url)
        seen += table_rows(page.text)
        url = next_url(page.text)
    assert seen == [f"SEED-{i:03d}/installed/{i + 1}" for i in range(SEEDED)]  # every row once, in order

    page = await client.get("/certificates", params={"type": "CSMSRootCertificate", "within": "30"})
    assert table_rows(page.text) == [f"SEED-{i:03d}/installed/{i + 1}" for i in range(0, 40, 3)]
    page = await client.get("/certificates", params={"station": "SEED-077"})
    assert table_rows(page.text) == ["SEED-077/installed/78"]
    assert 'href="/stations/SEED-077/certificates"' in page.text

    page = await client.get("/certificates", params={"within": "soon"})
    assert "Within must be a number of days" in page.text and table_rows(page.text) == []
    page = await client.get("/certificates", params={"cursor": "not-a-cursor"})
    assert "no longer valid" in page.text

    # the API behind the page: the same order, paged with Link headers
    api = await client.get("/api/v1/certificates/expiring", params={"limit": 2},
                           headers={"Authorization": f"Bearer {csms.admin_token}"})  # fmt: skip
    assert [r["station_id"] for r in api.json()] == ["SEED-000", "SEED-001"]
    link = urlparse(api.headers["Link"].removeprefix("<").split(">")[0])
    assert parse_qs(link.query)["cursor"] == [api.headers["X-Next-Cursor"]]


async def test_station_page_actions_need_the_csrf_token(csms: CsmsProcess, client: httpx.AsyncClient) -> None:
    identity = "WEB-CERT-1"
    async with station(csms, identity):
        token = await form_login(client, username=USER, password=PASSWORD)
        page = await client.get(f"/stations/{identity}/certificates")
        assert page.status_code == 200
        for form in ("form-renew", "form-refresh", "form-install"):
            assert f'id="{form}"' in page.text
        path = f"/api/v1/stations/{identity}/certificates/renew"
        body = {"certificate_type": "ChargingStationCertificate"}
        refused = await client.post(path, json=body)
        assert refused.status_code == 403 and "CSRF" in refused.text, refused.text
        accepted = await client.post(path, json=body, headers={"X-CSRF-Token": token})
        assert accepted.status_code == 200 and accepted.json()["status"] == "Accepted", accepted.text

        async def own_serial() -> str | None:
            html = (await client.get(f"/stations/{identity}/certificates?fragment=certificates")).text
            found = re.search(r'<tr data-serial="([0-9A-F]+)">', html)
            return found.group(1) if found else None

        serial = await eventually(own_serial, "the renewed certificate on the page", 20)
        bad = await client.post(
            f"/api/v1/stations/{identity}/certificates/install",
            headers={"X-CSRF-Token": token},
            json={"certificate_type": "CSMSRootCertificate", "certificate": "not a pem"},
        )
        assert bad.status_code == 400 and "certificate" in bad.json()["detail"], bad.text

    async with httpx.AsyncClient(base_url=csms.http_url, timeout=30) as reader:
        await form_login(reader, username=READER, password=PASSWORD)
        page = await reader.get(f"/stations/{identity}/certificates")
        assert serial in page.text and 'id="form-renew"' not in page.text and "Revoke" not in page.text
        missing = await reader.get("/stations/NOPE/certificates")
        assert "There is no station NOPE" in missing.text


async def test_certificate_pages_in_the_browser(csms: CsmsProcess, browser: Any, tmp_path: Any) -> None:
    identity = "WEB-CERT-2"
    root = Ca.create(tmp_path, "web-root")
    async with station(csms, identity) as cp:
        page = await (await browser.new_context(viewport={"width": 1280, "height": 1000})).new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        await login(page, csms)
        await page.goto(f"{csms.http_url}/stations/{identity}")
        await page.get_by_role("link", name="Certificates", exact=True).last.click()
        await expect(page.get_by_role("heading", name="Certificates")).to_be_visible()

        renew = page.locator("#form-renew")
        await renew.get_by_role("button").click()
        await expect(renew.locator("output")).to_contain_text("Accepted", timeout=WAIT_MS)
        own = page.locator("#own-certificates tbody tr[data-serial]")
        await expect(own).to_have_count(1, timeout=WAIT_MS)  # live: CertificateSigned came after the answer
        await expect(own).to_contain_text(f"CN={identity}")

        install = page.locator("#form-install")
        await install.get_by_label("From a file").set_input_files(str(root.pem))
        await expect(install.get_by_label("Certificate", exact=False).last).to_have_value(root.pem.read_text())
        await install.get_by_role("button", name="Install").click()
        await expect(install.locator("output")).to_contain_text("Accepted", timeout=WAIT_MS)
        installed = page.locator("#installed-certificates tbody tr[data-installed]")
        await expect(installed).to_contain_text("web-root", timeout=WAIT_MS)
        # the PEM as the file holds it (the form sends the text without its trailing newline)
        assert cp.store.certificates == {"CSMSRootCertificate": [root.pem.read_text().strip()]}
        await shot(page, "station-certificates")

        # the overview lists the root (2 days left: expiring) and links back to the station
        await page.get_by_role("link", name="Certificates", exact=True).first.click()
        await page.get_by_label("Station").fill(identity)
        await page.get_by_role("button", name="Find").click()
        rows = page.locator("#certificates-table tbody tr[data-certificate]")
        await expect(rows).to_have_count(2)
        await expect(rows.first).to_contain_text("web-root")
        await expect(rows.first.locator(".badge")).to_be_visible()
        await shot(page, "certificates-overview")
        await rows.first.get_by_role("link", name=identity).click()

        await installed.get_by_role("button", name=re.compile("^Delete")).click()
        await expect(installed).to_have_count(0, timeout=WAIT_MS)
        assert cp.store.certificates == {"CSMSRootCertificate": []}

        serial = await own.get_attribute("data-serial")
        await page.get_by_role("button", name=f"Revoke certificate {serial}").click()
        await expect(page.locator(f'#issued-certificates tr[data-issued="{serial}"] .state')).to_contain_text(
            "revoked", timeout=WAIT_MS
        )
        await expect(own).to_have_count(0)
