"""OCA OCPP 2.0.1 CSMS cases of blocks C (authorization), E (transactions) and J (meter values),
against ``ocppd serve`` with the ``ocpp`` package playing the test tool's station; each on SQLite and
PostgreSQL. Composite steps follow the OCA reusable states (EVConnectedPreSession, Authorized,
EnergyTransferStarted, StopAuthorized, EVDisconnected)."""

from __future__ import annotations

from typing import Any

import httpx
from ocpp.v201 import call as c201

from tests.conformance.conftest import MASTER_PASS_GROUP
from tests.conformance.stations import Station201, add_tokens, connect, eventually, new_id, transactions, ts
from tests.csms_process import CsmsProcess

VALID = "04A1B2C3"  # an ISO14443 4-byte UID


def valid(csms: CsmsProcess, *tokens: str, **kw: Any) -> None:
    add_tokens(csms, *tokens, **kw)


async def tx_row(api: httpx.AsyncClient, station: str, tx_id: str) -> dict[str, Any]:
    [row] = [t for t in await transactions(api, station) if t["transaction_id"] == tx_id]
    return row


def signed(wh: float, context: str) -> list[dict[str, Any]]:
    return [{"timestamp": ts(), "sampled_value": [{
        "value": wh, "measurand": "Energy.Active.Import.Register", "context": context,
        "signed_meter_value": {"signed_meter_data": "AAECAwQ=", "signing_method": "ECDSA-secp256r1-SHA256",
                               "encoding_method": "OCMF", "public_key": "BAUG"}}]}]  # fmt: skip


async def full_session(cp: Station201, tx_id: str, token: str, token_type: str = "ISO14443") -> list[Any]:
    """EVConnectedPreSession -> Authorized -> EnergyTransferStarted -> StopAuthorized -> EVDisconnected."""
    answers = [
        await cp.event("Started", tx_id, "CablePluggedIn", wh=1000, info={"charging_state": "EVConnected"}),
        await cp.event("Updated", tx_id, "Authorized", token=token, token_type=token_type),
        await cp.event("Updated", tx_id, "ChargingStateChanged", info={"charging_state": "Charging"}),
        await cp.event("Updated", tx_id, "MeterValuePeriodic", wh=3000),
        await cp.event(
            "Updated",
            tx_id,
            "StopAuthorized",
            token=token,
            token_type=token_type,
            info={"charging_state": "EVConnected"},
        ),
        await cp.event(
            "Ended",
            tx_id,
            "EVCommunicationLost",
            wh=4000,
            info={"charging_state": "Idle", "stopped_reason": "EVDisconnected"},
        ),
    ]
    return answers


# ----------------------------------------------------------------------------- C: authorization


async def test_tc_c_02_06_07_local_start_invalid_blocked_expired(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("C")
    valid(csms, "04C0C006", token_type="ISO14443")
    valid(csms, "04C0C007", token_type="ISO14443")
    assert (await api.post("/api/v1/tokens/04C0C006/block")).status_code == 200
    assert (await api.post("/api/v1/tokens/04C0C007/expire")).status_code == 200
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        assert (await cp.authorize("04DEAD00", "ISO14443"))["status"] in ("Invalid", "Unknown")  # C_02
        assert (await cp.authorize("04C0C006", "ISO14443"))["status"] == "Blocked"  # C_06
        assert (await cp.authorize("04C0C007", "ISO14443"))["status"] == "Expired"  # C_07


async def test_tc_c_08_c_20_authorization_through_cache(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("C")
    valid(csms, VALID)
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        ok = new_id("TX")
        await cp.status(1, "Occupied")
        await cp.event("Started", ok, "CablePluggedIn", info={"charging_state": "EVConnected"})
        answer = await cp.event("Updated", ok, "Authorized", token=VALID, token_type="ISO14443")
        assert answer.id_token_info["status"] == "Accepted"  # C_08
        bad = new_id("TX")
        await cp.event("Started", bad, "CablePluggedIn", evse=2, info={"charging_state": "EVConnected"})
        answer = await cp.event("Updated", bad, "Authorized", evse=2, token="04BAD020", token_type="ISO14443")
        assert answer.id_token_info["status"] in ("Invalid", "Unknown")  # C_20


async def test_tc_c_39_authorization_by_group_id(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("C")
    valid(csms, "04C39001", "04C39002", group="GROUP-C39")
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        await cp.event("Started", tx_id, "CablePluggedIn", info={"charging_state": "EVConnected"})
        infos = [await cp.authorize("04C39002", "ISO14443")]
        answer = await cp.event("Updated", tx_id, "Authorized", token="04C39001", token_type="ISO14443")
        infos.append(answer.id_token_info)
        await cp.event("Updated", tx_id, "ChargingStateChanged", wh=100, info={"charging_state": "Charging"})
        infos.append(await cp.authorize("04C39002", "ISO14443"))
        answer = await cp.event("Updated", tx_id, "StopAuthorized", token="04C39002", token_type="ISO14443")
        infos.append(answer.id_token_info)
        await cp.event("Ended", tx_id, "EVCommunicationLost", info={"stopped_reason": "EVDisconnected"})
    for info in infos:
        assert info["status"] == "Accepted" and info["group_id_token"]["id_token"] == "GROUP-C39", info
    row = await tx_row(api, station, tx_id)
    assert row["id_token"] == "04C39001" and not row["active"]


async def _master_pass(csms: CsmsProcess, api: httpx.AsyncClient, own_tokens: bool) -> None:
    station = new_id("C")
    valid(csms, "04C47001", "04C47002")
    valid(csms, "04AA5500", group=MASTER_PASS_GROUP)
    one, two = new_id("TX"), new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        await cp.event("Started", one, "Authorized", evse=1, token="04C47001", token_type="ISO14443")
        await cp.event("Started", two, "Authorized", evse=2, token="04C47002", token_type="ISO14443")
        auth = await cp.authorize("04AA5500", "ISO14443")
        assert auth["status"] == "Accepted" and auth["group_id_token"]["id_token"] == MASTER_PASS_GROUP
        for evse, tx_id, own in ((1, one, "04C47001"), (2, two, "04C47002")):
            token = own if own_tokens else "04AA5500"
            answer = await cp.event("Ended", tx_id, "StopAuthorized", evse=evse, token=token, token_type="ISO14443",
                                    info={"stopped_reason": "MasterPass"})  # fmt: skip
            assert answer.id_token_info["status"] == "Accepted"
            if not own_tokens:
                assert answer.id_token_info["group_id_token"]["id_token"] == MASTER_PASS_GROUP
        # a master pass never starts a transaction
        refused = await cp.event("Started", new_id("TX"), "Authorized", evse=1, token="04AA5500",
                                 token_type="ISO14443")  # fmt: skip
        assert refused.id_token_info["status"] == "Invalid"
    assert not (await tx_row(api, station, one))["active"] and not (await tx_row(api, station, two))["active"]


async def test_tc_c_47_c_48_master_pass_with_ui(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    await _master_pass(csms, api, own_tokens=False)


async def test_tc_c_49_master_pass_without_ui(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    await _master_pass(csms, api, own_tokens=True)


# ----------------------------------------------------------------------------- E: transactions


async def test_tc_e_01_e_02_start_options_power_path_closed_and_energy_transfer(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("E")
    valid(csms, VALID)
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        assert (await cp.authorize(VALID, "ISO14443"))["status"] == "Accepted"
        await cp.status(1, "Occupied")
        e01 = new_id("TX")
        a = await cp.event("Started", e01, "ChargingStateChanged", token=VALID, token_type="ISO14443",
                           info={"charging_state": "SuspendedEVSE"})  # fmt: skip
        assert a.id_token_info["status"] == "Accepted"
        await cp.event("Updated", e01, "ChargingStateChanged", info={"charging_state": "Charging"})
        await cp.event("Ended", e01, "StopAuthorized", info={"stopped_reason": "Local"})
        e02 = new_id("TX")
        b = await cp.event("Started", e02, "ChargingStateChanged", token=VALID, token_type="ISO14443",
                           info={"charging_state": "Charging"})  # fmt: skip
        assert b.id_token_info["status"] == "Accepted"
    assert (await tx_row(api, station, e02))["charging_state"] == "Charging"


async def test_tc_e_03_e_14_cable_first_full_session_ev_disconnected(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    valid(csms, VALID)
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        answers = await full_session(cp, tx_id, VALID)
    assert answers[1].id_token_info["status"] == "Accepted" and answers[4].id_token_info["status"] == "Accepted"
    row = await tx_row(api, station, tx_id)
    assert row["energy_wh"] == 3000 and row["stop_reason"] == "EVDisconnected" and not row["flagged"]


async def test_tc_e_04_e_10_authorization_first(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    valid(csms, VALID)
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        assert (await cp.authorize(VALID, "ISO14443"))["status"] == "Accepted"
        started = await cp.event("Started", tx_id, "Authorized", token=VALID, token_type="ISO14443", wh=0)
        assert started.id_token_info["status"] == "Accepted"
        await cp.event("Updated", tx_id, "CablePluggedIn", info={"charging_state": "EVConnected"})
        await cp.event("Updated", tx_id, "ChargingStateChanged", wh=10, info={"charging_state": "Charging"})
    assert (await tx_row(api, station, tx_id))["id_token"] == VALID


async def test_tc_e_07_e_08_e_15_e_22_stop_options(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    valid(csms, VALID)
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        for trigger, reason, state in (
            ("StopAuthorized", "Local", "Charging"),  # E_07 / E_15
            ("ChargingStateChanged", "Local", "EVConnected"),  # E_08
            ("ChargingStateChanged", "StoppedByEV", "SuspendedEV"),  # E_22
        ):
            tx_id = new_id("TX")
            await cp.event("Started", tx_id, "Authorized", token=VALID, token_type="ISO14443", wh=0,
                           info={"charging_state": "Charging"})  # fmt: skip
            await cp.event("Ended", tx_id, trigger, wh=500, info={"charging_state": state, "stopped_reason": reason})
            row = await tx_row(api, station, tx_id)
            assert not row["active"] and row["stop_reason"] == reason and row["energy_wh"] == 500


async def test_tc_e_09_e_12_start_without_token(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        e09, e12 = new_id("TX"), new_id("TX")
        assert (
            await cp.event("Started", e09, "CablePluggedIn", info={"charging_state": "EVConnected"})
        ).id_token_info is None
        assert (await cp.event("Started", e12, "EVDetected", evse=2)).id_token_info is None
    assert (await tx_row(api, station, e09))["active"] and (await tx_row(api, station, e12))["active"]


async def test_tc_e_11_j_04_j_11_signed_meter_values(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    valid(csms, VALID)
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        await cp.status(1, "Occupied")
        await cp.event("Started", tx_id, "SignedDataReceived", meter_value=signed(100, "Transaction.Begin"),
                       token=VALID, token_type="ISO14443", info={"charging_state": "SuspendedEVSE"})  # fmt: skip
        await cp.event("Updated", tx_id, "ChargingStateChanged", info={"charging_state": "Charging"})
        await cp.event("Ended", tx_id, "StopAuthorized", meter_value=signed(900, "Transaction.End"),
                       info={"stopped_reason": "Local"})  # fmt: skip
    assert (await tx_row(api, station, tx_id))["energy_wh"] == 800


async def test_tc_e_16_deauthorized_invalid_id_token(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        answer = await cp.event("Started", tx_id, "Authorized", token="04E16E16", token_type="ISO14443", wh=0)
        assert answer.id_token_info["status"] in ("Invalid", "Unknown")
        await cp.event("Ended", tx_id, "Deauthorized", info={"stopped_reason": "DeAuthorized"})
    assert (await tx_row(api, station, tx_id))["stop_reason"] == "DeAuthorized"


async def test_tc_e_17_e_19_e_20_ev_side_stops(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    valid(csms, VALID)
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        e17 = new_id("TX")
        await cp.event("Started", e17, "Authorized", token=VALID, token_type="ISO14443",
                       info={"charging_state": "SuspendedEV"})  # fmt: skip
        await cp.event("Ended", e17, "EVCommunicationLost",
                       info={"charging_state": "Idle", "stopped_reason": "EVDisconnected"})  # fmt: skip
        e19 = new_id("TX")
        await cp.event("Started", e19, "Authorized", evse=2, token=VALID, token_type="ISO14443")
        await cp.status(2, "Available")
        await cp.event("Updated", e19, "EVCommunicationLost", evse=2, info={"charging_state": "Idle"})
        await cp.event("Ended", e19, "EVDeparted", evse=2, info={"stopped_reason": "EVDisconnected"})
    assert not (await tx_row(api, station, e17))["active"] and not (await tx_row(api, station, e19))["active"]


async def test_tc_e_21_stop_authorized_remote(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    valid(csms, VALID)
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        await cp.event("Started", tx_id, "Authorized", token=VALID, token_type="ISO14443",
                       info={"charging_state": "Charging"})  # fmt: skip
        response = await api.post(f"/api/v1/stations/{station}/commands/remote-stop", json={"transaction_id": tx_id})
        assert response.status_code == 200, response.text
        assert cp.requests("RequestStopTransaction") == [{"transaction_id": tx_id}]
        await cp.event("Ended", tx_id, "RemoteStop", info={"stopped_reason": "Remote"})
    assert (await tx_row(api, station, tx_id))["stop_reason"] == "Remote"


async def test_tc_e_26_unplug_and_replug_keeps_the_transaction(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    valid(csms, VALID)
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        await cp.event("Started", tx_id, "Authorized", token=VALID, token_type="ISO14443",
                       info={"charging_state": "SuspendedEV"})  # fmt: skip
        await cp.event("Updated", tx_id, "EVCommunicationLost", info={"charging_state": "Idle"})
        await cp.status(1, "Available")
        await cp.event("Updated", tx_id, "CablePluggedIn", info={"charging_state": "EVConnected"})
        await cp.event("Updated", tx_id, "ChargingStateChanged", wh=50, info={"charging_state": "Charging"})
        row = await tx_row(api, station, tx_id)
        assert row["active"] and row["stale"] is None


async def test_tc_e_29_e_30_transaction_status_asked_on_reconnect(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    valid(csms, VALID)
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        await cp.event("Started", tx_id, "Authorized", token=VALID, token_type="ISO14443", wh=0,
                       info={"charging_state": "Charging"})  # fmt: skip
        seq = cp.seq
    async with connect(csms, station, Station201) as cp:  # E_29: ongoing, messages queued
        cp.seq = seq
        cp.answers["GetTransactionStatus"] = {"ongoing_indicator": True, "messages_in_queue": True}

        async def asked() -> list[dict[str, Any]]:
            return cp.requests("GetTransactionStatus")

        assert (await eventually(asked, "GetTransactionStatus after the reconnect")) == [{"transaction_id": tx_id}]
        await cp.event("Updated", tx_id, "MeterValuePeriodic", wh=200, offline=True)
    async with connect(csms, station, Station201) as cp:  # E_30: ongoing, nothing queued
        cp.answers["GetTransactionStatus"] = {"ongoing_indicator": True, "messages_in_queue": False}
        await eventually(asked, "GetTransactionStatus after the second reconnect")
    row = await tx_row(api, station, tx_id)
    assert row["active"] and row["offline"]
    statuses = [e for e in (await api.get(f"/api/v1/stations/{station}/notifications")).json()
                if e["kind"] == "TransactionStatus"]  # fmt: skip
    assert statuses and statuses[0]["payload"]["transaction_id"] == tx_id


async def test_tc_e_31_ended_before_the_missing_updates(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    valid(csms, VALID)
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        await cp.event("Started", tx_id, "Authorized", token=VALID, token_type="ISO14443", wh=0, seq_no=0, at=-60)
    async with connect(csms, station, Station201) as cp:
        cp.answers["GetTransactionStatus"] = {"ongoing_indicator": False, "messages_in_queue": True}
        await cp.status(1, "Available")
        await cp.event("Ended", tx_id, "EVCommunicationLost", wh=900, seq_no=3, offline=True,
                       info={"stopped_reason": "EVDisconnected"})  # fmt: skip

        async def asked() -> list[dict[str, Any]]:
            return cp.requests("GetTransactionStatus")

        await eventually(asked, "GetTransactionStatus")
        # queued while offline: older than the Ended that overtook them
        await cp.event("Updated", tx_id, "MeterValuePeriodic", wh=300, seq_no=1, offline=True, at=-40)
        await cp.event("Updated", tx_id, "MeterValuePeriodic", wh=600, seq_no=2, offline=True, at=-20)
    row = await tx_row(api, station, tx_id)
    assert not row["active"] and row["energy_wh"] == 900 and row["offline"]
    detail = (await api.get(f"/api/v1/transactions/{row['id']}")).json()
    assert [e["seq_no"] for e in detail["events"]] == [0, 1, 2, 3]
    kinds = {e["kind"]: e for e in (await api.get(f"/api/v1/stations/{station}/notifications")).json()}
    assert kinds["TransactionStatus"]["payload"]["missing_seq_nos"] in ([1, 2], [])
    assert "SeqNoOutOfOrder" not in kinds  # offline events may come in any order


async def test_tc_e_38_e_39_not_ready_and_timeout(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    valid(csms, VALID)
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        e38 = new_id("TX")
        await cp.event("Started", e38, "Authorized", token=VALID, token_type="ISO14443")
        await cp.status(1, "Occupied")
        await cp.event("Updated", e38, "CablePluggedIn", info={"charging_state": "EVConnected"})
        await cp.event("Updated", e38, "ChargingStateChanged", info={"charging_state": "SuspendedEV"})
        e39 = new_id("TX")
        await cp.event("Started", e39, "Authorized", evse=2, token=VALID, token_type="ISO14443")
        await cp.event("Ended", e39, "EVConnectTimeout", evse=2, info={"stopped_reason": "Timeout"})
    assert (await tx_row(api, station, e38))["charging_state"] == "SuspendedEV"
    assert (await tx_row(api, station, e39))["stop_reason"] == "Timeout"


async def test_tc_e_53_seqno_zero_for_each_new_transaction(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("E")
    valid(csms, VALID)
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        for _ in range(2):
            tx_id = new_id("TX")
            await full_session(cp, tx_id, VALID)
            assert (await tx_row(api, station, tx_id))["energy_wh"] == 3000
    kinds = [e["kind"] for e in (await api.get(f"/api/v1/stations/{station}/notifications")).json()]
    assert "SeqNoConflict" not in kinds and "SeqNoOutOfOrder" not in kinds


# ----------------------------------------------------------------------------- J: meter values


async def test_tc_j_01_j_02_clock_aligned(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("J")
    valid(csms, VALID)
    tx_id = new_id("TX")
    clock = [{"timestamp": ts(), "sampled_value": [{"value": 5, "context": "Sample.Clock",
                                                     "measurand": "Energy.Active.Import.Register"}]}]  # fmt: skip
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        for _ in range(3):  # J_01: no transaction
            for evse in (0, 1, 2):
                await cp.call(c201.MeterValues(evse_id=evse, meter_value=clock))
        await cp.event("Started", tx_id, "Authorized", token=VALID, token_type="ISO14443", wh=0)
        await cp.call(c201.MeterValues(evse_id=2, meter_value=clock))  # J_02: the idle EVSE
        await cp.event("Updated", tx_id, "MeterValueClock", meter_value=[{"timestamp": ts(), "sampled_value": [
            {"value": 250, "context": "Sample.Clock", "measurand": "Energy.Active.Import.Register"}]}])  # fmt: skip
    assert (await tx_row(api, station, tx_id))["energy_wh"] == 250


async def test_tc_j_03_j_07_j_08_j_09_j_10_sampled_and_clock_in_transaction_events(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("J")
    valid(csms, VALID)
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        known = new_id("TX")  # J_07: EVSE known at Started, Transaction.Begin value
        await cp.event("Started", known, "CablePluggedIn", wh=100)
        await cp.event("Updated", known, "Authorized", token=VALID, token_type="ISO14443")
        for wh in (200, 300, 400):  # J_09: three periodic updates
            await cp.event("Updated", known, "MeterValuePeriodic", wh=wh)
        await cp.event("Ended", known, "StopAuthorized", wh=450, info={"stopped_reason": "Local"})  # J_10 / J_03
        unknown = new_id("TX")  # J_08: authorized first, EVSE not known yet
        await cp.event("Started", unknown, "Authorized", evse=None, token=VALID, token_type="ISO14443")
        await cp.event("Updated", unknown, "CablePluggedIn", evse=2, wh=1000)
        await cp.event("Updated", unknown, "MeterValuePeriodic", wh=1300)
    assert (await tx_row(api, station, known))["energy_wh"] == 350
    assert (await tx_row(api, station, unknown))["energy_wh"] == 300


async def test_tc_e_33_e_34_transaction_status_without_transaction_id(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("E")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        for queued in (True, False):  # E_33: messages in queue; E_34: none
            cp.answers["GetTransactionStatus"] = {"messages_in_queue": queued}
            response = await api.post(f"/api/v1/stations/{station}/commands/transaction-status", json={})
            assert response.status_code == 200, response.text
            assert response.json()["response"] == {"messagesInQueue": queued}
        assert cp.requests("GetTransactionStatus") == [{}, {}]


async def test_tc_c_40_group_id_with_the_local_list(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("C")
    valid(csms, "04C40001", "04C40002", group="GROUP-C40")
    tx_id = new_id("TX")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        listed = await api.put(f"/api/v1/stations/{station}/local-list", json={"groups": ["GROUP-C40"]})
        assert listed.status_code == 200 and listed.json()["entries"] == 2
        start = await cp.event("Started", tx_id, "Authorized", token="04C40001", token_type="ISO14443", wh=0)
        await cp.event("Updated", tx_id, "ChargingStateChanged", wh=10, info={"charging_state": "Charging"})
        stop = await cp.event("Updated", tx_id, "StopAuthorized", token="04C40002", token_type="ISO14443")
    for answer in (start, stop):
        assert answer.id_token_info["status"] == "Accepted"
        assert answer.id_token_info["group_id_token"]["id_token"] == "GROUP-C40"


async def test_tc_c_37_c_38_clear_authorization_cache(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("C")
    async with connect(csms, station, Station201) as cp:
        await cp.boot()
        for status in ("Accepted", "Rejected"):
            cp.answers["ClearCache"] = {"status": status}
            response = await api.post(f"/api/v1/stations/{station}/commands/clear-cache", json={})
            assert response.status_code == 200 and response.json()["response"] == {"status": status}
        assert cp.requests("ClearCache") == [{}, {}]
