"""Display messages (OCA block O, CSMS side): SetDisplayMessage, GetDisplayMessages with
NotifyDisplayMessages in parts, ClearDisplayMessage; what ocppd keeps of the station's messages and
how it is reconciled with what the station reports. Against a 2.0.1 station of the `ocpp` package
(priorities, formats and states it does not support are refused, as is an unknown transaction) and a
real ``ocppd serve`` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import after, on
from ocpp.v21 import ChargePoint as Cp21
from ocpp.v21 import call as c21
from ocpp.v21 import call_result as r21
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from tests.csms_process import CsmsProcess
from tests.verbs.conftest import command, eventually, new_id, ok
from tests.verbs.stations import Station201, connected

CAPACITY = 3


class DisplayStation(Station201):
    """Keeps up to CAPACITY messages; AlwaysFront, HTML and the Faulted state are not supported."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.messages: dict[int, dict[str, Any]] = {}

    @on("SetDisplayMessage")
    async def on_set_display_message(self, message: dict[str, Any], **kw: Any) -> Any:
        self.record("SetDisplayMessage", message=message)
        if message["priority"] == "AlwaysFront":
            return r201.SetDisplayMessage(status="NotSupportedPriority")
        if message["message"]["format"] == "HTML":
            return r201.SetDisplayMessage(status="NotSupportedMessageFormat")
        if message.get("state") == "Faulted":
            return r201.SetDisplayMessage(status="NotSupportedState")
        if "transaction_id" in message and message["transaction_id"] != self.transaction_id:
            return r201.SetDisplayMessage(status="UnknownTransaction")
        if message["id"] not in self.messages and len(self.messages) >= CAPACITY:
            return r201.SetDisplayMessage(status="Rejected")
        self.messages[message["id"]] = message
        return r201.SetDisplayMessage(status="Accepted")

    def matching(self, id: list[int] | None, priority: str | None, state: str | None) -> list[dict[str, Any]]:
        return [m for i, m in sorted(self.messages.items()) if (id is None or i in id)
                and priority in (None, m["priority"]) and state in (None, m.get("state"))]  # fmt: skip

    @on("GetDisplayMessages")
    async def on_get_display_messages(
        self, request_id: int, id: list[int] | None = None, priority: str | None = None, state: str | None = None,
        **kw: Any,
    ) -> Any:  # fmt: skip
        self.record("GetDisplayMessages", request_id=request_id, id=id, priority=priority, state=state)
        return r201.GetDisplayMessages(status="Accepted" if self.matching(id, priority, state) else "Unknown")

    @after("GetDisplayMessages")
    async def after_get_display_messages(
        self, request_id: int, id: list[int] | None = None, priority: str | None = None, state: str | None = None,
        **kw: Any,
    ) -> None:  # fmt: skip
        found = self.matching(id, priority, state)
        if found:
            self._later(self._notify(request_id, found))

    async def _notify(self, request_id: int, found: list[dict[str, Any]]) -> None:
        parts = [found[i : i + 2] for i in range(0, len(found), 2)]  # two per message: tbc is exercised
        for n, part in enumerate(parts):
            await self.call(
                c201.NotifyDisplayMessages(request_id=request_id, message_info=part, tbc=n < len(parts) - 1),
                suppress=False,
            )

    @on("ClearDisplayMessage")
    async def on_clear_display_message(self, id: int, **kw: Any) -> Any:
        self.record("ClearDisplayMessage", id=id)
        return r201.ClearDisplayMessage(status="Accepted" if self.messages.pop(id, None) else "Unknown")


def message(mid: int, **extra: Any) -> dict[str, Any]:
    return {"id": mid, "content": f"message {mid}", "language": "en", **extra}


async def kept(api: httpx.AsyncClient, sid: str) -> dict[int, dict[str, Any]]:
    return {m["message_id"]: m for m in ok(await api.get(f"/api/v1/stations/{sid}/display-messages"))}


async def set_message(api: httpx.AsyncClient, sid: str, body: dict[str, Any]) -> dict[str, Any]:
    return await command(api, sid, "set-display-message", body)  # type: ignore[no-any-return]


def station(csms: CsmsProcess, sid: str) -> Any:
    return connected(csms.ws_url, sid, "2.0.1", station_class=DisplayStation)


async def test_tc_o_01_o_12_o_25_set_replace_and_state(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("O01")
    async with station(csms, sid) as st:
        r = await set_message(api, sid, message(1, priority="InFront", format="UTF8", state="Idle"))
        assert r["result"]["status"] == "Accepted"
        assert st.last("SetDisplayMessage")["message"] == {
            "id": 1, "priority": "InFront", "state": "Idle",
            "message": {"format": "UTF8", "language": "en", "content": "message 1"},
        }  # fmt: skip
        m = (await kept(api, sid))[1]
        assert (m["priority"], m["state"], m["format"], m["content"], m["validity"]) == (
            "InFront", "Idle", "UTF8", "message 1", "valid")  # fmt: skip
        assert m["set_at"] and m["reported_at"] is None
        await set_message(api, sid, {**message(1, state="Charging"), "content": "replaced"})  # O_12, O_25
        m = (await kept(api, sid))[1]
        assert (m["content"], m["state"], m["priority"]) == ("replaced", "Charging", "NormalCycle")
        assert st.messages[1]["message"]["content"] == "replaced"


@pytest.mark.parametrize(
    ("case", "body", "status"),
    [
        ("o_17", message(5, priority="AlwaysFront"), "NotSupportedPriority"),
        ("o_18", message(5, state="Faulted"), "NotSupportedState"),
        ("o_19", message(5, format="HTML"), "NotSupportedMessageFormat"),
        ("o_10", message(5, transaction_id="NO-SUCH-TX"), "UnknownTransaction"),
    ],
)
async def test_tc_o_10_o_17_o_18_o_19_refused_messages_are_not_kept(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, body: dict[str, Any], status: str
) -> None:
    sid = new_id(case.upper())
    async with station(csms, sid) as st:
        r = await set_message(api, sid, body)
        assert (r["result"]["status"], r["result"]["accepted"]) == (status, False)
        assert st.all("SetDisplayMessage") and await kept(api, sid) == {}


async def test_tc_o_26_rejected_when_the_station_is_full(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("O26")
    async with station(csms, sid):
        for mid in range(1, CAPACITY + 1):
            await set_message(api, sid, message(mid))
        r = await set_message(api, sid, message(9, priority="NormalCycle"))
        assert r["result"]["status"] == "Rejected" and sorted(await kept(api, sid)) == [1, 2, 3]


async def test_tc_o_13_o_14_validity(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("O13")
    soon = datetime.now(UTC) + timedelta(hours=1)
    async with station(csms, sid) as st:
        await set_message(api, sid, message(1, start_at=soon.isoformat()))
        await set_message(api, sid, message(2, end_at=soon.isoformat()))
        assert "start_date_time" in st.all("SetDisplayMessage")[0]["message"]
        assert "end_date_time" in st.all("SetDisplayMessage")[1]["message"]
        messages = await kept(api, sid)
        assert (messages[1]["validity"], messages[2]["validity"]) == ("not_yet", "valid")
        assert messages[2]["end_at"] is not None and messages[1]["end_at"] is None


@pytest.mark.parametrize(("case", "extra"), [("o_06", {}), ("o_27", {"start": True}), ("o_28", {"end": True})])
async def test_tc_o_06_o_27_o_28_message_for_the_running_transaction(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, extra: dict[str, bool]
) -> None:
    sid = new_id(case.upper())
    async with station(csms, sid) as st:
        ok(await api.post("/api/v1/tokens", json={"id_token": f"04C0{case[2:]}01"}), 201)
        await command(api, sid, "remote-start", {"id_token": f"04C0{case[2:]}01", "evse_id": 1})

        async def running() -> bool:
            return bool(ok(await api.get(f"/api/v1/stations/{sid}"))["transactions"])

        await eventually(running, "the transaction running")
        at = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
        body = message(7, priority="InFront", transaction_id=st.transaction_id)
        if extra.get("start"):
            body["start_at"] = at
        if extra.get("end"):
            body["end_at"] = at
        r = await set_message(api, sid, body)
        assert r["result"]["status"] == "Accepted"
        sent = r["request"]["message"]
        assert "state" not in sent and ("startDateTime" in sent) is bool(extra.get("start"))
        assert ("endDateTime" in sent) is bool(extra.get("end"))
        assert (await kept(api, sid))[7]["transaction_id"] == st.transaction_id


async def test_tc_o_02_o_07_o_08_o_09_get_reconciles_what_is_kept(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("O02")
    async with station(csms, sid) as st:
        await set_message(api, sid, message(1, priority="InFront"))
        await set_message(api, sid, message(2, state="Charging"))
        await set_message(api, sid, message(3))
        del st.messages[3]  # the station lost one (a reboot without persistence)
        st.messages[4] = {"id": 4, "priority": "NormalCycle",
                          "message": {"format": "ASCII", "content": "set by someone else"}}  # fmt: skip
        r = await command(api, sid, "get-display-messages", {})  # O_02: every filter omitted
        assert r["request"] == {"requestId": r["result"]["request_id"]} and r["result"]["status"] == "Accepted"

        async def reconciled() -> bool:
            return sorted(await kept(api, sid)) == [1, 2, 4]

        await eventually(reconciled, "3 removed and 4 added from the report (two parts)")
        messages = await kept(api, sid)
        assert messages[4]["content"] == "set by someone else" and messages[4]["set_at"] is None
        assert all(m["reported_at"] for m in messages.values())
        for body, wire in [
            ({"ids": [2]}, {"id": [2]}),
            ({"priority": "InFront"}, {"priority": "InFront"}),
            ({"state": "Charging"}, {"state": "Charging"}),
        ]:  # O_07, O_08, O_09 (fmt: skip)
            r = await command(api, sid, "get-display-messages", body)
            assert r["request"] == {"requestId": r["result"]["request_id"], **wire}
            assert r["result"]["status"] == "Accepted"
        assert sorted(await kept(api, sid)) == [1, 2, 4]


async def test_tc_o_03_o_11_unknown_answers_remove_what_the_station_does_not_have(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("O03")
    async with station(csms, sid) as st:
        await set_message(api, sid, message(1))
        await set_message(api, sid, message(2))
        r = await command(api, sid, "get-display-messages", {"ids": [99]})  # O_11
        assert r["result"]["status"] == "Unknown" and sorted(await kept(api, sid)) == [1, 2]
        st.messages.pop(2)
        r = await command(api, sid, "get-display-messages", {"ids": [2]})
        assert r["result"]["status"] == "Unknown" and sorted(await kept(api, sid)) == [1]
        st.messages.clear()
        r = await command(api, sid, "get-display-messages", {})  # O_03: none configured
        assert r["result"]["status"] == "Unknown" and await kept(api, sid) == {}


async def test_tc_o_04_o_05_clear(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("O04")
    async with station(csms, sid) as st:
        await set_message(api, sid, message(1))
        await set_message(api, sid, message(2))
        r = await command(api, sid, "clear-display-message", {"id": 1})
        assert r["request"] == {"id": 1} and r["result"]["status"] == "Accepted"
        assert sorted(await kept(api, sid)) == [2] and 1 not in st.messages
        r = await command(api, sid, "clear-display-message", {"id": 42})  # O_05: sent even when unknown
        assert r["result"]["status"] == "Unknown" and st.last("ClearDisplayMessage") == {"id": 42}
        st.messages.pop(2)
        r = await command(api, sid, "clear-display-message", {"id": 2})
        assert r["result"]["status"] == "Unknown" and await kept(api, sid) == {}


async def test_display_messages_are_refused_before_sending_to_1_6_and_for_2_1_states(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    sid = new_id("O16")
    async with connected(csms.ws_url, sid, "1.6") as st:
        r = await api.post(f"/api/v1/stations/{sid}/commands/set-display-message", json=message(1))
        assert r.status_code == 400 and "1.6" in r.json()["detail"]
        assert "SetDisplayMessage" not in st.actions()
    sid = new_id("O21")
    async with station(csms, sid) as st:
        r = await api.post(f"/api/v1/stations/{sid}/commands/set-display-message", json=message(1, state="Suspended"))
        assert r.status_code == 400 and "2.1" in r.json()["detail"] and not st.all("SetDisplayMessage")


class Display21(Cp21):
    """A 2.1 display that shows English and Dutch only."""

    @on("SetDisplayMessage")
    async def on_set_display_message(self, message: dict[str, Any], **kw: Any) -> Any:
        language = message["message"].get("language")
        return r21.SetDisplayMessage(status="Accepted" if language in (None, "en", "nl") else "LanguageNotSupported")


async def test_tc_o_100_unsupported_language_and_2_1_states(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_id("O100")
    async with websockets.connect(f"{csms.ws_url}/{sid}", subprotocols=["ocpp2.1"]) as ws:
        cp = Display21(sid, ws, response_timeout=30)
        runner = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(c21.BootNotification(charging_station={"model": "O100", "vendor_name": "ACME"},
                                                      reason="PowerUp"))  # fmt: skip
            assert boot.status == "Accepted"
            r = await set_message(api, sid, {**message(1), "language": "fr"})
            assert (r["result"]["status"], r["result"]["accepted"]) == ("LanguageNotSupported", False)
            assert await kept(api, sid) == {}
            r = await set_message(api, sid, message(2, state="Suspended"))  # a 2.1 state, on a 2.1 station
            assert r["result"]["status"] == "Accepted" and (await kept(api, sid))[2]["state"] == "Suspended"
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner


class Driver21(Display21):
    """A 2.1 station whose display shows English, Dutch and German; it keeps what it was sent."""

    sent: list[dict[str, Any]]

    @on("SetDisplayMessage")
    async def on_set_display_message(self, message: dict[str, Any], **kw: Any) -> Any:
        self.sent.append(message)
        language = message["message"].get("language")
        return r21.SetDisplayMessage(status="Accepted" if language in ("en", "nl", "de") else "LanguageNotSupported")


async def test_tc_o_101_set_display_message_in_the_drivers_language(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    """The driver's languages are kept with the token, go to the station in idTokenInfo, and choose the
    text a message for the driver's transaction is sent in (the others in 2.1 messageExtra)."""
    sid, token = new_id("O101"), new_id("O101TOK")
    created = ok(await api.post("/api/v1/tokens", json={"id_token": token, "language1": "nl", "language2": "de"}), 201)
    assert (created["language1"], created["language2"]) == ("nl", "de")
    r = await api.post("/api/v1/tokens", json={"id_token": token + "X", "language2": "de"})
    assert r.status_code == 400 and "language2" in r.json()["detail"]
    bad = csms.cli("tokens", "add", token + "C", "--language1", "n1", check=False)  # not a language code
    assert bad.returncode == 2 and "language1" in bad.stdout
    csms.cli("tokens", "add", token + "C", "--language1", "de", "--language2", "en")
    by_cli = ok(await api.get(f"/api/v1/tokens/{token}C"))
    assert (by_cli["language1"], by_cli["language2"]) == ("de", "en")
    patched = ok(await api.patch(f"/api/v1/tokens/{token}C", json={"language2": None}))
    assert (patched["language1"], patched["language2"]) == ("de", None)
    async with websockets.connect(f"{csms.ws_url}/{sid}", subprotocols=["ocpp2.1"]) as ws:
        cp = Driver21(sid, ws, response_timeout=30)
        cp.sent = []
        runner = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(c21.BootNotification(charging_station={"model": "O101", "vendor_name": "ACME"},
                                                      reason="PowerUp"))  # fmt: skip
            assert boot.status == "Accepted"
            id_token = {"id_token": token, "type": "Central"}
            auth = await cp.call(c21.Authorize(id_token=id_token), suppress=False)
            info = auth.id_token_info
            assert (info["status"], info["language1"], info["language2"]) == ("Accepted", "nl", "de")
            started = await cp.call(
                c21.TransactionEvent(event_type="Started", timestamp=datetime.now(UTC).isoformat(),
                                     trigger_reason="Authorized", seq_no=0, id_token=id_token,
                                     transaction_info={"transaction_id": "TX-O101"},
                                     evse={"id": 1, "connector_id": 1}),
                suppress=False,
            )  # fmt: skip
            assert started.id_token_info["language1"] == "nl"
            body = {**message(1, transaction_id="TX-O101"), "content": "Charging",
                    "translations": {"de": "Ladevorgang läuft", "nl": "Bezig met laden"}}  # fmt: skip
            r = await set_message(api, sid, body)
            assert r["result"]["status"] == "Accepted"
            [first] = cp.sent
            assert first["message"] == {"format": "UTF8", "language": "nl", "content": "Bezig met laden"}
            assert [(m["language"], m["content"]) for m in first["message_extra"]] == [
                ("en", "Charging"), ("de", "Ladevorgang läuft")]  # fmt: skip
            assert (await kept(api, sid))[1]["language"] == "nl"
            # no Dutch text: the driver's second language is next
            r = await set_message(api, sid, {**body, "id": 2, "translations": {"de": "Ladevorgang läuft"}})
            assert cp.sent[-1]["message"]["language"] == "de" and r["result"]["status"] == "Accepted"
            # neither: the message as the operator wrote it; without a transaction nothing is chosen
            r = await set_message(api, sid, {**body, "id": 3, "translations": {"fr": "En charge"}})
            assert cp.sent[-1]["message"]["language"] == "en"
            r = await set_message(api, sid, {**message(4), "translations": {"nl": "Welkom"}})
            assert cp.sent[-1]["message"]["language"] == "en"
            assert [m["language"] for m in cp.sent[-1]["message_extra"]] == ["nl"]
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
