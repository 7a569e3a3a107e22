"""Offline: the CSMS goes away mid-transaction, the station keeps charging, everything queued arrives."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.smart.schedule import parse_time
from ocppd.station.station import Station
from ocppd.station.store import Store
from tests.station.conftest import fast_config, until
from tests.station.csms import OcppCsms


def energy(mv: list[dict]) -> float:
    for sv in mv[-1]["sampledValue"]:
        if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register":
            return float(sv["value"])
    raise AssertionError("no energy register in meter value")


async def test_v16_offline_mid_transaction(csms: OcppCsms) -> None:
    ident = "OFF16"
    async with Station(fast_config(ident, csms.url, OcppVersion.V16)) as st:
        await st.wait_booted(5)
        st.plug_in(1)
        await st.start_transaction(1, "TAG1")
        await csms.wait_for(ident, "MeterValues")
        port = csms.port
        await until(lambda: st.queued == 0)  # nothing in flight: no ambiguous delivery
        await csms.stop()
        await until(lambda: not st.online)
        online_count = len(csms.messages(ident))
        t_off = time.time()
        await until(lambda: st.queued >= 3)  # meter values keep coming, into the queue
        # A second transaction entirely offline: started and stopped before the CSMS is back.
        st.unplug(1)
        st.plug_in(1)
        assert await st.start_transaction(1, "TAG1") is not None  # authorised from the cache
        await asyncio.sleep(1.1)
        st.unplug(1)
        assert time.time() - t_off > 1
        queued = st.queued
        await csms.start(port)
        await until(lambda: st.queued == 0 and st.online)
        after = csms.received[ident][online_count:]
    assert csms.errors == [] and st.counters["dropped"] == 0
    tx_messages = [(a, p) for a, p in after if a in ("StartTransaction", "StopTransaction", "MeterValues")
                   and not (a == "MeterValues" and "transactionId" not in p)]  # fmt: skip
    assert len(tx_messages) == queued  # each queued message once
    stops = [p for a, p in tx_messages if a == "StopTransaction"]
    assert [s["transactionId"] for s in stops] == [1000, 1001]  # the offline one got its real id patched in
    sampled = [p for a, p in tx_messages if a == "MeterValues"]
    assert all(p["transactionId"] in (1000, 1001) for p in sampled)
    times = [p.get("timestamp") or p["meterValue"][0]["timestamp"] for _, p in tx_messages]
    assert times == sorted(times)  # in order
    starts = csms.messages(ident, "StartTransaction")
    all_stops = csms.messages(ident, "StopTransaction")
    for start, stop in zip(starts, all_stops, strict=True):
        assert stop["meterStop"] >= start["meterStart"]
    # the first session charged at 11 kW for the whole time, online and offline
    first = all_stops[0]
    seconds = parse_time(first["timestamp"]) - parse_time(starts[0]["timestamp"])
    assert first["meterStop"] - starts[0]["meterStart"] == pytest.approx(11000 * seconds / 3600, abs=1.5)
    values = [energy(p["meterValue"]) for p in csms.messages(ident, "MeterValues") if p.get("transactionId") == 1000]
    assert values == sorted(values) and first["meterStop"] >= values[-1] - 1


@pytest.mark.parametrize("version", [OcppVersion.V201, OcppVersion.V21], ids=lambda v: v.label)
async def test_v2x_offline_seqno_and_energy(csms: OcppCsms, version: OcppVersion) -> None:
    ident = f"OFF{version.label}"
    async with Station(fast_config(ident, csms.url, version)) as st:
        await st.wait_booted(5)
        st.plug_in(1)
        tx = await st.start_transaction(1, "TAG1")
        assert tx is not None
        await csms.wait_for(ident, "TransactionEvent", count=2)
        port = csms.port
        await until(lambda: st.queued == 0)  # nothing in flight: no ambiguous delivery
        await csms.stop()
        await until(lambda: not st.online)
        await until(lambda: st.queued >= 2)
        st.unplug(1)
        await csms.start(port)
        await until(lambda: st.queued == 0 and st.online)
    assert csms.errors == []
    events = [e for e in csms.messages(ident, "TransactionEvent") if e["transactionInfo"]["transactionId"] == tx.ref]
    assert [e["seqNo"] for e in events] == list(range(len(events)))  # once each, in order
    assert any(e.get("offline") for e in events) and events[-1]["eventType"] == "Ended"
    start_wh = energy(events[0]["meterValue"])
    end_wh = energy(events[-1]["meterValue"])
    assert end_wh - start_wh == pytest.approx(tx.energy_wh, abs=0.2)
    elapsed = st.connector(1).last_update - tx.start
    assert tx.energy_wh == pytest.approx(11000 * elapsed / 3600, rel=0.02)


async def test_queue_survives_restart(csms: OcppCsms, tmp_path: Path) -> None:
    ident = "DURABLE"
    db = tmp_path / "fleet.sqlite"
    store = Store(db)
    st = Station(fast_config(ident, csms.url, OcppVersion.V201), store=store)
    await st.start()
    await st.wait_booted(5)
    port = csms.port
    await csms.stop()
    await until(lambda: not st.online)
    st.plug_in(1)
    tx = await st.start_transaction(1, "ANY")  # unknown tag offline: not authorised
    assert tx is None
    st.settings.force("offline_tx_unknown", True)
    tx = await st.start_transaction(1, "ANY")
    assert tx is not None
    await until(lambda: st.queued >= 2)
    await st.stop()  # the simulator process ends with the transaction running
    store.close()
    queued = Store(db).load_queue(ident)
    assert len(queued) >= 2
    # a new process: same store file
    store2 = Store(db)
    await csms.start(port)
    async with Station(fast_config(ident, csms.url, OcppVersion.V201), store=store2) as st2:
        await st2.wait_booted(5)
        await until(lambda: st2.queued == 0)
    store2.close()
    events = [e for e in csms.messages(ident, "TransactionEvent") if e["transactionInfo"]["transactionId"] == tx.ref]
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert events[0]["eventType"] == "Started" and events[0]["offline"] is True
    assert events[-1]["eventType"] == "Ended" and events[-1]["transactionInfo"]["stoppedReason"] == "PowerLoss"
    assert csms.errors == []
