"""Site load balancing against a real ``ocppd serve``: stations played by the ``ocpp`` PyPI package
(1.6 and 2.0.1) that apply the profiles they receive and report the current they then draw."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.csms_process import CsmsProcess, run_csms

WAIT_S = 30.0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Applies:
    """What every test station shares: the profiles it holds and the current its EV then draws."""

    ev_max_a = 32.0
    refuse_tx_profile = False

    def setup_profiles(self) -> None:
        self.profiles: dict[tuple[int, str, int], float] = {}  # (evse, purpose, stack level) -> limit A
        self.received: list[tuple[int, str, int, float]] = []

    def store_profile(self, evse: int, purpose: str, level: int, limit: float) -> str:
        if purpose == "TxProfile" and self.refuse_tx_profile:
            return "Rejected"
        self.profiles[(evse, purpose, level)] = limit
        self.received.append((evse, purpose, level, limit))
        return "Accepted"

    def limit(self, evse: int) -> float:
        """The composite limit, simplified: highest TxProfile, else highest TxDefault (EVSE before 0)."""
        for purpose in ("TxProfile", "TxDefaultProfile"):
            mine = sorted(
                ((lvl, e == evse), lim) for (e, p, lvl), lim in self.profiles.items() if p == purpose and e in (evse, 0)
            )
            if mine:
                return mine[-1][1]
        return self.ev_max_a

    def draw(self, evse: int) -> float:
        return min(self.ev_max_a, self.limit(evse))


class Station16(Applies, ChargePoint16):
    @on("SetChargingProfile")
    async def on_set(self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any) -> Any:
        p = cs_charging_profiles
        limit = p["charging_schedule"]["charging_schedule_period"][0]["limit"]
        status = self.store_profile(connector_id, p["charging_profile_purpose"], p["stack_level"], limit)
        return result16.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    async def on_clear(self, **kw: Any) -> Any:
        return result16.ClearChargingProfile(status="Accepted")


class Station201(Applies, ChargePoint201):
    @on("SetChargingProfile")
    async def on_set(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        p = charging_profile
        limit = p["charging_schedule"][0]["charging_schedule_period"][0]["limit"]
        status = self.store_profile(evse_id, p["charging_profile_purpose"], p["stack_level"], limit)
        return result201.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    async def on_clear(self, **kw: Any) -> Any:
        return result201.ClearChargingProfile(status="Accepted")


@asynccontextmanager
async def station(server: CsmsProcess, identity: str, cls: type, **attrs: Any) -> AsyncIterator[Any]:
    version = "ocpp1.6" if issubclass(cls, Station16) else "ocpp2.0.1"
    async with websockets.connect(f"{server.ws_url}/{identity}", subprotocols=[version]) as ws:
        cp = cls(identity, ws)
        cp.setup_profiles()
        for k, v in attrs.items():
            setattr(cp, k, v)
        task = asyncio.create_task(cp.start())
        try:
            if issubclass(cls, Station16):
                await cp.call(call16.BootNotification(charge_point_vendor="ACME", charge_point_model="AC22"))
                await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
            else:
                await cp.call(
                    call201.BootNotification(
                        charging_station={"vendor_name": "ACME", "model": "AC22"}, reason="PowerUp"
                    )
                )
                await cp.call(
                    call201.StatusNotification(
                        timestamp=now_iso(), connector_status="Available", evse_id=1, connector_id=1
                    )
                )
            yield cp
        finally:
            task.cancel()


async def start16(cp: Station16) -> int:
    start = await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD", meter_start=0, timestamp=now_iso()))
    return int(start.transaction_id)


async def start201(cp: Station201, tx: str) -> None:
    await cp.call(
        call201.TransactionEvent(
            event_type="Started",
            timestamp=now_iso(),
            trigger_reason="CablePluggedIn",
            seq_no=0,
            transaction_info={"transaction_id": tx},
            evse={"id": 1, "connector_id": 1},
        )
    )


def phases(amps: float) -> list[dict[str, Any]]:
    return [
        {"value": str(round(amps, 1)), "measurand": "Current.Import", "phase": p, "unit": "A"}
        for p in ("L1", "L2", "L3")
    ]


async def meter16(cp: Station16, tx: int) -> None:
    await cp.call(
        call16.MeterValues(
            connector_id=1,
            transaction_id=tx,
            meter_value=[{"timestamp": now_iso(), "sampledValue": phases(cp.draw(1))}],
        )
    )


async def meter201(cp: Station201, tx: str, seq: int) -> None:
    sampled = [
        {"value": round(cp.draw(1), 1), "measurand": "Current.Import", "phase": p, "unit_of_measure": {"unit": "A"}}
        for p in ("L1", "L2", "L3")
    ]
    await cp.call(
        call201.TransactionEvent(
            event_type="Updated",
            timestamp=now_iso(),
            trigger_reason="MeterValuePeriodic",
            seq_no=seq,
            transaction_info={"transaction_id": tx},
            meter_value=[{"timestamp": now_iso(), "sampled_value": sampled}],
        )
    )


async def until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CsmsProcess]:
    env = {"OCPPD_SMART__INTERVAL_S": "2", "OCPPD_SMART__MIN_INTERVAL_S": "0", "OCPPD_SMART__DEBOUNCE_S": "0.05"}
    with run_csms(tmp_path, extra_env=env) as s:
        yield s


def api(server: CsmsProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=30
    )


TREE = {
    "nodes": [
        {"id": "depot", "kind": "site", "amps": 32},
        {"id": "CP16", "kind": "station", "parent": "depot", "amps": 32},
        {"id": "CP201", "kind": "station", "parent": "depot", "amps": 32, "rotation": "STR"},
    ]
}


async def test_invalid_limit_trees_are_refused_naming_the_node(server: CsmsProcess) -> None:
    async with api(server) as http:
        bad = {
            "nodes": [
                {"id": "depot", "kind": "site", "amps": 32},
                {"id": "feeder", "kind": "circuit", "parent": "depot", "amps": 63},
            ]
        }
        r = await http.put("/api/v1/limit-tree", json=bad)
        assert r.status_code == 400 and r.json()["details"]["node"] == "feeder", r.text
        r = await http.put("/api/v1/limit-tree/nodes/depot", json={"kind": "site", "amps": -3})
        assert r.status_code == 400 and r.json()["details"]["node"] == "depot"
        r = await http.put(
            "/api/v1/limit-tree/nodes/CP1", json={"kind": "station", "parent": "depot", "rotation": "XYZ"}
        )
        assert r.status_code == 400 and "rotation" in r.json()["detail"]
        assert (await http.get("/api/v1/limit-tree")).json() == {"nodes": []}  # nothing was kept


async def test_site_balanced_across_16_and_201_stations(server: CsmsProcess) -> None:
    async with api(server) as http:
        assert (await http.put("/api/v1/limit-tree", json=TREE)).status_code == 200
        async with station(server, "CP16", Station16) as a, station(server, "CP201", Station201) as b:
            # each station gets its fallback: half the site each, on EVSE 0, at the reserved level
            await until(lambda: a.profiles.get((0, "TxDefaultProfile", 6)) == 16.0, "1.6 fallback")
            await until(lambda: b.profiles.get((0, "TxDefaultProfile", 6)) == 16.0, "2.0.1 fallback")
            tx_a = await start16(a)
            await until(lambda: a.profiles.get((1, "TxProfile", 6)) == 32.0, "CP16 alone gets the whole site")
            await start201(b, "TX-B")
            await until(
                lambda: a.profiles.get((1, "TxProfile", 6)) == 16.0 and b.profiles.get((1, "TxProfile", 6)) == 16.0,
                "fair shares",
            )
            await meter16(a, tx_a)
            await meter201(b, "TX-B", 1)

            site = (await http.get("/api/v1/sites/depot")).json()
            assert sum(x["amps"] for x in site["allocations"]) <= 32
            assert max(site["allocated"]["amps"]) <= site["limit"]["amps"][0]

            # the grid operator lowers the site for a while: both go down, never below the minimum
            r = await http.post("/api/v1/limit-tree/nodes/depot/external-limits", json={"amps": 20, "duration_s": 600})
            assert r.status_code == 201
            await until(lambda: a.limit(1) == 10.0 and b.limit(1) == 10.0, "the lowered limit")
            r = await http.post("/api/v1/limit-tree/nodes/depot/external-limits", json={"amps": 100, "duration_s": 60})
            assert r.json()["capped_at_configured_limit"] is True

            # CP16's car leaves: the other rises
            await a.call(call16.StopTransaction(meter_stop=1000, timestamp=now_iso(), transaction_id=tx_a))
            await until(lambda: b.limit(1) == 20.0, "the remaining EV takes the freed capacity")

            rows = (await http.get("/api/v1/stations/CP201/charging-profiles")).json()
            tx_rows = [r for r in rows if r["purpose"] == "tx"]
            assert tx_rows and tx_rows[-1]["source"] == "balancer" and tx_rows[-1]["state"] == "installed"
            assert any(r["source"] == "fallback" and r["evse_id"] == 0 for r in rows)
            ended = (await http.get("/api/v1/stations/CP16/charging-profiles", params={"history": True})).json()
            assert any(r["purpose"] == "tx" and r["state"] == "ended" for r in ended)


async def test_station_refusing_tx_profiles_gets_an_evse_default(server: CsmsProcess) -> None:
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=TREE)
        async with station(server, "CP16", Station16, refuse_tx_profile=True) as a:
            await start16(a)
            await until(lambda: a.profiles.get((1, "TxDefaultProfile", 7)) == 32.0, "EVSE TxDefault instead")
            history = (await http.get("/api/v1/stations/CP16/charging-profiles", params={"history": True})).json()
            assert any(r["purpose"] == "tx" and r["state"] == "rejected" for r in history)


class Reporting201(Station201):
    """Reports one profile in GetChargingProfiles: the balancer's fallback, with a limit of its own."""

    @on("GetChargingProfiles")
    async def on_get_profiles(self, request_id: int, **_: Any) -> Any:
        async def report() -> None:
            await asyncio.sleep(0)
            profile = {
                "id": 920000,
                "stack_level": 6,
                "charging_profile_purpose": "TxDefaultProfile",
                "charging_profile_kind": "Absolute",
                "charging_schedule": [
                    {
                        "id": 1,
                        "charging_rate_unit": "A",
                        "start_schedule": now_iso(),
                        "charging_schedule_period": [{"start_period": 0, "limit": 5.0}],
                    }
                ],
            }
            await self.call(
                call201.ReportChargingProfiles(
                    request_id=request_id, charging_limit_source="CSO", evse_id=0, charging_profile=[profile], tbc=False
                )
            )

        asyncio.get_running_loop().create_task(report())
        return result201.GetChargingProfiles(status="Accepted")


async def test_profiles_checked_before_sending_stored_and_reconciled(server: CsmsProcess) -> None:
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=TREE)
        async with station(server, "CP201", Reporting201) as b:
            await until(lambda: b.profiles.get((0, "TxDefaultProfile", 6)) == 16.0, "the fallback")
            # the domain verb refuses what the station would refuse, naming the field
            bad = {
                "id": 7,
                "evse_id": 0,
                "purpose": "tx",
                "stack_level": 1,
                "transaction_id": "T",
                "periods": [{"start_s": 0, "limit": 10}],
            }
            r = await http.post("/api/v1/stations/CP201/charging-profiles", json=bad)
            assert r.status_code == 400 and "needs an EVSE" in r.json()["detail"], r.text
            reserved = {
                "id": 8,
                "evse_id": 1,
                "purpose": "tx_default",
                "stack_level": 6,
                "periods": [{"start_s": 0, "limit": 10}],
            }
            r = await http.post("/api/v1/stations/CP201/charging-profiles", json=reserved)
            assert r.status_code == 400 and "balancer" in r.json()["detail"]
            good = {
                "id": 9,
                "evse_id": 1,
                "purpose": "tx_default",
                "stack_level": 2,
                "periods": [{"start_s": 0, "limit": 12}],
            }
            r = await http.post("/api/v1/stations/CP201/charging-profiles", json=good)
            assert r.status_code == 200 and r.json()["status"] == "Accepted", r.text
            assert b.profiles[(1, "TxDefaultProfile", 2)] == 12
            # the generic call still sends an invalid one (the OCA K cases), and the store records it
            r = await http.post(
                "/api/v1/stations/CP201/call/SetChargingProfile",
                json={
                    "evseId": 0,
                    "chargingProfile": {
                        "id": 10,
                        "stackLevel": 3,
                        "chargingProfilePurpose": "TxProfile",
                        "chargingProfileKind": "Relative",
                        "transactionId": "none",
                        "chargingSchedule": [
                            {
                                "id": 1,
                                "chargingRateUnit": "A",
                                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8}],
                            }
                        ],
                    },
                },
            )
            assert r.status_code == 200, r.text
            installed = (await http.get("/api/v1/stations/CP201/charging-profiles")).json()
            by_id = {row["profile_id"]: row for row in installed}
            assert by_id[9]["source"] == "operator" and by_id[920000]["source"] == "fallback"
            assert by_id[10]["purpose"] == "tx" and by_id[10]["evse_id"] == 0
            # reconciliation: the station reports the fallback with another limit and nothing else
            r = await http.post("/api/v1/stations/CP201/charging-profiles/reconcile")
            assert r.status_code == 200 and r.json()["status"] == "Accepted", r.text

            async def drift() -> dict[int, str | None]:
                rows = (await http.get("/api/v1/stations/CP201/charging-profiles")).json()
                found = {row["profile_id"]: row["drift"] for row in rows}
                return found if found.get(920000) else {}

            found = await until(drift, "drift flagged")
            assert found[920000] == "the station's copy differs" and found[9] == "missing on the station"


async def test_notify_charging_limit_lowers_the_station(server: CsmsProcess) -> None:
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=TREE)
        async with station(server, "CP201", Station201) as b:
            await start201(b, "TX-L")
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 32.0, "the whole site")
            await b.call(
                call201.NotifyChargingLimit(
                    charging_limit={"charging_limit_source": "EMS"},
                    evse_id=1,
                    charging_schedule=[
                        {
                            "id": 1,
                            "charging_rate_unit": "A",
                            "charging_schedule_period": [{"start_period": 0, "limit": 10.0}],
                        }
                    ],
                )
            )
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 10.0, "the station's EMS limit")
            limits = (await http.get("/api/v1/external-limits")).json()
            assert [x["source"] for x in limits] == ["station"]
            await b.call(call201.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1))
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 32.0, "back to the site's limit")


# ---------------------------------------------------------------------------- ISO 15118 (2.0.1 K15-K17)


class Hlc201(Station201):
    """A 2.0.1 station with an ISO 15118 EV: it remembers the transaction id of every TxProfile."""

    @on("SetChargingProfile")
    async def on_set(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        p = charging_profile
        if p["charging_profile_purpose"] == "TxProfile":
            self.tx_profile_ids = [*getattr(self, "tx_profile_ids", []), p.get("transaction_id")]
        limit = p["charging_schedule"][0]["charging_schedule_period"][0]["limit"]
        status = self.store_profile(evse_id, p["charging_profile_purpose"], p["stack_level"], limit)
        return result201.SetChargingProfile(status=status)


def needs(max_a: int, min_a: int = 6) -> dict[str, Any]:
    return {
        "requested_energy_transfer": "AC_three_phase",
        "departure_time": now_iso(),
        "ac_charging_parameters": {
            "energy_amount": 20000,
            "ev_min_current": min_a,
            "ev_max_current": max_a,
            "ev_max_voltage": 400,
        },
    }


def ev_schedule(amps: float) -> dict[str, Any]:
    return {"id": 1, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": amps}]}


async def profiles_sent(cp: Hlc201) -> int:
    return len(getattr(cp, "tx_profile_ids", []))


async def test_tc_k_53_k_57_load_leveling_with_iso15118_needs(server: CsmsProcess) -> None:
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=TREE)
        async with station(server, "CP201", Hlc201) as b:
            await start201(b, "TX-HLC")
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 32.0, "the first TxProfile")
            before = len(b.tx_profile_ids)
            answer = await b.call(call201.NotifyEVChargingNeeds(charging_needs=needs(20), evse_id=1))
            assert answer.status == "Accepted"
            # a TxProfile for that transaction within 60 s (K15.FR.08), within what the EV takes
            await until(
                lambda: len(b.tx_profile_ids) > before and b.profiles[(1, "TxProfile", 6)] == 20.0,
                "a TxProfile for the EV's needs",
                timeout=60,
            )
            assert b.tx_profile_ids[-1] == "TX-HLC"
            accepted = await b.call(
                call201.NotifyEVChargingSchedule(time_base=now_iso(), evse_id=1, charging_schedule=ev_schedule(20.0))
            )
            assert accepted.status == "Accepted"


async def test_tc_k_55_ev_schedule_above_the_limit_is_rejected_and_a_new_profile_sent(server: CsmsProcess) -> None:
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=TREE)
        async with station(server, "CP201", Hlc201) as b:
            await start201(b, "TX-55")
            assert (await b.call(call201.NotifyEVChargingNeeds(charging_needs=needs(32), evse_id=1))).status in (
                "Accepted",
                "Processing",
            )
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 32.0, "the TxProfile")
            r = await http.post("/api/v1/limit-tree/nodes/depot/external-limits", json={"amps": 16, "duration_s": 600})
            assert r.status_code == 201
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 16.0, "the lowered TxProfile")
            sent = len(b.tx_profile_ids)
            too_much = await b.call(
                call201.NotifyEVChargingSchedule(time_base=now_iso(), evse_id=1, charging_schedule=ev_schedule(25.0))
            )
            assert too_much.status == "Rejected"
            await until(lambda: len(b.tx_profile_ids) > sent, "a new TxProfile after the rejected schedule")
            assert b.tx_profile_ids[-1] == "TX-55" and b.profiles[(1, "TxProfile", 6)] == 16.0
            fits = await b.call(
                call201.NotifyEVChargingSchedule(time_base=now_iso(), evse_id=1, charging_schedule=ev_schedule(16.0))
            )
            assert fits.status == "Accepted"


async def test_tc_k_58_k_59_renegotiation_initiated_by_the_csms(server: CsmsProcess) -> None:
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=TREE)
        async with station(server, "CP201", Hlc201) as b:
            await start201(b, "TX-58")
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 32.0, "the TxProfile")
            # the CSMS renegotiates (a limit change): a new TxProfile, and the EV's new schedule fits
            await http.post("/api/v1/limit-tree/nodes/depot/external-limits", json={"amps": 24, "duration_s": 600})
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 24.0, "the renegotiated TxProfile")
            ok = await b.call(
                call201.NotifyEVChargingSchedule(time_base=now_iso(), evse_id=1, charging_schedule=ev_schedule(24.0))
            )
            assert ok.status == "Accepted"
            # K_59: the station sends its needs again after the CSMS's profile: answered, and another TxProfile
            sent = len(b.tx_profile_ids)
            assert (await b.call(call201.NotifyEVChargingNeeds(charging_needs=needs(16), evse_id=1))).status == (
                "Accepted"
            )
            await until(
                lambda: len(b.tx_profile_ids) > sent and b.profiles[(1, "TxProfile", 6)] == 16.0,
                "the TxProfile after the re-sent needs",
            )
            assert set(b.tx_profile_ids) == {"TX-58"}


async def test_iso15118_needs_on_a_station_outside_any_site_are_rejected(server: CsmsProcess) -> None:
    async with station(server, "LONE", Hlc201) as b:
        answer = await b.call(call201.NotifyEVChargingNeeds(charging_needs=needs(16), evse_id=1))
        assert answer.status == "Rejected"


class Refusing16(Station16):
    """A 1.6 station that refuses every charging profile."""

    @on("SetChargingProfile")
    async def on_set(self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any) -> Any:
        self.refused = [*getattr(self, "refused", []), (connector_id, cs_charging_profiles["charging_profile_purpose"])]
        return result16.SetChargingProfile(status="Rejected")


async def test_a_station_refusing_profiles_is_excluded_and_its_worst_case_reserved(server: CsmsProcess) -> None:
    tree = {"nodes": [{**TREE["nodes"][0], "amps": 48}, *TREE["nodes"][1:]]}
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=tree)
        async with station(server, "CP16", Refusing16) as a, station(server, "CP201", Station201) as b:
            await start16(a)
            await start201(b, "TX-X")

            async def excluded() -> bool:
                return "CP16" in (await http.get("/api/v1/smart")).json()["excluded"]

            await until(excluded, "CP16 excluded")
            # CP16's car may draw its 32 A maximum: CP201 gets what is left of 48 A
            await until(lambda: b.profiles.get((1, "TxProfile", 6)) == 16.0, "the rest for CP201")

            async def reasons() -> dict[str, Any]:  # the view is written once the run's profiles went out
                site = (await http.get("/api/v1/sites/depot")).json()
                found = {x["station_id"]: x["reason"] for x in site["allocations"]}
                return site if found == {"CP16": "reserved", "CP201": "share"} else {}

            site = await until(reasons, "CP16 reserved in the site view")
            assert "CP16" in site["excluded"]
            # its refused fallback is not sent again on every run (only when its share changes or it reboots)
            assert a.refused.count((0, "TxDefaultProfile")) == 1, a.refused
            metrics = (await http.get("/metrics")).text
            assert "ocppd_balancer_excluded_stations 1.0" in metrics


async def test_simulator_stations_follow_the_balancer(server: CsmsProcess) -> None:
    from ocppd.protocol.versions import OcppVersion
    from ocppd.station.model import EV
    from ocppd.station.station import Station, StationConfig

    server.cli("tokens", "add", "0A0B0C01", "0A0B0C02")
    async with api(server) as http:
        await http.put("/api/v1/limit-tree", json=TREE)
        sims = [
            Station(
                StationConfig(
                    identity=name,
                    url=server.ws_url,
                    version=version,
                    id_tags=[tag],
                    settings={"meter_sample_interval": 1, "profile_delay_s": 1},
                )
            )
            for name, version, tag in (("CP16", OcppVersion.V16, "0A0B0C01"), ("CP201", OcppVersion.V201, "0A0B0C02"))
        ]
        for sim in sims:
            await sim.start()
        try:
            for sim in sims:
                await sim.wait_booted(30)
            for sim, tag in zip(sims, ("0A0B0C01", "0A0B0C02"), strict=True):
                sim.plug_in(1, EV(max_power_w=22_000, need_wh=100_000))
                assert await sim.start_transaction(1, tag) is not None

            def currents() -> list[float]:
                for sim in sims:
                    sim.update_meters()
                return [round(sim.connector(1).current_a, 1) for sim in sims]

            # 32 A shared by two 32 A cars: 16 A each, drawn by the simulated cars themselves
            await until(lambda: currents() == [16.0, 16.0], "both simulated cars at 16 A")
            sims[0].unplug(1)
            await until(lambda: currents()[1] >= 31.8, "the remaining car takes the whole site (its 22 kW: 31.9 A)")
            measured = (await http.get("/api/v1/sites/depot")).json()["measured"]["amps"]
            assert max(measured) <= 32.0 + 0.1
        finally:
            for sim in sims:
                await sim.stop(flush_timeout=5)


SITES_TOML = """
[[node]]
id = "yard"
kind = "site"
amps = 63
timezone = "Europe/Berlin"
windows = [{ from = "17:00", to = "21:00", amps = 32 }]

[[node]]
id = "feeder"
kind = "circuit"
parent = "yard"
amps = [32, 32, 25]

[[node]]
id = "CP1"
kind = "station"
parent = "feeder"
rotation = "STR"
"""


def test_limit_tree_from_the_config_file_and_the_cli(tmp_path: Path) -> None:
    sites = tmp_path / "sites.toml"
    sites.write_text(SITES_TOML)
    env = {"OCPPD_SMART__SITES_FILE": str(sites), "OCPPD_SMART__INTERVAL_S": "1"}
    with run_csms(tmp_path, extra_env=env) as server:
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        tree = httpx.get(f"{server.http_url}/api/v1/limit-tree", headers=headers).json()
        assert {n["id"] for n in tree["nodes"]} == {"yard", "feeder", "CP1"}
        # a bad change from the CLI: one line naming the node, exit 2, nothing changes
        bad = server.cli("sites", "set", "feeder", "--kind", "circuit", "--parent", "yard", "--amps", "80", check=False)
        assert bad.returncode == 2 and "feeder" in bad.stderr and "above its parent" in bad.stderr
        broken = tmp_path / "broken.toml"
        broken.write_text('[[node]]\nid = "x"\nkind = "station"\n')
        bad = server.cli("sites", "load", str(broken), check=False)
        assert bad.returncode == 2 and "x: a station needs a parent" in bad.stderr
        # a good one reaches the running server without a restart
        server.cli("sites", "set", "CP2", "--kind", "station", "--parent", "yard", "--amps", "16")
        deadline = time.monotonic() + WAIT_S
        while "CP2" not in {
            n["id"] for n in httpx.get(f"{server.http_url}/api/v1/limit-tree", headers=headers).json()["nodes"]
        }:
            assert time.monotonic() < deadline, "the server did not pick up the CLI's change"
            time.sleep(0.2)
        shown = server.cli("sites", "show", "--json").stdout
        assert '"CP2"' in shown and '"STR"' in shown
