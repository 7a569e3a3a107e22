"""ocppd's simulator as OCPP-S 1.2, 1.5 and 1.6 stations against ``ocppd serve`` (SQLite and PostgreSQL),
beside a JSON station in the same fleet: boot, a charging session, the CSMS calling the station's own
Charge Point service back (reset, remote start, configuration), the station's From address learnt."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from ocppd.protocol.soap import SoapVersion
from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from ocppd.station.soap import stop_callback_servers
from ocppd.station.template import Template, expand
from tests.csms_process import CsmsProcess

pytestmark = pytest.mark.slow  # simulated SOAP stations through whole sessions (minutes)

TAG = "SIM-SOAP-TAG"
DEADLINE = 30.0  # bounds every wait; never a performance threshold


async def wait_until(predicate: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {DEADLINE} s waiting for: {what}")
        await asyncio.sleep(0.1)


def fast(config: StationConfig) -> StationConfig:
    config.call_timeout = 10
    config.reconnect_min, config.reconnect_max, config.reboot_delay = 0.2, 1.0, 0.2
    config.id_tags = [TAG]
    config.settings = {"meter_sample_interval": 1}
    return config


@pytest.mark.parametrize("soap", list(SoapVersion), ids=lambda v: v.label)
async def test_simulated_soap_station_beside_a_json_one(csms: CsmsProcess, soap: SoapVersion) -> None:
    await asyncio.to_thread(csms.cli, "tokens", "add", TAG, "JSON-TAG")
    template = Template.model_validate(
        {
            "url": csms.ws_url,
            "stations": [
                {"id": f"SOAP-SIM-{soap.value}", "ocpp": soap.label, "url": f"{csms.http_url}/ocpp/soap"},
                {"id": f"JSON-SIM-{soap.value}", "ocpp": "2.0.1"},
            ],
        }
    )
    soap_config, json_config = (fast(c) for c in expand(template, None))
    json_config.id_tags = ["JSON-TAG"]
    assert soap_config.soap is soap and soap_config.version is OcppVersion.V16
    api = httpx.AsyncClient(
        base_url=f"{csms.http_url}/api/v1", headers={"Authorization": f"Bearer {csms.admin_token}"}, timeout=30
    )
    try:
        async with Station(soap_config) as st, Station(json_config) as js:
            await st.wait_booted(DEADLINE)
            await js.wait_booted(DEADLINE)
            detail = (await api.get(f"/stations/{st.identity}")).json()
            assert detail["ocpp_version"] == soap.label
            assert detail["soap"]["reachable"] is True and "/ocpp-cp/" in detail["soap"]["endpoint"]

            st.plug_in(1)
            tx = await st.start_transaction(1, TAG)
            assert tx is not None, "the CSMS did not authorise the token"
            js.plug_in(1)
            assert await js.start_transaction(1, "JSON-TAG") is not None

            async def sampled() -> bool:
                # 1.2 meter values carry no transaction id: the readings are the connector's, so wait
                # for them in the message log rather than in the transaction's energy
                log = (await api.get(f"/stations/{st.identity}/messages", params={"limit": 500})).json()
                rows = (await api.get("/transactions", params={"station": st.identity})).json()
                return bool(rows) and sum("meterValuesRequest" in m["frame"] for m in log) >= 2

            await wait_until(sampled, "the transaction and two meter values of the SOAP station at the CSMS")
            st.unplug(1)
            js.unplug(1)

            async def stopped() -> list[dict[str, Any]]:
                rows = (await api.get("/transactions", params={"station": st.identity})).json()
                return [r for r in rows if r["stopped_at"]]

            [row] = await wait_until(stopped, "the SOAP station's transaction stopped at the CSMS")
            assert row["id_token"] == TAG and row["energy_wh"] > 0
            await wait_until(lambda: st.queued == 0 and js.queued == 0, "both queues drained")

            # The CSMS calls the station's Charge Point service (at its From address) back.
            boots = st.counters["reconnects"]
            reset = await api.post(f"/stations/{st.identity}/commands/reset", json={"type": "soft"})
            assert reset.status_code == 200 and reset.json()["response"] == {"status": "Accepted"}, reset.text
            await wait_until(lambda: st.counters["reconnects"] > boots and st.booted.is_set(), "a reboot")
            changed = await api.post(
                f"/stations/{st.identity}/call/ChangeConfiguration", json={"key": "HeartbeatInterval", "value": "77"}
            )
            assert changed.status_code == 200 and changed.json()["status"] == "Accepted", changed.text
            start = await api.post(
                f"/stations/{st.identity}/call/RemoteStartTransaction", json={"idTag": TAG, "connectorId": 1}
            )
            assert start.status_code == 200 and start.json() == {"status": "Accepted"}, start.text
            await wait_until(lambda: st.connector(1).tx is not None, "the remote start at the station")
            st.stop_transaction(1)
            await wait_until(lambda: st.queued == 0, "the remote transaction's stop delivered")

            log = (await api.get(f"/stations/{st.identity}/messages", params={"limit": 500})).json()
            frames = [m["frame"] for m in log]
            assert any("<" in f and "resetRequest" in f for f in frames)
            assert any(soap.cs_namespace in f for f in frames)
            listed = json.loads((await asyncio.to_thread(csms.cli, "stations", "list", "--json")).stdout)
            versions = {s["station_id"]: s["ocpp_version"] for s in listed}
            assert versions[st.identity] == soap.label and versions[js.identity] == "2.0.1"
    finally:
        await api.aclose()
        await stop_callback_servers()
