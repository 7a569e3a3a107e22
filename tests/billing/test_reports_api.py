"""Billing reports against a real ``ocppd serve`` on SQLite and PostgreSQL: per day / month totals by
site, station, group and token in the operator's time zone (paged, CSV), the per-transaction export
with duration, idle time, breakdown, site and group, and its filters."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import ok
from tests.billing.station import cost_station
from tests.csms_process import CsmsProcess, run_csms
from tests.pg import pg_db_factory, pg_server_url  # noqa: F401  (re-exported fixtures)

SITE = "depot"
TARIFF = {
    "currency": "EUR",
    "vat": "19",
    "elements": [{"price_components": [{"type": "ENERGY", "price": "0.50"}, {"type": "FLAT", "price": "1.00"}]}],
}
FLEET, FLEET_TAG, WALK_IN = "FLEET001", "04F10001", "04A20002"
# (station, token, start, end, Wh): 2 kWh each -> 2.00 EUR excl. VAT, 2.38 incl.
SESSIONS = [
    ("REP-A", FLEET_TAG, "2026-05-31T21:30:00Z", "2026-05-31T22:30:00Z", 2_000),  # Berlin: 1 June 00:30
    ("REP-B", WALK_IN, "2026-06-10T09:00:00Z", "2026-06-10T10:10:00Z", 2_000),
    ("REP-C", FLEET_TAG, "2026-06-10T11:00:00Z", "2026-06-10T12:00:00Z", 2_000),  # not on a site
    ("REP-A", WALK_IN, "2026-07-02T08:30:00Z", "2026-07-02T09:00:00Z", 2_000),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    url = None
    if request.param == "postgresql":
        factory: Callable[[str], str] = request.getfixturevalue("pg_db_factory")
        url = factory("ocppd_billing_reports")
    with run_csms(Path(tmp_path_factory.mktemp("billing-reports")), database_url=url) as s:
        yield s


@pytest.fixture(scope="module")
def seeded(server: CsmsProcess) -> CsmsProcess:
    asyncio.run(_seed(server))
    return server


async def _seed(server: CsmsProcess) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=60) as api:
        nodes = [
            {"id": SITE, "kind": "site", "amps": 400},
            {"id": "depot-feeder", "kind": "circuit", "parent": SITE, "amps": 200},
            {"id": "REP-A", "kind": "station", "parent": "depot-feeder", "amps": 32},
            {"id": "REP-B", "kind": "station", "parent": SITE, "amps": 32},
        ]
        ok(await api.put("/api/v1/limit-tree", json={"nodes": nodes}))
        ok(
            await api.put("/api/v1/tariffs/standard", json={"tariff": TARIFF, "valid_from": "2026-01-01T00:00:00Z"}),
            201,
        )
        ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": "standard"}), 201)  # the default
        ok(await api.post("/api/v1/tokens", json={"id_token": FLEET, "status": "Accepted"}), 201)
        ok(await api.post("/api/v1/tokens", json={"id_token": FLEET_TAG, "status": "Accepted", "group_id": FLEET}), 201)
        ok(await api.post("/api/v1/tokens", json={"id_token": WALK_IN, "status": "Accepted"}), 201)
        for i, (sid, tag, start, end, wh) in enumerate(SESSIONS):
            async with cost_station(server.ws_url, sid) as st:
                uid = f"tx-rep-{i}"
                await st.event("Started", uid, start, energy_wh=0, charging_state="Charging", id_token=tag)
                ended = await st.event("Ended", uid, end, energy_wh=wh)
            assert ended.total_cost == pytest.approx(2.38)


@pytest.fixture
async def api(seeded: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {seeded.admin_token}"}
    async with httpx.AsyncClient(base_url=seeded.http_url, headers=headers, timeout=60) as client:
        yield client


def brief(rows: list[dict[str, Any]], key: str | None = None) -> list[tuple[Any, ...]]:
    return [(r["period"], *([r[key]] if key else []), r["transactions"], r["incl_vat"]) for r in rows]


async def test_month_totals_by_site_follow_the_time_zone(api: httpx.AsyncClient) -> None:
    berlin = ok(
        await api.get("/api/v1/billing/totals", params={"period": "month", "by": "site", "tz": "Europe/Berlin"})
    )
    assert brief(berlin, "site_id") == [
        ("2026-06", None, 1, "2.38"),
        ("2026-06", SITE, 2, "4.76"),
        ("2026-07", SITE, 1, "2.38"),
    ]
    utc = ok(await api.get("/api/v1/billing/totals", params={"period": "month", "by": "site"}))
    assert brief(utc, "site_id")[0] == ("2026-05", SITE, 1, "2.38")
    first = berlin[1]
    assert first["currency"] == "EUR" and first["excl_vat"] == "4.00" and first["vat"] == "0.76"
    assert first["energy_wh"] == 4000.0
    assert first["duration_s"] == 3600 + 70 * 60
    assert (first["charging_s"], first["parking_s"]) == (3600 + 70 * 60, 0)  # the station charged throughout


async def test_day_totals_by_group_token_and_station_with_filters(api: httpx.AsyncClient) -> None:
    by_group = ok(await api.get("/api/v1/billing/totals", params={"by": "group", "tz": "Europe/Berlin"}))
    assert brief(by_group, "group_id") == [
        ("2026-06-01", FLEET, 1, "2.38"),
        ("2026-06-10", None, 1, "2.38"),
        ("2026-06-10", FLEET, 1, "2.38"),
        ("2026-07-02", None, 1, "2.38"),
    ]
    june = {"by": "token", "tz": "Europe/Berlin", "since": "2026-06-01", "until": "2026-07-01", "group_id": FLEET}
    assert brief(ok(await api.get("/api/v1/billing/totals", params=june)), "id_token") == [
        ("2026-06-01", FLEET_TAG, 1, "2.38"),
        ("2026-06-10", FLEET_TAG, 1, "2.38"),
    ]
    on_site = ok(await api.get("/api/v1/billing/totals", params={"by": "station", "site_id": SITE, "period": "month"}))
    assert [(r["period"], r["station_id"]) for r in on_site] == [
        ("2026-05", "REP-A"),
        ("2026-06", "REP-B"),
        ("2026-07", "REP-A"),
    ]


async def test_totals_page_with_a_cursor_and_come_as_csv(api: httpx.AsyncClient) -> None:
    params = {"by": "station", "tz": "Europe/Berlin"}
    everything = ok(await api.get("/api/v1/billing/totals", params=params))
    assert len(everything) == 4
    paged: list[dict[str, Any]] = []
    url: str | None = "/api/v1/billing/totals"
    query: dict[str, Any] | None = {**params, "limit": 1}
    while url:
        response = await api.get(url, params=query)
        page = ok(response)
        assert len(page) == 1
        paged += page
        link = response.headers.get("link")
        url, query = (link.split(";")[0].strip("<>"), None) if link else (None, None)
    assert paged == everything
    text = (await api.get("/api/v1/billing/totals", params={**params, "format": "csv"})).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["period"], r["station_id"], r["incl_vat"]) for r in rows] == [
        (t["period"], t["station_id"], t["incl_vat"]) for t in everything
    ]


async def test_bad_report_parameters_are_refused_naming_them(api: httpx.AsyncClient) -> None:
    for params, field in (
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"since": "soon"}, "since"),
        ({"until": "2026-13-01"}, "until"),
    ):
        response = await api.get("/api/v1/billing/totals", params=params)
        assert response.status_code == 400, response.text
        assert response.json()["details"]["field"] == field
    assert (await api.get("/api/v1/billing/totals", params={"by": "planet"})).status_code == 400
    assert (await api.get("/api/v1/billing/totals", params={"cursor": "nonsense"})).status_code == 400


async def test_the_export_has_duration_idle_breakdown_site_and_group_and_filters_on_them(
    api: httpx.AsyncClient,
) -> None:
    text = (await api.get("/api/v1/billing/export", params={"site_id": SITE})).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["transaction_uid"] for r in rows) == ["tx-rep-0", "tx-rep-1", "tx-rep-3"]
    first = next(r for r in rows if r["transaction_uid"] == "tx-rep-0")
    assert first["duration_s"] == "3600"
    assert (first["energy_cost"], first["flat_cost"], first["time_cost"]) == ("1.00", "1.00", "")
    assert (first["site_id"], first["group_id"], first["id_token"]) == (SITE, FLEET, FLEET_TAG)
    assert first["parking_s"] == "0" and first["charging_s"] == "3600"
    lines = (await api.get("/api/v1/billing/export", params={"group_id": FLEET, "format": "json"})).text.splitlines()
    assert sorted(json.loads(line)["transaction_uid"] for line in lines) == ["tx-rep-0", "tx-rep-2"]
    token = (await api.get("/api/v1/billing/export", params={"id_token": WALK_IN, "format": "json"})).text
    assert len(token.splitlines()) == 2


async def test_the_cli_answers_the_same_totals(seeded: CsmsProcess, api: httpx.AsyncClient) -> None:
    params = {"period": "month", "by": "site", "tz": "Europe/Berlin"}
    expected = ok(await api.get("/api/v1/billing/totals", params=params))
    run = seeded.cli("tariffs", "totals", "--period", "month", "--by", "site", "--tz", "Europe/Berlin", "--json")
    assert json.loads(run.stdout) == expected
    text = seeded.cli("tariffs", "totals", "--by", "token", "--group", FLEET, "--csv").stdout
    assert [r["id_token"] for r in csv.DictReader(io.StringIO(text))] == [FLEET_TAG, FLEET_TAG]
    bad = seeded.cli("tariffs", "totals", "--tz", "Mars/Olympus", check=False)
    assert bad.returncode == 2 and "--tz" in bad.stderr
