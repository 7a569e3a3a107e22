"""Billing against a real ``ocppd serve``: tariffs and their validation, assignments, the cost of a
transaction at its end (the hand-calculated multi-part session), recompute with a reason."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import bearer, create_key, eventually, new_station_id, ok
from tests.billing.station import cost_station
from tests.csms_process import CsmsProcess, run_csms

DAY_NIGHT = {
    "currency": "EUR",
    "time_zone": "Europe/Berlin",
    "vat": "19",
    "elements": [
        {
            "price_components": [{"type": "ENERGY", "price": "0.30"}, {"type": "TIME", "price": "1.20"}],
            "restrictions": {"start_time": "08:00", "end_time": "18:00"},
        },
        {
            "price_components": [{"type": "ENERGY", "price": "0.25"}, {"type": "TIME", "price": "0.60"}],
            "restrictions": {"start_time": "18:00", "end_time": "08:00"},
        },
        {"price_components": [{"type": "PARKING_TIME", "price": "6.00"}, {"type": "FLAT", "price": "1.00"}]},
    ],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("billing")) as s:
        yield s


@pytest.fixture(scope="module")
def admin_key(server: CsmsProcess) -> str:
    return create_key(server, "admin")


@pytest.fixture
async def api(server: CsmsProcess, admin_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(admin_key), timeout=60) as client:
        yield client


def refused(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    return response.json()


async def test_bad_tariffs_are_refused_naming_the_element(api: httpx.AsyncClient) -> None:
    negative = {**DAY_NIGHT, "elements": [{"price_components": [{"type": "ENERGY", "price": -1}]}]}
    body = refused(await api.put("/api/v1/tariffs/bad", json={"tariff": negative}))
    assert body["details"]["field"] == "elements[0].price_components[0].price"
    assert "elements[0].price_components[0].price" in body["detail"]
    body = refused(await api.put("/api/v1/tariffs/bad", json={"tariff": {**DAY_NIGHT, "currency": "XYZ"}}))
    assert body["details"]["field"] == "currency"
    gap = {
        **DAY_NIGHT,
        "elements": [
            {
                "price_components": [{"type": "ENERGY", "price": 1}],
                "restrictions": {"start_time": "02:15", "end_time": "05:00"},
            }
        ],
    }
    body = refused(await api.put("/api/v1/tariffs/bad", json={"tariff": gap}))
    assert body["details"]["field"] == "elements[0].restrictions.start_time"
    overlap = {
        **DAY_NIGHT,
        "elements": [
            {
                "price_components": [{"type": "TIME", "price": 1}],
                "restrictions": {"start_time": "08:00", "end_time": "12:00"},
            },
            {
                "price_components": [{"type": "TIME", "price": 2}],
                "restrictions": {"start_time": "11:00", "end_time": "13:00"},
            },
        ],
    }
    body = refused(await api.put("/api/v1/tariffs/bad", json={"tariff": overlap}))
    assert body["details"]["field"] == "elements[1].restrictions"
    assert (await api.get("/api/v1/tariffs/bad")).status_code == 404


async def test_more_tariffs_that_cannot_be_right_name_the_field(api: httpx.AsyncClient) -> None:
    """The rest of issue 12's bad input: a period END in the daylight-saving gap, a negative VAT or
    minimum price, an overlap across midnight, an unknown time zone; nothing is stored."""
    timed = lambda start, end: {  # noqa: E731
        "price_components": [{"type": "ENERGY", "price": 1}],
        "restrictions": {"start_time": start, "end_time": end},
    }
    cases = [
        ({**DAY_NIGHT, "elements": [timed("01:00", "02:30")]}, "elements[0].restrictions.end_time"),
        ({**DAY_NIGHT, "vat": "-19"}, "vat"),
        ({**DAY_NIGHT, "min_price": "-1"}, "tariff.min_price"),
        ({**DAY_NIGHT, "elements": [timed("22:00", "06:00"), timed("05:00", "08:00")]}, "elements[1].restrictions"),
        ({**DAY_NIGHT, "time_zone": "Europe/Atlantis"}, "time_zone"),
        ({**DAY_NIGHT, "currency": "eur"}, "currency"),
    ]
    for tariff, field in cases:
        body = refused(await api.put("/api/v1/tariffs/bad-more", json={"tariff": tariff}))
        assert body["details"]["field"] == field, body
        assert body["code"] == "invalid_input" and body["status"] == 400
    assert (await api.get("/api/v1/tariffs/bad-more")).status_code == 404


async def test_versions_keep_a_history_and_overlapping_validity_is_refused(api: httpx.AsyncClient) -> None:
    first = ok(
        await api.put("/api/v1/tariffs/hist", json={"tariff": DAY_NIGHT, "valid_from": "2026-01-01T00:00:00Z"}), 201
    )
    second = ok(
        await api.put("/api/v1/tariffs/hist", json={"tariff": DAY_NIGHT, "valid_from": "2026-07-01T00:00:00Z"}), 201
    )
    history = ok(await api.get("/api/v1/tariffs/hist"))
    assert [v["id"] for v in history] == [first["id"], second["id"]]
    assert history[0]["valid_to"].startswith("2026-07-01")
    body = refused(
        await api.put(
            "/api/v1/tariffs/hist",
            json={"tariff": DAY_NIGHT, "valid_from": "2026-03-01T00:00:00Z", "valid_to": "2026-04-01T00:00:00Z"},
        )
    )
    assert body["details"]["field"] == "valid_from"


async def test_a_session_is_priced_at_its_end_as_the_hand_calculation_says(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    """The multi-part session of tests/billing/test_cost.py, sent by an `ocpp`-package 2.0.1 station:
    energy day + night split at 18:00 inside a sampling interval, charging time, parking, flat fee,
    VAT 19 %: 11.60 EUR."""
    sid = new_station_id("BILL")
    ok(await api.put("/api/v1/tariffs/daynight", json={"tariff": DAY_NIGHT, "valid_from": "2026-01-01T00:00:00Z"}), 201)
    ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": "daynight", "station_id": sid}), 201)
    uid = "tx-bill-1"
    async with cost_station(server.ws_url, sid) as st:
        # Berlin is UTC+2 in June: 17:00 local = 15:00Z
        await st.event("Started", uid, "2026-06-10T15:00:00Z", energy_wh=10_000, charging_state="Charging")
        await st.event("Updated", uid, "2026-06-10T15:40:00Z", energy_wh=17_000)
        await st.event("Updated", uid, "2026-06-10T16:20:00Z", energy_wh=23_000)
        await st.event("Updated", uid, "2026-06-10T16:30:00Z", energy_wh=25_000, charging_state="EVConnected")
        ended = await st.event("Ended", uid, "2026-06-10T17:00:00Z", energy_wh=25_000, stopped_reason="EVDisconnected")
    assert ended.total_cost == pytest.approx(11.60)

    txs = ok(await api.get("/api/v1/transactions", params={"station": sid}))
    pk = txs[0]["id"]
    cost = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))
    assert cost["running"] is False
    assert cost["current"]["incl_vat"] == "11.60"
    assert cost["current"]["excl_vat"] == "9.75"
    assert cost["history"][0]["reason"] == "transaction ended"
    assert cost["history"][0]["tariff_id"] == "daynight"
    detail = ok(await api.get(f"/api/v1/transactions/{pk}"))
    assert detail["cost"]["incl_vat"] == "11.60"
    assert detail["cost"]["running"] is False

    # a later tariff version does not change the finished session's price ...
    cheaper = {**DAY_NIGHT, "elements": [{"price_components": [{"type": "ENERGY", "price": "0.10"}]}]}
    version = ok(
        await api.put("/api/v1/tariffs/daynight", json={"tariff": cheaper, "valid_from": "2026-11-01T00:00:00Z"}), 201
    )
    assert ok(await api.get(f"/api/v1/transactions/{pk}/cost"))["current"]["incl_vat"] == "11.60"
    # ... unless the operator recomputes it, and that is recorded with its reason
    refused(await api.post(f"/api/v1/transactions/{pk}/cost/recompute", json={"reason": " "}))
    again = ok(
        await api.post(
            f"/api/v1/transactions/{pk}/cost/recompute",
            json={"reason": "goodwill: price of November", "tariff_version_id": version["id"]},
        )
    )
    assert again["cost"]["excl_vat"] == "1.50"  # 15 kWh x 0.10
    history = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))["history"]
    assert [h["reason"] for h in history] == ["transaction ended", "goodwill: price of November"]
    assert history[1]["computed_by"]


async def test_the_most_specific_assignment_wins(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_station_id("BILL")
    flat = lambda price: {"currency": "EUR", "elements": [{"price_components": [{"type": "FLAT", "price": price}]}]}  # noqa: E731
    ok(
        await api.put("/api/v1/tariffs/station-flat", json={"tariff": flat("2"), "valid_from": "2026-01-01T00:00:00Z"}),
        201,
    )
    ok(
        await api.put("/api/v1/tariffs/evse-flat", json={"tariff": flat("3"), "valid_from": "2026-01-01T00:00:00Z"}),
        201,
    )
    ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": "station-flat", "station_id": sid}), 201)
    ok(
        await api.post("/api/v1/tariff-assignments", json={"tariff_id": "evse-flat", "station_id": sid, "evse_id": 1}),
        201,
    )
    refused(await api.post("/api/v1/tariff-assignments", json={"tariff_id": "nope", "station_id": sid}))
    refused(await api.post("/api/v1/tariff-assignments", json={"tariff_id": "evse-flat", "evse_id": 1}))
    async with cost_station(server.ws_url, sid) as st:
        await st.event("Started", "tx-bill-2", "2026-06-10T10:00:00Z", energy_wh=0, charging_state="Charging")
        ended = await st.event("Ended", "tx-bill-2", "2026-06-10T10:10:00Z", energy_wh=100)
    assert ended.total_cost == pytest.approx(3.0)

    async def priced() -> Any:
        txs = ok(await api.get("/api/v1/transactions", params={"station": sid}))
        return ok(await api.get(f"/api/v1/transactions/{txs[0]['id']}/cost"))["current"]

    assert (await eventually(priced, "the cost"))["excl_vat"] == "3.00"


async def test_cli_sets_assigns_and_shows_costs(
    server: CsmsProcess, api: httpx.AsyncClient, tmp_path: pytest.TempPathFactory
) -> None:
    import json
    from pathlib import Path

    sid = new_station_id("CLI")
    good = Path(str(tmp_path)) / "tariff.json"
    good.write_text(
        json.dumps({"currency": "EUR", "elements": [{"price_components": [{"type": "FLAT", "price": "2"}]}]})
    )
    bad = Path(str(tmp_path)) / "bad.json"
    bad.write_text(
        json.dumps({"currency": "EUR", "elements": [{"price_components": [{"type": "FLAT", "price": "-2"}]}]})
    )
    refused_run = server.cli("tariffs", "set", "cli-t", str(bad), check=False)
    assert refused_run.returncode == 2
    assert "elements[0].price_components[0].price" in refused_run.stderr
    server.cli("tariffs", "set", "cli-t", str(good), "--valid-from", "2026-01-01T00:00:00+00:00")
    assert server.cli("tariffs", "assign", "nope", "--station", sid, check=False).returncode == 2
    server.cli("tariffs", "assign", "cli-t", "--station", sid)
    assert "cli-t" in server.cli("tariffs", "list").stdout
    async with cost_station(server.ws_url, sid) as st:
        await st.event("Started", "tx-cli", "2026-06-10T10:00:00Z", energy_wh=0, charging_state="Charging")
        ended = await st.event("Ended", "tx-cli", "2026-06-10T10:10:00Z", energy_wh=100)
    assert ended.total_cost == pytest.approx(2.0)
    pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
    assert "transaction ended" in server.cli("tariffs", "cost", str(pk)).stdout
    out = server.cli("tariffs", "cost", str(pk), "--recompute", "meter replaced").stdout
    assert "meter replaced" in out


async def test_16_running_cost_in_the_transaction_api(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    """1.6 has no cost messages: the running cost is in the API (the transaction detail and /cost)."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    import websockets
    from ocpp.v16 import ChargePoint
    from ocpp.v16 import call as c16

    sid = new_station_id("B16")
    tariff = {"currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": "0.50"}]}]}
    ok(await api.put(f"/api/v1/tariffs/t16-{sid}", json={"tariff": tariff, "valid_from": "2026-01-01T00:00:00Z"}), 201)
    ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": f"t16-{sid}", "station_id": sid}), 201)
    start = datetime.now(UTC) - timedelta(minutes=30)
    async with websockets.connect(f"{server.ws_url}/{sid}", subprotocols=["ocpp1.6"]) as ws:
        cp = ChargePoint(sid, ws, response_timeout=30)
        runner = asyncio.create_task(cp.start())
        try:
            await cp.call(c16.BootNotification(charge_point_model="B16", charge_point_vendor="ACME"))
            started = await cp.call(
                c16.StartTransaction(connector_id=1, id_tag="04B16001", meter_start=1000, timestamp=start.isoformat())
            )
            value = {"value": "5000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
            await cp.call(
                c16.MeterValues(
                    connector_id=1,
                    transaction_id=started.transaction_id,
                    meter_value=[{"timestamp": datetime.now(UTC).isoformat(), "sampled_value": [value]}],
                )
            )
            detail = ok(await api.get(f"/api/v1/transactions/{started.transaction_id}"))
            assert detail["cost"]["running"] is True
            assert detail["cost"]["incl_vat"] == "2.00"  # 4 kWh x 0.50
            assert ok(await api.get(f"/api/v1/transactions/{started.transaction_id}/cost"))["running"] is True
        finally:
            runner.cancel()


async def test_a_site_assignment_prices_every_station_of_the_site_unless_one_has_its_own(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    """token > group > EVSE > station > site > default: a station under the site (through a circuit)
    gets the site's tariff; a station of the same site with its own assignment keeps that."""
    site, on_site, own = new_station_id("SITE"), new_station_id("BILL"), new_station_id("BILL")
    nodes = [
        {"id": site, "kind": "site", "amps": 400},
        {"id": f"{site}-feeder", "kind": "circuit", "parent": site, "amps": 200},
        {"id": on_site, "kind": "station", "parent": f"{site}-feeder", "amps": 32},
        {"id": own, "kind": "station", "parent": site, "amps": 32},
    ]
    for node in nodes:
        ok(await api.put(f"/api/v1/limit-tree/nodes/{node['id']}", json=node))
    flat = lambda price: {"currency": "EUR", "elements": [{"price_components": [{"type": "FLAT", "price": price}]}]}  # noqa: E731
    for name, price in (("site-flat", "4"), ("own-flat", "5")):
        ok(
            await api.put(
                f"/api/v1/tariffs/{name}", json={"tariff": flat(price), "valid_from": "2026-01-01T00:00:00Z"}
            ),
            201,
        )
    body = refused(await api.post("/api/v1/tariff-assignments", json={"tariff_id": "site-flat", "site_id": "nowhere"}))
    assert body["details"]["field"] == "site_id"
    both = {"tariff_id": "site-flat", "site_id": site, "station_id": own}
    assert refused(await api.post("/api/v1/tariff-assignments", json=both))["details"]["field"] == "site_id"
    made = ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": "site-flat", "site_id": site}), 201)
    assert made["site_id"] == site and made["station_id"] is None
    ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": "own-flat", "station_id": own}), 201)

    totals = {}
    for sid in (on_site, own):
        async with cost_station(server.ws_url, sid) as st:
            await st.event("Started", f"tx-{sid}", "2026-06-10T10:00:00Z", energy_wh=0, charging_state="Charging")
            ended = await st.event("Ended", f"tx-{sid}", "2026-06-10T10:10:00Z", energy_wh=100)
        totals[sid] = ended.total_cost
    assert totals == {on_site: pytest.approx(4.0), own: pytest.approx(5.0)}
    pk = ok(await api.get("/api/v1/transactions", params={"station": on_site}))[0]["id"]
    [priced] = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))["history"]
    assert (priced["tariff_id"], priced["site_id"]) == ("site-flat", site)

    assert server.cli("tariffs", "assign", "own-flat", "--site", "nowhere", check=False).returncode == 2
    server.cli("tariffs", "assign", "own-flat", "--site", site)
    listed = server.cli("tariffs", "list", "--json").stdout
    assert f'"site_id": "{site}"' in listed
