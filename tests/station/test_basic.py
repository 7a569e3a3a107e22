"""Boot, heartbeat, status, a local session with meter values, for every version."""

from __future__ import annotations

import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station.station import Station
from tests.station.conftest import fast_config, until
from tests.station.csms import OcppCsms

VERSIONS = [OcppVersion.V16, OcppVersion.V201, OcppVersion.V21]


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.label)
async def test_local_session(csms: OcppCsms, version: OcppVersion) -> None:
    ident = f"CP-{version.label}"
    async with Station(fast_config(ident, csms.url, version, evses=[1, 1])) as st:
        await st.wait_booted(5)
        await csms.wait_for(ident, "Heartbeat")
        st.plug_in(1)
        tx = await st.start_transaction(1, "TAG1")
        assert tx is not None
        tx_action = "StartTransaction" if version is OcppVersion.V16 else "TransactionEvent"
        await csms.wait_for(ident, tx_action)
        await csms.wait_for(ident, "MeterValues" if version is OcppVersion.V16 else "TransactionEvent", count=2)
        st.unplug(1)
        await until(lambda: st.queued == 0)
    assert csms.errors == []
    assert st.counters["errors"] == 0
    assert csms.actions(ident)[0] == "BootNotification"
    if version is OcppVersion.V16:
        start = csms.messages(ident, "StartTransaction")[0]
        stop = csms.messages(ident, "StopTransaction")[0]
        assert stop["reason"] == "EVDisconnected"
        assert stop["transactionId"] == 1000
        assert stop["meterStop"] >= start["meterStart"]
        statuses = [m["status"] for m in csms.messages(ident, "StatusNotification") if m["connectorId"] == 1]
        assert statuses[:4] == ["Available", "Preparing", "Charging", "Available"] or "Charging" in statuses
    else:
        events = csms.messages(ident, "TransactionEvent")
        assert [e["seqNo"] for e in events] == list(range(len(events)))
        assert events[0]["eventType"] == "Started" and events[-1]["eventType"] == "Ended"
        assert events[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
