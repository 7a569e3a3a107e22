"""The controller's own identity, in process: the CSMS's station-max profiles become the group's
external limit following their schedule, and are kept across a restart (a real SQLite store)."""

from __future__ import annotations

import time
from pathlib import Path

from ocppd.config import Settings
from ocppd.csms.smart.sites import Sites
from ocppd.localctl.identity import SOURCE, ControllerStation
from ocppd.rpc.session import Session
from ocppd.smart.schedule import format_time
from ocppd.store import Store
from ocppd.transport.tls import client_context


def settings(tmp_path: Path, version: str) -> Settings:
    s = Settings(data_dir=str(tmp_path / "lc"))
    lc = s.local_controller
    lc.upstream_url, lc.identity, lc.identity_version, lc.group_amps = "ws://127.0.0.1:9", "LC-9", version, 32.0
    return s


async def test_station_max_profiles_limit_the_site_and_survive_a_restart(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'lc.db'}")
    store.migrate()
    await store.start()
    try:
        sites = Sites(store)
        await sites.load()
        await sites.upsert({"id": "group", "kind": "site", "amps": 32})
        s = settings(tmp_path, "ocpp2.0.1")
        station = ControllerStation(s, sites, client_context())
        session = Session(identity="LC-9", version=station.version, send=lambda text: None, handlers={})
        now = time.time()
        profile = {
            "id": 3,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargingStationMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [
                {
                    "id": 1,
                    "startSchedule": format_time(now - 10),
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 11000},
                        {"startPeriod": 3610, "limit": 7000},
                    ],
                }
            ],
        }
        assert await station._set_profile(session, {"evseId": 0, "chargingProfile": profile}) == {"status": "Accepted"}
        [limit] = [e for e in sites.active_externals(time.time()) if e.source == SOURCE]
        assert limit.node == "group" and limit.watts == 11000 and abs(limit.end - (now - 10 + 3610)) < 1.5
        refused = await station._set_profile(
            session, {"evseId": 1, "chargingProfile": {**profile, "chargingProfilePurpose": "TxDefaultProfile"}}
        )
        assert refused["status"] == "Rejected"
        await station.stop()

        # a restarted controller applies the kept profile at once, before the CSMS is reachable
        again = ControllerStation(s, sites, client_context())
        assert [p.id for p in again.profiles.profiles] == [3]
        await sites.remove_external(node_id="group", source=SOURCE)
        await again.apply()
        assert [e.watts for e in sites.active_externals(time.time()) if e.source == SOURCE] == [11000]
        cleared = await again._clear_profile(session, {"chargingProfileId": 3})
        assert cleared == {"status": "Accepted"}
        assert [e for e in sites.active_externals(time.time()) if e.source == SOURCE] == []
        assert await again._clear_profile(session, {"chargingProfileId": 3}) == {"status": "Unknown"}
        await again.stop()
    finally:
        await store.close()
