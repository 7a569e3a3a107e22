"""Resets with their outcome (OCA B_20, B_21, B_22, B_25, B_26, B_27, B_103; 1.6 TC_013, TC_014): the answer is
kept, the reboot observed (the connection drop, the new BootNotification and its reason) or reported
as not observed within ``ocpp.reset_observe_s``. `ocpp`-package stations, real ``ocppd serve``, SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import after, on
from ocpp.v21 import ChargePoint as Cp21
from ocpp.v21 import call as c21
from ocpp.v21 import call_result as r21
from ocpp.v201 import call_result as r201

from tests.csms_process import CsmsProcess
from tests.verbs.conftest import command, eventually, new_id, ok
from tests.verbs.stations import Station201, connected, now

CSMS_CONFIG = """
[ocpp]
reset_observe_s = 5
"""


class SilentStation(Station201):
    """Answers a reset and then does nothing (a station that never comes back), or refuses it."""

    answer = "Accepted"

    @on("Reset")
    async def on_reset(self, type: str, evse_id: int | None = None, **kw: Any) -> Any:
        self.record("Reset", type=type, evse_id=evse_id)
        return r201.Reset(status=self.answer)

    @after("Reset")
    async def after_reset(self, **kw: Any) -> None:
        pass


class RefusingStation(SilentStation):
    answer = "Rejected"


async def newest_reset(api: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    return ok(await api.get(f"/api/v1/stations/{sid}/resets"))[0]  # type: ignore[no-any-return]


async def outcome_is(api: httpx.AsyncClient, sid: str, outcome: str) -> dict[str, Any]:
    async def probe() -> bool:
        return (await newest_reset(api, sid))["outcome"] == outcome

    await eventually(probe, f"the reset {outcome}")
    return await newest_reset(api, sid)


async def start_charging(api: httpx.AsyncClient, sid: str, token: str) -> None:
    ok(await api.post("/api/v1/tokens", json={"id_token": token}), 201)
    await command(api, sid, "remote-start", {"id_token": token, "evse_id": 1})

    async def running() -> bool:
        return bool(ok(await api.get(f"/api/v1/stations/{sid}"))["transactions"])

    await eventually(running, "the transaction running")


async def test_tc_b_20_reset_completed_by_the_reconnect_and_its_boot(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B20")
    async with connected(csms.ws_url, sid, "2.0.1", station_class=SilentStation):
        r = await command(api, sid, "reset", {"type": "on_idle"})
        assert r["request"] == {"type": "OnIdle"}
        row = await newest_reset(api, sid)
        assert (row["kind"], row["evse_id"], row["answer"], row["outcome"]) == ("OnIdle", None, "Accepted",
                                                                                  "awaiting_reboot")  # fmt: skip
    # the station drops the connection, comes back and boots with reason RemoteReset

    async def dropped() -> bool:
        return (await newest_reset(api, sid))["disconnected_at"] is not None

    await eventually(dropped, "the connection drop seen")
    async with connected(csms.ws_url, sid, "2.0.1", boot=False) as st:
        await st.boot("RemoteReset")
        row = await outcome_is(api, sid, "completed")
        assert row["boot_reason"] == "RemoteReset" and row["booted_at"] >= row["disconnected_at"]


@pytest.mark.parametrize(
    ("case", "kind", "answer", "reason"),
    [("b_21", "on_idle", "Scheduled", "ScheduledReset"), ("b_22", "immediate", "Accepted", "RemoteReset")],
)
async def test_tc_b_21_b_22_reset_with_a_transaction_completed_by_the_boot(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, kind: str, answer: str, reason: str
) -> None:
    sid = new_id(case.upper())
    async with connected(csms.ws_url, sid, "2.0.1"):
        await start_charging(api, sid, f"04B0{case[2:]}01")
        r = await command(api, sid, "reset", {"type": kind})
        assert r["result"]["status"] == answer
        row = await outcome_is(api, sid, "completed")
        assert (row["answer"], row["boot_reason"]) == (answer, reason)


@pytest.mark.parametrize(
    ("case", "kind", "answer", "outcome"),
    [("b_25", "on_idle", "Accepted", "accepted"), ("b_26", "on_idle", "Scheduled", "completed"),
     ("b_27", "immediate", "Accepted", "accepted")],
)  # fmt: skip
async def test_tc_b_25_b_26_b_27_reset_of_one_evse(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, kind: str, answer: str, outcome: str
) -> None:
    sid = new_id(case.upper())
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        if case != "b_25":
            await start_charging(api, sid, f"04B0{case[2:]}02")
        r = await command(api, sid, "reset", {"type": kind, "evse_id": 1})
        assert r["request"] == {"type": kind.replace("on_idle", "OnIdle").replace("immediate", "Immediate"),
                                "evseId": 1}  # fmt: skip
        assert r["result"]["status"] == answer
        row = await outcome_is(api, sid, outcome)
        assert row["evse_id"] == 1 and row["booted_at"] is None and len(st.boots) == 1  # an EVSE reset: no reboot


async def test_a_reset_without_a_boot_is_not_observed(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B20N")
    async with connected(csms.ws_url, sid, "2.0.1", station_class=SilentStation):
        await command(api, sid, "reset", {"type": "immediate"})
        row = await outcome_is(api, sid, "not_observed")
        assert "neither a disconnect nor a boot" in row["detail"]


async def test_a_refused_reset_is_kept_as_rejected(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B20R")
    async with connected(csms.ws_url, sid, "2.0.1", station_class=RefusingStation):
        r = await command(api, sid, "reset", {"type": "immediate"})
        assert r["result"]["accepted"] is False
        row = await newest_reset(api, sid)
        assert (row["answer"], row["outcome"]) == ("Rejected", "rejected")


@pytest.mark.parametrize(("case", "kind", "wire"), [("013", "hard", "Hard"), ("014", "soft", "Soft")])
async def test_tc_013_014_reset_completed(csms: CsmsProcess, api: httpx.AsyncClient, case: str, kind: str,
                                          wire: str) -> None:  # fmt: skip
    sid = new_id(f"T{case}R")
    async with connected(csms.ws_url, sid, "1.6"):
        await command(api, sid, "reset", {"type": kind})
        row = await outcome_is(api, sid, "completed")
        assert (row["kind"], row["answer"], row["boot_reason"]) == (wire, "Accepted", None)


class Station21(Cp21):
    """A 2.1 station of the `ocpp` package whose transaction survives an ImmediateAndResume reset."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, response_timeout=30, **kw)
        self.resets: list[str] = []
        self.seq = 0

    async def boot(self, reason: str = "PowerUp") -> Any:
        return await self.call(c21.BootNotification(charging_station={"model": "B103", "vendor_name": "ACME"},
                                                    reason=reason), suppress=False)  # fmt: skip

    async def event(self, event_type: str, trigger: str, **extra: Any) -> Any:
        self.seq += 1
        return await self.call(
            c21.TransactionEvent(event_type=event_type, timestamp=now(), trigger_reason=trigger, seq_no=self.seq,
                                 transaction_info={"transaction_id": "TX-B103", **extra.pop("info", {})},
                                 evse={"id": 1, "connector_id": 1},
                                 meter_value=[{"timestamp": now(), "sampled_value": [{"value": 1000.0 + self.seq}]}],
                                 **extra),
            suppress=False,
        )  # fmt: skip

    @on("Reset")
    async def on_reset(self, type: str, evse_id: int | None = None, **kw: Any) -> Any:
        self.resets.append(type)
        return r21.Reset(status="Accepted")


async def test_tc_b_103_immediate_and_resume_with_a_transaction(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("B103")
    ok(await api.post("/api/v1/tokens", json={"id_token": "04B10301"}), 201)
    async with websockets.connect(f"{csms.ws_url}/{sid}", subprotocols=["ocpp2.1"]) as ws:
        cp = Station21(sid, ws)
        runner = asyncio.create_task(cp.start())
        try:
            await cp.boot()
            await cp.event("Started", "Authorized", id_token={"id_token": "04B10301", "type": "ISO14443"},
                           info={"charging_state": "Charging"})  # fmt: skip
            r = await command(api, sid, "reset", {"type": "immediate_and_resume"})
            assert r["request"] == {"type": "ImmediateAndResume"} and cp.resets == ["ImmediateAndResume"]
            await cp.boot("RemoteReset")  # back up; the energy transfer resumes in the same transaction
            row = await outcome_is(api, sid, "completed")
            assert (row["answer"], row["boot_reason"]) == ("Accepted", "RemoteReset")
            await cp.event("Updated", "ChargingStateChanged", info={"charging_state": "Charging"})
            [tx] = ok(await api.get(f"/api/v1/stations/{sid}"))["transactions"]
            assert tx["transaction_id"] == "TX-B103" and tx["stopped_at"] is None
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
