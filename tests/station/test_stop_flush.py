"""``Station.stop()`` delivers the queued transaction messages before it disconnects (bounded in time)."""

from __future__ import annotations

import asyncio
import time

import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station.station import Station
from tests.station.conftest import fast_config, until
from tests.station.csms import OcppCsms

VERSIONS = [OcppVersion.V16, OcppVersion.V201, OcppVersion.V21]


def _ended(version: OcppVersion, action: str, payload: dict[str, object]) -> bool:
    if version is OcppVersion.V16:
        return action == "StopTransaction"
    return action == "TransactionEvent" and payload["eventType"] == "Ended"


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.label)
async def test_stop_right_after_a_stop_transaction_delivers_it(csms: OcppCsms, version: OcppVersion) -> None:
    ident = f"FLUSH{version.label}"
    st = Station(fast_config(ident, csms.url, version))  # the default, in-memory queue
    await st.start()
    await st.wait_booted(5)
    st.plug_in(1)
    # Start and stop without yielding to the event loop: both messages are still queued, unsent, when
    # stop() is called (1.6: the StopTransaction even needs the id the StartTransaction answer brings).
    st.begin_transaction(1, "TAG1")
    tx = st.stop_transaction(1, "Local")
    assert tx is not None and st.queued >= 2
    await st.stop()
    assert st.queued == 0 and not st.online
    received = csms.received[ident]
    ended = [p for a, p in received if _ended(version, a, p)]
    assert len(ended) == 1, [a for a, _ in received]
    if version is OcppVersion.V16:
        assert ended[0]["transactionId"] == 1000  # the real id, patched in from the StartTransaction answer
        assert ended[0]["reason"] == "Local"
    else:
        assert ended[0]["transactionInfo"]["transactionId"] == tx.id
    assert csms.errors == []


async def test_stop_waits_at_most_flush_timeout(csms: OcppCsms) -> None:
    ident = "FLUSH-SILENT"
    csms.silent.add("StopTransaction")  # the CSMS never answers it
    st = Station(fast_config(ident, csms.url, OcppVersion.V16, call_timeout=30.0))
    await st.start()
    await st.wait_booted(5)
    st.plug_in(1)
    await st.start_transaction(1, "TAG1")
    await until(lambda: st.queued == 0)
    st.stop_transaction(1, "Local")
    begin = time.monotonic()
    await st.stop(flush_timeout=0.5)
    took = time.monotonic() - begin
    assert 0.4 < took < 3.0
    assert st.queued == 1  # not answered: still queued (it would be resent from a queue file)
    await csms.wait_for(ident, "StopTransaction")  # it was sent, just never answered


async def test_stop_while_offline_does_not_wait(csms: OcppCsms) -> None:
    ident = "FLUSH-OFFLINE"
    st = Station(fast_config(ident, csms.url, OcppVersion.V201))
    await st.start()
    await st.wait_booted(5)
    st.plug_in(1)
    await st.start_transaction(1, "TAG1")
    await until(lambda: st.queued == 0)
    await csms.stop()
    await until(lambda: not st.online)
    st.stop_transaction(1, "Local")
    assert st.queued >= 1
    begin = time.monotonic()
    await st.stop()  # nothing can be delivered: no point waiting the default 10 s
    assert time.monotonic() - begin < 2.0
    assert st.queued >= 1


async def test_flush_returns_when_the_queue_is_empty(csms: OcppCsms) -> None:
    ident = "FLUSH-EXPLICIT"
    async with Station(fast_config(ident, csms.url, OcppVersion.V201)) as st:
        await st.wait_booted(5)
        assert await st.flush(1.0) is True  # nothing queued
        st.plug_in(1)
        st.begin_transaction(1, "TAG1")
        st.stop_transaction(1, "Local")
        assert await asyncio.wait_for(st.flush(), 10) is True
        assert st.queued == 0
        await csms.wait_for(ident, "TransactionEvent", predicate=lambda p: p["eventType"] == "Ended", timeout=1)
