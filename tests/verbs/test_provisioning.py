"""After an accepted boot: the configuration is read and the station group's settings applied,
promptly and once; each step switchable (file and API). Limits read from the report split the
settings (OCA B_08's rule applied to SetVariables)."""

from __future__ import annotations

import httpx
import pytest
from ocpp.v201 import call as call201

from tests.csms_process import CsmsProcess
from tests.verbs.conftest import eventually, new_id, ok, until
from tests.verbs.stations import connected

CSMS_CONFIG = """
[provisioning]
read_configuration = true
apply_settings = true

[[provisioning.groups]]
name = "lab"
stations = ["NOPE-*"]
heartbeat_interval = 999

[[provisioning.groups]]
name = "fleet"
stations = ["PV-*"]
heartbeat_interval = 120
meter_sample_interval = 30
clock_aligned_interval = 900
configuration = { ConnectionTimeOut = "45" }
variables = { "AuthCtrlr.AuthorizeRemoteStart" = "false", "OCPPCommCtrlr.OfflineThreshold" = "90" }
"""


async def provisioning_event(api: httpx.AsyncClient, sid: str, n: int = 1) -> list[dict]:
    async def recorded() -> list[dict] | None:
        rows = ok(await api.get(f"/api/v1/stations/{sid}/notifications"))
        found = [r for r in rows if r["kind"] == "Provisioning"]
        return found if len(found) >= n else None

    return await eventually(recorded, "the provisioning step recorded")


async def test_201_inventory_then_group_settings_split_per_the_reported_limits(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("PV")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        [event] = await provisioning_event(api, sid)
        assert st.actions()[0] == "GetBaseReport" and st.last("GetBaseReport")["report_base"] == "FullInventory"
        # five settings, ItemsPerMessage[SetVariables] = 4 (read from the report): 4 + 1
        assert [len(c["set_variable_data"]) for c in st.all("SetVariables")] == [4, 1]
        assert st.model[("OCPPCommCtrlr", "HeartbeatInterval")] == "120"
        assert st.model[("SampledDataCtrlr", "TxUpdatedInterval")] == "30"
        assert st.model[("AuthCtrlr", "AuthorizeRemoteStart")] == "false"
        assert st.model[("OCPPCommCtrlr", "OfflineThreshold")] == "90"
        assert st.model[("AlignedDataCtrlr", "Interval")] == "900"
        steps = event["payload"]
        assert steps["read_configuration"]["report_complete"] is True
        assert steps["apply_settings"]["group"] == "fleet" and steps["apply_settings"]["sent"] == 5
        kept = st.model
    # the next boot: the inventory is read again, the settings the station has are not resent
    async with connected(csms.ws_url, sid, "2.0.1", settings=kept) as st:
        events = await provisioning_event(api, sid, 2)
        assert "SetVariables" not in st.actions()
        assert any(e["payload"]["apply_settings"]["sent"] == 0 for e in events)


async def test_16_configuration_then_group_settings(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("PV")
    async with connected(csms.ws_url, sid, "1.6") as st:
        await provisioning_event(api, sid)
        assert st.actions()[0] == "GetConfiguration" and st.last("GetConfiguration")["key"] is None
        changed = {c["key"]: c["value"] for c in st.all("ChangeConfiguration")}
        assert changed == {
            "HeartbeatInterval": "120",
            "MeterValueSampleInterval": "30",
            "ClockAlignedDataInterval": "900",
            "ConnectionTimeOut": "45",
        }
        assert st.config["HeartbeatInterval"] == "120"  # the last two are unknown to it: NotSupported


async def test_a_station_of_no_group_is_only_read(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("OTHER")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        [event] = await provisioning_event(api, sid)
        assert event["payload"]["apply_settings"] == {"group": None}
        assert st.actions() == ["GetBaseReport"]


async def test_steps_switched_off_by_the_api_send_nothing(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    state = ok(await api.patch("/api/v1/provisioning", json={"read_configuration": False, "apply_settings": False}))
    assert state["read_configuration"] is False and [g["name"] for g in state["groups"]] == ["lab", "fleet"]
    try:
        sid = new_id("PV")
        async with connected(csms.ws_url, sid, "2.0.1") as st:
            await st.status()
            await st.call(call201.Heartbeat(), suppress=False)
            r = ok(await api.post(f"/api/v1/stations/{sid}/commands/trigger-message", json={"message": "Heartbeat"}))
            assert r["result"]["accepted"]
            await until(lambda: bool(st.received), "the operator's command")
            assert st.actions() == ["TriggerMessage"]  # the first and only CSMS message
    finally:
        ok(await api.patch("/api/v1/provisioning", json={"read_configuration": True, "apply_settings": True}))


@pytest.mark.parametrize("field", ["read_configuration"])
async def test_switches_are_checked(csms: CsmsProcess, api: httpx.AsyncClient, field: str) -> None:
    bad = await api.patch("/api/v1/provisioning", json={field: "sometimes"})
    assert bad.status_code == 400 and field in bad.json()["detail"]
