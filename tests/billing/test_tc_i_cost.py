"""OCA I (tariff and cost) against a real ``ocppd serve`` and an `ocpp`-package 2.0.1 station:
running cost in CostUpdated at the operator's interval (I_01), the final cost on Ended (I_02), the
tariff text in idTokenInfo.personalMessage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.api.conftest import bearer, create_key, eventually, new_station_id, ok
from tests.billing.station import cost_station
from tests.csms_process import CsmsProcess, run_csms

INTERVAL_S = 1.0
TEXT = "0.40 EUR/kWh, 1.00 EUR per session"
TARIFF = {
    "currency": "EUR",
    "vat": "0",
    "text": {"en": TEXT},
    "elements": [{"price_components": [{"type": "ENERGY", "price": "0.40"}, {"type": "FLAT", "price": "1.00"}]}],
}


def stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    env = {"OCPPD_BILLING__COST_UPDATE_INTERVAL_S": str(INTERVAL_S)}
    with run_csms(tmp_path_factory.mktemp("billing-i"), extra_env=env) as s:
        yield s


@pytest.fixture
async def api(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    key = create_key(server, "admin")
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(key), timeout=60) as client:
        yield client


async def _priced_station(api: httpx.AsyncClient) -> str:
    sid = new_station_id("COST")
    ok(await api.put(f"/api/v1/tariffs/t-{sid}", json={"tariff": TARIFF, "valid_from": "2026-01-01T00:00:00Z"}), 201)
    ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": f"t-{sid}", "station_id": sid}), 201)
    ok(await api.post("/api/v1/tokens", json={"id_token": tag(sid), "status": "Accepted"}), 201)
    return sid


def tag(sid: str) -> str:
    """An ISO14443 UID (8 hex digits) per station."""
    return f"04{int(sid.rsplit('-', 1)[1]):06X}"


async def test_tc_i_01_running_cost_in_cost_updated_at_the_configured_interval(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = await _priced_station(api)
    start = datetime.now(UTC) - timedelta(minutes=10)
    async with cost_station(server.ws_url, sid) as st:
        started = await st.event(
            "Started", "tx-i01", stamp(start), energy_wh=1_000, charging_state="Charging", id_token=tag(sid)
        )
        assert started.id_token_info["status"] == "Accepted"
        assert started.id_token_info["personal_message"]["content"] == TEXT
        await st.event("Updated", "tx-i01", stamp(datetime.now(UTC)), energy_wh=6_000)  # 5 kWh so far

        arrivals: list[float] = []

        async def two_updates() -> bool:
            while len(arrivals) < len(st.cost_updates):
                arrivals.append(time.monotonic())
            return len(st.cost_updates) >= 2

        await eventually(two_updates, "two CostUpdated", deadline=60)
        update = st.cost_updates[-1]
        assert update["transaction_id"] == "tx-i01"
        assert update["total_cost"] == pytest.approx(3.00)  # 5 kWh x 0.40 + 1.00
        # the interval is the operator's: updates are no closer together than it (allowing clock slack)
        assert arrivals[1] - arrivals[0] >= INTERVAL_S * 0.5

        pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
        running = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))
        assert running["running"] is True
        assert running["current"]["incl_vat"] == "3.00"
        assert running["history"] == []

        ended = await st.event("Ended", "tx-i01", stamp(datetime.now(UTC)), energy_wh=8_000)
        assert ended.total_cost == pytest.approx(3.80)
        scraped = (await api.get("/metrics")).text
        assert 'ocppd_billing_cost_updates_total{outcome="sent"}' in scraped
        assert 'ocppd_billing_costs_computed_total{outcome="priced",reason="ended"}' in scraped
        count = len(st.cost_updates)
        await asyncio.sleep(INTERVAL_S * 3)  # a bounded wait for something that must NOT happen
        assert len(st.cost_updates) == count, "CostUpdated after the transaction ended"


async def test_tc_i_02_final_total_cost_after_charging(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = await _priced_station(api)
    start = datetime(2026, 6, 10, 10, tzinfo=UTC)
    async with cost_station(server.ws_url, sid) as st:
        await st.event("Started", "tx-i02", stamp(start), energy_wh=0, charging_state="Charging", id_token=tag(sid))
        await st.event("Updated", "tx-i02", stamp(start + timedelta(minutes=30)), energy_wh=10_000)
        ended = await st.event(
            "Ended", "tx-i02", stamp(start + timedelta(hours=1)), energy_wh=12_500, stopped_reason="Local"
        )
        assert ended.total_cost == pytest.approx(6.00)  # 12.5 kWh x 0.40 + 1.00
        # a replayed Ended gets the same price, not a second computation
        pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
        cost = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))
        assert cost["current"]["incl_vat"] == "6.00"
        assert len(cost["history"]) == 1


async def test_no_cost_is_claimed_for_a_station_without_a_tariff(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_station_id("FREE")
    start = datetime(2026, 6, 10, 10, tzinfo=UTC)
    async with cost_station(server.ws_url, sid) as st:
        await st.event("Started", "tx-free", stamp(start), energy_wh=0, charging_state="Charging")
        ended = await st.event("Ended", "tx-free", stamp(start + timedelta(hours=1)), energy_wh=1_000)
    assert ended.total_cost is None
    pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
    assert ok(await api.get(f"/api/v1/transactions/{pk}/cost"))["history"][0]["flags"] == ["no_tariff"]


async def test_running_total_cost_in_updated_answers(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    """2.0.1 TransactionEventResponse.totalCost on Updated: the cost so far, up to the event's time, by the
    same calculator as the final price; a station without a tariff is told none."""
    sid = await _priced_station(api)
    start = datetime(2026, 6, 11, 10, tzinfo=UTC)
    async with cost_station(server.ws_url, sid) as st:
        started = await st.event(
            "Started", "tx-run", stamp(start), energy_wh=0, charging_state="Charging", id_token=tag(sid)
        )
        assert started.total_cost is None  # nothing to show before the first reading
        first = await st.event("Updated", "tx-run", stamp(start + timedelta(minutes=15)), energy_wh=2_500)
        assert first.total_cost == pytest.approx(2.00)  # 2.5 kWh x 0.40 + 1.00
        second = await st.event("Updated", "tx-run", stamp(start + timedelta(minutes=30)), energy_wh=10_000)
        assert second.total_cost == pytest.approx(5.00)  # 10 kWh x 0.40 + 1.00
        ended = await st.event("Ended", "tx-run", stamp(start + timedelta(hours=1)), energy_wh=12_500)
        assert ended.total_cost == pytest.approx(6.00)

    free = new_station_id("FREE")
    async with cost_station(server.ws_url, free) as st:
        await st.event("Started", "tx-free-run", stamp(start), energy_wh=0, charging_state="Charging")
        update = await st.event("Updated", "tx-free-run", stamp(start + timedelta(minutes=5)), energy_wh=500)
    assert update.total_cost is None


async def test_the_tariff_text_goes_to_the_driver_in_the_tokens_language(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    """idTokenInfo.personalMessage: the tariff's text in the token's language1, else language2, else
    billing.language (en here)."""
    sid = new_station_id("COSTNL")
    tariff = {**TARIFF, "text": {"en": TEXT, "nl-NL": "0,40 EUR/kWh", "de": "0,40 EUR/kWh (de)"}}
    ok(await api.put(f"/api/v1/tariffs/t-{sid}", json={"tariff": tariff, "valid_from": "2026-01-01T00:00:00Z"}), 201)
    ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": f"t-{sid}", "station_id": sid}), 201)
    tokens = {"nl": {"language1": "nl"}, "fr-de": {"language1": "fr", "language2": "de"}, "fr": {"language1": "fr"}}
    seen: dict[str, dict[str, str]] = {}
    async with cost_station(server.ws_url, sid) as st:
        for n, (name, languages) in enumerate(tokens.items()):
            token = f"04{n:02X}{int(sid.rsplit('-', 1)[1]):04X}"
            ok(await api.post("/api/v1/tokens", json={"id_token": token, **languages}), 201)
            started = await st.event("Started", f"tx-lang-{n}", stamp(datetime.now(UTC)), energy_wh=0,
                                     charging_state="Charging", id_token=token)  # fmt: skip
            seen[name] = started.id_token_info["personal_message"]
            await st.event("Ended", f"tx-lang-{n}", stamp(datetime.now(UTC)), energy_wh=10)
    assert {k: (m["language"], m["content"]) for k, m in seen.items()} == {
        "nl": ("nl-NL", "0,40 EUR/kWh"),  # nl matches nl-NL
        "fr-de": ("de", "0,40 EUR/kWh (de)"),
        "fr": ("en", TEXT),
    }
