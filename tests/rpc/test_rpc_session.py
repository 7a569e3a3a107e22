"""The RPC Session, two of them wired to each other in memory (each send is delivered with call_soon)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from ocppd.protocol import CompatProfile, ErrorKind, OcppError, OcppVersion, Relaxation
from ocppd.protocol.frames import MessageType
from ocppd.rpc import CallErrorReceived, CallTimeout, Session, SessionClosed

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
ALL = [V16, V201, V21]
GUARD = 5.0  # a generous bound that only turns a deadlock into a failure; never a timing assertion


def data_transfer(data: str = "ping") -> dict[str, Any]:
    return {"vendorId": "org.example", "messageId": "m", "data": data}


def accepted(data: str = "pong") -> dict[str, Any]:
    return {"status": "Accepted", "data": data}


def boot(version: OcppVersion) -> dict[str, Any]:
    if version is V16:
        return {"chargePointVendor": "Vendor", "chargePointModel": "Model"}
    return {"reason": "PowerUp", "chargingStation": {"model": "Model", "vendorName": "Vendor"}}


@dataclass
class Recorder:
    """A SessionObserver that keeps everything."""

    frames: list[tuple[str, str, int | None, str | None, str | None]] = field(default_factory=list)
    relaxations: list[tuple[str, Relaxation]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    inbound: list[tuple[str, str]] = field(default_factory=list)

    def on_frame(self, session, direction, text, message_type, message_id, action):
        assert isinstance(text, str)
        self.frames.append((direction, text, message_type, message_id, action))

    def on_relaxation(self, session, action, relaxation):
        self.relaxations.append((action, relaxation))

    def on_call_done(self, session, action, seconds, outcome):
        assert seconds >= 0
        self.calls.append((action, outcome))

    def on_inbound_done(self, session, action, outcome):
        self.inbound.append((action, outcome))


class Pair:
    """Session ``a`` (think: the station) and session ``b`` (the CSMS), wired to each other.

    ``a_sent`` / ``b_sent`` keep every text each side put on the "wire", decoded.
    """

    def __init__(
        self,
        version: OcppVersion,
        a_handlers: dict | None = None,
        b_handlers: dict | None = None,
        *,
        a_kw: dict | None = None,
        b_kw: dict | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.a_sent: list[list] = []
        self.b_sent: list[list] = []
        self.a_observer, self.b_observer = Recorder(), Recorder()
        self.cut = False

        def send_a(text: str) -> None:
            self.a_sent.append(orjson.loads(text))
            if not self.cut:
                loop.call_soon(self.b.receive, text)

        def send_b(text: str) -> None:
            self.b_sent.append(orjson.loads(text))
            if not self.cut:
                loop.call_soon(self.a.receive, text)

        self.a = Session(identity="CP-1", version=version, send=send_a, handlers=a_handlers or {},
                         observer=self.a_observer, **(a_kw or {}))  # fmt: skip
        self.b = Session(identity="CP-1", version=version, send=send_b, handlers=b_handlers or {},
                         observer=self.b_observer, **(b_kw or {}))  # fmt: skip

    @staticmethod
    def calls(sent: list[list]) -> list[list]:
        return [frame for frame in sent if frame[0] == MessageType.CALL]


async def settle(rounds: int = 20) -> None:
    """Let every call_soon delivery and handler task run."""
    for _ in range(rounds):
        await asyncio.sleep(0)


# ------------------------------------------------------------------ call / response
@pytest.mark.parametrize("version", ALL)
async def test_call_and_response(version):
    seen = []

    async def on_boot(session, payload):
        seen.append((session.identity, payload))
        return {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}

    pair = Pair(version, b_handlers={"BootNotification": on_boot})
    result = await asyncio.wait_for(pair.a.call("BootNotification", boot(version)), GUARD)
    assert result == {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}
    assert seen == [("CP-1", boot(version))]
    [call] = pair.a_sent
    assert call[0] == 2 and call[2] == "BootNotification" and len(call[1]) <= 36
    assert pair.b_sent == [[3, call[1], result]]


@pytest.mark.parametrize("version", ALL)
async def test_handler_returning_none_answers_empty_object(version):
    async def on_heartbeat(session, payload):
        return None

    # {} is not a valid ClearCache response; only the framing matters here
    pair = Pair(version, a_handlers={"ClearCache": on_heartbeat}, a_kw={"validate": False},
                b_kw={"validate": False})  # fmt: skip
    assert await asyncio.wait_for(pair.b.call("ClearCache", {}, timeout=GUARD), GUARD) == {}


@pytest.mark.parametrize("version", ALL)
async def test_message_ids_are_unique(version):
    async def echo(session, payload):
        return accepted()

    pair = Pair(version, b_handlers={"DataTransfer": echo})
    for _ in range(5):
        await pair.a.call("DataTransfer", data_transfer())
    ids = [frame[1] for frame in pair.a_sent]
    assert len(set(ids)) == 5 and all(0 < len(i) <= 36 for i in ids)


# ------------------------------------------------------------------ CALLERROR
@pytest.mark.parametrize("version", ALL)
async def test_callerror_is_raised_with_kind(version):
    async def refuse(session, payload):
        raise OcppError(ErrorKind.SECURITY_ERROR, "not allowed", {"why": "test"})

    pair = Pair(version, b_handlers={"DataTransfer": refuse})
    with pytest.raises(OcppError) as info:
        await asyncio.wait_for(pair.a.call("DataTransfer", data_transfer()), GUARD)
    assert isinstance(info.value, CallErrorReceived)
    assert info.value.kind is ErrorKind.SECURITY_ERROR
    assert info.value.description == "not allowed" and info.value.details == {"why": "test"}
    assert pair.a_observer.calls == [("DataTransfer", "SecurityError")]
    assert pair.b_observer.inbound == [("DataTransfer", "SecurityError")]


@pytest.mark.parametrize("version", ALL)
async def test_handler_exception_is_internal_error_and_session_lives_on(version, caplog):
    calls = 0

    async def flaky(session, payload):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return accepted("second")

    pair = Pair(version, b_handlers={"DataTransfer": flaky})
    with pytest.raises(OcppError) as info:
        await asyncio.wait_for(pair.a.call("DataTransfer", data_transfer()), GUARD)
    assert info.value.kind is ErrorKind.INTERNAL_ERROR
    assert "boom" not in info.value.description  # internals are not leaked to the peer
    assert await asyncio.wait_for(pair.a.call("DataTransfer", data_transfer()), GUARD) == accepted("second")
    assert "handler for DataTransfer failed" in caplog.text


@pytest.mark.parametrize("version", ALL)
async def test_our_own_invalid_response_is_internal_error(version, caplog):
    """The peer's request was fine: blaming it with a constraint violation would mislead its developers."""

    async def sloppy(session, payload):
        return {"status": "Accepted"}  # currentTime and interval missing

    pair = Pair(version, b_handlers={"BootNotification": sloppy})
    with pytest.raises(CallErrorReceived) as info:
        await asyncio.wait_for(pair.a.call("BootNotification", boot(version)), GUARD)
    assert info.value.kind is ErrorKind.INTERNAL_ERROR
    assert pair.b_observer.inbound == [("BootNotification", "InternalError")]
    assert "invalid BootNotification response" in caplog.text


@pytest.mark.parametrize("version", ALL)
async def test_unknown_action_is_not_implemented(version):
    pair = Pair(version, a_kw={"validate": False})
    with pytest.raises(OcppError) as info:
        await asyncio.wait_for(pair.a.call("NoSuchAction", {}), GUARD)
    assert info.value.kind is ErrorKind.NOT_IMPLEMENTED
    assert pair.b_sent[0][2] == "NotImplemented"


@pytest.mark.parametrize("version", ALL)
async def test_known_but_unhandled_action_is_not_supported(version):
    pair = Pair(version)
    with pytest.raises(OcppError) as info:
        await asyncio.wait_for(pair.a.call("BootNotification", boot(version)), GUARD)
    assert info.value.kind is ErrorKind.NOT_SUPPORTED
    assert pair.b_sent[0][2] == "NotSupported"


@pytest.mark.parametrize(
    ("version", "code"),
    [(V16, "OccurenceConstraintViolation"), (V201, "OccurrenceConstraintViolation"),
     (V21, "OccurrenceConstraintViolation")],
)  # fmt: skip
async def test_invalid_inbound_payload_missing_field(version, code):
    handled = []

    async def on_boot(session, payload):
        handled.append(payload)
        return {}

    pair = Pair(version, b_handlers={"BootNotification": on_boot}, a_kw={"validate": False})
    payload = boot(version)
    payload.pop("chargePointVendor" if version is V16 else "reason")
    with pytest.raises(OcppError) as info:
        await asyncio.wait_for(pair.a.call("BootNotification", payload), GUARD)
    assert info.value.kind is ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION
    assert info.value.code == code and pair.b_sent[0][2] == code
    assert handled == []  # an invalid payload never reaches the handler


@pytest.mark.parametrize(
    ("version", "mutate", "code"),
    [
        (V16, lambda p: p.update(chargePointModel=5), "TypeConstraintViolation"),
        (V201, lambda p: p.update(reason=5), "TypeConstraintViolation"),
        (V16, lambda p: p.update(chargePointModel="M" * 21), "PropertyConstraintViolation"),
        (V21, lambda p: p.update(reason="Whim"), "PropertyConstraintViolation"),
        (V16, lambda p: p.update(extra=1), "FormationViolation"),
        (V201, lambda p: p.update(extra=1), "FormatViolation"),
        (V21, lambda p: p.update(extra=1), "FormatViolation"),
    ],
)
async def test_invalid_inbound_payload_per_version(version, mutate, code):
    async def on_boot(session, payload):
        return {}

    pair = Pair(version, b_handlers={"BootNotification": on_boot}, a_kw={"validate": False})
    payload = boot(version)
    mutate(payload)
    with pytest.raises(OcppError) as info:
        await asyncio.wait_for(pair.a.call("BootNotification", payload), GUARD)
    assert info.value.code == code


@pytest.mark.parametrize("version", ALL)
async def test_our_own_invalid_request_is_refused_before_sending(version):
    pair = Pair(version)
    with pytest.raises(OcppError) as info:
        await pair.a.call("BootNotification", {})
    assert info.value.kind is ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION
    assert pair.a_sent == []


async def test_relaxation_lets_payload_through_and_is_reported():
    async def on_boot(session, payload):
        return {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 60}

    profile = CompatProfile.parse(["truncate_long_strings"])
    pair = Pair(V16, b_handlers={"BootNotification": on_boot}, a_kw={"validate": False},
                b_kw={"compat": profile})  # fmt: skip
    payload = {"chargePointVendor": "V" * 30, "chargePointModel": "Model"}
    assert (await asyncio.wait_for(pair.a.call("BootNotification", payload), GUARD))["status"] == "Accepted"
    assert pair.b_observer.relaxations == [("BootNotification", Relaxation.TRUNCATE_LONG_STRINGS)]


# ------------------------------------------------------------------ timeout and late replies
@pytest.mark.parametrize("version", ALL)
async def test_timeout_and_late_reply_is_dropped(version):
    release_first, release_second = asyncio.Event(), asyncio.Event()

    async def slow(session, payload):
        await (release_first if payload["data"] == "first" else release_second).wait()
        return accepted(f"answer to {payload['data']}")

    pair = Pair(version, b_handlers={"DataTransfer": slow})
    with pytest.raises(CallTimeout) as info:
        await pair.a.call("DataTransfer", data_transfer("first"), timeout=0.05)
    assert info.value.action == "DataTransfer"
    assert pair.a_observer.calls == [("DataTransfer", "timeout")]

    second = asyncio.ensure_future(pair.a.call("DataTransfer", data_transfer("second"), timeout=GUARD))
    await settle()
    assert len(Pair.calls(pair.a_sent)) == 2  # the second call is on the wire, waiting
    release_first.set()  # now the late answer to the first call arrives while the second is pending
    await settle()
    assert len(pair.b_sent) == 1 and not second.done()  # the late reply matched nothing
    late = [f for f in pair.a_observer.frames if f[0] == "in" and f[3] == pair.a_sent[0][1]]
    assert late and late[0][4] is None  # observed, with no action: it matched no pending call
    release_second.set()
    assert await asyncio.wait_for(second, GUARD) == accepted("answer to second")


@pytest.mark.parametrize("version", ALL)
async def test_reply_to_unknown_id_is_dropped(version):
    async def echo(session, payload):
        return accepted()

    pair = Pair(version, b_handlers={"DataTransfer": echo})
    pair.a.receive('[3, "never-sent", {"status": "Accepted"}]')
    pair.a.receive('[4, "never-sent", "GenericError", "", {}]')
    await settle()
    assert pair.a_sent == []  # nothing answered
    assert await asyncio.wait_for(pair.a.call("DataTransfer", data_transfer()), GUARD) == accepted()


@pytest.mark.parametrize("version", ALL)
async def test_reply_with_wrong_id_while_pending_does_not_resolve_the_call(version):
    pair = Pair(version)
    pair.cut = True  # nothing is delivered: we play the peer by hand
    call = asyncio.ensure_future(pair.a.call("DataTransfer", data_transfer(), timeout=GUARD))
    await settle()
    [frame] = pair.a_sent
    pair.a.receive(orjson.dumps([3, frame[1] + "x", accepted("wrong")]))
    await settle()
    assert not call.done()
    pair.a.receive(orjson.dumps([3, frame[1], accepted("right")]))
    assert await asyncio.wait_for(call, GUARD) == accepted("right")


# ------------------------------------------------------------------ one call in flight, FIFO
@pytest.mark.parametrize("version", ALL)
async def test_one_call_in_flight_and_fifo_order(version):
    gates: dict[str, asyncio.Event] = {}
    order: list[str] = []

    async def gated(session, payload):
        order.append(payload["data"])
        await gates.setdefault(payload["data"], asyncio.Event()).wait()
        return accepted(payload["data"])

    pair = Pair(version, b_handlers={"DataTransfer": gated})
    names = [f"c{i}" for i in range(5)]
    for name in names:
        gates[name] = asyncio.Event()
    tasks = [asyncio.ensure_future(pair.a.call("DataTransfer", data_transfer(n), timeout=GUARD)) for n in names]
    for index, name in enumerate(names):
        await settle()
        # only one CALL on the wire beyond those already answered
        assert len(Pair.calls(pair.a_sent)) == index + 1
        assert order == names[: index + 1]
        gates[name].set()
        assert await asyncio.wait_for(tasks[index], GUARD) == accepted(name)
    assert [frame[3]["data"] for frame in Pair.calls(pair.a_sent)] == names


@pytest.mark.parametrize("version", ALL)
async def test_inbound_calls_answered_while_our_call_is_pending(version):
    """Crossing calls: both sides call at once; each answers the other while its own call waits."""
    both_in = asyncio.Event()
    arrived = 0

    async def wait_for_both(session, payload):
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both_in.set()
        await both_in.wait()
        return accepted(f"{session is pair.a}")

    pair = Pair(version, a_handlers={"DataTransfer": wait_for_both}, b_handlers={"DataTransfer": wait_for_both})
    from_a = pair.a.call("DataTransfer", data_transfer("a"))
    from_b = pair.b.call("DataTransfer", data_transfer("b"))
    result_a, result_b = await asyncio.wait_for(asyncio.gather(from_a, from_b), GUARD)
    assert result_a == accepted("False") and result_b == accepted("True")


@pytest.mark.parametrize("version", ALL)
async def test_handler_calls_the_peer_back_without_deadlock(version):
    """b's handler for a's call calls a back (a's call still pending): no deadlock."""

    async def on_boot(session, payload):
        answer = await session.call("DataTransfer", data_transfer("who are you?"))
        assert answer == accepted("CP-1 here")
        return {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 60}

    async def on_data(session, payload):
        return accepted("CP-1 here")

    pair = Pair(version, a_handlers={"DataTransfer": on_data}, b_handlers={"BootNotification": on_boot})
    result = await asyncio.wait_for(pair.a.call("BootNotification", boot(version)), GUARD)
    assert result["status"] == "Accepted"
    types = [frame[0] for frame in pair.a_sent]
    assert types == [2, 3]  # a's CALL, then a's answer to b's call-back


# ------------------------------------------------------------------ connection loss
@pytest.mark.parametrize("version", ALL)
async def test_connection_lost_fails_pending_call(version):
    never = asyncio.Event()

    async def hang(session, payload):
        await never.wait()

    pair = Pair(version, b_handlers={"DataTransfer": hang})
    pending = asyncio.ensure_future(pair.a.call("DataTransfer", data_transfer(), timeout=GUARD))
    queued = asyncio.ensure_future(pair.a.call("DataTransfer", data_transfer(), timeout=GUARD))
    await settle()
    pair.a.connection_lost()
    with pytest.raises(SessionClosed):
        await asyncio.wait_for(pending, GUARD)
    with pytest.raises(SessionClosed):
        await asyncio.wait_for(queued, GUARD)
    with pytest.raises(SessionClosed):
        await pair.a.call("DataTransfer", data_transfer())
    assert len(Pair.calls(pair.a_sent)) == 1
    assert pair.a.closed


@pytest.mark.parametrize("version", ALL)
async def test_connection_lost_cancels_handlers_and_sends_nothing(version):
    started, never = asyncio.Event(), asyncio.Event()

    async def hang(session, payload):
        started.set()
        await never.wait()

    pair = Pair(version, b_handlers={"DataTransfer": hang})
    call = asyncio.ensure_future(pair.a.call("DataTransfer", data_transfer(), timeout=GUARD))
    await asyncio.wait_for(started.wait(), GUARD)
    pair.b.connection_lost()
    await settle()
    assert pair.b_sent == []
    pair.a.connection_lost()
    with pytest.raises(SessionClosed):
        await asyncio.wait_for(call, GUARD)


# ------------------------------------------------------------------ bad frames
@pytest.mark.parametrize(
    ("version", "code"), [(V16, "FormationViolation"), (V201, "RpcFrameworkError"), (V21, "RpcFrameworkError")]
)
async def test_unparseable_frame_answered_with_minus_one(version, code):
    pair = Pair(version)
    pair.b.receive("this is not json")
    await settle()
    assert pair.b_sent == [[4, "-1", code, "Frame is not valid JSON", {}]]
    assert pair.b_observer.frames[0][:3] == ("in", "this is not json", None)


@pytest.mark.parametrize(("version", "answered"), [(V16, False), (V201, True), (V21, False)])
async def test_unknown_message_type(version, answered):
    pair = Pair(version)
    pair.b.receive('[7, "m-1", "Heartbeat", {}]')
    await settle()
    if answered:
        assert pair.b_sent == [[4, "m-1", "MessageTypeNotSupported", pair.b_sent[0][3], {}]]
    else:
        assert pair.b_sent == []


async def test_bytes_are_accepted_and_observed_as_text():
    async def echo(session, payload):
        return accepted()

    pair = Pair(V201, b_handlers={"DataTransfer": echo})
    pair.b.receive(b'[2, "m-1", "DataTransfer", {"vendorId": "v"}]')
    await settle()
    assert pair.b_sent == [[3, "m-1", accepted()]]
    assert isinstance(pair.b_observer.frames[0][1], str)


# ------------------------------------------------------------------ 2.1: SEND and CALLRESULTERROR
def stream_data(n: int = 1) -> dict[str, Any]:
    return {"id": 1, "pending": 0, "basetime": "2024-01-01T00:00:00Z",
            "data": [{"t": float(i), "v": str(i)} for i in range(n)]}  # fmt: skip


async def test_send_both_ways_without_answer():
    got_a, got_b = [], []

    async def on_stream_a(session, payload):
        got_a.append(payload)

    async def on_stream_b(session, payload):
        got_b.append(payload)
        return {"ignored": True}  # whatever a SEND handler returns, nothing is sent

    pair = Pair(V21, a_handlers={"NotifyPeriodicEventStream": on_stream_a},
                b_handlers={"NotifyPeriodicEventStream": on_stream_b})  # fmt: skip
    pair.a.send_unconfirmed("NotifyPeriodicEventStream", stream_data(2))
    pair.b.send_unconfirmed("NotifyPeriodicEventStream", stream_data(3))
    await settle()
    assert got_b == [stream_data(2)] and got_a == [stream_data(3)]
    assert [frame[0] for frame in pair.a_sent] == [6] and [frame[0] for frame in pair.b_sent] == [6]
    assert pair.a_sent[0][2] == "NotifyPeriodicEventStream"
    sent = [f for f in pair.a_observer.frames if f[0] == "out"]
    assert sent[0][2] == MessageType.SEND and sent[0][4] == "NotifyPeriodicEventStream"


async def test_send_of_invalid_or_unhandled_payload_is_never_answered():
    pair = Pair(V21, a_kw={"validate": False})
    pair.a.send_unconfirmed("NotifyPeriodicEventStream", {"bogus": True})  # invalid
    pair.a.send_unconfirmed("NotifyPeriodicEventStream", stream_data())  # no handler
    pair.a.send_unconfirmed("NoSuchAction", {})  # unknown
    await settle()
    assert len(pair.a_sent) == 3 and pair.b_sent == []


async def test_send_does_not_disturb_a_pending_call():
    got = []

    async def on_stream(session, payload):
        got.append(payload)

    async def on_data(session, payload):
        session.send_unconfirmed("NotifyPeriodicEventStream", stream_data())
        return accepted()

    pair = Pair(V21, a_handlers={"NotifyPeriodicEventStream": on_stream}, b_handlers={"DataTransfer": on_data})
    assert await asyncio.wait_for(pair.a.call("DataTransfer", data_transfer()), GUARD) == accepted()
    await settle()
    assert got == [stream_data()]


@pytest.mark.parametrize("version", [V16, V201])
async def test_send_exists_only_in_21(version):
    pair = Pair(version)
    with pytest.raises(OcppError) as info:
        pair.a.send_unconfirmed("DataTransfer", data_transfer())
    assert info.value.kind is ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED
    assert pair.a_sent == []


async def test_send_validates_our_payload():
    pair = Pair(V21)
    with pytest.raises(OcppError):
        pair.a.send_unconfirmed("NotifyPeriodicEventStream", {"id": 1})
    assert pair.a_sent == []


@pytest.mark.parametrize(("version", "answered"), [(V16, False), (V201, False), (V21, True)])
async def test_invalid_response_from_peer(version, answered):
    async def sloppy(session, payload):
        return {"data": "no status"}

    pair = Pair(version, b_handlers={"DataTransfer": sloppy}, b_kw={"validate": False})
    with pytest.raises(OcppError) as info:
        await asyncio.wait_for(pair.a.call("DataTransfer", data_transfer()), GUARD)
    assert info.value.kind is ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION
    assert not isinstance(info.value, CallErrorReceived)  # our verdict, not the peer's
    code = "OccurenceConstraintViolation" if version is V16 else "OccurrenceConstraintViolation"
    assert pair.a_observer.calls == [("DataTransfer", code)]  # never counted as "ok"
    await settle()
    call_id = pair.a_sent[0][1]
    if answered:
        assert pair.a_sent[1][:3] == [5, call_id, "OccurrenceConstraintViolation"]
        out = [f for f in pair.a_observer.frames if f[0] == "out"]
        assert out[-1][2] == MessageType.CALLRESULTERROR
        # the peer logs and observes the CALLRESULTERROR, and answers nothing
        assert pair.b_observer.frames[-1][:2] == ("in", orjson.dumps(pair.a_sent[1]).decode())
        assert pair.b_observer.frames[-1][2] == MessageType.CALLRESULTERROR
        assert len(pair.b_sent) == 1
    else:
        assert len(pair.a_sent) == 1


async def test_broken_callresult_21_gets_callresulterror():
    pair = Pair(V21)
    pair.a.receive('[3, "m-9", "not an object"]')
    await settle()
    assert pair.a_sent[0][:3] == [5, "m-9", "FormatViolation"]


# ------------------------------------------------------------------ observer
async def test_observer_hooks():
    async def on_boot(session, payload):
        return {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 60}

    pair = Pair(V201, b_handlers={"BootNotification": on_boot})
    await asyncio.wait_for(pair.a.call("BootNotification", boot(V201)), GUARD)
    with pytest.raises(OcppError):
        await asyncio.wait_for(pair.a.call("Heartbeat", {}), GUARD)
    call_id = pair.a_sent[0][1]
    a_frames = [(d, t, i, act) for d, _text, t, i, act in pair.a_observer.frames]
    assert a_frames[:2] == [("out", 2, call_id, "BootNotification"), ("in", 3, call_id, "BootNotification")]
    assert a_frames[2][:2] == ("out", 2) and a_frames[3][:2] == ("in", 4)
    b_frames = [(d, t, i, act) for d, _text, t, i, act in pair.b_observer.frames]
    assert b_frames[:2] == [("in", 2, call_id, "BootNotification"), ("out", 3, call_id, "BootNotification")]
    assert pair.a_observer.calls == [("BootNotification", "ok"), ("Heartbeat", "NotSupported")]
    assert pair.b_observer.inbound == [("BootNotification", "ok"), ("Heartbeat", "NotSupported")]
    texts = [text for _d, text, *_ in pair.a_observer.frames]
    assert orjson.loads(texts[0]) == pair.a_sent[0]


async def test_context_is_per_session():
    async def remember(session, payload):
        session.context["seen"] = session.context.get("seen", 0) + 1
        return accepted(str(session.context["seen"]))

    pair = Pair(V16, b_handlers={"DataTransfer": remember})
    for expected in ("1", "2"):
        assert (await pair.a.call("DataTransfer", data_transfer()))["data"] == expected
    assert pair.a.context == {} and pair.b.context == {"seen": 2}


# ------------------------------------------------------------------ back-pressure
class Gate:
    """A handler that holds every call until released; records how many run at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = 0
        self.most = 0
        self.order: list[str] = []

    async def heartbeat(self, session, payload):
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        return {"currentTime": "2024-01-01T00:00:00Z"}


def flooded_session(gate: Gate, holds: list[bool], sent: list[list], limit: int = 2) -> Session:
    return Session(identity="FLOOD", version=V16, send=lambda text: sent.append(orjson.loads(text)),
                   handlers={"Heartbeat": gate.heartbeat}, max_in_flight=limit, hold=holds.append)  # fmt: skip


async def test_inbound_calls_beyond_the_limit_wait_in_order_and_reading_is_held():
    gate, holds, sent = Gate(), [], []
    session = flooded_session(gate, holds, sent)
    for i in range(10):
        session.receive(f'[2, "h{i}", "Heartbeat", {{}}]'.encode())
    await settle()
    assert gate.most == 2 and holds == [True]  # two handled, eight wait, the transport stops reading
    gate.release.set()
    for _ in range(200):
        if len(sent) == 10:
            break
        await asyncio.sleep(0)
    assert [frame[1] for frame in sent] == [f"h{i}" for i in range(10)]  # answered in arrival order
    assert gate.most == 2 and holds == [True, False]


async def test_a_waiting_bad_frame_still_gets_its_callerror_in_turn():
    gate, holds, sent = Gate(), [], []
    session = flooded_session(gate, holds, sent, limit=1)
    session.receive(b'[2, "a", "Heartbeat", {}]')
    session.receive(b'[2, "b", "Heartbeat", {}]')  # waits, as received
    session.receive(b'[2, "c", "Heartbeat"]')  # waits too: it looks like a call
    gate.release.set()
    for _ in range(200):
        if len(sent) == 3:
            break
        await asyncio.sleep(0)
    assert [frame[:3] for frame in sent] == [[3, "a", sent[0][2]], [3, "b", sent[1][2]], [4, "c", "FormationViolation"]]


async def test_replies_are_never_kept_behind_waiting_calls():
    """A handler may await the peer's answer to our own call: that answer must not wait behind calls."""
    sent: list[list] = []
    got: list[dict] = []
    session: Session

    async def heartbeat(s, payload):
        got.append(await s.call("DataTransfer", data_transfer()))  # the CSMS asks back before answering
        return {"currentTime": "2024-01-01T00:00:00Z"}

    session = Session(identity="CP", version=V16, send=lambda text: sent.append(orjson.loads(text)),
                      handlers={"Heartbeat": heartbeat}, max_in_flight=1, hold=lambda busy: None)  # fmt: skip
    session.receive(b'[2, "h1", "Heartbeat", {}]')
    session.receive(b'[2, "h2", "Heartbeat", {}]')  # waits
    await settle()
    [ask] = [frame for frame in sent if frame[0] == 2]
    session.receive(orjson.dumps([3, ask[1], accepted()]))
    await asyncio.wait_for(_until(lambda: len(got) == 2 or len([f for f in sent if f[0] == 2]) == 2), GUARD)
    assert got[0] == accepted()


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0)
