"""ChangeAvailability as state (OCA G_11, G_14, G_17; 1.6 TC_008-style connector availability): the
wish is kept per scope with the station's answer, Scheduled while a transaction runs, applied once the
reported status shows it, and sent again when a station comes back from a reboot without it. Against
`ocpp`-package stations and a real ``ocppd serve`` on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from ocpp.routing import after, on
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from tests.csms_process import CsmsProcess
from tests.verbs.conftest import command, eventually, new_id, ok, until
from tests.verbs.stations import Station16, Station201, connected, now

EVSES = ((1, 1), (2, 1))


class AvailabilityStation(Station201):
    """Two EVSEs; EVSE 1 charges when remotely started. An Inoperative that touches the charging EVSE is
    Scheduled and applied (StatusNotification Unavailable) when the transaction ends (G_11/G_14/G_17)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.operative = dict.fromkeys(EVSES, True)
        self.scheduled: list[tuple[int, int]] = []

    async def report(self, evse: int, connector: int, status: str) -> None:
        await self.call(
            c201.StatusNotification(timestamp=now(), connector_status=status, evse_id=evse, connector_id=connector),
            suppress=False,
        )

    async def report_all(self) -> None:
        for e, c in EVSES:
            await self.report(e, c, "Available" if self.operative[(e, c)] else "Unavailable")

    def targets(self, evse: dict[str, Any] | None) -> list[tuple[int, int]]:
        if not evse or evse["id"] == 0:
            return list(EVSES)
        return [(e, c) for e, c in EVSES if e == evse["id"] and evse.get("connector_id", c) == c]

    @on("ChangeAvailability")
    async def on_availability(self, operational_status: str, evse: dict[str, Any] | None = None, **kw: Any) -> Any:
        self.record("ChangeAvailability", operational_status=operational_status, evse=evse)
        busy = self.transaction_id is not None and (1, 1) in self.targets(evse)
        scheduled = busy and operational_status == "Inoperative"
        return r201.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @after("ChangeAvailability")
    async def after_availability(self, operational_status: str, evse: dict[str, Any] | None = None, **kw: Any) -> None:
        operative = operational_status == "Operative"
        for target in self.targets(evse):
            if target == (1, 1) and self.transaction_id is not None and not operative:
                self.scheduled.append(target)
                continue
            self.operative[target] = operative
            self._later(self.report(*target, "Available" if operative else "Unavailable"))

    async def _remote_start(self, id_token: dict[str, Any], remote_start_id: int) -> None:
        await self.report(1, 1, "Occupied")
        await super()._remote_start(id_token, remote_start_id)

    async def _end(self) -> None:
        await super()._end()
        for target in self.scheduled:
            self.operative[target] = False
            await self.report(*target, "Unavailable")
        self.scheduled.clear()


class RefusingStation16(Station16):
    @on("ChangeAvailability")
    async def on_availability(self, connector_id: int, type: str, **kw: Any) -> Any:
        self.record("ChangeAvailability", connector_id=connector_id, type=type)
        return r16.ChangeAvailability(status="Rejected")


async def availability(api: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    return ok(await api.get(f"/api/v1/stations/{sid}/availability"))  # type: ignore[no-any-return]


async def wish(api: httpx.AsyncClient, sid: str, evse: int, connector: int) -> dict[str, Any]:
    view = await availability(api, sid)
    return next(w for w in view["wishes"] if (w["evse_id"], w["connector_id"]) == (evse, connector))


async def state_is(api: httpx.AsyncClient, sid: str, scope: tuple[int, int], state: str) -> None:
    async def probe() -> bool:
        return (await wish(api, sid, *scope))["state"] == state

    await eventually(probe, f"the wish for {scope} {state}")


async def charging(api: httpx.AsyncClient, sid: str, st: AvailabilityStation, token: str) -> str:
    ok(await api.post("/api/v1/tokens", json={"id_token": token}), 201)
    await command(api, sid, "remote-start", {"id_token": token, "evse_id": 1})

    async def running() -> bool:
        return bool(ok(await api.get(f"/api/v1/stations/{sid}"))["transactions"])

    await eventually(running, "the transaction running")
    assert st.transaction_id is not None
    return st.transaction_id


# case -> (command body, the scope stored, the idle connectors the station turns Unavailable at once)
SCHEDULED = {
    "g_11_evse": ({"operative": False, "evse_id": 1}, (1, 0), []),
    "g_14_station": ({"operative": False}, (0, 0), [(2, 1)]),
    "g_17_connector": ({"operative": False, "evse_id": 1, "connector_id": 1}, (1, 1), []),
}


@pytest.mark.parametrize("case", sorted(SCHEDULED))
async def test_tc_g_11_g_14_g_17_scheduled_while_a_transaction_runs(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str
) -> None:
    body, scope, idle = SCHEDULED[case]
    sid = new_id(case[:4].upper())
    async with _connected(csms.ws_url, sid) as st:
        await st.report_all()
        tx = await charging(api, sid, st, f"04A1{case[2:4]}{scope[0]}{scope[1]}")
        r = await command(api, sid, "change-availability", body)
        assert r["result"]["status"] == "Scheduled" and r["result"]["accepted"] is True
        w = await wish(api, sid, *scope)
        assert (w["operative"], w["answer"], w["state"]) == (False, "Scheduled", "scheduled")
        for e, c in idle:  # G_14: the idle EVSE goes Unavailable at once, the wish waits for EVSE 1
            await until(lambda e=e, c=c: not st.operative[(e, c)], "the idle EVSE unavailable")
        view = await availability(api, sid)
        evse1 = next(c for c in view["connectors"] if c["evse_id"] == 1)
        assert (evse1["status"], evse1["wanted"], evse1["wanted_state"]) == ("Occupied", "Inoperative", "scheduled")
        assert (await wish(api, sid, *scope))["state"] == "scheduled"
        await command(api, sid, "remote-stop", {"transaction_id": tx})
        await state_is(api, sid, scope, "applied")
        view = await availability(api, sid)
        evse1 = next(c for c in view["connectors"] if c["evse_id"] == 1)
        assert (evse1["status"], evse1["wanted"], evse1["wanted_state"]) == ("Unavailable", "Inoperative", "applied")


async def test_an_applied_inoperative_is_sent_again_after_a_reboot_that_lost_it(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("G05R")
    async with _connected(csms.ws_url, sid) as st:
        await st.report_all()
        await command(api, sid, "change-availability", {"operative": False, "evse_id": 2})
        await state_is(api, sid, (2, 0), "applied")
    async with _connected(csms.ws_url, sid) as st:  # a station that forgot: reports EVSE 2 Available
        await st.report_all()
        await until(lambda: len(st.all("ChangeAvailability")) == 1, "the ChangeAvailability sent again")
        assert st.last("ChangeAvailability") == {"operational_status": "Inoperative", "evse": {"id": 2}}
        assert not st.operative[(2, 1)]

        async def reapplied() -> bool:
            w = await wish(api, sid, 2, 0)
            return w["state"] == "applied" and w["reapplied_at"] is not None

        await eventually(reapplied, "applied again")
    async with _connected(csms.ws_url, sid) as st:  # one that kept it: nothing is sent
        st.operative[(2, 1)] = False
        await st.report_all()
        await command(api, sid, "trigger-message", {"message": "Heartbeat"})  # a round trip after the statuses
        assert st.all("ChangeAvailability") == []


async def test_a_rejected_change_is_kept_as_rejected(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("G03X")
    async with connected(csms.ws_url, sid, "1.6", station_class=RefusingStation16):
        r = await command(api, sid, "change-availability", {"operative": False, "evse_id": 1})
        assert r["result"]["status"] == "Rejected" and r["result"]["accepted"] is False
        w = await wish(api, sid, 1, 0)
        assert (w["answer"], w["state"]) == ("Rejected", "rejected")


async def test_1_6_connector_inoperative_applied_from_its_status(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("T016")
    async with connected(csms.ws_url, sid, "1.6") as st:
        await st.status(1, "Available")
        r = await command(api, sid, "change-availability", {"operative": False, "evse_id": 1})
        assert r["request"] == {"connectorId": 1, "type": "Inoperative"}
        assert (await wish(api, sid, 1, 0))["state"] == "pending"
        await st.status(1, "Unavailable")
        await state_is(api, sid, (1, 0), "applied")


def _connected(ws_url: str, sid: str) -> Any:
    return connected(ws_url, sid, "2.0.1", station_class=AvailabilityStation)


class Keeping16(Station16):
    """A 1.6 charge point that applies ChangeAvailability at once and reports it."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.inoperative: set[int] = set()

    @on("ChangeAvailability")
    async def on_availability(self, connector_id: int, type: str, **kw: Any) -> Any:
        self.record("ChangeAvailability", connector_id=connector_id, type=type)
        return r16.ChangeAvailability(status="Accepted")

    @after("ChangeAvailability")
    async def after_availability(self, connector_id: int, type: str, **kw: Any) -> None:
        (self.inoperative.add if type == "Inoperative" else self.inoperative.discard)(connector_id)
        self._later(self.status(connector_id, "Unavailable" if type == "Inoperative" else "Available"))


async def test_1_6_an_inoperative_station_is_sent_again_after_a_reboot_that_lost_it(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("T016R")
    async with connected(csms.ws_url, sid, "1.6", station_class=Keeping16) as st:
        await st.status(1, "Available")
        r = await command(api, sid, "change-availability", {"operative": False})  # connectorId 0: the charge point
        assert r["request"] == {"connectorId": 0, "type": "Inoperative"}
        await st.status(1, "Unavailable")  # 1.6: every connector reports the change
        await state_is(api, sid, (0, 0), "applied")
    async with connected(csms.ws_url, sid, "1.6", station_class=Keeping16) as st:
        await st.status(0, "Available")
        await st.status(1, "Available")
        await until(lambda: bool(st.all("ChangeAvailability")), "the ChangeAvailability sent again")
        assert st.all("ChangeAvailability") == [{"connector_id": 0, "type": "Inoperative"}]
