"""End to end: ocppd's own station simulator against ocppd's own CSMS running as a real process.

Nothing is mocked: the stations are :class:`ocppd.station.Station` objects connected over WebSocket to
``ocppd serve``; CSMS-initiated messages go through the REST API's generic call endpoint; what the
CSMS recorded is read back through the admin CLI and the API (message log, transactions).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from tests.e2e.csms import CsmsProcess, free_port, serve, stop

pytestmark = pytest.mark.slow  # whole sessions, offline queues and restarts per version (minutes)

TAG = "E2E-TAG-1"
V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
ALL_VERSIONS = [pytest.param(V16, id="1.6"), pytest.param(V201, id="2.0.1"), pytest.param(V21, id="2.1")]
# OCPP 2.0 (2018): the simulator and ocppd both translate it to and from 2.0.1 (protocol/v20.py); the
# tests that read 2.0.1 field names out of the message log stay on ALL_VERSIONS.
WITH_20 = [*ALL_VERSIONS, pytest.param(OcppVersion.V20, id="2.0")]
DEADLINE = 20.0  # seconds: bounds every wait, never a performance threshold
_ids = itertools.count(1)


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    """ONE ``ocppd serve`` for the module (heartbeat interval 2 s); stations get distinct identities."""
    base = tmp_path_factory.mktemp("e2e-csms")
    with serve(base / "ocppd-data", free_port(), free_port(), base / "ocppd-serve.log") as server:
        server.cli("tokens", "add", TAG)
        yield server


def config(server: CsmsProcess, version: OcppVersion, name: str, **settings: Any) -> StationConfig:
    identity = f"E2E-{name}-{version.value.removeprefix('ocpp')}-{next(_ids)}"
    return StationConfig(
        identity=identity,
        url=server.ws_url,
        version=version,
        settings={"meter_sample_interval": 1, **settings},
        call_timeout=10,
        reconnect_min=0.2,
        reconnect_max=1.0,
        reboot_delay=0.2,
        step_delay=0.2,
        id_tags=[TAG],
    )


@asynccontextmanager
async def running(server: CsmsProcess, version: OcppVersion, name: str, **settings: Any) -> AsyncIterator[Station]:
    async with Station(config(server, version, name, **settings)) as station:
        await station.wait_booted(timeout=DEADLINE)
        yield station
        # deliver what is queued before disconnecting: a lost Ended event would leave the token in a
        # transaction at the CSMS (and the next test's start with it answered ConcurrentTx)
        await wait_until(lambda: station.queued == 0, f"{station.identity}: the transaction queue to drain")


async def wait_until(predicate: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for: {what}")
        await asyncio.sleep(0.1)


async def cli(server: CsmsProcess, *args: str) -> str:
    """An admin command, off the event loop so the stations keep running meanwhile."""
    result = await asyncio.to_thread(server.cli, *args)
    return result.stdout


def iso(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat(timespec="seconds").replace("+00:00", "Z")


class Api:
    def __init__(self, server: CsmsProcess) -> None:
        self.client = httpx.AsyncClient(
            base_url=f"{server.http_url}/api/v1",
            headers={"Authorization": f"Bearer {server.admin_token}"},
            timeout=30,
        )

    async def call(self, station: Station, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(f"/stations/{station.identity}/call/{action}", json=payload)
        assert response.status_code == 200, f"{action}: {response.status_code} {response.text}"
        answer: dict[str, Any] = response.json()
        return answer

    async def frames(self, station: Station | str, action: str | None = None) -> list[dict[str, Any]]:
        """The CSMS's log of calls the station sent (oldest first), each ``{action, payload, id}``."""
        sid = station if isinstance(station, str) else station.identity
        params: dict[str, Any] = {"limit": 5000}
        if action:
            params["action"] = action
        response = await self.client.get(f"/stations/{sid}/messages", params=params)
        assert response.status_code == 200, response.text
        out = []
        for row in reversed(response.json()):
            if row["direction"] == "in" and row["message_type"] == 2:
                frame = json.loads(row["frame"])
                out.append({"action": frame[2], "payload": frame[3], "id": frame[1], "row": row["id"]})
        return out

    async def transactions(self, station: Station, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/transactions", params={"station": station.identity, **params})
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        return rows

    async def transaction(self, station: Station, tx_id: str) -> dict[str, Any] | None:
        return next((t for t in await self.transactions(station) if t["transaction_id"] == tx_id), None)

    async def aclose(self) -> None:
        await self.client.aclose()


@pytest.fixture
async def api(csms: CsmsProcess) -> AsyncIterator[Api]:
    client = Api(csms)
    yield client
    await client.aclose()


def csms_tx_id(station: Station, number: int = 1) -> str | None:
    """The id the CSMS knows the running transaction by (1.6: once StartTransaction was answered)."""
    tx = station.connector(number).tx
    return None if tx is None else tx.id


async def count(api: Api, station: Station, action: str) -> int:
    return len(await api.frames(station, action))


def status_of(frame: dict[str, Any]) -> str:
    p = frame["payload"]
    return str(p.get("status") or p.get("connectorStatus"))


# ---------------------------------------------------------------------------------------- 1. sessions
@pytest.mark.parametrize("version", WITH_20)
async def test_full_session(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "session") as st:

        async def accepted() -> bool:
            listed = json.loads(await cli(csms, "stations", "list", "--json"))
            return any(s["station_id"] == st.identity and s["registration_status"] == "accepted" for s in listed)

        await wait_until(accepted, "station listed as accepted by `stations list --json`")
        [listed] = [
            s for s in json.loads(await cli(csms, "stations", "list", "--json")) if s["station_id"] == st.identity
        ]
        assert listed["ocpp_version"] == version.value.removeprefix("ocpp")
        assert listed["vendor"] == "ocppd" and listed["model"] == "SimCharger"

        st.plug_in(1)
        tx = await st.start_transaction(1, TAG)
        assert tx is not None, "the CSMS did not authorise a token added through the CLI"
        assert st.connector(1).status == "Charging"
        sampled = "MeterValues" if version is V16 else "TransactionEvent"

        async def periodic_samples() -> bool:
            frames = await api.frames(st, sampled)
            if version is V16:
                return len(frames) >= 2
            return sum(f["payload"]["triggerReason"] == "MeterValuePeriodic" for f in frames) >= 2

        await wait_until(periodic_samples, "two periodic meter value messages at the CSMS")
        st.unplug(1)
        station_energy = tx.energy_wh
        meter_stop = st.connector(1).energy_wh
        assert station_energy > 0 and st.connector(1).status == "Available"

        async def ended() -> list[dict[str, Any]]:
            rows = json.loads(await cli(csms, "transactions", "list", "--station", st.identity, "--json"))
            return [r for r in rows if r["stopped_at"]]

        [row] = await wait_until(ended, "the transaction stopped in `transactions list --json`")
        assert row["id_token"] == TAG and row["connector_id"] == 1
        assert row["stop_reason"] == "EVDisconnected"
        assert row["energy_wh"] > 0
        if version is V16:  # integer Wh registers: meterStop - meterStart
            assert row["meter_start_wh"] == int(tx.meter_start_wh)
            assert row["meter_stop_wh"] == int(meter_stop)
            assert row["energy_wh"] == int(meter_stop) - int(tx.meter_start_wh)
            assert abs(row["energy_wh"] - station_energy) <= 1.0
        else:
            assert row["transaction_id"] == tx.ref
            assert row["energy_wh"] == pytest.approx(station_energy, abs=0.1)
            assert row["meter_stop_wh"] == pytest.approx(meter_stop, abs=0.1)

        detail = (await api.client.get(f"/transactions/{row['id']}")).json()
        energies = [s for s in detail["meter_samples"] if s.get("measurand", "").startswith("Energy.Active.Import")]
        assert len(energies) >= 3, detail["meter_samples"]

        log = await cli(csms, "log", st.identity, "--limit", "1000")
        expected = ["BootNotification", "StatusNotification", "Authorize", sampled]
        expected += (
            ["StartTransaction", "StopTransaction"]
            if version is V16
            else ['"eventType":"Started"', '"eventType":"Ended"']
        )
        for needle in expected:
            assert needle in log, f"{needle} missing from `ocppd log`"
        assert f'"idTag":"{TAG}"' in log or f'"idToken":"{TAG}"' in log
        assert "→" in log and "←" in log  # both directions are logged


# ---------------------------------------------------------------------------------------- 2. CSMS-initiated
@pytest.mark.parametrize("version", ALL_VERSIONS)
async def test_remote_start_and_stop(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "remote") as st:
        if version is V16:
            answer = await api.call(st, "RemoteStartTransaction", {"connectorId": 1, "idTag": TAG})
        else:
            answer = await api.call(
                st,
                "RequestStartTransaction",
                {"idToken": {"idToken": TAG, "type": "ISO14443"}, "remoteStartId": 77, "evseId": 1},
            )
        assert answer["status"] == "Accepted"
        tx_id = await wait_until(lambda: csms_tx_id(st), "the remote start to begin a transaction")
        assert st.connector(1).status == "Charging"
        active = await wait_until(
            lambda: api.transactions(st, active="true"), "the CSMS to record the remotely started transaction"
        )
        assert [t["transaction_id"] for t in active] == [tx_id]
        if version is not V16:
            [started] = [f for f in await api.frames(st, "TransactionEvent") if f["payload"]["eventType"] == "Started"]
            assert started["payload"]["triggerReason"] == "RemoteStart"
            assert started["payload"]["transactionInfo"]["remoteStartId"] == 77

        if version is V16:
            answer = await api.call(st, "RemoteStopTransaction", {"transactionId": int(tx_id)})
        else:
            answer = await api.call(st, "RequestStopTransaction", {"transactionId": tx_id})
        assert answer["status"] == "Accepted"
        await wait_until(lambda: st.connector(1).tx is None, "the remote stop to end the transaction")

        async def stopped() -> dict[str, Any] | None:
            row = await api.transaction(st, tx_id)
            return row if row and row["stopped_at"] else None

        row = await wait_until(stopped, "the CSMS to record the stop")
        assert row["stop_reason"] == "Remote" and row["energy_wh"] >= 0
        # a stop for a transaction that is not running is refused
        if version is V16:
            answer = await api.call(st, "RemoteStopTransaction", {"transactionId": int(tx_id)})
        else:
            answer = await api.call(st, "RequestStopTransaction", {"transactionId": tx_id})
        assert answer["status"] == "Rejected"


@pytest.mark.parametrize("version", WITH_20)
async def test_reset_reconnects_and_boots_again(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "reset") as st:
        boots = await count(api, st, "BootNotification")
        reconnects = st.counters["reconnects"]
        answer = await api.call(st, "Reset", {"type": "Soft" if version is V16 else "Immediate"})
        assert answer["status"] == "Accepted"
        await wait_until(lambda: st.counters["reconnects"] > reconnects, "the station to drop the connection")
        await wait_until(lambda: st.booted.is_set(), "the station to boot again")
        frames = await wait_until(
            lambda: _at_least(api.frames(st, "BootNotification"), boots + 1), "a second BootNotification"
        )
        if version is not V16:
            assert frames[-1]["payload"]["reason"] == "RemoteReset"
        # the station works normally after its reboot
        answer = await api.call(st, "DataTransfer", {"vendorId": "ocppd", "messageId": "Echo", "data": "x"})
        assert answer["status"] == "Accepted"


async def _at_least(frames: Awaitable[list[dict[str, Any]]], n: int) -> list[dict[str, Any]] | None:
    got = await frames
    return got if len(got) >= n else None


@pytest.mark.parametrize("version", WITH_20)
async def test_configuration_and_variables(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "config") as st:
        if version is V16:
            answer = await api.call(st, "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "7"})
            assert answer == {"status": "Accepted"}
            assert st.settings["meter_sample_interval"] == 7
            got = await api.call(st, "GetConfiguration", {"key": ["MeterValueSampleInterval", "NoSuchKey"]})
            assert got["configurationKey"] == [{"key": "MeterValueSampleInterval", "readonly": False, "value": "7"}]
            assert got["unknownKey"] == ["NoSuchKey"]
            readonly = await api.call(st, "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "5"})
            assert readonly == {"status": "Rejected"}
            assert st.settings["number_of_connectors"] == 1
            unknown = await api.call(st, "ChangeConfiguration", {"key": "NoSuchKey", "value": "1"})
            assert unknown == {"status": "NotSupported"}
            full = await api.call(st, "GetConfiguration", {})
            keys = {k["key"]: k for k in full["configurationKey"]}
            assert keys["NumberOfConnectors"]["readonly"] is True and keys["MeterValueSampleInterval"]["value"] == "7"
            return
        interval = {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}
        entries = {"component": {"name": "LocalAuthListCtrlr"}, "variable": {"name": "Entries"}}
        unknown_c = {"component": {"name": "NoSuchCtrlr"}, "variable": {"name": "X"}}
        answer = await api.call(
            st,
            "SetVariables",
            {
                "setVariableData": [
                    {**interval, "attributeValue": "7"},
                    {**entries, "attributeValue": "5"},
                    {**unknown_c, "attributeValue": "1"},
                ]
            },
        )
        statuses = [r["attributeStatus"] for r in answer["setVariableResult"]]
        assert statuses == ["Accepted", "Rejected", "UnknownComponent"]
        assert st.settings["meter_sample_interval"] == 7
        assert st.settings["local_list_entries"] == 0
        got = await api.call(st, "GetVariables", {"getVariableData": [interval, entries, unknown_c]})
        results = got["getVariableResult"]
        assert [r["attributeStatus"] for r in results] == ["Accepted", "Accepted", "UnknownComponent"]
        assert results[0]["attributeValue"] == "7" and results[1]["attributeValue"] == "0"
        bad = await api.call(st, "SetVariables", {"setVariableData": [{**interval, "attributeValue": "soon"}]})
        assert bad["setVariableResult"][0]["attributeStatus"] == "Rejected"
        assert st.settings["meter_sample_interval"] == 7


@pytest.mark.parametrize("version", WITH_20)
async def test_trigger_message(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "trigger") as st:
        # Make heartbeats rare first, so the one that follows the trigger can only be the triggered one.
        if version is V16:
            await api.call(st, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "3600"})
        else:
            hb = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            await api.call(st, "SetVariables", {"setVariableData": [{**hb, "attributeValue": "3600"}]})
        before = await count(api, st, "Heartbeat")
        await wait_until(lambda: _at_least(api.frames(st, "Heartbeat"), before + 1), "the last 2 s heartbeat")
        await asyncio.sleep(0.3)  # let the heartbeat loop start its long sleep

        evse = {"connectorId": 1} if version is V16 else {"evse": {"id": 1, "connectorId": 1}}
        for message in ("Heartbeat", "StatusNotification", "MeterValues"):
            n = await count(api, st, message)
            answer = await api.call(st, "TriggerMessage", {"requestedMessage": message, **evse})
            assert answer == {"status": "Accepted"}, message
            frames = await wait_until(
                lambda m=message, n=n: _at_least(api.frames(st, m), n + 1), f"triggered {message}"
            )
            assert len(frames) == n + 1, f"{message}: one trigger, one message"
            if message == "MeterValues":
                [sample] = frames[-1]["payload"]["meterValue"]
                assert {v["context"] for v in sample["sampledValue"]} == {"Trigger"}
            if message == "StatusNotification":
                assert status_of(frames[-1]) == "Available"
        if version is not V16:  # F06.FR.17: an accepted station is not asked to boot again
            answer = await api.call(st, "TriggerMessage", {"requestedMessage": "BootNotification"})
            assert answer["status"] == "Rejected"


@pytest.mark.parametrize("version", WITH_20)
async def test_change_availability(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "avail") as st:

        def request(operative: bool) -> dict[str, Any]:
            if version is V16:
                return {"connectorId": 1, "type": "Operative" if operative else "Inoperative"}
            return {"operationalStatus": "Operative" if operative else "Inoperative", "evse": {"id": 1}}

        async def csms_sees(status: str) -> bool:
            frames = [f for f in await api.frames(st, "StatusNotification")
                      if f["payload"].get("connectorId") == 1]  # fmt: skip
            return bool(frames) and status_of(frames[-1]) == status

        assert (await api.call(st, "ChangeAvailability", request(False)))["status"] == "Accepted"
        await wait_until(lambda: st.connector(1).status == "Unavailable", "connector Unavailable on the station")
        await wait_until(lambda: csms_sees("Unavailable"), "StatusNotification Unavailable at the CSMS")
        await wait_until(lambda: csms_connector_status(api, st, "Unavailable"), "connector Unavailable in the API")
        st.plug_in(1)  # an inoperative connector starts nothing
        assert await st.start_transaction(1, TAG) is None
        st.unplug(1)
        assert (await api.call(st, "ChangeAvailability", request(True)))["status"] == "Accepted"
        await wait_until(lambda: st.connector(1).status == "Available", "connector Available again")
        await wait_until(lambda: csms_sees("Available"), "StatusNotification Available at the CSMS")
        await wait_until(lambda: csms_connector_status(api, st, "Available"), "connector Available in the API")


async def csms_connector_status(api: Api, st: Station, status: str) -> bool:
    """The CSMS's live view (``GET /stations/{id}``) of EVSE 1 / connector 1."""
    detail = (await api.client.get(f"/stations/{st.identity}")).json()
    found = [c["status"] for e in detail["evses"] for c in e["connectors"]
             if e["evse_id"] == 1 and c["connector_id"] == 1]  # fmt: skip
    return found == [status]


@pytest.mark.parametrize("version", ALL_VERSIONS)
async def test_unlock_connector(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "unlock") as st:
        request = {"connectorId": 1} if version is V16 else {"evseId": 1, "connectorId": 1}
        assert await api.call(st, "UnlockConnector", request) == {"status": "Unlocked"}
        st.plug_in(1)
        tx = await st.start_transaction(1, TAG)
        assert tx is not None
        tx_id = await wait_until(lambda: csms_tx_id(st), "the CSMS transaction id")
        await wait_until(lambda: api.transactions(st, active="true"), "the CSMS to record the transaction")
        answer = await api.call(st, "UnlockConnector", request)
        if version is V16:  # §5.18: the transaction is stopped, then the cable unlocked
            assert answer == {"status": "Unlocked"}
            assert st.connector(1).tx is None

            async def stopped() -> dict[str, Any] | None:
                row = await api.transaction(st, tx_id)
                return row if row and row["stopped_at"] else None

            row = await wait_until(stopped, "the unlock's StopTransaction at the CSMS")
            assert row["stop_reason"] == "UnlockCommand"
        else:  # F05.FR.02: not while an authorised transaction runs
            assert answer == {"status": "OngoingAuthorizedTransaction"}
            assert st.connector(1).tx is tx
            st.unplug(1)


def limit_now(periods: list[dict[str, Any]]) -> float:
    """The limit in force at the schedule's start: the last period starting at 0 (see the xfail below)."""
    return float([p for p in periods if p["startPeriod"] == 0][-1]["limit"])


@pytest.mark.parametrize("version", WITH_20)
async def test_smart_charging(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "smart") as st:
        st.plug_in(1)
        assert await st.start_transaction(1, TAG) is not None
        full_power = st.config.ev.max_power_w  # 11 kW car on a 22 kW connector
        await wait_until(lambda: st.connector(1).power_w == pytest.approx(full_power), "charging at full power")
        await wait_until(lambda: csms_tx_id(st), "the CSMS transaction id")
        limit = 5000  # 7.2 A a phase: above the car's 6 A minimum
        schedule = {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}
        if version is V16:
            profile = {"chargingProfileId": 5, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
                       "chargingProfileKind": "Relative", "chargingSchedule": schedule}  # fmt: skip
            answer = await api.call(st, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})
        else:
            profile = {"id": 5, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
                       "chargingProfileKind": "Relative", "chargingSchedule": [{"id": 1, **schedule}]}  # fmt: skip
            answer = await api.call(st, "SetChargingProfile", {"evseId": 1, "chargingProfile": profile})
        assert answer["status"] == "Accepted"
        await wait_until(lambda: st.connector(1).power_w == pytest.approx(limit), "station power at the limit")

        async def composite() -> list[dict[str, Any]]:
            if version is V16:
                got = await api.call(st, "GetCompositeSchedule", {"connectorId": 1, "duration": 300,
                                                                   "chargingRateUnit": "W"})  # fmt: skip
                assert got["status"] == "Accepted"
                periods: list[dict[str, Any]] = got["chargingSchedule"]["chargingSchedulePeriod"]
            else:
                got = await api.call(st, "GetCompositeSchedule", {"evseId": 1, "duration": 300,
                                                                   "chargingRateUnit": "W"})  # fmt: skip
                assert got["status"] == "Accepted"
                periods = got["schedule"]["chargingSchedulePeriod"]
            return periods

        periods = await composite()
        assert limit_now(periods) == limit, periods

        async def csms_power(expected: float) -> bool:
            """The delivered power the CSMS receives in the newest meter values follows the limit."""
            action = "MeterValues" if version is V16 else "TransactionEvent"
            for frame in reversed(await api.frames(st, action)):
                for mv in frame["payload"].get("meterValue", []):
                    for v in mv["sampledValue"]:
                        if v.get("measurand") == "Power.Active.Import":
                            return float(v["value"]) == pytest.approx(expected)
            return False

        await wait_until(lambda: csms_power(limit), f"meter values with {limit} W at the CSMS")
        clear = {"id": 5} if version is V16 else {"chargingProfileId": 5}
        assert (await api.call(st, "ClearChargingProfile", clear))["status"] == "Accepted"
        await wait_until(lambda: st.connector(1).power_w == pytest.approx(full_power), "full power again")
        periods = await composite()
        assert limit_now(periods) == st.config.max_power_w, periods
        await wait_until(lambda: csms_power(full_power), "meter values with full power at the CSMS")
        assert (await api.call(st, "ClearChargingProfile", clear))["status"] == "Unknown"
        st.unplug(1)


@pytest.mark.parametrize("version", WITH_20)
async def test_local_list(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "locallist") as st:
        if version is V16:
            assert (await api.call(st, "GetLocalListVersion", {})) == {"listVersion": 0}
            entries = [{"idTag": "LL-1", "idTagInfo": {"status": "Accepted"}},
                       {"idTag": "LL-2", "idTagInfo": {"status": "Blocked"}}]  # fmt: skip
            answer = await api.call(
                st, "SendLocalList", {"listVersion": 3, "updateType": "Full", "localAuthorizationList": entries}
            )
            assert answer == {"status": "Accepted"}
            assert (await api.call(st, "GetLocalListVersion", {})) == {"listVersion": 3}
        else:
            assert (await api.call(st, "GetLocalListVersion", {})) == {"versionNumber": 0}
            entries = [
                {"idToken": {"idToken": "LL-1", "type": "ISO14443"}, "idTokenInfo": {"status": "Accepted"}},
                {"idToken": {"idToken": "LL-2", "type": "ISO14443"}, "idTokenInfo": {"status": "Blocked"}},
            ]
            answer = await api.call(
                st, "SendLocalList", {"versionNumber": 3, "updateType": "Full", "localAuthorizationList": entries}
            )
            assert answer["status"] == "Accepted"
            assert (await api.call(st, "GetLocalListVersion", {})) == {"versionNumber": 3}
        assert set(st.auth.entries) == {"LL-1", "LL-2"}
        assert st.settings["local_list_entries"] == 2
        # Acted on: with LocalPreAuthorize a listed card starts without asking the CSMS (LL-1 is
        # unknown to the CSMS, so an Authorize would have been answered Invalid).
        st.settings.force("local_pre_authorize", True)
        authorizes = await count(api, st, "Authorize")
        assert await st.authorize("LL-1") == "Accepted"
        assert await count(api, st, "Authorize") == authorizes


@pytest.mark.parametrize("version", WITH_20)
async def test_reservation(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "reserve") as st:
        if version is V16:
            reserve = {"connectorId": 1, "expiryDate": iso(600), "idTag": TAG, "reservationId": 11}
        else:
            reserve = {"id": 11, "expiryDateTime": iso(600), "idToken": {"idToken": TAG, "type": "ISO14443"},
                       "evseId": 1}  # fmt: skip
        assert (await api.call(st, "ReserveNow", reserve))["status"] == "Accepted"
        assert st.connector(1).status == "Reserved"

        async def csms_sees(status: str) -> bool:
            frames = [f for f in await api.frames(st, "StatusNotification") if f["payload"].get("connectorId") == 1]
            return bool(frames) and status_of(frames[-1]) == status

        await wait_until(lambda: csms_sees("Reserved"), "StatusNotification Reserved at the CSMS")
        st.plug_in(1)  # somebody else's card cannot use the reserved connector
        assert await st.start_transaction(1, "NOT-THE-RESERVER") is None
        st.unplug(1)
        assert (await api.call(st, "CancelReservation", {"reservationId": 11}))["status"] == "Accepted"
        assert st.connector(1).status == "Available"
        await wait_until(lambda: csms_sees("Available"), "StatusNotification Available at the CSMS")
        assert (await api.call(st, "CancelReservation", {"reservationId": 11}))["status"] == "Rejected"


@pytest.mark.parametrize("version", WITH_20)
async def test_firmware_update(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "firmware") as st:
        boots = await count(api, st, "BootNotification")
        if version is V16:
            answer = await api.call(st, "UpdateFirmware", {"location": "ftp://fw.invalid/f.bin", "retrieveDate": iso()})
            assert answer == {}
            expected = ["Downloading", "Downloaded", "Installing", "Installed"]
        else:
            answer = await api.call(
                st,
                "UpdateFirmware",
                {"requestId": 21, "firmware": {"location": "ftp://fw.invalid/f.bin", "retrieveDateTime": iso()}},
            )
            assert answer["status"] == "Accepted"
            expected = ["Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed"]

        async def statuses() -> list[str] | None:
            got = [status_of(f) for f in await api.frames(st, "FirmwareStatusNotification")]
            return got if got == expected else None

        await wait_until(statuses, f"FirmwareStatusNotification {expected}")
        frames = await api.frames(st, "BootNotification")
        assert len(frames) == boots + 1, "the firmware update reboots the station once"
        if version is not V16:
            assert frames[-1]["payload"]["reason"] == "FirmwareUpdate"
            assert {f["payload"]["requestId"] for f in await api.frames(st, "FirmwareStatusNotification")} == {21}
        notes = (await api.client.get(f"/stations/{st.identity}/notifications")).json()
        assert any("Installed" in json.dumps(n["payload"]) for n in notes), notes


@pytest.mark.parametrize("version", WITH_20)
async def test_diagnostics_and_logs(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "logs") as st:
        if version is V16:
            answer = await api.call(st, "GetDiagnostics", {"location": "ftp://logs.invalid/"})
            assert answer["fileName"].startswith(f"diagnostics-{st.identity}")
            action = "DiagnosticsStatusNotification"
        else:
            answer = await api.call(
                st,
                "GetLog",
                {"logType": "DiagnosticsLog", "requestId": 31, "log": {"remoteLocation": "ftp://logs.invalid/"}},
            )
            assert answer["status"] == "Accepted" and answer["filename"].endswith(".log")
            action = "LogStatusNotification"
        frames = await wait_until(lambda: _at_least(api.frames(st, action), 2), f"two {action}")
        assert [status_of(f) for f in frames] == ["Uploading", "Uploaded"]
        if version is not V16:
            assert {f["payload"]["requestId"] for f in frames} == {31}
        notes = (await api.client.get(f"/stations/{st.identity}/notifications")).json()
        assert any("Uploaded" in json.dumps(n["payload"]) for n in notes), notes


@pytest.mark.parametrize("version", WITH_20)
async def test_data_transfer(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "datatransfer") as st:
        data: Any = "hello" if version is V16 else {"greeting": "hello", "n": [1, 2]}
        echo = await api.call(st, "DataTransfer", {"vendorId": "ocppd", "messageId": "Echo", "data": data})
        assert echo == {"status": "Accepted", "data": data}
        assert (await api.call(st, "DataTransfer", {"vendorId": "com.other"})) == {"status": "UnknownVendorId"}
        answer = await api.call(st, "DataTransfer", {"vendorId": "ocppd", "messageId": "Nope"})
        assert answer == {"status": "UnknownMessageId"}


# ---------------------------------------------------------------------------------------- 3. offline
@pytest.mark.parametrize("started", ["online", "offline"])
@pytest.mark.parametrize("version", WITH_20)
async def test_offline_queue_across_csms_restart(tmp_path: Path, version: OcppVersion, started: str) -> None:
    """Stop the ocppd process mid-transaction (or before it starts), charge on, start a NEW process on
    the same data dir and ports: every queued transaction message arrives exactly once, in order, with
    the CSMS's transaction id (1.6), and the transaction's energy at the CSMS is right."""
    data_dir, ports = tmp_path / "ocppd-data", (free_port(), free_port())
    sent: list[tuple[str, dict[str, Any]]] = []  # every transaction message the station produced, in order
    with serve(data_dir, *ports, tmp_path / "serve-1.log") as first:
        await asyncio.to_thread(first.cli, "tokens", "add", TAG)
        st = Station(config(first, version, f"offline-{started}"))
        enqueue = st.enqueue

        def recording(action: str, payload: dict[str, Any], tx_ref: str | None) -> None:
            sent.append((action, payload))
            enqueue(action, payload, tx_ref)

        st.enqueue = recording  # type: ignore[method-assign]
        await st.start()
        try:
            await st.wait_booted(timeout=DEADLINE)
            if started == "online":
                st.plug_in(1)
                tx = await st.start_transaction(1, TAG)
                assert tx is not None
                await wait_until(lambda: csms_tx_id(st), "the CSMS transaction id")
                # stop the CSMS right after a delivered meter value (nothing in flight, nothing queued)
                delivered = len(sent)
                await wait_until(lambda: len(sent) > delivered and st.queued == 0, "one more delivered sample")
            else:  # the card is in the authorisation cache: the station may start without the CSMS
                assert await st.authorize(TAG) == "Accepted"
            stop(first)
            await wait_until(lambda: not st.online, "the station to notice the CSMS is gone")
            # From here on the station knows it is offline (2.x: it flags what it generates). A sample
            # made between the CSMS going away and the station noticing is queued too, unflagged.
            noticed = len(sent)
            offline_from = noticed - st.queued
            if started == "offline":
                st.plug_in(1)
                started_tx = await st.start_transaction(1, TAG)
                assert started_tx is not None, "offline start with a cached card"
                tx = started_tx
            await wait_until(lambda: st.queued >= 3, "three queued transaction messages while offline")
            st.unplug(1)  # the driver leaves while the CSMS is down: the stop is queued too
            assert st.queued >= 4 and len(sent) - offline_from == st.queued
            with serve(data_dir, *ports, tmp_path / "serve-2.log") as server:
                assert server.admin_token == first.admin_token  # same data dir
                await wait_until(lambda: st.online and st.booted.is_set(), "reconnect to the new process")
                await wait_until(lambda: st.queued == 0, "the queue to drain")
                api = Api(server)
                try:
                    await _check_delivery(api, st, version, sent, offline_from, noticed, tx)
                finally:
                    await api.aclose()
        finally:
            await st.stop()


def _key(action: str, payload: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies one transaction message regardless of the id the CSMS patched in."""
    if action == "TransactionEvent":
        return (action, payload["eventType"], payload["seqNo"], payload["timestamp"])
    if action == "MeterValues":
        return (action, payload["meterValue"][0]["timestamp"])
    return (action, payload["timestamp"], payload.get("meterStart", payload.get("meterStop")))


async def _check_delivery(
    api: Api,
    st: Station,
    version: OcppVersion,
    sent: list[tuple[str, dict[str, Any]]],
    offline_from: int,
    noticed: int,
    tx: Any,
) -> None:
    actions = ("StartTransaction", "MeterValues", "StopTransaction") if version is V16 else ("TransactionEvent",)
    received = [f for f in await api.frames(st) if f["action"] in actions]
    if version is V16:  # only the transaction's meter values are queued (a trigger's are not)
        received = [f for f in received if f["action"] != "MeterValues" or "transactionId" in f["payload"]]
    got = [_key(f["action"], f["payload"]) for f in received]
    want = [_key(a, p) for a, p in sent]
    assert got == want, "the CSMS did not receive every transaction message exactly once, in order"
    queued = want[offline_from:]
    assert len(queued) >= 4 and len(set(queued)) == len(queued)
    [row] = await api.transactions(st)  # one transaction, whatever the id it got
    if version is V16:
        tx_id = int(row["transaction_id"])
        assert all(f["payload"]["transactionId"] == tx_id for f in received if f["action"] != "StartTransaction")
        if tx.id is not None:
            assert tx_id == int(tx.id)
    else:
        assert row["transaction_id"] == tx.ref
        seq = [f["payload"]["seqNo"] for f in received]
        assert seq == list(range(len(seq)))
        offline = [f["payload"].get("offline", False) for f in received]
        # E04: what the station generated while it knew it was offline is flagged, nothing before
        assert offline == sorted(offline) and not any(offline[:offline_from]) and all(offline[noticed:])

    async def stopped() -> dict[str, Any] | None:
        [row] = await api.transactions(st)
        return row if row["stopped_at"] else None

    row = await wait_until(stopped, "the CSMS to record the stop sent after the restart")
    assert row["stop_reason"] == "EVDisconnected"
    if version is V16:
        start = next(p for a, p in sent if a == "StartTransaction")["meterStart"]
        stop_ = next(p for a, p in sent if a == "StopTransaction")["meterStop"]
        assert row["meter_start_wh"] == start and row["meter_stop_wh"] == stop_
        assert row["energy_wh"] == stop_ - start > 0
    else:

        def register(payload: dict[str, Any]) -> float:
            return next(
                float(v["value"])
                for mv in payload["meterValue"]
                for v in mv["sampledValue"]
                if v.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"
            )

        events = {p["eventType"]: p for a, p in sent if p.get("eventType") in ("Started", "Ended")}
        expected = register(events["Ended"]) - register(events["Started"])
        assert expected > 0
        assert row["energy_wh"] == pytest.approx(expected, abs=1e-6)
        assert row["energy_wh"] == pytest.approx(tx.energy_wh, abs=0.1)


@pytest.mark.parametrize("version", [pytest.param(V16, id="1.6"), pytest.param(V201, id="2.0.1")])
async def test_composite_schedule_right_after_start(csms: CsmsProcess, api: Api, version: OcppVersion) -> None:
    async with running(csms, version, "composite") as st:
        schedule = {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 4000}]}
        if version is V16:
            profile = {"chargingProfileId": 6, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
                       "chargingProfileKind": "Relative", "chargingSchedule": schedule}  # fmt: skip
            await api.call(st, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})
            request = {"connectorId": 1, "duration": 60, "chargingRateUnit": "W"}
        else:
            profile = {"id": 6, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
                       "chargingProfileKind": "Relative", "chargingSchedule": [{"id": 1, **schedule}]}  # fmt: skip
            await api.call(st, "SetChargingProfile", {"evseId": 1, "chargingProfile": profile})
            request = {"evseId": 1, "duration": 60, "chargingRateUnit": "W"}
        st.plug_in(1)
        await asyncio.sleep(1.05 - time.time() % 1)  # start just after a whole second, ask right away
        st.begin_transaction(1, TAG)
        answer = await api.call(st, "GetCompositeSchedule", request)
        schedule_out = answer["chargingSchedule"] if version is V16 else answer["schedule"]
        periods = schedule_out["chargingSchedulePeriod"]
        starts = [p["startPeriod"] for p in periods]
        try:
            assert starts == sorted(set(starts)), f"startPeriod not strictly increasing: {periods}"
            assert periods[0]["limit"] == 4000, periods
        finally:
            st.unplug(1)
