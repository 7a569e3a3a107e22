"""Registration (OCA block B boot cases, 1.6 TC_001): Pending per spec, the operator's
pending/accept/reject, and the CSMS asking a station to boot again."""

from __future__ import annotations

import httpx
import pytest
from ocpp.exceptions import SecurityError

from tests.csms_process import CsmsProcess
from tests.verbs.conftest import command, eventually, new_id, ok, until
from tests.verbs.stations import connected

VERSIONS = ["1.6", "2.0.1"]


async def register(api: httpx.AsyncClient, sid: str, registration: str) -> None:
    ok(await api.post("/api/v1/stations", json={"station_id": sid, "registration": registration}), 201)


async def test_tc_001_cold_boot_accepted(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    async with connected(csms.ws_url, new_id("B16"), "1.6") as st:
        [boot] = st.boots
        assert boot.status == "Accepted" and boot.interval > 0 and boot.current_time
        await st.status(0, "Available")
        await st.status(1, "Available")
        assert (await st.call(_heartbeat("1.6"), suppress=False)).current_time


async def test_tc_b_01_cold_boot_accepted(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    async with connected(csms.ws_url, new_id("B01"), "2.0.1") as st:
        [boot] = st.boots
        assert boot.status == "Accepted" and boot.interval > 0
        await st.status()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("registration", ["pending", "rejected"])
async def test_tc_b_30_not_accepted_station_messages_get_security_error(
    csms: CsmsProcess, api: httpx.AsyncClient, version: str, registration: str
) -> None:
    sid = new_id("B30")
    await register(api, sid, registration)
    async with connected(csms.ws_url, sid, version) as st:
        assert st.boots[0].status == registration.capitalize()
        with pytest.raises(SecurityError):
            await st.status(1, "Available") if version == "1.6" else await st.status()
        if version == "2.0.1":
            with pytest.raises(SecurityError):
                await st.notify_event()
        # nothing was processed as if the station were accepted
        detail = ok(await api.get(f"/api/v1/stations/{sid}"))
        assert detail["registration"] == registration and not detail["connectors"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_tc_b_02_pending_then_accepted_at_the_next_boot(
    csms: CsmsProcess, api: httpx.AsyncClient, version: str
) -> None:
    sid = new_id("B02")
    await register(api, sid, "pending")
    async with connected(csms.ws_url, sid, version) as st:
        assert st.boots[0].status == "Pending" and st.boots[0].interval > 0
        # B02.FR.01: while Pending the CSMS may read and change the station's configuration
        body = {"variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}]}
        r = await command(api, sid, "get-variables", body)
        assert r["result"]["values"][0]["status"] == "Accepted"
        ok(await api.post(f"/api/v1/stations/{sid}/approve"))
        await until(lambda: len(st.boots) >= 2, "the CSMS asking for a new boot")
        assert st.boots[-1].status == "Accepted"
        await st.status(1, "Available") if version == "1.6" else await st.status()  # answered normally now


@pytest.mark.parametrize("version", VERSIONS)
async def test_tc_b_31_pending_station_is_triggered_to_boot_when_accepted(
    csms: CsmsProcess, api: httpx.AsyncClient, version: str
) -> None:
    sid = new_id("B31")
    await register(api, sid, "pending")
    async with connected(csms.ws_url, sid, version) as st:
        assert st.boots[0].status == "Pending"
        ok(await api.post(f"/api/v1/stations/{sid}/approve"))
        await until(lambda: len(st.boots) == 2, "the triggered boot")
        assert st.last("TriggerMessage")["requested_message"] == "BootNotification"
        assert st.boots[1].status == "Accepted"


@pytest.mark.parametrize("version", VERSIONS)
async def test_pending_station_may_send_what_the_csms_triggered(
    csms: CsmsProcess, api: httpx.AsyncClient, version: str
) -> None:
    sid = new_id("PT")
    await register(api, sid, "pending")
    async with connected(csms.ws_url, sid, version) as st:
        r = await command(api, sid, "trigger-message", {"message": "StatusNotification", "evse_id": 1})
        assert r["result"]["accepted"]

        async def recorded() -> bool:
            detail = ok(await api.get(f"/api/v1/stations/{sid}"))
            return any(c["status"] == "Available" for c in detail["connectors"])

        await eventually(recorded, "the triggered StatusNotification recorded")
        with pytest.raises(SecurityError):  # a Heartbeat was not asked for
            await st.call(_heartbeat(version), suppress=False)


def _heartbeat(version: str) -> object:
    if version == "1.6":
        from ocpp.v16.call import Heartbeat
    else:
        from ocpp.v201.call import Heartbeat
    return Heartbeat()


@pytest.mark.parametrize("version", VERSIONS)
async def test_operator_puts_a_station_back_to_pending_then_accepts_it(
    csms: CsmsProcess, api: httpx.AsyncClient, version: str
) -> None:
    sid = new_id("BP")
    async with connected(csms.ws_url, sid, version) as st:
        assert st.boots[0].status == "Accepted"
        assert ok(await api.post(f"/api/v1/stations/{sid}/pending"))["registration"] == "pending"
        await until(lambda: len(st.boots) == 2, "the boot asked for after set-pending")
        assert st.boots[1].status == "Pending"
        with pytest.raises(SecurityError):
            await st.call(_heartbeat(version), suppress=False)
        # The CLI works on the database; the server notices and asks for a boot again.
        csms.cli("stations", "approve", sid)
        await until(lambda: len(st.boots) == 3, "the boot asked for after the CLI approval")
        assert st.boots[2].status == "Accepted"
        await st.call(_heartbeat(version), suppress=False)


async def test_station_unknown_to_a_pending_policy_speaking_without_boot_is_asked_to_boot(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("NB")
    await register(api, sid, "pending")
    async with connected(csms.ws_url, sid, "2.0.1", boot=False) as st:
        with pytest.raises(SecurityError):
            await st.status()
        await until(lambda: bool(st.boots), "the CSMS asking for a boot")
        assert st.boots[0].status == "Pending"


@pytest.mark.parametrize("version", VERSIONS)
async def test_by_default_nothing_unsolicited_after_boot(
    csms: CsmsProcess, api: httpx.AsyncClient, version: str
) -> None:
    sid = new_id("QUIET")
    async with connected(csms.ws_url, sid, version) as st:
        await st.status(1, "Available") if version == "1.6" else await st.status()
        await st.call(_heartbeat(version), suppress=False)
        r = await command(api, sid, "trigger-message", {"message": "Heartbeat"})
        assert r["result"]["accepted"]
        await until(lambda: bool(st.received), "the operator's command")
        assert st.actions() == ["TriggerMessage"]  # the first CSMS message is the operator's
