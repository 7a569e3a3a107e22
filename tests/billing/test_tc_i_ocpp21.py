"""OCPP 2.1 tariffs (OCA TC_I_101, I_106, I_110, I_115, I_122) against a real ``ocppd serve`` and the
simulator's 2.1 station: ocppd tariffs sent as 2.1 Tariffs, the answers kept, GetTariffs reconciling the
stored view, the station's local cost (costDetails) compared with the CSMS's; what 2.1 cannot express is
refused with 400 naming the element."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station.station import Station
from tests.api.conftest import bearer, create_key, eventually, new_station_id, ok
from tests.csms_process import CsmsProcess, run_csms
from tests.station.conftest import fast_config

DAY_NIGHT = {"currency": "EUR", "vat": "19", "text": {"en": "Day 0.40, night 0.30 EUR/kWh, 1 EUR per session"},
             "elements": [{"price_components": [{"type": "ENERGY", "price": "0.40"}],
                           "restrictions": {"start_time": "06:00", "end_time": "22:00"}},
                          {"price_components": [{"type": "ENERGY", "price": "0.30"},
                                                {"type": "FLAT", "price": "1.00"}]}]}  # fmt: skip
FLAT = {"currency": "EUR", "vat": "19", "elements": [{"price_components": [{"type": "FLAT", "price": "2.50"}]}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("billing-21")) as s:
        yield s


@pytest.fixture
async def api(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    key = create_key(server, "admin")
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(key), timeout=60) as client:
        yield client


async def _tariff(api: httpx.AsyncClient, tariff_id: str, body: dict[str, Any]) -> int:
    row = ok(
        await api.put(f"/api/v1/tariffs/{tariff_id}", json={"tariff": body, "valid_from": "2026-01-01T00:00:00Z"}), 201
    )
    return int(row["id"])


async def test_tc_i_101_106_110_default_tariffs_set_reported_and_cleared(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_station_id("T21")
    day = await _tariff(api, f"dn-{sid}", DAY_NIGHT)
    flat = await _tariff(api, f"fl-{sid}", FLAT)
    async with Station(fast_config(sid, server.ws_url, OcppVersion.V21, evses=[1, 1])) as st:
        await st.wait_booted(15)
        r = ok(await api.put(f"/api/v1/stations/{sid}/tariffs/default", json={"tariff_id": f"dn-{sid}"}))
        assert r["accepted"] and r["stored"]["held"]
        sent = r["calls"][0]["request"]
        assert sent["evseId"] == 0 and sent["tariff"]["tariffId"] == f"dn-{sid}-v{day}"  # TC_I_101
        assert sent["tariff"]["validFrom"] == "2026-01-01T00:00:00Z"
        assert sent["tariff"]["energy"]["prices"][0] == {
            "priceKwh": 0.4, "conditions": {"startTimeOfDay": "06:00", "endTimeOfDay": "22:00"}}  # fmt: skip
        # TC_I_106: another tariff id for EVSE 1, then GetTariffs
        r = ok(await api.put(f"/api/v1/stations/{sid}/tariffs/default", json={"tariff_id": f"fl-{sid}", "evse_id": 1}))
        assert r["accepted"]
        reconciled = ok(await api.post(f"/api/v1/stations/{sid}/tariffs/reconcile"))
        assert {a["tariff_id"] for a in reconciled["result"]["assignments"]} == {
            f"dn-{sid}-v{day}",
            f"fl-{sid}-v{flat}",
        }
        assert all(h["checked_at"] for h in reconciled["held"]) and len(reconciled["held"]) == 2

        # the station lost one (as after a reset): GetTariffs makes the stored view agree
        del st.adapter.tariffs.held[f"fl-{sid}-v{flat}"]  # type: ignore[attr-defined]
        reconciled = ok(await api.post(f"/api/v1/stations/{sid}/tariffs/reconcile"))
        assert [h["tariff_id"] for h in reconciled["held"]] == [f"dn-{sid}-v{day}"]
        history = ok(await api.get(f"/api/v1/stations/{sid}/tariffs", params={"all": True}))
        lost = next(h for h in history if h["tariff_id"] == f"fl-{sid}-v{flat}")
        assert not lost["held"] and lost["detail"].startswith("not reported by GetTariffs")

        # TC_I_110: clear by id, then everything
        ok(await api.put(f"/api/v1/stations/{sid}/tariffs/default", json={"tariff_id": f"fl-{sid}", "evse_id": 1}))
        cleared = ok(
            await api.post(f"/api/v1/stations/{sid}/tariffs/clear", json={"tariff_ids": [f"fl-{sid}-v{flat}"]})
        )
        assert cleared["result"]["results"] == [
            {"tariff_id": f"fl-{sid}-v{flat}", "status": "Accepted", "reason": None}
        ]
        assert [h["tariff_id"] for h in cleared["held"]] == [f"dn-{sid}-v{day}"]
        cleared = ok(await api.post(f"/api/v1/stations/{sid}/tariffs/clear", json={}))
        assert cleared["held"] == [] and "tariffIds" not in cleared["calls"][0]["request"]
        assert ok(await api.post(f"/api/v1/stations/{sid}/tariffs/reconcile"))["result"]["status"] == "NoTariff"


async def test_tc_i_122_local_cost_compared_and_tc_i_115_transaction_tariff(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_station_id("T21")
    tag = f"04{int(sid.rsplit('-', 1)[1]):06X}"
    await _tariff(api, f"dn-{sid}", DAY_NIGHT)
    await _tariff(api, f"fl-{sid}", FLAT)
    usd = dict(FLAT, currency="USD")
    await _tariff(api, f"us-{sid}", usd)
    ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": f"dn-{sid}", "station_id": sid}), 201)
    ok(await api.post("/api/v1/tokens", json={"id_token": tag, "status": "Accepted"}), 201)
    async with Station(fast_config(sid, server.ws_url, OcppVersion.V21, id_tags=[tag])) as st:
        await st.wait_booted(15)
        ok(await api.put(f"/api/v1/stations/{sid}/tariffs/default", json={"tariff_id": f"dn-{sid}"}))
        st.plug_in(1)
        tx = await st.start_transaction(1, tag)
        assert tx is not None

        async def readings() -> bool:
            return tx.seq_no >= 3

        await eventually(readings, "meter values of the session", deadline=20)
        pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
        # TC_I_115 (and its refusal): a tariff for the running transaction; a currency change is refused
        refused = ok(await api.post(f"/api/v1/transactions/{pk}/tariff", json={"tariff_id": f"us-{sid}"}))
        assert not refused["accepted"] and refused["result"]["status"] == "NoCurrencyChange"
        st.stop_transaction(1, "Local")
        assert await st.flush(15)

    [local] = ok(await api.get(f"/api/v1/transactions/{pk}/local-costs"))
    cost = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))["current"]
    priced = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))["history"][-1]
    assert priced["tariff_id"] == f"dn-{sid}"  # the refused change left the tariff of the start
    assert local["event_type"] == "Ended" and local["tariff_id"].startswith(f"dn-{sid}-v")
    assert local["station_incl_vat"] == cost["incl_vat"] == local["csms_incl_vat"]
    assert local["flagged"] is False and local["difference"] == "0.00"
    assert local["cost_details"]["totalCost"]["currency"] == "EUR"
    assert 'ocppd_billing_station_costs_total{outcome="agrees"}' in (await api.get("/metrics")).text


async def test_what_2_1_cannot_express_or_a_station_cannot_take_is_refused(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_station_id("T21")
    stepped = {
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": "0.3", "step_size": 500}]}],
    }
    await _tariff(api, f"st-{sid}", stepped)
    await _tariff(api, f"fl-{sid}", FLAT)
    bad = await api.get(f"/api/v1/tariffs/st-{sid}/ocpp21")
    assert bad.status_code == 400 and bad.json()["details"]["field"] == "elements[0].price_components[0].step_size"
    preview = ok(await api.get(f"/api/v1/tariffs/fl-{sid}/ocpp21"))
    assert preview["fixedFee"] == {"prices": [{"priceFixed": 2.5}], "taxRates": [{"type": "VAT", "tax": 19}]}
    missing = await api.get("/api/v1/tariffs/no-such-tariff/ocpp21")
    assert missing.status_code == 400 and missing.json()["details"]["field"] == "tariff_id"

    offline = await api.put(f"/api/v1/stations/{sid}/tariffs/default", json={"tariff_id": f"fl-{sid}"})
    assert offline.status_code == 409
    async with Station(fast_config(sid, server.ws_url, OcppVersion.V201)) as st:
        await st.wait_booted(15)
        r = await api.put(f"/api/v1/stations/{sid}/tariffs/default", json={"tariff_id": f"fl-{sid}"})
        assert r.status_code == 400 and "only in OCPP 2.1" in r.json()["detail"]
        r = await api.put(f"/api/v1/stations/{sid}/tariffs/default", json={"tariff_id": f"st-{sid}"})
        assert r.status_code == 400 and r.json()["details"]["field"] == "elements[0].price_components[0].step_size"


async def test_the_cli_pushes_reads_and_clears_station_tariffs(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    import asyncio

    sid = new_station_id("T21")
    version = await _tariff(api, f"fl-{sid}", FLAT)
    stepped = {"currency": "EUR", "elements": [{"price_components": [{"type": "FLAT", "price": "1", "step_size": 2}]}]}
    await _tariff(api, f"st-{sid}", stepped)
    async with Station(fast_config(sid, server.ws_url, OcppVersion.V21)) as st:
        await st.wait_booted(15)
        pushed = await asyncio.to_thread(server.cli, "tariffs", "push", sid, f"fl-{sid}")
        assert f"fl-{sid}-v{version} on EVSE 0: Accepted" in pushed.stdout
        held = await asyncio.to_thread(server.cli, "tariffs", "held", sid, "--reconcile")
        assert f"fl-{sid}-v{version}" in held.stdout
        cleared = await asyncio.to_thread(server.cli, "tariffs", "clear", sid)
        assert f"fl-{sid}-v{version}: Accepted" in cleared.stdout
        assert st.adapter.tariffs.held == {}  # type: ignore[attr-defined]
    refused = await asyncio.to_thread(server.cli, "tariffs", "ocpp21", f"st-{sid}", check=False)
    assert refused.returncode == 2 and "elements[0].price_components[0].step_size" in refused.stderr
    shown = await asyncio.to_thread(server.cli, "tariffs", "ocpp21", f"fl-{sid}")
    assert '"priceFixed": 2.5' in shown.stdout
    no_keys = await asyncio.to_thread(server.cli, "tariffs", "meter-keys", sid, check=False)
    assert no_keys.returncode == 1


async def test_tc_i_109_the_driver_tariff_in_the_authorize_answer(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    import json

    sid = new_station_id("T21")
    tag = f"04{int(sid.rsplit('-', 1)[1]):06X}"
    components = [{"type": "ENERGY", "price": "0.25"}, {"type": "PARKING_TIME", "price": "3.00"},
                  {"type": "FLAT", "price": "0.50"}]  # fmt: skip
    fleet = {"currency": "EUR", "vat": "19", "elements": [{"price_components": components}]}
    version = await _tariff(api, f"fleet-{sid}", fleet)
    ok(await api.post("/api/v1/tokens", json={"id_token": tag, "status": "Accepted"}), 201)
    ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": f"fleet-{sid}", "id_token": tag}), 201)
    no_local = {"auth_cache_enabled": False, "local_list_enabled": False}
    async with Station(fast_config(sid, server.ws_url, OcppVersion.V21, id_tags=[tag], settings=no_local)) as st:
        await st.wait_booted(15)
        assert await st.authorize(tag) == "Accepted"
        # the station prices the driver's session by that tariff, and says it holds it for the driver
        st.plug_in(1)
        tx = await st.start_transaction(1, tag)
        assert tx is not None
        held = ok(await api.post(f"/api/v1/stations/{sid}/tariffs/reconcile"))["result"]["assignments"]
        assert held == [{"tariff_id": f"fleet-{sid}-v{version}", "kind": "DriverTariff", "evse_ids": [1],
                         "valid_from": "2026-01-01T00:00:00Z", "id_tokens": [tag]}]  # fmt: skip
        st.stop_transaction(1, "Local")
        assert await st.flush(15)
    pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
    [local] = ok(await api.get(f"/api/v1/transactions/{pk}/local-costs"))
    assert local["tariff_id"] == f"fleet-{sid}-v{version}" and local["flagged"] is False

    async def answered() -> dict[str, Any] | None:
        frames = ok(await api.get(f"/api/v1/stations/{sid}/messages", params={"limit": 100}))
        ids = {m["message_id"] for m in frames if m["action"] == "Authorize" and m["direction"] == "in"}
        for m in frames:
            if m["direction"] == "out" and m["message_type"] == 3 and m["message_id"] in ids:
                return json.loads(m["frame"])[2]
        return None

    await eventually(answered, "the Authorize answer in the message log")
    answer = await answered()
    assert answer is not None and answer["idTokenInfo"]["status"] == "Accepted"
    tariff = answer["tariff"]
    assert tariff["tariffId"] == f"fleet-{sid}-v{version}" and tariff["currency"] == "EUR"
    vat = [{"type": "VAT", "tax": 19}]
    assert tariff["energy"] == {"prices": [{"priceKwh": 0.25}], "taxRates": vat}
    assert tariff["idleTime"] == {"prices": [{"priceMinute": 0.05}], "taxRates": vat}
    assert tariff["fixedFee"] == {"prices": [{"priceFixed": 0.5}], "taxRates": vat}


async def test_tc_i_115_an_accepted_transaction_tariff_prices_the_transaction_in_ocppd_too(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_station_id("T21")
    tag = f"04{int(sid.rsplit('-', 1)[1]):06X}"
    await _tariff(api, f"dn-{sid}", DAY_NIGHT)
    await _tariff(api, f"fl-{sid}", FLAT)
    ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": f"dn-{sid}", "station_id": sid}), 201)
    ok(await api.post("/api/v1/tokens", json={"id_token": tag, "status": "Accepted"}), 201)
    async with Station(fast_config(sid, server.ws_url, OcppVersion.V21, id_tags=[tag])) as st:
        await st.wait_booted(15)
        st.plug_in(1)
        tx = await st.start_transaction(1, tag)
        assert tx is not None

        async def readings() -> bool:
            return tx.seq_no >= 3

        await eventually(readings, "meter values of the session", deadline=20)
        pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
        changed = ok(await api.post(f"/api/v1/transactions/{pk}/tariff", json={"tariff_id": f"fl-{sid}"}))
        assert changed["accepted"] and changed["result"]["status"] == "Accepted"
        st.stop_transaction(1, "Local")
        assert await st.flush(15)

    answer = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))
    cost = answer["current"]
    assert answer["history"][-1]["tariff_id"] == f"fl-{sid}"
    [local] = ok(await api.get(f"/api/v1/transactions/{pk}/local-costs"))
    assert local["tariff_id"].startswith(f"fl-{sid}-v")
    assert local["station_incl_vat"] == cost["incl_vat"] == local["csms_incl_vat"] and local["flagged"] is False
