"""Departure time and energy need, and stations that take profiles in W only, against a real
``ocppd serve`` with stations played by the ``ocpp`` PyPI package that apply what they receive."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.csms_process import CsmsProcess, run_csms
from tests.integration.test_smart_charging import (
    TREE,
    Hlc201,
    Station16,
    api,
    start16,
    start201,
    station,
    until,
)

LEASE_S = 900  # smart.lease_s: a TxProfile's lease


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CsmsProcess]:
    env = {"OCPPD_SMART__INTERVAL_S": "2", "OCPPD_SMART__MIN_INTERVAL_S": "0", "OCPPD_SMART__DEBOUNCE_S": "0.05",
           "OCPPD_SMART__LEASE_S": str(LEASE_S)}  # fmt: skip
    with run_csms(tmp_path, extra_env=env) as s:
        yield s


def needs_by(departure: datetime, energy_wh: int, max_a: int = 32) -> dict[str, Any]:
    return {
        "requested_energy_transfer": "AC_three_phase",
        "departure_time": departure.isoformat().replace("+00:00", "Z"),
        "ac_charging_parameters": {
            "energy_amount": energy_wh,
            "ev_min_current": 6,
            "ev_max_current": max_a,
            "ev_max_voltage": 400,
        },
    }


async def test_tc_k_15_fr_08_the_tx_profile_meets_the_departure_within_the_site(server: CsmsProcess) -> None:
    """K15.FR.08: after NotifyEVChargingNeeds, a TxProfile within 60 s that gets the EV its energy by
    its departure inside the site limit; the other EV keeps at least its minimum."""
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=TREE)
        async with station(server, "CP16", Station16) as a, station(server, "CP201", Hlc201) as b:
            await start16(a)
            await start201(b, "TX-DEP")
            await until(
                lambda: a.profiles.get((1, "TxProfile", 6)) == 16.0 and b.profiles.get((1, "TxProfile", 6)) == 16.0,
                "a fair share of 32 A each",
            )
            sent = len(b.tx_profile_ids)
            # 16.56 kWh in one hour on three phases at 230 V: 24 A
            answer = await b.call(
                call201.NotifyEVChargingNeeds(
                    charging_needs=needs_by(datetime.now(UTC) + timedelta(hours=1), 16560), evse_id=1
                )
            )
            assert answer.status == "Accepted" and answer.status_info is None  # it fits: nothing to warn about
            await until(
                lambda: len(b.tx_profile_ids) > sent and b.profiles[(1, "TxProfile", 6)] >= 24.0,
                "a TxProfile that meets the departure",
                timeout=60,
            )
            assert b.tx_profile_ids[-1] == "TX-DEP"
            await until(
                lambda: float(a.profiles[(1, "TxProfile", 6)]) + float(b.profiles[(1, "TxProfile", 6)]) <= 32.01,
                "CP16 less",
            )
            assert float(a.profiles[(1, "TxProfile", 6)]) >= 6.0

            async def planned() -> dict[str, Any]:
                site = (await http.get("/api/v1/sites/depot")).json()
                row = next(x for x in site["allocations"] if x["station_id"] == "CP201")
                return row if row.get("on_time") is True else {}

            row = await until(planned, "the site view shows the departure met")
            assert row["needs_source"] == "ev" and 23.9 <= row["need_a"] <= 24.1 and row["energy_wh"] == 16560


async def test_an_unreachable_departure_is_accepted_and_said_so(server: CsmsProcess) -> None:
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=TREE)
        async with station(server, "CP16", Station16) as a, station(server, "CP201", Hlc201) as b:
            await start16(a)
            await start201(b, "TX-LATE")
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 16.0, "the first TxProfile")
            # 30 kWh in an hour needs 43.5 A: more than the EV (32 A) and the site (32 A) can give
            answer = await b.call(
                call201.NotifyEVChargingNeeds(
                    charging_needs=needs_by(datetime.now(UTC) + timedelta(hours=1), 30000), evse_id=1
                )
            )
            assert answer.status == "Accepted"
            assert answer.status_info["reason_code"] == "LimitExceeded"
            assert "departure not reachable" in answer.status_info["additional_info"]
            # a departure that cannot be met takes nothing from the others: both keep their fair share

            async def planned() -> dict[str, Any]:
                site = (await http.get("/api/v1/sites/depot")).json()
                row = next(x for x in site["allocations"] if x["station_id"] == "CP201")
                return row if row.get("on_time") is False else {}

            row = await until(planned, "the site view shows the departure missed")
            assert row["reason"] == "share" and row["need_a"] > 32
            assert b.profiles[(1, "TxProfile", 6)] == 16.0 and a.profiles[(1, "TxProfile", 6)] == 16.0


async def test_the_operator_sets_a_departure_for_a_16_car(server: CsmsProcess) -> None:
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=TREE)
        async with station(server, "CP16", Station16) as a, station(server, "CP201", Hlc201) as b:
            await start16(a)
            await start201(b, "TX-OP")
            await until(lambda: a.profiles.get((1, "TxProfile", 6)) == 16.0, "16 A each")
            departure = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
            bad = await http.put("/api/v1/stations/CP16/evses/1/charging-needs", json={"departure": departure})
            assert bad.status_code == 400 and "energy_wh" in bad.text
            lone = await http.put(
                "/api/v1/stations/NOWHERE/evses/1/charging-needs", json={"departure": departure, "energy_wh": 1}
            )
            assert lone.status_code == 404
            # an EVSE id past the store's column, a need of true: 400 naming the field (it answered 200
            # and the need was lost: the store refused it in the background)
            for evse, body in ((2**31, {"departure": departure, "energy_wh": 1}),
                               (1, {"departure": departure, "energy_wh": True})):  # fmt: skip
                bad = await http.put(f"/api/v1/stations/CP16/evses/{evse}/charging-needs", json=body)
                assert bad.status_code == 400, bad.text
                assert ("evse_id" if evse > 1 else "energy_wh") in bad.json()["detail"], bad.text
            # a departure gone by, or without an offset (read as UTC before): 400 naming it
            past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
            naive = (datetime.now(UTC) + timedelta(hours=2)).replace(tzinfo=None).isoformat()
            for when, why in ((past, "departure: is in the past"), (naive, "departure: needs a UTC offset")):
                bad = await http.put("/api/v1/stations/CP16/evses/1/charging-needs",
                                     json={"departure": when, "energy_wh": 1000})  # fmt: skip
                assert bad.status_code == 400 and why in bad.json()["detail"], bad.text
            # 27.6 kWh in two hours: 20 A (by the CLI, through the running server's API)
            bad = server.cli("sites", "needs", "CP16", "1", "--departure", "tomorrow", "--energy-kwh", "1", check=False)
            assert bad.returncode == 2 and "--departure" in bad.stderr
            out = server.cli("sites", "needs", "CP16", "1", "--departure", departure, "--energy-kwh", "27.6").stdout
            assert '"source": "operator"' in out and '"charging": true' in out
            await until(lambda: a.profiles[(1, "TxProfile", 6)] >= 20.0, "CP16 gets what its departure needs")
            await until(lambda: b.profiles[(1, "TxProfile", 6)] <= 12.0, "CP201 the rest")
            got = (await http.get("/api/v1/stations/CP16/evses/1/charging-needs")).json()
            assert got["on_time"] is True and 19.9 <= got["need_a"] <= 20.1
            # forgotten: back to the fair share
            assert (await http.delete("/api/v1/stations/CP16/evses/1/charging-needs")).status_code == 200
            await until(lambda: a.profiles[(1, "TxProfile", 6)] == 16.0, "back to 16 A")
            # the CLI shows the timeline and the composite schedule the CSMS computes
            timeline = server.cli("sites", "profiles", "CP16", "--history").stdout
            assert "balancer" in timeline and "fallback" in timeline and "replaced" in timeline
            composite = server.cli("sites", "composite", "CP16", "--evse", "1", "--duration", "600").stdout
            assert '"limit": 16.0' in composite
            # a priority: CP16 weighs twice as much (the server reads the tree from the store)
            bad = server.cli("sites", "priority", "depot", "2", check=False)
            assert bad.returncode == 2 and "priorities are for stations and EVSEs" in bad.stderr
            server.cli("sites", "priority", "CP16", "2")
            await until(lambda: float(a.profiles[(1, "TxProfile", 6)]) == 21.3, "two thirds of 32 A for CP16")
            # and back by the API: PATCH changes only the fields given; a bad one is refused naming the node
            bad = await http.patch("/api/v1/limit-tree/nodes/CP16", json={"weight": -1})
            assert bad.status_code == 400 and bad.json()["details"]["node"] == "CP16"
            assert (await http.patch("/api/v1/limit-tree/nodes/NOPE", json={"weight": 1})).status_code == 404
            ok = await http.patch("/api/v1/limit-tree/nodes/CP16", json={"weight": 1})
            assert ok.status_code == 200 and ok.json()["weight"] == 1 and ok.json()["parent"] == "depot"
            await until(lambda: a.profiles[(1, "TxProfile", 6)] == 16.0, "equal shares again")


class Planned201(Hlc201):
    """An ISO 15118 station that keeps the whole schedule of every TxProfile it is sent."""

    @on("SetChargingProfile")
    async def on_set(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        p = charging_profile
        if p["charging_profile_purpose"] == "TxProfile":
            self.schedules = [*getattr(self, "schedules", []), p["charging_schedule"][0]]
        return await super().on_set(evse_id, charging_profile)


def schedule_energy_wh(schedule: dict[str, Any], until: float) -> float:
    """What a TxProfile's schedule lets a three-phase EV take by ``until`` (230 V)."""
    start = datetime.fromisoformat(schedule["start_schedule"].replace("Z", "+00:00")).timestamp()
    end = min(until, start + schedule["duration"])
    periods = schedule["charging_schedule_period"]
    total = 0.0
    for i, period in enumerate(periods):
        begin = start + period["start_period"]
        stop = start + periods[i + 1]["start_period"] if i + 1 < len(periods) else end
        total += period["limit"] * max(0.0, min(stop, end) - begin)
    return total * 230 * 3 / 3600


async def test_a_departure_under_a_time_of_use_limit_gets_a_multi_period_tx_profile(server: CsmsProcess) -> None:
    """A 32 A site that drops to 16 A in about 25 minutes (a time-of-use window), a 1.6 car without a
    departure (CP16) and an ISO 15118 car (CP201) that must have 17 kWh (24.64 Ah on three phases at
    230 V) in two hours. After the drop CP201 can have 16 - 6 = 10 A beside CP16's minimum, ~16 Ah
    by its departure: the rest must come before the drop. Its TxProfile: L A until the drop, then
    10 A, with L the least that delivers the 17 kWh; CP16 gets the rest of the 32 A until then."""
    now = datetime.now(UTC)
    drop = (now + timedelta(minutes=26)).replace(second=0, microsecond=0)
    departure = (now + timedelta(hours=2)).replace(microsecond=0)
    window = {"from": drop.strftime("%H:%M"), "to": (drop + timedelta(hours=3)).strftime("%H:%M"), "amps": 16}
    tree = {"nodes": [{"id": "depot", "kind": "site", "amps": 32, "windows": [window]},
                      {"id": "CP16", "kind": "station", "parent": "depot", "amps": 32},
                      {"id": "CP201", "kind": "station", "parent": "depot", "amps": 32}]}  # fmt: skip
    async with api(server) as http:
        assert (await http.put("/api/v1/limit-tree", json=tree)).status_code == 200
        async with station(server, "CP16", Station16) as a, station(server, "CP201", Planned201) as b:
            await start16(a)
            await start201(b, "TX-TOU")
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 16.0, "the first TxProfile")
            needs = needs_by(departure, 17000)
            answer = await b.call(call201.NotifyEVChargingNeeds(charging_needs=needs, evse_id=1, max_schedule_tuples=3))
            assert answer.status == "Accepted" and answer.status_info is None
            await until(lambda: len(b.schedules[-1]["charging_schedule_period"]) > 1, "a multi-period TxProfile")
            schedule = b.schedules[-1]
            start = datetime.fromisoformat(schedule["start_schedule"].replace("Z", "+00:00"))
            periods = schedule["charging_schedule_period"]
            assert schedule["charging_rate_unit"] == "A"
            before_h, after_h = (drop - start).total_seconds() / 3600, (departure - drop).total_seconds() / 3600

            def least_level(before_h: float) -> float:  # L x before + 10 A x after = 24.64 Ah
                return (17000 / 690 - 10 * after_h) / before_h

            # the plan (the API): L A until the drop, then 10 A (16 A less CP16's 6 A minimum), L the
            # least that gets it its 17 kWh by the departure (rounded up by < 0.1 A); the plan of the
            # run the API shows, which may be a run after the profile's (no energy is metered here, so
            # every run needs a little more before the drop: a tenth every few seconds, not re-sent)
            got = (await http.get("/api/v1/stations/CP201/evses/1/charging-needs")).json()
            assert got["on_time"] is True and got["planned_wh"] >= 17000
            plan = [(datetime.fromisoformat(p["from"].replace("Z", "+00:00")), p["amps"]) for p in got["plan"]]
            assert [a for _, a in plan][1:] == [10.0, None] and plan[1][0] == drop
            assert abs(plan[-1][0] - departure) <= timedelta(seconds=1)
            exact = least_level((drop - plan[0][0]).total_seconds() / 3600)
            assert exact <= plan[0][1] <= exact + 0.1 + 1e-6 and plan[0][1] <= 26.0
            planned = {
                "start_schedule": plan[0][0].isoformat(),
                "duration": (departure - plan[0][0]).total_seconds(),
                "charging_schedule_period": [
                    {"start_period": (t - plan[0][0]).total_seconds(), "limit": a} for t, a in plan[:-1]
                ],
            }
            assert 17000 <= schedule_energy_wh(planned, departure.timestamp()) <= 17000 + 0.1 * 690 * before_h + 1e-6
            # the profile lasts until the departure: the plan until the lease ends (renewed at half
            # time; its level the least one from the profile's start), after it at most the EVSE's
            # fallback (8 A: the site's lowest 16 A over two stations), so the site holds with the CSMS
            # gone: min(L, 8 A) until the drop, min(10 A, 8 A) after it, one period
            assert abs((start + timedelta(seconds=schedule["duration"])) - departure) <= timedelta(seconds=1)
            first = periods[0]
            assert (
                first["start_period"] == 0
                # planned at the run's instant, within the second after the profile's start
                and least_level(before_h) <= first["limit"] <= least_level(before_h - 1 / 3600) + 0.1 + 1e-6
            )
            fallback = float(b.profiles[(0, "TxDefaultProfile", 6)])
            assert fallback == 8.0
            assert periods[1:] == [{"start_period": LEASE_S, "limit": min(plan[0][1], 10.0, fallback)}]
            # the lease window delivers the plan's energy: the cap starts at its end, not before
            lease_end = start.timestamp() + LEASE_S
            assert schedule_energy_wh(schedule, lease_end) == pytest.approx(first["limit"] * LEASE_S / 3600 * 690)
            # CP16 has the rest of the 32 A now
            await until(lambda: float(a.profiles[(1, "TxProfile", 6)]) + first["limit"] <= 32.0 + 1e-6, "CP16 the rest")
            assert float(a.profiles[(1, "TxProfile", 6)]) >= 6.0
            # the plan is not sent again while it does not move (the balancer runs every 2 s here)
            sent = len(b.schedules)
            seen = (await http.get("/api/v1/sites/depot")).json()["at"]

            async def two_runs_later() -> bool:
                return (await http.get("/api/v1/sites/depot")).json()["at"] >= seen + 4

            await until(two_runs_later, "two more balancer runs")
            assert len(b.schedules) == sent
            # an EV that holds one tuple only gets one period (now's current)
            sent = len(b.schedules)
            answer = await b.call(call201.NotifyEVChargingNeeds(charging_needs=needs, evse_id=1, max_schedule_tuples=1))
            assert answer.status == "Accepted"
            await until(lambda: len(b.schedules) > sent, "the TxProfile again")
            assert len(b.schedules[-1]["charging_schedule_period"]) == 1
            # more than the site can give by the departure (at most 26 A until the drop, 10 A after): said so
            more = needs_by(departure, 30000)
            answer = await b.call(call201.NotifyEVChargingNeeds(charging_needs=more, evse_id=1, max_schedule_tuples=3))
            assert answer.status == "Accepted" and answer.status_info["reason_code"] == "LimitExceeded"
            assert "departure not reachable" in answer.status_info["additional_info"]
            assert "of 30.00 kWh" in answer.status_info["additional_info"]


async def test_while_the_csms_is_alive_the_renewal_lifts_the_capped_window_to_the_plan(tmp_path: Path) -> None:
    """A 30 s lease: the planned TxProfile is the plan for 30 s and the 8 A fallback after; it is
    renewed at half the lease (before the cap is reached), each time the plan again from then on,
    and not in between."""
    lease = 30
    env = {"OCPPD_SMART__INTERVAL_S": "2", "OCPPD_SMART__MIN_INTERVAL_S": "0", "OCPPD_SMART__DEBOUNCE_S": "0.05",
           "OCPPD_SMART__LEASE_S": str(lease)}  # fmt: skip
    now = datetime.now(UTC)
    drop = (now + timedelta(minutes=26)).replace(second=0, microsecond=0)
    window = {"from": drop.strftime("%H:%M"), "to": (drop + timedelta(hours=3)).strftime("%H:%M"), "amps": 16}
    tree = {"nodes": [{"id": "depot", "kind": "site", "amps": 32, "windows": [window]},
                      {"id": "CP16", "kind": "station", "parent": "depot", "amps": 32},
                      {"id": "CP201", "kind": "station", "parent": "depot", "amps": 32}]}  # fmt: skip
    with run_csms(tmp_path, extra_env=env) as server:
        async with api(server) as http:
            assert (await http.put("/api/v1/limit-tree", json=tree)).status_code == 200
            async with station(server, "CP16", Station16) as a, station(server, "CP201", Planned201) as b:
                await start16(a)
                await start201(b, "TX-RENEW")
                await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 16.0, "the first TxProfile")
                needs = needs_by(now + timedelta(hours=2), 17000)
                await b.call(call201.NotifyEVChargingNeeds(charging_needs=needs, evse_id=1, max_schedule_tuples=3))
                await until(lambda: len(b.schedules[-1]["charging_schedule_period"]) > 1, "a multi-period TxProfile")
                first = len(b.schedules) - 1
                await until(lambda: len(b.schedules) > first + 1, "the renewal", timeout=60)
                sent, renewed = b.schedules[first], b.schedules[first + 1]

                def start_of(schedule: dict[str, Any]) -> float:
                    return datetime.fromisoformat(schedule["start_schedule"].replace("Z", "+00:00")).timestamp()

                # renewed at half the lease, before the first one's cap: nothing sent in between
                assert start_of(sent) + lease / 2 - 1 <= start_of(renewed) < start_of(sent) + lease
                for schedule in (sent, renewed):
                    periods = schedule["charging_schedule_period"]
                    assert periods[0]["limit"] > 10.0 and periods[1] == {"start_period": lease, "limit": 8.0}, periods


class OnePeriod201(Planned201):
    """A station that holds one period per schedule and refuses longer ones."""

    @on("SetChargingProfile")
    async def on_set(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        periods = charging_profile["charging_schedule"][0]["charging_schedule_period"]
        if len(periods) > 1:
            self.refused = getattr(self, "refused", 0) + 1
            return result201.SetChargingProfile(status="Rejected")
        return await super().on_set(evse_id, charging_profile)


async def test_a_station_refusing_a_multi_period_plan_gets_one_period(server: CsmsProcess) -> None:
    """The plan is refused once; the same TxProfile with now's current only follows at once, the
    station is not taken for one that refuses TxProfiles, and gets no more multi-period ones."""
    now = datetime.now(UTC)
    drop = (now + timedelta(minutes=26)).replace(second=0, microsecond=0)
    window = {"from": drop.strftime("%H:%M"), "to": (drop + timedelta(hours=3)).strftime("%H:%M"), "amps": 16}
    tree = {"nodes": [{"id": "depot", "kind": "site", "amps": 32, "windows": [window]},
                      {"id": "CP201", "kind": "station", "parent": "depot", "amps": 32}]}  # fmt: skip
    async with api(server) as http:
        assert (await http.put("/api/v1/limit-tree", json=tree)).status_code == 200
        async with station(server, "CP201", OnePeriod201) as b:
            await start201(b, "TX-ONE")
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 32.0, "the first TxProfile")
            sent = len(b.schedules)
            needs = needs_by(now + timedelta(hours=2), 20000)
            await b.call(call201.NotifyEVChargingNeeds(charging_needs=needs, evse_id=1))
            await until(lambda: getattr(b, "refused", 0) == 1 and len(b.schedules) > sent, "one period after the plan")
            assert [p["limit"] for p in b.schedules[-1]["charging_schedule_period"]] == [32.0]
            site = (await http.get("/api/v1/sites/depot")).json()
            assert site["excluded"] == {} and site["allocations"][0]["mode"] == "tx"
            # and the next profile (the needs again) is one period straight away
            sent = len(b.schedules)
            await b.call(call201.NotifyEVChargingNeeds(charging_needs=needs, evse_id=1))
            await until(lambda: len(b.schedules) > sent, "the TxProfile again")
            assert b.refused == 1 and len(b.schedules[-1]["charging_schedule_period"]) == 1


async def test_an_operator_set_need_survives_a_restart_until_its_transaction_ends(
    tmp_path: Path, database_url: str | None
) -> None:
    env = {"OCPPD_SMART__INTERVAL_S": "2", "OCPPD_SMART__MIN_INTERVAL_S": "0", "OCPPD_SMART__DEBOUNCE_S": "0.05"}
    departure = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    with run_csms(tmp_path, database_url, env) as server:
        async with api(server) as http:
            await http.put("/api/v1/limit-tree", json=TREE)
            async with station(server, "CP16", Station16) as a, station(server, "CP201", Hlc201) as b:
                tx = await start16(a)
                await start201(b, "TX-KEPT")
                # 27.6 kWh in two hours: 20 A
                put = await http.put("/api/v1/stations/CP16/evses/1/charging-needs",
                                     json={"departure": departure.isoformat(), "energy_wh": 27600})  # fmt: skip
                assert put.status_code == 200
                await until(lambda: a.profiles.get((1, "TxProfile", 6), 0) >= 20.0, "CP16 gets its need")
    with run_csms(tmp_path, database_url, env) as server:  # the same data directory and database
        async with api(server) as http:
            got = (await http.get("/api/v1/stations/CP16/evses/1/charging-needs")).json()
            assert got["departure"] is not None
            assert abs(datetime.fromisoformat(got["departure"].replace("Z", "+00:00")) - departure) < timedelta(
                seconds=1
            )
            assert got["energy_wh"] == 27600 and got["source"] == "operator" and got["charging"] is True
            async with station(server, "CP16", Station16) as a, station(server, "CP201", Hlc201) as b:
                # the restarted balancer plans with it: CP16 first, CP201 the rest
                await until(lambda: a.profiles.get((1, "TxProfile", 6), 0) >= 20.0, "CP16 still gets its need")
                await until(lambda: 0 < b.profiles.get((1, "TxProfile", 6), 0) <= 12.0, "CP201 the rest")
                await a.call(
                    call16.StopTransaction(transaction_id=tx, meter_stop=1000, timestamp=datetime.now(UTC).isoformat())
                )

                async def forgotten() -> bool:
                    now = (await http.get("/api/v1/stations/CP16/evses/1/charging-needs")).json()
                    return now["departure"] is None and now["charging"] is False

                await until(forgotten, "the need gone with its transaction")
    with run_csms(tmp_path, database_url, env) as server:  # and not back after another restart
        async with api(server) as http:
            got = (await http.get("/api/v1/stations/CP16/evses/1/charging-needs")).json()
            assert got["departure"] is None and got["energy_wh"] is None


# ---------------------------------------------------------------------------- stations that take only W


class WattsOnly201(Hlc201):
    """A 2.0.1 station whose SmartChargingCtrlr.RateUnit is W: it refuses profiles in A."""

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self.asked_rate_unit = True
        return result201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "W",
                    "component": d["component"],
                    "variable": d["variable"],
                }
                for d in get_variable_data
            ]
        )

    @on("SetChargingProfile")
    async def on_set(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        p = charging_profile
        schedule = p["charging_schedule"][0]
        if schedule["charging_rate_unit"] != "W":
            return result201.SetChargingProfile(status="Rejected")
        self.watts = {**getattr(self, "watts", {}), (evse_id, p["charging_profile_purpose"]): schedule}
        limit = schedule["charging_schedule_period"][0]["limit"] / 230.0  # kept per phase (one phase known)
        status = self.store_profile(evse_id, p["charging_profile_purpose"], p["stack_level"], limit)
        return result201.SetChargingProfile(status=status)


class WattsOnly16(Station16):
    """A 1.6 station whose ChargingScheduleAllowedChargingRateUnit is Power."""

    @on("GetConfiguration")
    async def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        return result16.GetConfiguration(
            configuration_key=[{"key": k, "readonly": True, "value": "Power"} for k in key or []]
        )

    @on("SetChargingProfile")
    async def on_set(self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any) -> Any:
        schedule = cs_charging_profiles["charging_schedule"]
        if schedule["charging_rate_unit"] != "W":
            return result16.SetChargingProfile(status="Rejected")
        self.watts = {**getattr(self, "watts", {}), (connector_id, cs_charging_profiles["charging_profile_purpose"]):
                      schedule["charging_schedule_period"][0]["limit"]}  # fmt: skip
        return result16.SetChargingProfile(status="Accepted")


async def test_watts_only_stations_get_their_profiles_in_w(server: CsmsProcess) -> None:
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=TREE)
        async with station(server, "CP16", WattsOnly16) as a, station(server, "CP201", WattsOnly201) as b:
            # the fallbacks (EVSE 0): 16 A per station counted on one phase
            await until(lambda: getattr(a, "watts", {}).get((0, "TxDefaultProfile")) == 3680, "CP16's fallback in W")
            await until(lambda: (0, "TxDefaultProfile") in getattr(b, "watts", {}), "CP201's fallback in W")
            assert b.watts[(0, "TxDefaultProfile")]["charging_schedule_period"][0]["limit"] == 3680
            tx = await start16(a)
            await start201(b, "TX-W")
            # three phases until the meter values say otherwise: 16 A x 3 x 230 V
            await until(lambda: a.watts.get((1, "TxProfile")) == 11040, "CP16's TxProfile in W")
            await until(lambda: (1, "TxProfile") in b.watts, "CP201's TxProfile in W")
            assert b.watts[(1, "TxProfile")]["charging_schedule_period"][0]["limit"] == 11040
            assert b.watts[(1, "TxProfile")]["charging_rate_unit"] == "W"
            # CP16's car turns out to charge on one phase: its 16 A on L1 is 3680 W
            one_phase = [
                {"value": v, "measurand": "Current.Import", "phase": p, "unit": "A"}
                for v, p in (("15.8", "L1"), ("0.0", "L2"), ("0.0", "L3"))
            ]
            await a.call(
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=tx,
                    meter_value=[{"timestamp": datetime.now(UTC).isoformat(), "sampledValue": one_phase}],
                )
            )
            await until(lambda: a.watts.get((1, "TxProfile")) == 3680, "16 A on one phase in W")
            # the EV on CP201 says it charges on one phase too (ISO 15118)
            needs = {
                **needs_by(datetime.now(UTC) + timedelta(hours=8), 5000),
                "requested_energy_transfer": "AC_single_phase",
            }
            await b.call(call201.NotifyEVChargingNeeds(charging_needs=needs, evse_id=1))
            # now each car is alone on its grid phase (CP201 is wired STR: its L1 is the site's L2):
            # 32 A on one phase each, 7360 W
            await until(
                lambda: b.watts[(1, "TxProfile")]["charging_schedule_period"][0]["limit"] == 7360,
                "32 A on one phase in W for the ISO 15118 car",
            )
            await until(lambda: a.watts.get((1, "TxProfile")) == 7360, "32 A on one phase for CP16")
            site = (await http.get("/api/v1/sites/depot")).json()
            assert {x["station_id"]: x["unit"] for x in site["allocations"]} == {"CP16": "W", "CP201": "W"}
            assert site["excluded"] == {}
            # what the CSMS read is kept with the station's configuration
            rows = (await http.get("/api/v1/smart")).json()
            assert rows["excluded"] == {}


# ---------------------------------------------------------------------------- the simulator


async def test_simulated_iso15118_car_and_watts_only_station_follow_the_balancer(server: CsmsProcess) -> None:
    """A simulated 2.0.1 station with an ISO 15118 car that must leave in an hour with 16.56 kWh
    (24 A), and a simulated 1.6 station that takes profiles in W only, on one 32 A site."""
    from ocppd.protocol.versions import OcppVersion
    from ocppd.station.model import EV
    from ocppd.station.station import Station, StationConfig

    server.cli("tokens", "add", "0A0B0D01", "0A0B0D02")
    seen: list[tuple[str, str, dict[str, Any]]] = []
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=TREE)
        settings = {"meter_sample_interval": 1, "profile_delay_s": 1}
        hlc = Station(
            StationConfig(
                identity="CP201", url=server.ws_url, version=OcppVersion.V201, id_tags=["0A0B0D01"], settings=settings
            ),
            on_event=lambda st, kind, data: seen.append((st.identity, kind, data)),
        )
        watts = Station(
            StationConfig(
                identity="CP16",
                url=server.ws_url,
                version=OcppVersion.V16,
                id_tags=["0A0B0D02"],
                settings={**settings, "rate_units": "Power"},
            )
        )
        for sim in (hlc, watts):
            await sim.start()
        try:
            for sim in (hlc, watts):
                await sim.wait_booted(30)
            watts.plug_in(1, EV(max_power_w=22_000, need_wh=100_000))
            assert await watts.start_transaction(1, "0A0B0D02") is not None
            hlc.plug_in(1, EV(max_power_w=22_000, need_wh=16_560, iso15118=True, departure_s=3600))
            assert await hlc.start_transaction(1, "0A0B0D01") is not None

            def currents() -> list[float]:
                for sim in (hlc, watts):
                    sim.update_meters()
                return [round(sim.connector(1).current_a, 1) for sim in (hlc, watts)]

            # the ISO 15118 car gets what its departure needs (24 A, rounded up), the other the rest
            await until(lambda: currents()[0] >= 24.0 and sum(currents()) <= 32.1, "the ISO 15118 car first")
            await until(lambda: currents()[1] >= 7.5, "the W-only station's car the rest")
            kinds = {(kind, data.get("status")) for _, kind, data in seen}
            assert ("ev_charging_needs", "Accepted") in kinds or ("ev_charging_needs", "Processing") in kinds
            await until(lambda: ("ev_charging_schedule", "Accepted") in {(k, d.get("status")) for _, k, d in seen},
                        "the car's own schedule accepted")  # fmt: skip
            units = {p.purpose: p.unit for p in watts.profiles.profiles}
            assert units == {"txdefault": "W", "tx": "W"}, units
            site = (await http.get("/api/v1/sites/depot")).json()
            row = next(x for x in site["allocations"] if x["station_id"] == "CP201")
            assert row["on_time"] is True and row["needs_source"] == "ev"

            async def measured_within() -> bool:  # the stations' meter values, once the cars follow
                amps = (await http.get("/api/v1/sites/depot")).json()["measured"]["amps"]
                return 0 < max(amps) <= 32.0 + 0.1

            await until(measured_within, "the measured total within the site limit")
        finally:
            for sim in (hlc, watts):
                await sim.stop(flush_timeout=5)
