"""Remote control (OCA block F) and the 1.6 Core remote start/stop, unlock and Remote Trigger cases,
through the typed commands, against stations of the `ocpp` package."""

from __future__ import annotations

import httpx
import pytest

from tests.csms_process import CsmsProcess
from tests.verbs.conftest import command, eventually, new_id, ok, until
from tests.verbs.stations import DEVICE_MODEL, connected


async def active_transaction(api: httpx.AsyncClient, sid: str) -> dict | None:
    detail = ok(await api.get(f"/api/v1/stations/{sid}"))
    return detail["transactions"][0] if detail["transactions"] else None


async def no_transaction(api: httpx.AsyncClient, sid: str) -> bool:
    return not ok(await api.get(f"/api/v1/stations/{sid}"))["transactions"]


# ----------------------------------------------------------------------------------- 2.0.1


@pytest.mark.parametrize(("case", "authorize_remote_start"), [("f_02", "true"), ("f_03", "false")])
async def test_tc_f_02_f_03_remote_start_first_then_request_stop(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, authorize_remote_start: str
) -> None:
    token = {"f_02": "04F00002", "f_03": "04F00003"}[case]  # remote start sends ISO14443: a 4-byte UID
    ok(await api.post("/api/v1/tokens", json={"id_token": token}), 201)
    sid = new_id(case.upper())
    model = {**DEVICE_MODEL, ("AuthCtrlr", "AuthorizeRemoteStart"): authorize_remote_start}
    async with connected(csms.ws_url, sid, "2.0.1", settings=model) as st:
        r = await command(api, sid, "remote-start", {"id_token": token, "evse_id": 1})
        sent = st.last("RequestStartTransaction")
        assert sent["id_token"] == {"id_token": token, "type": "ISO14443"}
        assert r["result"]["accepted"] and r["result"]["remote_start_id"] == sent["remote_start_id"]
        tx = await eventually(lambda: active_transaction(api, sid), "the remotely started transaction")
        assert tx["id_token"] == token
        if authorize_remote_start == "true":  # F_02: the station authorizes first, and is told Accepted
            assert st.authorized.id_token_info["status"] == "Accepted"
        else:  # F_03: a TransactionEvent without a prior Authorize is taken
            assert st.authorized is None
        r = await command(api, sid, "remote-stop", {"transaction_id": tx["transaction_id"]})
        assert r["action"] == "RequestStopTransaction" and r["result"] == {
            "status": "Accepted",
            "reason": None,
            "accepted": True,
        }
        await eventually(lambda: no_transaction(api, sid), "the transaction ended")


async def test_remote_start_rejected_and_stop_of_an_unknown_transaction(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("FREJ")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        r = await command(api, sid, "remote-start", {"id_token": "REFUSE-ME"})
        assert r["result"]["status"] == "Rejected" and r["result"]["accepted"] is False
        # the CSMS does not pre-validate the id: the station refuses (OCA cross-cutting finding 5)
        r = await command(api, sid, "remote-stop", {"transaction_id": "NOT-A-TX"})
        assert st.last("RequestStopTransaction") == {"transaction_id": "NOT-A-TX"}
        assert r["result"]["status"] == "Rejected"
        assert await no_transaction(api, sid)


async def test_tc_f_06_unlock_connector(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("F06")
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        r = await command(api, sid, "unlock", {"evse_id": 1, "connector_id": 1})
        assert st.last("UnlockConnector") == {"evse_id": 1, "connector_id": 1} and r["result"]["status"] == "Unlocked"
        r = await command(api, sid, "unlock", {"evse_id": 9, "connector_id": 1})
        assert r["result"]["status"] == "UnknownConnector" and not r["result"]["accepted"]


async def test_tc_f_20_trigger_heartbeat(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("F20")
    async with connected(csms.ws_url, sid, "2.0.1"):
        before = ok(await api.get(f"/api/v1/stations/{sid}"))["last_heartbeat_at"]
        r = await command(api, sid, "trigger-message", {"message": "Heartbeat"})
        assert r["request"] == {"requestedMessage": "Heartbeat"} and r["result"]["accepted"]

        async def beat() -> bool:
            return ok(await api.get(f"/api/v1/stations/{sid}"))["last_heartbeat_at"] not in (None, before)

        await eventually(beat, "the triggered heartbeat recorded")
        scraped = (await api.get("/metrics")).text
        assert 'ocppd_verbs_total{outcome="accepted",verb="trigger-message"}' in scraped


async def test_tc_f_23_trigger_status_notification_for_an_evse(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("F23")
    async with connected(csms.ws_url, sid, "2.0.1"):
        body = {"message": "StatusNotification", "evse_id": 1, "connector_id": 1}
        r = await command(api, sid, "trigger-message", body)
        assert r["request"] == {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}}

        async def available() -> bool:
            return any(c["status"] == "Available" for c in ok(await api.get(f"/api/v1/stations/{sid}"))["connectors"])

        await eventually(available, "the triggered StatusNotification recorded")


@pytest.mark.parametrize(
    ("case", "message", "kind"),
    [("f_15", "LogStatusNotification", "LogStatusNotification"), ("f_18", "FirmwareStatusNotification", None)],
)
async def test_tc_f_15_f_18_trigger_status_notifications(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, message: str, kind: str | None
) -> None:
    sid = new_id(case.upper())
    async with connected(csms.ws_url, sid, "2.0.1"):
        r = await command(api, sid, "trigger-message", {"message": message})
        assert r["request"] == {"requestedMessage": message} and r["result"]["accepted"]

        async def recorded() -> bool:
            rows = ok(await api.get(f"/api/v1/stations/{sid}/notifications"))
            return any(n["kind"] == (kind or message) for n in rows)

        await eventually(recorded, f"the triggered {message} answered and recorded")


async def test_tc_f_11_trigger_meter_values_for_an_evse(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("F11")
    async with connected(csms.ws_url, sid, "2.0.1"):
        r = await command(api, sid, "trigger-message", {"message": "MeterValues", "evse_id": 1})
        assert r["request"] == {"requestedMessage": "MeterValues", "evse": {"id": 1}} and r["result"]["accepted"]

        async def answered() -> bool:
            log = ok(await api.get(f"/api/v1/stations/{sid}/messages", params={"action": "MeterValues"}))
            return any(m["direction"] == "out" and m["message_type"] == 3 for m in log)

        await eventually(answered, "the triggered MeterValues answered")


async def test_tc_f_27_trigger_message_not_implemented(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("F27")
    async with connected(csms.ws_url, sid, "2.0.1"):
        r = await command(api, sid, "trigger-message", {"message": "SignV2GCertificate"})
        assert r["result"]["status"] == "NotImplemented" and r["result"]["accepted"] is False


# ----------------------------------------------------------------------------------- 1.6


async def test_tc_011_1_remote_start_and_tc_012_remote_stop(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    ok(await api.post("/api/v1/tokens", json={"id_token": "T011-TAG"}), 201)
    sid = new_id("T011")
    async with connected(csms.ws_url, sid, "1.6") as st:
        r = await command(api, sid, "remote-start", {"id_token": "T011-TAG", "evse_id": 1})
        assert r["request"] == {"connectorId": 1, "idTag": "T011-TAG"} and r["result"]["accepted"]
        await until(lambda: isinstance(st.transaction_id, int) and st.transaction_id > 0, "StartTransaction answered")
        tx = await eventually(lambda: active_transaction(api, sid), "the transaction recorded")
        assert tx["transaction_id"] == str(st.transaction_id)
        # TC_012: the transactionId the CSMS gave out at StartTransaction
        r = await command(api, sid, "remote-stop", {"transaction_id": tx["transaction_id"]})
        assert r["request"] == {"transactionId": st.last("RemoteStopTransaction")["transaction_id"]}
        assert r["result"]["accepted"]
        await eventually(lambda: no_transaction(api, sid), "the transaction ended")


async def test_tc_026_remote_start_rejected_and_tc_028_remote_stop_rejected(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("T026")
    async with connected(csms.ws_url, sid, "1.6"):
        r = await command(api, sid, "remote-start", {"id_token": "REFUSE-ME", "evse_id": 1})
        assert r["result"]["status"] == "Rejected"
        assert await no_transaction(api, sid)
        r = await command(api, sid, "remote-stop", {"transaction_id": "424242"})
        assert r["request"] == {"transactionId": 424242} and r["result"]["status"] == "Rejected"


@pytest.mark.parametrize(
    ("case", "connector", "station_says"),
    [("017_1", 1, "Unlocked"), ("017_2", 1, "NotSupported"), ("030", 1, "UnlockFailed"), ("031", 7, "NotSupported")],
)
async def test_tc_017_030_031_unlock_connector(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, connector: int, station_says: str
) -> None:
    sid = new_id(f"T{case}")
    async with connected(csms.ws_url, sid, "1.6") as st:
        if case != "031":
            st.unlock_status = station_says
        r = await command(api, sid, "unlock", {"connector_id": connector})
        assert st.last("UnlockConnector") == {"connector_id": connector}  # sent as asked, never pre-validated
        assert r["result"]["status"] == station_says and r["result"]["accepted"] is (station_says == "Unlocked")


async def test_tc_010_remote_start_cable_plugged_in_first(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    ok(await api.post("/api/v1/tokens", json={"id_token": "T010-TAG"}), 201)
    sid = new_id("T010")
    async with connected(csms.ws_url, sid, "1.6") as st:
        await st.status(1, "Preparing")  # the cable is in
        r = await command(api, sid, "remote-start", {"id_token": "T010-TAG", "evse_id": 1})
        assert r["request"] == {"connectorId": 1, "idTag": "T010-TAG"} and r["result"]["accepted"]
        tx = await eventually(lambda: active_transaction(api, sid), "the transaction recorded")
        assert tx["id_token"] == "T010-TAG"
        await until(lambda: isinstance(st.transaction_id, int) and st.transaction_id > 0, "StartTransaction answered")


async def test_tc_054_trigger_message(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("T054")
    async with connected(csms.ws_url, sid, "1.6") as st:
        for message, connector in (("MeterValues", 1), ("Heartbeat", None), ("StatusNotification", 1)):
            body = {"message": message, **({"evse_id": connector} if connector else {})}
            r = await command(api, sid, "trigger-message", body)
            assert r["result"]["accepted"], message
            wire = {"requestedMessage": message, **({"connectorId": connector} if connector else {})}
            assert r["request"] == wire
        r = await command(api, sid, "trigger-message", {"message": "DiagnosticsStatusNotification"})
        assert r["result"]["status"] == "NotImplemented"  # the station's choice, handled
        assert len(st.all("TriggerMessage")) == 4

        async def status_recorded() -> bool:
            return any(c["status"] == "Available" for c in ok(await api.get(f"/api/v1/stations/{sid}"))["connectors"])

        await eventually(status_recorded, "the triggered messages answered and recorded")


async def test_tc_055_trigger_message_rejected(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("T055")
    async with connected(csms.ws_url, sid, "1.6") as st:
        # NumberOfConnectors + 1: sent as asked, refused by the station
        r = await command(api, sid, "trigger-message", {"message": "MeterValues", "evse_id": 2})
        assert st.last("TriggerMessage") == {"requested_message": "MeterValues", "connector_id": 2}
        assert r["result"]["status"] == "Rejected"


async def test_change_availability_both_versions(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    for version in ("1.6", "2.0.1"):
        sid = new_id("AV")
        async with connected(csms.ws_url, sid, version):
            r = await command(api, sid, "change-availability", {"operative": False})
            assert r["result"]["accepted"], version
