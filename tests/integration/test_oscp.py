"""OSCP 2.0: a real ``ocppd serve`` as the Flexibility Provider of a site, against an independent
Capacity Provider written from the specification (tests/oscp_peer.py), with 2.0.1 stations played
by the ``ocpp`` PyPI package that apply the profiles the balancer sends them.

On SQLite and PostgreSQL: registration, tokens, peer URLs, heartbeats and forecasts are in the store
and survive a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.csms_process import CsmsProcess, free_port, serve
from tests.integration.test_smart_charging import Station201, meter201, start201, station, until
from tests.oscp_peer import CapacityProvider, block

TREE = {
    "nodes": [
        {"id": "depot", "kind": "site", "amps": 32},
        {"id": "CP1", "kind": "station", "parent": "depot", "amps": 32},
    ]
}


class Csms:
    """``ocppd serve`` with OSCP on; restartable on the same data and database."""

    def __init__(self, tmp_path: Path, database: str | None) -> None:
        self.tmp_path, self.database = tmp_path, database
        self.ocpp_port, self.http_port = free_port(), free_port()
        self.env = {
            "OCPPD_SMART__INTERVAL_S": "2",
            "OCPPD_SMART__MIN_INTERVAL_S": "0",
            "OCPPD_SMART__DEBOUNCE_S": "0.05",
            "OCPPD_OSCP__ENABLED": "1",
            "OCPPD_OSCP__PUBLIC_URL": f"http://127.0.0.1:{self.http_port}",
            "OCPPD_OSCP__HEARTBEAT_INTERVAL_S": "1",
            "OCPPD_OSCP__SILENT_AFTER_INTERVALS": "4",
            "OCPPD_OSCP__MEASUREMENTS_INTERVAL_S": "1",
            "OCPPD_OSCP__COMPLIANCE_AFTER_S": "1",
        }
        self.stack = contextlib.ExitStack()
        self.process: CsmsProcess | None = None

    async def start(self) -> CsmsProcess:
        self.stack = contextlib.ExitStack()
        cm = serve(self.tmp_path / "data", self.ocpp_port, self.http_port, self.tmp_path / "serve.log",
                   self.database, self.env)  # fmt: skip
        # in a thread: the peer's server runs on this loop and must answer while ocppd starts
        self.process = await asyncio.to_thread(self.stack.enter_context, cm)
        return self.process

    async def stop(self) -> None:
        await asyncio.to_thread(self.stack.close)

    @property
    def fp_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/oscp/fp/2.0"

    def api(self) -> httpx.AsyncClient:
        assert self.process is not None
        token = self.process.admin_token
        return httpx.AsyncClient(base_url=self.process.http_url, headers={"Authorization": f"Bearer {token}"})


@contextlib.asynccontextmanager
async def running(tmp_path: Path, database: str | None) -> AsyncIterator[Csms]:
    csms = Csms(tmp_path, database)
    await csms.start()
    try:
        yield csms
    finally:
        await csms.stop()


async def external(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    return [x for x in (await http.get("/api/v1/external-limits")).json() if x["source"].startswith("oscp")]


def metering(cp: Any, tx: str) -> asyncio.Task[None]:
    """The station reports what its EV draws every 0.3 s (the per-phase currents the balancer reads)."""

    async def loop() -> None:
        seq = 1
        while True:
            await meter201(cp, tx, seq)
            seq += 1
            await asyncio.sleep(0.3)

    return asyncio.create_task(loop())


async def test_oscp_forecast_adjust_measurements_fallback_and_bad_input(
    tmp_path: Path, database_url: str | None
) -> None:
    async with running(tmp_path, database_url) as csms, csms.api() as http, CapacityProvider() as cp:
        assert (await http.put("/api/v1/limit-tree", json=TREE)).status_code == 200
        r = await http.post("/api/v1/oscp/peers", json={"name": "dso"})
        assert r.status_code == 201 and r.json()["state"] == "awaiting_register", r.text
        issued = r.json()["token"]
        r = await http.put("/api/v1/oscp/groups/grp-1", json={"node": "depot", "fallback_amps": 10})
        assert r.status_code == 200, r.text

        # Register: the peer uses the issued token, ocppd answers with a fresh one that replaces it
        assert await cp.register_with(csms.fp_url, issued) == 204
        await until(lambda: cp.of("register"), "ocppd's Register answer")
        answer = cp.of("register")[0]
        assert answer.headers.get("x-correlation-id") and answer.body["version_url"][0]["base_url"] == csms.fp_url
        r = await cp.send("heartbeat", {"offline_mode_at": "2030-01-01T00:00:00Z"}, token=issued)
        assert r.status_code == 401, "the one-time token was replaced"
        # Handshake: ocppd asks for heartbeats every 1 s; the peer asks ocppd for them every 1 s
        await until(lambda: cp.of("handshake"), "ocppd's Handshake")
        assert cp.fp_required_heartbeat == 1
        await until(lambda: cp.of("heartbeat"), "ocppd's heartbeats")
        cp.beat(every=0.4, offline_after=4)

        async with station(csms.process, "CP1", Station201) as st:
            await start201(st, "TX-1")
            meters = metering(st, "TX-1")
            try:
                await until(lambda: st.limit(1) == 32.0, "the whole site")
                # a forecast lowers the site; the balancer reallocates below it
                r = await cp.forecast("grp-1", [block(16)])
                assert r.status_code == 204, r.text
                await until(lambda: st.limit(1) == 16.0, "the forecast's 16 A")
                limits = await external(http)
                assert [(x["node"], x["amps"]) for x in limits] == [("depot", [16.0, 16.0, 16.0])]

                async def site_view() -> dict[str, Any] | None:  # stored once the run's profiles are answered
                    site = (await http.get("/api/v1/sites/depot")).json()
                    return site if site["limit"]["amps"] == [16.0] * 3 else None

                site = await until(site_view, "the site's view at the forecast's limit")
                assert max(site["allocated"]["amps"]) <= 16.0

                # a capacity optimizer's adjustment lowers it further (the lower of the two applies)
                r = await cp.forecast("grp-1", [block(12)], kind="OPTIMUM", message="adjust_group_capacity_forecast")
                assert r.status_code == 204, r.text
                await until(lambda: st.limit(1) == 12.0, "the adjusted 12 A")
                r = await cp.forecast("grp-1", [], kind="OPTIMUM", message="adjust_group_capacity_forecast")
                assert r.status_code == 204
                await until(lambda: st.limit(1) == 16.0, "the adjustment withdrawn")

                # measurements: the site's energy per phase, from what the station reports
                def grown() -> bool:
                    ms = cp.of("update_group_measurements")
                    values = [m.body["measurements"][0]["value"] for m in ms if m.body["group_id"] == "grp-1"]
                    return len(values) >= 2 and values[-1] > values[0] >= 0

                await until(grown, "growing group measurements")
                last = cp.of("update_group_measurements")[-1].body["measurements"]
                assert {m["phase"] for m in last} == {"ONE", "TWO", "THREE"} and {m["unit"] for m in last} == {"WH"}

                # bad input: a wrong token gets 401, a malformed forecast 400 naming the field; no change
                before = await external(http)
                r = await cp.send("update_group_capacity_forecast",
                                  {"group_id": "grp-1", "type": "CONSUMPTION", "forecasted_blocks": [block(6)]},
                                  token="wrong")  # fmt: skip
                assert r.status_code == 401 and r.json()["status"] == 401
                bad = block(6)
                del bad["end_time"]
                r = await cp.forecast("grp-1", [bad])
                assert r.status_code == 400 and "forecasted_blocks[0].end_time" in r.json()["detail"], r.text
                r = await cp.forecast("grp-1", [block(6, unit="KWH")])
                assert r.status_code == 400 and "forecasted_blocks[0].unit" in r.json()["detail"]
                r = await cp.forecast("nope", [block(6)])
                assert r.status_code == 400 and "group_id" in r.json()["detail"]
                assert await external(http) == before and st.limit(1) == 16.0

                # a forecast above the site's physical 32 A is capped at it (and logged)
                r = await cp.forecast("grp-1", [block(100)])
                assert r.status_code == 204
                await until(lambda: st.limit(1) == 32.0, "capped at the configured 32 A")
                await until(lambda: "above the configured limit; capped" in csms.process.log(), "the WARNING")
                r = await cp.forecast("grp-1", [block(14)])
                await until(lambda: st.limit(1) == 14.0, "14 A")

                # the peer goes silent: the fallback (10 A) applies; it comes back: the forecast again
                cp.silence()
                await until(lambda: st.limit(1) == 10.0, "the fallback capacity", timeout=20)
                status = (await http.get("/api/v1/oscp")).json()
                assert status["peers"][0]["silent"] is True and status["groups"][0]["on_fallback"] is True
                exposed = (await http.get("/metrics")).text
                assert 'ocppd_oscp_peer_silent{peer="dso"} 1.0' in exposed
                assert 'ocppd_oscp_group_capacity_amps{group="grp-1",phase="L1"} 10.0' in exposed
                assert 'direction="in",message="update_group_capacity_forecast",result="unauthorized"' in exposed
                cp.beat(every=0.4, offline_after=4)
                await until(lambda: st.limit(1) == 14.0, "the forecast restored")
            finally:
                meters.cancel()

        # state survives a restart: no new registration, heartbeats go on, the forecast still applies
        await csms.stop()
        seen = len(cp.of("heartbeat"))
        await csms.start()
        async with csms.api() as http2:
            status = (await http2.get("/api/v1/oscp")).json()
            peer = status["peers"][0]
            assert peer["state"] == "registered" and peer["base_url"] == cp.base_url
            assert status["groups"][0]["forecast"][0]["capacity"] == 14
            assert [x["amps"] for x in await external(http2)] == [[14.0, 14.0, 14.0]]
        await until(lambda: len(cp.of("heartbeat")) > seen, "heartbeats after the restart")
        assert len(cp.of("register")) == 1
        assert cp.problems == [], cp.problems


class Ignoring201(Station201):
    """A station whose EV keeps drawing 32 A whatever it is told (it accepts the profiles)."""

    def draw(self, evse: int) -> float:
        return 32.0


async def test_oscp_compliance_error_and_registration_initiated_by_ocppd(tmp_path: Path) -> None:
    async with running(tmp_path, None) as csms, csms.api() as http, CapacityProvider() as cp:
        assert (await http.put("/api/v1/limit-tree", json=TREE)).status_code == 200
        assert (await http.put("/api/v1/oscp/groups/grp-1", json={"node": "depot"})).status_code == 200
        r = await http.put("/api/v1/oscp/groups/grp-2", json={"node": "CP1"})
        assert r.status_code == 400 and "site or a sub-circuit" in r.json()["detail"]
        r = await http.put("/api/v1/oscp/groups/grp-2", json={"node": "depot"})
        assert r.status_code == 400 and "grp-1" in r.json()["detail"]
        # ocppd registers with the capacity provider using the token the peer gave
        r = await http.post("/api/v1/oscp/peers", json={"name": "dso", "base_url": cp.base_url, "token": "wrong"})
        assert r.status_code == 502 and "refused" in r.json()["detail"]
        body = {"name": "dso", "base_url": cp.base_url, "token": cp.issued}
        r = await http.post("/api/v1/oscp/peers", json=body)
        assert r.status_code == 201 and "token" not in r.json(), r.text
        reg = cp.of("register")[-1]
        assert reg.body["version_url"] == [{"version": "2.0", "base_url": csms.fp_url}]

        # the peer answers with its own Register (token exchange the other way), then hand-shakes
        async def registered() -> bool:
            return (await http.get("/api/v1/oscp")).json()["peers"][0]["state"] == "registered"

        await until(registered, "the peer's Register answer")
        assert cp.fp_url == csms.fp_url and cp.fp_token == reg.body["token"]
        assert await cp.handshake() == 204
        await until(lambda: cp.of("handshake_acknowledgement"), "ocppd's HandshakeAcknowledgement")
        assert cp.of("handshake_acknowledgement")[0].body["required_behaviour"]["heartbeat_interval"] == 1
        cp.beat(every=0.4, offline_after=4)
        status = (await http.get("/api/v1/oscp")).json()
        assert status["peers"][0]["state"] == "registered"

        async with station(csms.process, "CP1", Ignoring201) as st:
            await start201(st, "TX-2")
            meters = metering(st, "TX-2")
            try:
                assert (await cp.forecast("grp-1", [block(16)])).status_code == 204
                await until(lambda: st.profiles.get((1, "TxProfile", 6)) == 16.0, "told 16 A")
                await until(lambda: cp.of("group_capacity_compliance_error"), "a compliance error")
                err = cp.of("group_capacity_compliance_error")[0].body
                assert err["group_id"] == "grp-1" and "32.0" in err["message"]
                assert err["forecasted_blocks"][0]["capacity"] == 16
                # the operator asks the capacity provider for more (AdjustGroupCapacityForecast, FP to CP)
                ask = {"type": "CONSUMPTION", "forecasted_blocks": [block(32)]}
                r = await http.post("/api/v1/oscp/groups/grp-1/adjust", json=ask)
                assert r.status_code == 200 and r.json()["sent_to"] == "dso", r.text
                sent = cp.of("adjust_group_capacity_forecast")[-1].body
                assert sent["group_id"] == "grp-1" and sent["forecasted_blocks"][0]["capacity"] == 32
                bad = {"type": "CONSUMPTION", "forecasted_blocks": [{**block(32), "phase": "FOUR"}]}
                r = await http.post("/api/v1/oscp/groups/grp-1/adjust", json=bad)
                assert r.status_code == 400 and "forecasted_blocks[0].phase" in r.json()["detail"]
            finally:
                meters.cancel()
        assert cp.problems == [], cp.problems


CONFIG = """
[smart]
sites_file = "{sites}"

[oscp]
enabled = true
public_url = "http://127.0.0.1:{port}"

[[oscp.groups]]
group_id = "area-1"
node = "depot"
fallback_amps = 12
"""

SITES = """
[[node]]
id = "depot"
kind = "site"
amps = 32

[[node]]
id = "feeder"
kind = "circuit"
parent = "depot"
amps = 20

[[node]]
id = "CP1"
kind = "station"
parent = "feeder"
"""


async def test_oscp_groups_from_the_config_file_and_the_cli(tmp_path: Path) -> None:
    csms = Csms(tmp_path, None)
    (tmp_path / "sites.toml").write_text(SITES)
    config = tmp_path / "ocppd.toml"
    config.write_text(CONFIG.format(sites=tmp_path / "sites.toml", port=csms.http_port))
    csms.env = {"OCPPD_CONFIG": str(config)}
    await csms.start()
    try:
        server = csms.process
        assert server is not None
        async with csms.api() as http, CapacityProvider() as cp:
            group = (await http.get("/api/v1/oscp")).json()["groups"][0]
            assert (group["group_id"], group["node"], group["fallback_amps"]) == ("area-1", "depot", [12.0] * 3)
            # bad changes from the CLI: one line naming the problem, exit 2
            bad = await asyncio.to_thread(server.cli, "oscp", "groups", "set", "area-2", "--node", "CP1", check=False)
            assert bad.returncode == 2 and "site or a sub-circuit" in bad.stderr, bad.stderr
            bad = await asyncio.to_thread(server.cli, "oscp", "groups", "set", "area-2", "--node", "depot", check=False)
            assert bad.returncode == 2 and "area-1" in bad.stderr
            # a good one reaches the running server
            await asyncio.to_thread(server.cli, "oscp", "groups", "set", "area-2", "--node", "feeder")

            async def mapped() -> bool:
                groups = (await http.get("/api/v1/oscp")).json()["groups"]
                return {g["group_id"] for g in groups} == {"area-1", "area-2"}

            await until(mapped, "the CLI's group on the running server")
            # a peer issued a token by the CLI registers with it
            out = (await asyncio.to_thread(server.cli, "oscp", "peers", "add", "dso")).stdout
            token = out.split("(shown once): ")[1].split()[0]
            assert f"http://127.0.0.1:{csms.http_port}/oscp/fp/2.0" in out
            assert await cp.register_with(csms.fp_url, token) == 204
            await until(lambda: cp.of("handshake"), "ocppd's handshake")
            assert (await cp.forecast("area-2", [block(10)])).status_code == 204
            limits = await external(http)
            assert [(x["node"], x["amps"]) for x in limits] == [("feeder", [10.0] * 3)]
            shown = (await asyncio.to_thread(server.cli, "oscp", "show", "--json")).stdout
            assert '"registered"' in shown and '"feeder"' in shown
    finally:
        await csms.stop()
    # a configuration that cannot work: exit 2, one line naming the setting
    config.write_text("[oscp]\nenabled = true\n")
    bad = await asyncio.to_thread(server.cli, "serve", check=False)
    assert bad.returncode == 2 and "oscp.public_url" in bad.stderr


TWO = {
    "nodes": [
        {"id": "depot", "kind": "site", "amps": 32},
        {"id": "CP1", "kind": "station", "parent": "depot", "amps": 32},
        {"id": "CP2", "kind": "station", "parent": "depot", "amps": 32},
    ]
}


async def test_oscp_forecast_in_kw_is_shared_by_the_stations_of_the_site(tmp_path: Path) -> None:
    async with running(tmp_path, None) as csms, csms.api() as http, CapacityProvider() as cp:
        assert (await http.put("/api/v1/limit-tree", json=TWO)).status_code == 200
        issued = (await http.post("/api/v1/oscp/peers", json={"name": "dso"})).json()["token"]
        assert (await http.put("/api/v1/oscp/groups/grp-1", json={"node": "depot"})).status_code == 200
        assert await cp.register_with(csms.fp_url, issued) == 204
        await until(lambda: cp.of("handshake"), "ocppd's Handshake")
        cp.beat(every=0.4, offline_after=4)
        async with station(csms.process, "CP1", Station201) as a, station(csms.process, "CP2", Station201) as b:
            await start201(a, "TX-A")
            await start201(b, "TX-B")
            await until(lambda: a.limit(1) == 16.0 and b.limit(1) == 16.0, "half the site each")
            assert (await cp.forecast("grp-1", [block(16)])).status_code == 204
            await until(lambda: a.limit(1) == 8.0 and b.limit(1) == 8.0, "half the forecast each")
            # 13.8 kW on the site's three phases at 230 V: 20 A per phase, 10 A each
            assert (await cp.forecast("grp-1", [block(13.8, unit="KW")])).status_code == 204
            await until(lambda: a.limit(1) == 10.0 and b.limit(1) == 10.0, "the power forecast shared")
            (limit,) = await external(http)
            assert limit["watts"] == 13800 and limit["amps"] is None
        assert cp.problems == [], cp.problems
