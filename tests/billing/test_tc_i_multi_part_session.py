"""Issue 12's "done when", against a real ``ocppd serve`` on SQLite and PostgreSQL: a session priced
by a multi-part tariff (energy + charging time + idle + session fee, VAT 19 %) that crosses a
time-of-day period boundary has the cost a hand calculation gives, to the cent, while charging and
at the end:

* an `ocpp`-package 2.0.1 station reports the session with timestamps around a boundary a few
  minutes ago (so the test runs in seconds): running cost in the Updated answer's totalCost and in
  the API, final cost in the Ended answer's totalCost (OCA I_02) and in the stored cost;
* the ocppd simulator as a 1.6 station charges across the next whole minute (a real boundary): the
  API's running cost and the stored final cost equal the hand calculation from the readings it sent;
* a tariff change after the session ended leaves its price alone until the operator recomputes,
  and the recompute is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from ocppd.station.model import EV
from tests.api.conftest import ok
from tests.billing.station import cost_station
from tests.csms_process import CsmsProcess, run_csms
from tests.pg import pg_db_factory, pg_server_url  # noqa: F401  (re-exported fixtures)
from tests.waiting import eventually

D = Decimal
ZONE = ZoneInfo("Asia/Kolkata")  # UTC+05:30 all year: a boundary anywhere in the day exists
CENT = D("0.01")


def hhmm(at: datetime) -> str:
    return f"{at.astimezone(ZONE):%H:%M}"


def tariff_around(boundary: datetime) -> dict[str, Any]:
    """Day rate until ``boundary`` (local wall time in Kolkata), a dearer rate from it; idle 6.00 per
    started hour and a 1.00 session fee at any time; VAT 19 %."""
    hour = timedelta(hours=1)
    return {
        "currency": "EUR",
        "time_zone": ZONE.key,
        "vat": "19",
        "elements": [
            {
                "price_components": [{"type": "ENERGY", "price": "0.30"}, {"type": "TIME", "price": "1.20"}],
                "restrictions": {"start_time": hhmm(boundary - hour), "end_time": hhmm(boundary)},
            },
            {
                "price_components": [{"type": "ENERGY", "price": "0.45"}, {"type": "TIME", "price": "2.40"}],
                "restrictions": {"start_time": hhmm(boundary), "end_time": hhmm(boundary + hour)},
            },
            {
                "price_components": [
                    {"type": "PARKING_TIME", "price": "6.00", "step_size": 3600},
                    {"type": "FLAT", "price": "1.00"},
                ]
            },
        ],
    }


def stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    url = None
    if request.param == "postgresql":
        factory: Callable[[str], str] = request.getfixturevalue("pg_db_factory")
        url = factory("ocppd_billing_done")
    with run_csms(Path(tmp_path_factory.mktemp("billing-done")), database_url=url) as s:
        yield s


@pytest.fixture
async def api(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=60) as client:
        yield client


async def _priced(api: httpx.AsyncClient, name: str, station_id: str, boundary: datetime, tag: str) -> None:
    body = {"tariff": tariff_around(boundary), "valid_from": "2026-01-01T00:00:00Z"}
    ok(await api.put(f"/api/v1/tariffs/{name}", json=body), 201)
    ok(await api.post("/api/v1/tariff-assignments", json={"tariff_id": name, "station_id": station_id}), 201)
    ok(await api.post("/api/v1/tokens", json={"id_token": tag, "status": "Accepted"}), 201)


def lines_of(cost: dict[str, Any]) -> dict[tuple[str, int | None], str]:
    return {(line["dimension"], line["element"]): line["excl_vat"] for line in cost["lines"]}


async def test_tc_i_02_multi_part_session_across_a_period_boundary_costs_what_the_hand_calculation_says(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    """Boundary B: a whole minute 20 min ago. Started B-10 min at 10,000 Wh (charging); Updated B+5 min
    at 16,000 Wh, the car full (SuspendedEV: idle from here); Ended now.

    6 kWh in 15 min, linear: 4 kWh before B, 2 kWh after.
      ENERGY day    4 kWh x 0.30          = 1.20    TIME day    10 min x 1.20/h = 0.20
      ENERGY dear   2 kWh x 0.45          = 0.90    TIME dear    5 min x 2.40/h = 0.20
      FLAT                                = 1.00
      at B+5 min (the Updated answer): 3.50 excl. VAT, VAT 19 % 0.665 -> 0.67, total 4.17
      PARKING from B+5 min: one started hour x 6.00 = 6.00 (any idle time under an hour)
      while idle and at the end: 9.50 excl. VAT, VAT 1.805 -> 1.81, total 11.31 EUR
    """
    sid, tag = "DONE-201", "04D01001"
    boundary = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=20)
    await _priced(api, "done-201", sid, boundary, tag)
    start, full = boundary - timedelta(minutes=10), boundary + timedelta(minutes=5)
    async with cost_station(server.ws_url, sid) as st:
        await st.event("Started", "tx-done", stamp(start), energy_wh=10_000, charging_state="Charging", id_token=tag)
        updated = await st.event("Updated", "tx-done", stamp(full), energy_wh=16_000, charging_state="SuspendedEV")
        assert updated.total_cost == pytest.approx(4.17)

        pk = ok(await api.get("/api/v1/transactions", params={"station": sid}))[0]["id"]
        running = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))
        assert running["running"] is True and running["history"] == []
        now = running["current"]
        assert (now["excl_vat"], now["vat"], now["incl_vat"]) == ("9.50", "1.81", "11.31")
        assert lines_of(now) == {
            ("FLAT", 2): "1.00",
            ("ENERGY", 0): "1.20",
            ("ENERGY", 1): "0.90",
            ("TIME", 0): "0.20",
            ("TIME", 1): "0.20",
            ("PARKING_TIME", 2): "6.00",
        }
        assert datetime.fromisoformat(now["periods"][0]["end"]) == boundary  # split at the boundary

        end = datetime.now(UTC).replace(microsecond=0)
        ended = await st.event("Ended", "tx-done", stamp(end), energy_wh=16_000, stopped_reason="EVDisconnected")
    assert ended.total_cost == pytest.approx(11.31)
    stored = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))
    assert stored["running"] is False
    assert stored["current"]["incl_vat"] == "11.31"
    assert stored["current"]["parking_s"] == int((end - full).total_seconds())
    assert stored["current"]["charging_s"] == 15 * 60
    assert [h["reason"] for h in stored["history"]] == ["transaction ended"]

    # a tariff change after the session ended: its price stays until the operator recomputes
    changed = {**tariff_around(boundary), "vat": "7"}
    version = ok(await api.put("/api/v1/tariffs/done-201", json={"tariff": changed}), 201)
    after = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))
    assert after["current"]["incl_vat"] == "11.31" and len(after["history"]) == 1
    # recomputing prices by the version in force when it started (still 11.31), and is recorded
    same = ok(await api.post(f"/api/v1/transactions/{pk}/cost/recompute", json={"reason": "meter audit"}))
    assert same["cost"]["incl_vat"] == "11.31"
    again = {"reason": "VAT reduced for this customer", "tariff_version_id": version["id"]}
    newer = ok(await api.post(f"/api/v1/transactions/{pk}/cost/recompute", json=again))
    assert newer["cost"]["vat"] == "0.67" and newer["cost"]["incl_vat"] == "10.17"  # 9.50 x 7 % = 0.665 -> 0.67
    history = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))["history"]
    assert [(h["reason"], h["tariff_version_id"]) for h in history] == [
        ("transaction ended", history[0]["tariff_version_id"]),
        ("meter audit", history[0]["tariff_version_id"]),
        ("VAT reduced for this customer", version["id"]),
    ]
    assert all(h["computed_by"] for h in history[1:])
    assert ok(await api.get(f"/api/v1/transactions/{pk}/cdr"))["recomputed"] is True


# --- the 1.6 simulator: a real boundary, crossed while it charges -----------------------------------


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def hand_calculation(points: list[tuple[datetime, Decimal]], boundary: datetime, end: datetime) -> dict[str, Any]:
    """The tariff above by hand over 1.6 readings (no charging state in 1.6: an interval with energy is
    charging, one without is idle, as is the time after the last reading).

    Energy between two readings is spread evenly over their interval; the interval that holds the
    boundary is split there. The last started Wh and second are billed whole (step size 1) on the
    rate used last; each line is rounded to the cent, VAT on their sum."""
    energy = {0: D(0), 1: D(0)}
    charging = {0: D(0), 1: D(0)}
    parking = D(0)
    spans = [*pairwise(points), (points[-1], (end, points[-1][1]))]
    for (t0, e0), (t1, e1) in spans:
        seconds = D((t1 - t0) / timedelta(microseconds=1)) / D(1_000_000)
        if seconds <= 0:
            continue
        wh = e1 - e0
        pieces = (
            [(t0, t1, 0 if t1 <= boundary else 1)] if not t0 < boundary < t1 else [(t0, boundary, 0), (boundary, t1, 1)]
        )
        for a, b, rate in pieces:
            share = D((b - a) / timedelta(microseconds=1)) / D(1_000_000)
            if wh > 0:
                energy[rate] += wh * share / seconds
                charging[rate] += share
            else:
                parking += share
    last_energy = 1 if energy[1] > 0 else 0
    energy[last_energy] += sum(energy.values()).to_integral_value(ROUND_CEILING) - sum(energy.values())
    last_time = 1 if charging[1] > 0 else 0
    charging[last_time] += sum(charging.values()).to_integral_value(ROUND_CEILING) - sum(charging.values())
    lines = {("FLAT", 2): D("1.00")}
    for rate, (kwh_price, hour_price) in enumerate(((D("0.30"), D("1.20")), (D("0.45"), D("2.40")))):
        if energy[rate] > 0:
            lines[("ENERGY", rate)] = _money(energy[rate] / 1000 * kwh_price)
        if charging[rate] > 0:
            lines[("TIME", rate)] = _money(charging[rate] / 3600 * hour_price)
    if parking > 0:
        lines[("PARKING_TIME", 2)] = D("6.00")  # one started hour
    excl = sum(lines.values(), D(0))
    vat = _money(excl * D("0.19"))
    return {"lines": {k: str(v) for k, v in lines.items()}, "excl_vat": str(excl), "incl_vat": str(excl + vat)}


def _readings(detail: dict[str, Any]) -> list[tuple[datetime, Decimal]]:
    points = [(datetime.fromisoformat(detail["started_at"]), D(str(detail["meter_start_wh"])))]
    for m in detail["meter_samples"]:
        if m["measurand"] == "Energy.Active.Import.Register":
            scale = D(1000) if m.get("unit") == "kWh" else D(1)
            points.append((datetime.fromisoformat(m["timestamp"]), D(str(m["value"])) * scale))
    return sorted(points)


@pytest.mark.slow  # charges across a real minute boundary: up to a minute per backend
async def test_16_simulator_running_and_final_cost_across_a_period_boundary(
    server: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid, tag = "DONE-16", "04D01002"
    now = datetime.now(UTC)
    boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if boundary - now < timedelta(seconds=3):  # time to start before it
        boundary += timedelta(minutes=1)
    await _priced(api, "done-16", sid, boundary, tag)
    config = StationConfig(
        identity=sid,
        url=server.ws_url,
        version=OcppVersion.V16,
        id_tags=[tag],
        call_timeout=10,
        ev=EV(max_power_w=11_000, need_wh=1_000_000),
        settings={"meter_sample_interval": 1, "aligned_interval": 0, "heartbeat_interval": 30},
    )
    async with Station(config) as station:
        await station.wait_booted(30)
        station.plug_in(1)
        assert await station.start_transaction(1, tag) is not None
        pk = await eventually(lambda: _running_pk(api, sid), "the 1.6 transaction")
        await asyncio.sleep(max(0.0, (boundary - datetime.now(UTC)).total_seconds()) + 2.5)  # charge past it

        running = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))
        assert running["running"] is True
        detail = ok(await api.get(f"/api/v1/transactions/{pk}"))
        priced_to = datetime.fromisoformat(running["current"]["priced_to"])
        readings = [p for p in _readings(detail) if p[0] <= priced_to]
        assert readings[0][0] < boundary < readings[-1][0], "the readings straddle the boundary"
        expected = hand_calculation(readings, boundary, priced_to)
        assert lines_of(running["current"]) == expected["lines"]
        assert running["current"]["incl_vat"] == expected["incl_vat"]
        assert ("ENERGY", 0) in expected["lines"] and ("ENERGY", 1) in expected["lines"]

        station.stop_transaction(1, "Local")
        final = await eventually(lambda: _final_cost(api, pk), "the 1.6 transaction priced")
    detail = ok(await api.get(f"/api/v1/transactions/{pk}"))
    stopped = datetime.fromisoformat(detail["stopped_at"])
    meter_stop = D(str(detail["meter_stop_wh"]))
    # meterStop is whole Wh: a last sample a fraction of a Wh above it is the same register value
    points = [(t, min(wh, meter_stop)) for t, wh in _readings(detail) if t <= stopped] + [(stopped, meter_stop)]
    expected = hand_calculation(points, boundary, stopped)
    assert final["flags"] == []
    assert lines_of(final) == expected["lines"]
    assert (final["excl_vat"], final["incl_vat"]) == (expected["excl_vat"], expected["incl_vat"])


async def _running_pk(api: httpx.AsyncClient, sid: str) -> int | None:
    rows = ok(await api.get("/api/v1/transactions", params={"station": sid}))
    return rows[0]["id"] if rows and rows[0]["stopped_at"] is None else None


async def _final_cost(api: httpx.AsyncClient, pk: int) -> dict[str, Any] | None:
    cost = ok(await api.get(f"/api/v1/transactions/{pk}/cost"))
    return cost["current"] if not cost["running"] and cost["history"] else None
