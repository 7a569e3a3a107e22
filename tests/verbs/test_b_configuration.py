"""Provisioning by the operator (OCA block B: get/set variables, base reports, resets) and the 1.6 Core
configuration and reset cases, through the typed commands, against stations of the `ocpp` package."""

from __future__ import annotations

import httpx
import pytest

from tests.csms_process import CsmsProcess
from tests.verbs.conftest import command, eventually, new_id, ok, until
from tests.verbs.stations import connected

OFFLINE_THRESHOLD = {"component": "OCPPCommCtrlr", "variable": "OfflineThreshold"}
AUTHORIZE_REMOTE_START = {"component": "AuthCtrlr", "variable": "AuthorizeRemoteStart"}


async def configuration(api: httpx.AsyncClient, sid: str) -> dict[tuple[str | None, str], str | None]:
    detail = ok(await api.get(f"/api/v1/stations/{sid}"))
    return {(v["component"], v["variable"]): v["value"] for v in detail["configuration"]}


# ----------------------------------------------------------------------------------- 2.0.1


async def test_tc_b_06_get_variables_single_value(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B06")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        r = await command(api, sid, "get-variables", {"variables": [OFFLINE_THRESHOLD]})
        [asked] = st.last("GetVariables")["get_variable_data"]
        assert asked["component"] == {"name": "OCPPCommCtrlr"} and "attribute_type" not in asked
        assert r["result"]["values"] == [
            {
                "ref": {
                    **OFFLINE_THRESHOLD,
                    "instance": None,
                    "evse_id": None,
                    "connector_id": None,
                    "attribute": None,
                    "component_instance": None,
                },
                "status": "Accepted",
                "value": "60",
                "readonly": False,
            }
        ]
        assert (await configuration(api, sid))[("OCPPCommCtrlr", "OfflineThreshold")] == "60"


async def test_tc_b_07_get_variables_multiple_values(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B07")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        r = await command(api, sid, "get-variables", {"variables": [OFFLINE_THRESHOLD, AUTHORIZE_REMOTE_START]})
        assert len(st.all("GetVariables")) == 1 and len(st.last("GetVariables")["get_variable_data"]) == 2
        assert [v["value"] for v in r["result"]["values"]] == ["60", "true"]


async def test_tc_b_08_get_variables_split_per_items_per_message(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B08")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        # The station's limits are known from its base report (B_12/B_13).
        await command(api, sid, "get-configuration", {})
        await eventually(lambda: _has_limit(api, sid), "the base report stored")
        wanted = [
            {"component": "DeviceDataCtrlr", "variable": "ItemsPerMessage", "instance": "GetReport"},
            {"component": "DeviceDataCtrlr", "variable": "ItemsPerMessage", "instance": "GetVariables"},
            {"component": "DeviceDataCtrlr", "variable": "BytesPerMessage", "instance": "GetReport"},
            {"component": "DeviceDataCtrlr", "variable": "BytesPerMessage", "instance": "GetVariables"},
            AUTHORIZE_REMOTE_START,
        ]
        r = await command(api, sid, "get-variables", {"variables": wanted})
        assert [len(c["get_variable_data"]) for c in st.all("GetVariables")] == [4, 1]
        assert [c["action"] for c in r["calls"]] == ["GetVariables", "GetVariables"]
        assert [v["value"] for v in r["result"]["values"]] == ["4", "4", "10000", "10000", "true"]


async def test_tc_b_08_limits_not_yet_known_are_read_when_the_station_refuses(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("B08L")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        wanted = [
            {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"},
            OFFLINE_THRESHOLD,
            AUTHORIZE_REMOTE_START,
            {"component": "SampledDataCtrlr", "variable": "TxUpdatedInterval"},
            {"component": "AlignedDataCtrlr", "variable": "Interval"},
        ]
        r = await command(api, sid, "get-variables", {"variables": wanted})
        # refused whole (5 > 4), the limits read, then 4 + 1
        assert [len(c["get_variable_data"]) for c in st.all("GetVariables")] == [5, 2, 4, 1]
        assert [v["status"] for v in r["result"]["values"]] == ["Accepted"] * 5
        assert (await configuration(api, sid))[("DeviceDataCtrlr", "ItemsPerMessage[GetVariables]")] == "4"


async def _has_limit(api: httpx.AsyncClient, sid: str) -> bool:
    return (await configuration(api, sid)).get(("DeviceDataCtrlr", "ItemsPerMessage[GetVariables]")) == "4"


async def test_tc_b_09_set_variables_single_value(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B09")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        r = await command(api, sid, "set-variables", {"variables": [{**OFFLINE_THRESHOLD, "value": "123"}]})
        [sent] = st.last("SetVariables")["set_variable_data"]
        assert sent["attribute_value"] == "123" and "attribute_type" not in sent
        assert r["result"]["accepted"] and st.model[("OCPPCommCtrlr", "OfflineThreshold")] == "123"
        assert (await configuration(api, sid))[("OCPPCommCtrlr", "OfflineThreshold")] == "123"


async def test_tc_b_10_set_variables_multiple_values(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B10")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        body = {"variables": [{**OFFLINE_THRESHOLD, "value": "123"}, {**AUTHORIZE_REMOTE_START, "value": "false"}]}
        r = await command(api, sid, "set-variables", body)
        assert len(st.all("SetVariables")) == 1
        assert [x["status"] for x in r["result"]["results"]] == ["Accepted", "Accepted"]
        # a refusal is reported per variable, not as a failed command
        body = {
            "variables": [
                {
                    "component": "DeviceDataCtrlr",
                    "variable": "ItemsPerMessage",
                    "instance": "GetVariables",
                    "value": "9",
                }
            ]
        }
        r = await command(api, sid, "set-variables", body)
        assert r["result"]["results"][0]["status"] == "Rejected" and r["result"]["accepted"] is False


@pytest.mark.parametrize(
    ("case", "base"), [("b_12", "ConfigurationInventory"), ("b_13", "FullInventory"), ("b_14", "SummaryInventory")]
)
async def test_tc_b_12_b_13_b_14_get_base_report(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, base: str
) -> None:
    sid = new_id(case.upper())
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        if base == "FullInventory":
            r = await command(api, sid, "get-configuration", {})
            assert r["action"] == "GetBaseReport" and r["result"]["report_status"] == "Accepted"
        else:
            r = ok(
                await api.post(f"/api/v1/stations/{sid}/call/GetBaseReport", json={"requestId": 7, "reportBase": base})
            )
            assert r["status"] == "Accepted"
        assert st.last("GetBaseReport")["report_base"] == base and st.last("GetBaseReport")["request_id"] >= 0
        await eventually(lambda: _has_limit(api, sid), "every NotifyReport part stored")
        stored = await configuration(api, sid)
        assert (
            stored[("AuthCtrlr", "AuthorizeRemoteStart")] == "true"
            and stored[("OCPPCommCtrlr", "HeartbeatInterval")] == "60"
        )


async def test_tc_b_18_get_custom_report(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B18")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        body = {
            "criteria": ["Problem"],
            "variables": [{"component": "EVSE", "variable": "AvailabilityState", "evse_id": 1}],
        }
        r = await command(api, sid, "get-report", body)
        sent = st.last("GetReport")
        assert sent["component_criteria"] == ["Problem"]
        assert sent["component_variable"] == [
            {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"}}
        ]
        assert r["result"]["status"] == "EmptyResultSet" and r["result"]["accepted"] is False
        body = {"criteria": ["Available"], "variables": [{"component": "AuthCtrlr"}]}
        r = await command(api, sid, "get-report", body)
        assert r["result"]["accepted"] and "variable" not in st.last("GetReport")["component_variable"][0]

        async def reported() -> bool:
            return (await configuration(api, sid)).get(("AuthCtrlr", "AuthorizeRemoteStart")) == "true"

        await eventually(reported, "the custom report stored")


async def test_tc_n_18_clear_monitoring_split_after_reading_the_limit(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("N18")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        r = await command(api, sid, "clear-monitoring", {"ids": [1, 2, 3, 9]})
        [read] = st.all("GetVariables")
        assert [d["variable"] for d in read["get_variable_data"]] == [
            {"name": "ItemsPerMessage", "instance": "ClearVariableMonitoring"},
            {"name": "BytesPerMessage", "instance": "ClearVariableMonitoring"},
        ]
        assert [c["id"] for c in st.all("ClearVariableMonitoring")] == [[1, 2], [3, 9]]
        assert [(x["id"], x["status"]) for x in r["result"]["results"]] == [
            (1, "Accepted"),
            (2, "Accepted"),
            (3, "Accepted"),
            (9, "NotFound"),
        ]


async def test_tc_b_20_reset_on_idle_without_evse(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B20")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        r = await command(api, sid, "reset", {"type": "on_idle"})
        assert r["request"] == {"type": "OnIdle"} and r["result"]["accepted"]
        await until(lambda: len(st.boots) == 2, "the boot after the reset")
        assert st.boots[1].status == "Accepted"


@pytest.mark.parametrize(
    ("case", "kind", "wire", "status", "reason"),
    [
        ("b_21", "on_idle", "OnIdle", "Scheduled", "ScheduledReset"),
        ("b_22", "immediate", "Immediate", "Accepted", "RemoteReset"),
    ],
)
async def test_tc_b_21_b_22_reset_with_an_ongoing_transaction(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, kind: str, wire: str, status: str, reason: str
) -> None:
    ok(await api.post("/api/v1/tokens", json={"id_token": f"TOKEN-{case}"}), 201)
    sid = new_id(case.upper())
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        await command(api, sid, "remote-start", {"id_token": f"TOKEN-{case}", "evse_id": 1})

        async def running() -> bool:
            return bool(ok(await api.get(f"/api/v1/stations/{sid}"))["transactions"])

        await eventually(running, "the transaction running")
        r = await command(api, sid, "reset", {"type": kind})
        assert r["request"] == {"type": wire}  # whole station: evseId omitted
        assert r["result"]["status"] == status and r["result"]["accepted"] is True
        await until(lambda: len(st.boots) == 2, "the boot after the reset")
        assert st.boots[1].status == "Accepted"

        async def closed() -> bool:
            return not ok(await api.get(f"/api/v1/stations/{sid}"))["transactions"]

        await eventually(closed, "the transaction closed by its Ended event")


async def test_tc_b_25_reset_one_evse(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B25")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        r = await command(api, sid, "reset", {"type": "on_idle", "evse_id": 1})
        assert r["request"] == {"type": "OnIdle", "evseId": 1} and st.last("Reset")["evse_id"] == 1


async def test_reset_immediate_and_resume_is_2_1_only(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B103")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        r = await api.post(f"/api/v1/stations/{sid}/commands/reset", json={"type": "immediate_and_resume"})
        assert r.status_code == 400 and "2.1" in r.json()["detail"]
        assert "Reset" not in st.actions()


# ----------------------------------------------------------------------------------- 1.6


@pytest.mark.parametrize(("case", "kind", "wire"), [("013", "hard", "Hard"), ("014", "soft", "Soft")])
async def test_tc_013_014_reset(csms: CsmsProcess, api: httpx.AsyncClient, case: str, kind: str, wire: str) -> None:
    sid = new_id(f"T{case}")
    async with connected(csms.ws_url, sid, "1.6") as st:
        r = await command(api, sid, "reset", {"type": kind})
        assert r["request"] == {"type": wire} and r["result"]["accepted"]
        await until(lambda: len(st.boots) == 2, "the boot after the reset")
        assert st.boots[1].status == "Accepted"


async def test_tc_019_1_retrieve_all_configuration_keys(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("T019")
    async with connected(csms.ws_url, sid, "1.6") as st:
        r = await command(api, sid, "get-configuration", {})
        assert r["request"] == {} and st.last("GetConfiguration")["key"] is None
        keys = {v["ref"]["variable"]: (v["value"], v["readonly"]) for v in r["result"]["values"]}
        assert keys["NumberOfConnectors"] == ("1", True) and keys["HeartbeatInterval"] == ("60", False)
        detail = ok(await api.get(f"/api/v1/stations/{sid}"))
        stored = {v["variable"]: v["readonly"] for v in detail["configuration"]}
        assert stored["NumberOfConnectors"] is True and stored["MeterValueSampleInterval"] is False


async def test_tc_019_2_retrieve_specific_configuration_key(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("T019")
    async with connected(csms.ws_url, sid, "1.6"):
        r = await command(api, sid, "get-configuration", {"keys": ["SupportedFeatureProfiles"]})
        assert r["request"] == {"key": ["SupportedFeatureProfiles"]}
        [value] = r["result"]["values"]
        assert value["value"].startswith("Core")


async def test_get_configuration_split_per_get_configuration_max_keys(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("MAXK")
    async with connected(csms.ws_url, sid, "1.6") as st:
        await command(api, sid, "get-configuration", {"keys": ["GetConfigurationMaxKeys"]})  # learns 2
        keys = ["HeartbeatInterval", "MeterValueSampleInterval", "NumberOfConnectors", "Nope"]
        r = await command(api, sid, "get-configuration", {"keys": keys})
        assert [c["key"] for c in st.all("GetConfiguration")[1:]] == [keys[:2], keys[2:]]
        assert r["result"]["unknown_keys"] == ["Nope"] and len(r["result"]["values"]) == 3


async def test_tc_021_change_configuration(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("T021")
    async with connected(csms.ws_url, sid, "1.6") as st:
        r = await command(api, sid, "change-configuration", {"key": "MeterValueSampleInterval", "value": "60"})
        assert r["request"] == {"key": "MeterValueSampleInterval", "value": "60"} and r["result"]["accepted"]
        assert st.config["MeterValueSampleInterval"] == "60"
        assert (await configuration(api, sid))[(None, "MeterValueSampleInterval")] == "60"


@pytest.mark.parametrize(
    ("case", "key", "value", "status"),
    [("040_1", "UnknownKeyOfAnyKind", "1", "NotSupported"), ("040_2", "MeterValueSampleInterval", "-1", "Rejected")],
)
async def test_tc_040_configuration_keys_refused_by_the_station(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, key: str, value: str, status: str
) -> None:
    sid = new_id(f"T{case}")
    async with connected(csms.ws_url, sid, "1.6") as st:
        # the CSMS does not pre-validate: the station decides
        r = await command(api, sid, "change-configuration", {"key": key, "value": value})
        assert st.last("ChangeConfiguration") == {"key": key, "value": value}
        assert r["result"]["results"][0]["status"] == status and r["result"]["accepted"] is False
        assert (await configuration(api, sid)).get((None, key)) != value
