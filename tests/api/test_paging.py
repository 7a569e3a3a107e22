"""Lists page with a cursor and say when there is more; the CSV export streams every matching row
(issue 8, item 3), against a real ``ocppd serve`` on a seeded database."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import ok
from tests.csms_process import CsmsProcess, run_csms
from tests.pg import pg_db_factory, pg_server_url  # noqa: F401  (fixtures)
from tests.seed import Seeded, seed_url

STATIONS, TRANSACTIONS, MESSAGES = 250, 2_600, 450  # the export reads in batches of 2,000


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[CsmsProcess, Seeded]]:
    tmp = tmp_path_factory.mktemp("paging")
    (tmp / "ocppd-data").mkdir()
    database_url = None
    if request.param == "postgresql":  # keyset SQL and the streamed export on both databases
        database_url = request.getfixturevalue("pg_db_factory")("ocppd_paging")
    url = database_url or f"sqlite:///{tmp / 'ocppd-data' / 'ocppd.db'}"
    done = asyncio.run(
        seed_url(url, stations=STATIONS, transactions=TRANSACTIONS, tokens=STATIONS, messages=MESSAGES, prefix="PG")
    )
    with run_csms(tmp, database_url=database_url) as server:
        yield server, done


@pytest.fixture(scope="module")
def server(seeded: tuple[CsmsProcess, Seeded]) -> CsmsProcess:
    return seeded[0]


async def walk(api: httpx.AsyncClient, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every row of a list by following its next links; and how many pages that took."""
    rows: list[dict[str, Any]] = []
    url: str | None = path
    pages = 0
    first = True
    while url is not None:
        response = await api.get(url, params=params if first else None)
        first = False
        page = ok(response)
        pages += 1
        rows.extend(page)
        link = response.headers.get("link")
        if link is None:
            assert "x-next-cursor" not in response.headers
            url = None
        else:
            assert link.endswith('>; rel="next"') and response.headers["x-next-cursor"] in link
            url = link[1 : link.index(">")]
        assert pages < 100, "paging does not end"
    return rows, pages


async def test_transactions_page_with_a_cursor(api: httpx.AsyncClient) -> None:
    first = await api.get("/api/v1/transactions")
    assert len(ok(first)) == 100 and 'rel="next"' in first.headers["link"]
    rows, pages = await walk(api, "/api/v1/transactions", limit=1000)
    assert len(rows) == TRANSACTIONS and pages == 3
    assert len({r["id"] for r in rows}) == TRANSACTIONS
    keys = [(r["started_at"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)  # newest first across page boundaries
    # Filters hold on every page.
    station = "PG00007"
    mine, _ = await walk(api, "/api/v1/transactions", station=station, limit=3)
    assert mine and all(r["station_id"] == station for r in mine)
    assert len(mine) == sum(1 for r in rows if r["station_id"] == station)


async def test_running_energy_in_lists(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    """A running transaction's energy so far shows in the list as in the detail (item 15)."""
    active = ok(await api.get("/api/v1/transactions", params={"active": "true", "limit": 5}))
    assert active and all(t["active"] for t in active)
    for t in active:
        detail = ok(await api.get(f"/api/v1/transactions/{t['id']}"))
        assert t["energy_wh"] == detail["energy_wh"] == 750.0  # three readings, 250 Wh apart, from 1000
    station = ok(await api.get(f"/api/v1/stations/{active[0]['station_id']}"))
    assert [t["energy_wh"] for t in station["transactions"]] == [750.0]
    listed = json.loads(server.cli("transactions", "list", "--active", "--limit", "5", "--json").stdout)
    assert listed and [t["energy_wh"] for t in listed] == [750.0] * len(listed)


async def test_csv_export_streams_every_row(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/transactions/export.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == TRANSACTIONS and len({r["id"] for r in rows}) == TRANSACTIONS
    running = [r for r in rows if not r["stopped_at"]]
    assert running and all(float(r["energy_wh"]) == 750.0 for r in running)
    capped = await api.get("/api/v1/transactions/export.csv", params={"limit": 2_001})
    assert len(list(csv.DictReader(io.StringIO(capped.text)))) == 2_001
    one = await api.get("/api/v1/transactions/export.csv", params={"station": "PG00003"})
    assert {r["station_id"] for r in csv.DictReader(io.StringIO(one.text))} == {"PG00003"}


async def test_stations_page_search_and_filter(api: httpx.AsyncClient) -> None:
    rows, pages = await walk(api, "/api/v1/stations", limit=100)
    assert [r["station_id"] for r in rows] == [f"PG{i:05d}" for i in range(1, STATIONS + 1)] and pages == 3
    found = ok(await api.get("/api/v1/stations", params={"q": "pg0012"}))
    assert [r["station_id"] for r in found] == [f"PG{i:05d}" for i in range(120, 130)]
    by_model = ok(await api.get("/api/v1/stations", params={"q": "MODEL 3", "limit": 1000}))
    assert by_model and all(r["model"] == "Model 3" for r in by_model)
    assert ok(await api.get("/api/v1/stations", params={"connected": "true"})) == []
    offline, _ = await walk(api, "/api/v1/stations", connected="false", status="Offline", limit=40)
    assert len(offline) == STATIONS
    literal = ok(await api.get("/api/v1/stations", params={"q": "%"}))
    assert literal == []  # LIKE wildcards are taken literally


async def test_tokens_page_and_status(api: httpx.AsyncClient) -> None:
    rows, pages = await walk(api, "/api/v1/tokens", limit=100)
    assert len(rows) == STATIONS and pages == 3
    expired = ok(await api.get("/api/v1/tokens", params={"status": "Expired", "limit": 1000}))
    assert expired and all(t["status"] == "Expired" for t in expired)
    accepted = ok(await api.get("/api/v1/tokens", params={"status": "Accepted", "limit": 1000}))
    blocked = ok(await api.get("/api/v1/tokens", params={"status": "Blocked", "limit": 1000}))
    assert len(accepted) + len(expired) + len(blocked) == STATIONS
    assert ok(await api.get("/api/v1/tokens", params={"q": "tag00012"}))[0]["id_token"] == "TAG000120"


async def test_messages_page_older(api: httpx.AsyncClient) -> None:
    rows, pages = await walk(api, "/api/v1/messages", limit=200)
    seeded = [r for r in rows if r["message_id"].startswith("m")]
    assert len(seeded) == MESSAGES and pages >= 3
    keys = [(r["logged_at"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)
    mine, _ = await walk(api, "/api/v1/stations/PG00001/messages", limit=1)
    assert len(mine) == 2 and {r["station_id"] for r in mine} == {"PG00001"}


async def test_bad_cursor_is_a_400_naming_it(api: httpx.AsyncClient) -> None:
    for path in ("/api/v1/transactions", "/api/v1/stations", "/api/v1/tokens", "/api/v1/messages"):
        bad = await api.get(path, params={"cursor": "not-a-cursor"})
        assert bad.status_code == 400 and "cursor" in bad.json()["detail"], path
    assert (await api.get("/api/v1/transactions", params={"limit": 1001})).status_code == 400
