"""End to end: OCPP 2.1 transaction limits and prepaid credit between ocppd's simulator and a real
``ocppd serve`` (docs/billing.md). The simulated station applies the limit the CSMS gives, reports it
(LimitSet) and ends the transaction with the limit's reasons; the CSMS debits prepaid credit once."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from tests.csms_process import CsmsProcess, run_csms
from tests.waiting import eventually

pytestmark = pytest.mark.slow  # simulated 2.1 stations charge until their limits stop them (minutes)

TAG, PREPAID = "LIMIT-TAG-1", "PREPAID-TAG-1"
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("limits")) as server:
        server.cli("tokens", "add", TAG, PREPAID)
        yield server


@pytest.fixture
async def api(csms: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {csms.admin_token}"}
    async with httpx.AsyncClient(base_url=csms.http_url, headers=headers, timeout=60) as client:
        yield client


def station_config(server: CsmsProcess, id_tag: str, tx_limit: dict[str, float] | None = None) -> StationConfig:
    return StationConfig(
        identity=f"LIMITS-{next(_ids)}",
        url=server.ws_url,
        version=OcppVersion.V21,
        settings={"meter_sample_interval": 1},
        call_timeout=10,
        reconnect_min=0.2,
        reconnect_max=1.0,
        id_tags=[id_tag],
        tx_limit=tx_limit,
    )


def reaches(energy_wh: float, limit_wh: float) -> bool:
    """The readings (0.1 Wh digits, subtracted in binary floating point) hold the limit."""
    return energy_wh >= limit_wh - 1e-6


async def ended_row(api: httpx.AsyncClient, station_id: str) -> dict[str, Any] | None:
    r = await api.get("/api/v1/transactions", params={"station": station_id})
    rows = [t for t in r.json() if not t["active"]]
    return rows[0] if rows else None


async def test_tc_e_110_simulated_station_stops_at_max_energy(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    async with Station(station_config(csms, TAG)) as station:
        await station.wait_booted(timeout=30)
        limits: list[dict[str, Any]] = []
        station.on_event = lambda _s, kind, data: limits.append(data["limit"]) if kind == "limit_set" else None
        body = {"id_token": TAG, "id_token_type": "Central", "evse_id": 1, "limit": {"max_energy": 20}}
        r = await api.post(f"/api/v1/stations/{station.identity}/commands/remote-start", json=body)
        assert r.status_code == 200 and r.json()["result"]["accepted"], r.text
        row = await eventually(lambda: ended_row(api, station.identity), "the transaction to end at its limit")
        assert limits == [{"maxEnergy": 20}]
        assert row["stop_reason"] == "EnergyLimitReached" and reaches(row["energy_wh"], 20)
        detail = (await api.get(f"/api/v1/transactions/{row['id']}")).json()
        triggers = [e["payload"]["triggerReason"] for e in detail["events"]]
        assert triggers[0] == "RemoteStart" and "LimitSet" in triggers and triggers[-1] == "EnergyLimitReached"
        limit = (await api.get(f"/api/v1/transactions/{row['id']}/limit")).json()
        assert limit["limit"] == limit["station_limit"] == {"max_energy": 20.0}
        assert [h["source"] for h in limit["history"]] == ["operator", "sent", "station"]  # given once, adopted


async def test_tc_c_103_prepaid_credit_stops_the_simulator_and_is_debited_once(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    config = station_config(csms, PREPAID)
    expensive = {"currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": "100.00"}]}]}
    r = await api.put(f"/api/v1/tariffs/t-{config.identity}", json={"tariff": expensive})
    assert r.status_code == 201, r.text
    r = await api.post("/api/v1/tariff-assignments", json={"tariff_id": f"t-{config.identity}",
                                                           "station_id": config.identity})  # fmt: skip
    assert r.status_code == 201, r.text
    r = await api.put(f"/api/v1/tokens/{PREPAID}/credit", json={"currency": "EUR", "balance": "1.00"})
    assert r.status_code == 200, r.text
    async with Station(config) as station:
        await station.wait_booted(timeout=30)
        assert await station.start_transaction(1, PREPAID) is not None
        # 1.00 EUR at 100 EUR/kWh: the station stops once the running total the CSMS gives reaches it
        row = await eventually(lambda: ended_row(api, station.identity), "the transaction to end at its credit")
        assert row["stop_reason"] == "LocalOutOfCredit"
        detail = (await api.get(f"/api/v1/transactions/{row['id']}")).json()
        ended = detail["events"][-1]["payload"]
        assert ended["triggerReason"] == "CostLimitReached"
        replayed = await station.call("TransactionEvent", ended)  # the station sends its end again
        assert replayed is not None and "totalCost" in replayed
    cost = (await api.get(f"/api/v1/transactions/{row['id']}/cost")).json()
    price = cost["current"]["incl_vat"]
    credit = (await api.get(f"/api/v1/tokens/{PREPAID}/credit")).json()
    debits = [e for e in credit["entries"] if e["transaction_id"] is not None]
    assert [(e["transaction_id"], e["amount"]) for e in debits] == [(row["id"], f"-{price}")]
    assert float(credit["balance"]) == pytest.approx(1.00 - float(price))
    limit = (await api.get(f"/api/v1/transactions/{row['id']}/limit")).json()
    assert limit["limit"] == {"max_cost": 1.0} and limit["debit"]["transaction_id"] == row["id"]


async def test_tc_e_108_simulated_station_prices_locally_against_max_cost(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    config = station_config(csms, TAG)
    expensive = {"currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": "100.00"}]}]}
    r = await api.put(f"/api/v1/tariffs/local-{config.identity}", json={"tariff": expensive})
    assert r.status_code == 201, r.text
    async with Station(config) as station:
        await station.wait_booted(timeout=30)
        # no tariff is assigned at the CSMS, so no totalCost comes back: only the local price can stop it
        r = await api.put(f"/api/v1/stations/{station.identity}/tariffs/default",
                          json={"tariff_id": f"local-{config.identity}"})  # fmt: skip
        assert r.status_code == 200 and r.json()["accepted"], r.text  # the station now prices by itself
        body = {"id_token": TAG, "id_token_type": "Central", "evse_id": 1, "limit": {"max_cost": 0.5}}
        r = await api.post(f"/api/v1/stations/{station.identity}/commands/remote-start", json=body)
        assert r.status_code == 200 and r.json()["result"]["accepted"], r.text
        row = await eventually(lambda: ended_row(api, station.identity), "the transaction to end at its cost limit")
        assert row["stop_reason"] == "LocalOutOfCredit"
        detail = (await api.get(f"/api/v1/transactions/{row['id']}")).json()
        ended = detail["events"][-1]["payload"]
        assert ended["triggerReason"] == "CostLimitReached"
        local_total = ended["costDetails"]["totalCost"]["total"]
        assert max(local_total.values()) >= 0.5  # the station's own price reached the limit it was given


async def test_tc_e_106_simulated_station_sets_its_own_limit(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    async with Station(station_config(csms, TAG, tx_limit={"maxEnergy": 10})) as station:
        await station.wait_booted(timeout=30)
        assert await station.start_transaction(1, TAG) is not None
        row = await eventually(lambda: ended_row(api, station.identity), "the transaction to end at its own limit")
        assert row["stop_reason"] == "EnergyLimitReached" and reaches(row["energy_wh"], 10)
        limit = (await api.get(f"/api/v1/transactions/{row['id']}/limit")).json()
        assert limit["limit"] is None and limit["station_limit"] == {"max_energy": 10.0}
        assert [h["source"] for h in limit["history"]] == ["station"]  # kept, and nothing answered to it


async def test_tc_e_102_csms_limit_overrides_the_simulated_stations_own(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    async with Station(station_config(csms, TAG, tx_limit={"maxEnergy": 100000})) as station:
        await station.wait_booted(timeout=30)
        body = {"id_token": TAG, "id_token_type": "Central", "evse_id": 1, "limit": {"max_energy": 15}}
        r = await api.post(f"/api/v1/stations/{station.identity}/commands/remote-start", json=body)
        assert r.status_code == 200 and r.json()["result"]["accepted"], r.text
        row = await eventually(lambda: ended_row(api, station.identity), "the transaction to end at the CSMS's limit")
        assert row["stop_reason"] == "EnergyLimitReached" and reaches(row["energy_wh"], 15)
        assert row["energy_wh"] < 100000
        limit = (await api.get(f"/api/v1/transactions/{row['id']}/limit")).json()
        assert limit["limit"] == limit["station_limit"] == {"max_energy": 15.0}  # the station adopted ours
        reported = [h["max_energy"] for h in limit["history"] if h["source"] == "station"]
        assert reported[0] == 100000 and reported[-1] == 15
