"""The RPC session: one per connection, the same class for the CSMS and the station side.

It turns received text into handler calls and replies, and our own calls into frames, and knows
nothing of the transport: the transport hands it text with :meth:`Session.receive` and gives it a
``send`` function. Rules it keeps (OCPP-J 1.6 §4, 2.0.1/2.1 Part 4 §4):

* one outgoing CALL in flight, later calls wait in order behind it (an ``asyncio.Lock`` is FIFO);
* inbound CALLs are answered while our own CALL is pending, so a handler may call the peer back;
* a reply is matched by message id; one with an unknown id (including a late one, after its
  timeout) is logged and dropped, never matched to the next call;
* a handler's unexpected exception becomes an ``InternalError`` CALLERROR and the session lives on.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ocppd.protocol.compat import STRICT, CompatProfile, Relaxation
from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.protocol.frames import (
    Call,
    CallError,
    CallResult,
    CallResultError,
    FrameError,
    MessageType,
    Send,
    parse_frame,
)
from ocppd.protocol.validation import SchemaSet, schemas
from ocppd.protocol.versions import OcppVersion

log = logging.getLogger("ocppd.rpc")

Payload = dict[str, Any]
Handler = Callable[["Session", Payload], Awaitable[Payload | None]]

DEFAULT_CALL_TIMEOUT = 30.0


class SessionClosed(ConnectionError):
    """The connection ended before (or while) a call could be made."""


class CallTimeout(TimeoutError):
    """The peer did not answer a CALL in time."""

    def __init__(self, action: str, timeout: float) -> None:
        super().__init__(f"{action}: no answer within {timeout:g} s")
        self.action = action
        self.timeout = timeout


class CallErrorReceived(OcppError):
    """The peer answered our CALL with a CALLERROR."""


class WireDialect(Protocol):
    """Translation between a wire version and the version whose shape the application reads
    (OCPP 2.0 on the wire, 2.0.1 to the domain: ``ocppd.protocol.v20``)."""

    wire_version: OcppVersion
    domain_version: OcppVersion

    def request_in(self, action: str, payload: Payload) -> Payload: ...

    def response_out(self, action: str, payload: Payload, request: Payload) -> Payload: ...

    def request_out(self, action: str, payload: Payload) -> Payload: ...

    def response_in(self, action: str, payload: Payload) -> Payload: ...


class SessionObserver(Protocol):
    """Hooks for the message log and metrics; every method must be cheap and never raise."""

    def on_frame(
        self,
        session: Session,
        direction: str,
        text: str,
        message_type: int | None,
        message_id: str | None,
        action: str | None,
    ) -> None: ...

    def on_relaxation(self, session: Session, action: str, relaxation: Relaxation) -> None: ...

    def on_call_done(self, session: Session, action: str, seconds: float, outcome: str) -> None: ...

    def on_inbound_done(self, session: Session, action: str, outcome: str) -> None: ...


def _looks_like_a_call(text: str | bytes) -> bool:
    """Whether a frame's message type is CALL (2) or SEND (6), from its first characters only."""
    head = text[:12]
    if isinstance(head, str):
        head = head.encode("ascii", "replace")
    head = bytes(head).lstrip(b" \t\r\n")
    if head[:1] != b"[":
        return False
    kind = head[1:].lstrip(b" \t\r\n")[:2]
    return kind[:1] in (b"2", b"6") and kind[1:2] in (b",", b" ", b"\t", b"\r", b"\n")


@dataclass(slots=True)
class _Pending:
    message_id: str
    action: str
    future: asyncio.Future[CallResult | CallError]


class Session:
    """One OCPP-J RPC endpoint over one connection."""

    def __init__(
        self,
        *,
        identity: str,
        version: OcppVersion,
        send: Callable[[str], None],
        handlers: Mapping[str, Handler],
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        validate: bool = True,
        compat: CompatProfile = STRICT,
        observer: SessionObserver | None = None,
        max_in_flight: int = 0,
        hold: Callable[[bool], None] | None = None,
        dialect: WireDialect | None = None,
    ) -> None:
        self.identity = identity
        # ``version`` is what the wire speaks; with a dialect the application sees its domain version
        self.wire_version = version
        self.dialect = dialect
        self.version = dialect.domain_version if dialect is not None else version
        self.label = version.label  # what operators see; an OCPP-S session says "1.6S" with the 1.6 shape
        self.handlers = handlers
        self.call_timeout = call_timeout
        self.validate = validate
        self.compat = compat
        self.observer = observer
        self.context: dict[str, Any] = {}  # per-connection state owned by the application
        self.closed = False
        self._send_text = send
        self._schemas: SchemaSet = schemas(version)
        self._call_lock = asyncio.Lock()
        self._pending: _Pending | None = None
        self._id_prefix = secrets.token_hex(4) + "-"
        self._counter = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        # Back-pressure: at most max_in_flight inbound calls are handled at once (0: no limit); more wait
        # in order, and ``hold(True)`` asks the transport to stop reading until half of them are done.
        self._max_in_flight = max_in_flight
        self._hold = hold
        self._held = False
        self._in_flight = 0
        self._waiting: deque[Call | Send | str | bytes] = deque()
        self._warned_busy = False

    # ----------------------------------------------------------------------------- inbound
    def receive(self, text: str | bytes) -> None:
        """Feed one received text message. Never raises; never blocks."""
        if self._waiting and _looks_like_a_call(text):
            # Calls already wait their turn: keep this one as received, parse it when it is next, so that
            # a flood costs a list append per message (replies are never kept back: a handler may await one).
            self._waiting.append(text)
            return
        self._receive_now(text)

    def _receive_now(self, text: str | bytes) -> None:
        try:
            frame = parse_frame(text, self.wire_version)
        except FrameError as exc:
            log.warning("%s: bad frame (%s): %.200r", self.identity, exc.reason, text)
            self._observe_frame("in", text, None, None, None)
            if exc.answer is not None:
                self._send(exc.answer.encode(), exc.answer, None)
            return
        if type(frame) is Call:
            self._observe_frame("in", text, MessageType.CALL, frame.message_id, frame.action)
            self._handle(frame)
        elif type(frame) is CallResult or type(frame) is CallError:
            self._on_reply(frame, text)
        elif type(frame) is Send:
            self._observe_frame("in", text, MessageType.SEND, frame.message_id, frame.action)
            self._handle(frame)
        else:  # CALLRESULTERROR: the peer could not process one of our answers; nothing to retry
            assert isinstance(frame, CallResultError)
            self._observe_frame("in", text, MessageType.CALLRESULTERROR, frame.message_id, None)
            log.warning(
                "%s: peer rejected our reply %s: %s %s",
                self.identity,
                frame.message_id,
                frame.error_code,
                frame.description,
            )

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _handle(self, message: Call | Send) -> None:
        limit = self._max_in_flight
        if limit and self._in_flight >= limit:
            if not self._warned_busy:
                self._warned_busy = True
                log.info("%s: sends calls without waiting for the answers; they are handled %d at a time",
                         self.identity, limit)  # fmt: skip
            self._waiting.append(message)
            return
        self._start(message)

    def _start(self, message: Call | Send) -> None:
        self._in_flight += 1
        if self._max_in_flight and self._in_flight >= self._max_in_flight and not self._held:
            self._set_held(True)
        if type(message) is Call:
            self._spawn(self._answer(message))
        else:
            assert isinstance(message, Send)
            self._spawn(self._consume_send(message))

    def _handled(self) -> None:
        """One inbound call or SEND is done: start the next waiting one, resume reading at half the limit."""
        self._in_flight -= 1
        if self.closed:
            self._waiting.clear()
            return
        while self._waiting and self._in_flight < self._max_in_flight:
            item = self._waiting.popleft()
            if isinstance(item, Call | Send):
                self._start(item)
            else:  # kept as received: parse, log and answer it now (a bad frame gets its CALLERROR)
                self._receive_now(item)
        if self._held and not self._waiting and self._in_flight <= self._max_in_flight // 2:
            self._set_held(False)

    def _set_held(self, held: bool) -> None:
        self._held = held
        if self._hold is not None:
            self._hold(held)

    async def _answer(self, call: Call) -> None:
        try:
            await self._answer_call(call)
        finally:
            self._handled()

    async def _answer_call(self, call: Call) -> None:
        try:
            result = await self._dispatch(call.action, call.payload)
            if self.dialect is not None:
                result = self.dialect.response_out(call.action, result, call.payload)
            if self.validate:
                try:
                    self._schemas.validate(call.action, result, response=True)
                except OcppError as exc:  # our own answer is invalid; the peer's request was fine
                    log.error("%s: invalid %s response from our handler: %s", self.identity, call.action, exc)
                    raise OcppError(
                        ErrorKind.INTERNAL_ERROR, f"An internal error occurred handling {call.action}"
                    ) from exc
            reply: CallResult | CallError = CallResult(call.message_id, result)
            outcome = "ok"
        except OcppError as exc:
            reply = CallError.from_exception(call.message_id, exc, self.wire_version)
            outcome = reply.error_code
        except Exception:
            log.exception("%s: handler for %s failed", self.identity, call.action)
            error = OcppError(ErrorKind.INTERNAL_ERROR, f"An internal error occurred handling {call.action}")
            reply = CallError.from_exception(call.message_id, error, self.wire_version)
            outcome = reply.error_code
        if self.observer is not None:
            self.observer.on_inbound_done(self, call.action, outcome)
        if not self.closed:
            self._send(reply.encode(), reply, call.action)

    async def _consume_send(self, message: Send) -> None:
        try:
            await self._dispatch(message.action, message.payload)
        except Exception as exc:  # a SEND is never answered, whatever happens
            log.warning("%s: SEND %s not processed: %s", self.identity, message.action, exc)
        finally:
            self._handled()

    async def _dispatch(self, action: str, payload: Payload) -> Payload:
        if not self._schemas.has(action):
            raise OcppError(ErrorKind.NOT_IMPLEMENTED, f"Unknown action {action}")
        if self.validate:
            self._check(action, payload, response=False)
        handler = self.handlers.get(action)
        if handler is None:
            raise OcppError(ErrorKind.NOT_SUPPORTED, f"{action} is not supported")
        if self.dialect is not None:
            payload = self.dialect.request_in(action, payload)
        result = await handler(self, payload)
        return {} if result is None else result

    def _check(self, action: str, payload: Payload, *, response: bool) -> None:
        fired = self._schemas.validate(action, payload, response=response, profile=self.compat)
        for relaxation in fired:
            log.info("%s: relaxation %s let %s through", self.identity, relaxation.value, action)
            if self.observer is not None:
                self.observer.on_relaxation(self, action, relaxation)

    def _on_reply(self, frame: CallResult | CallError, text: str) -> None:
        pending = self._pending
        message_type = MessageType.CALLRESULT if type(frame) is CallResult else MessageType.CALLERROR
        if pending is None or pending.message_id != frame.message_id or pending.future.done():
            self._observe_frame("in", text, message_type, frame.message_id, None)
            log.warning("%s: reply to unknown message id %r dropped", self.identity, frame.message_id)
            return
        self._observe_frame("in", text, message_type, frame.message_id, pending.action)
        pending.future.set_result(frame)

    # ----------------------------------------------------------------------------- outbound
    async def call(self, action: str, payload: Payload, *, timeout: float | None = None) -> Payload:
        """Send a CALL and return the peer's CALLRESULT payload.

        Raises :class:`OcppError` for a CALLERROR answer or an invalid payload (ours or theirs),
        :class:`CallTimeout` and :class:`SessionClosed`.
        """
        if self.dialect is not None:
            payload = self.dialect.request_out(action, payload)
        if self.validate:
            self._schemas.validate(action, payload)
        timeout = self.call_timeout if timeout is None else timeout
        async with self._call_lock:
            if self.closed:
                raise SessionClosed(f"{self.identity}: connection closed")
            message_id = f"{self._id_prefix}{next(self._counter)}"
            future: asyncio.Future[CallResult | CallError] = asyncio.get_running_loop().create_future()
            self._pending = _Pending(message_id, action, future)
            started = time.perf_counter()
            self._send(Call(message_id, action, payload).encode(), None, action, MessageType.CALL, message_id)
            try:
                reply = await asyncio.wait_for(future, timeout)
            except TimeoutError:
                self._observe_call(action, started, "timeout")
                raise CallTimeout(action, timeout) from None
            finally:
                self._pending = None
        if type(reply) is not CallResult:
            assert isinstance(reply, CallError)
            self._observe_call(action, started, reply.error_code)
            raise CallErrorReceived(
                reply.kind or ErrorKind.GENERIC_ERROR, reply.description, reply.details, code=reply.error_code
            )
        if self.validate:
            try:
                self._check(action, reply.payload, response=True)
            except OcppError as exc:
                answer = CallResultError.from_exception(message_id, exc, self.wire_version)
                self._observe_call(action, started, answer.error_code)  # not "ok": the caller gets an error
                if self.wire_version is OcppVersion.V21:
                    self._send(answer.encode(), answer, action)
                raise
        self._observe_call(action, started, "ok")
        if self.dialect is not None:
            return self.dialect.response_in(action, reply.payload)
        return reply.payload

    def check_expressible(self, action: str, payload: Payload) -> None:
        """Raise OcppError if the wire cannot carry the call: always fine for OCPP-J without a
        dialect; with one (2.0) the translated payload must pass the wire's schema. An OCPP-S
        session overrides this for what its 1.2/1.5 service lacks."""
        if self.dialect is not None:
            self._schemas.validate(action, self.dialect.request_out(action, payload))

    def send_unconfirmed(self, action: str, payload: Payload) -> None:
        """OCPP 2.1 SEND: deliver without waiting for (or getting) an answer."""
        if self.wire_version is not OcppVersion.V21:
            raise OcppError(ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED, "SEND exists only in OCPP 2.1")
        if self.validate:
            self._schemas.validate(action, payload)
        message_id = f"{self._id_prefix}{next(self._counter)}"
        self._send(Send(message_id, action, payload).encode(), None, action, MessageType.SEND, message_id)

    def connection_lost(self) -> None:
        """The transport is gone: fail the pending call, stop answering."""
        self.closed = True
        pending = self._pending
        if pending is not None and not pending.future.done():
            pending.future.set_exception(SessionClosed(f"{self.identity}: connection closed"))
        for task in list(self._tasks):
            task.cancel()

    # ----------------------------------------------------------------------------- helpers
    def _send(
        self,
        text: str,
        frame: CallResult | CallError | None,
        action: str | None,
        message_type: int | None = None,
        message_id: str | None = None,
    ) -> None:
        if frame is not None:
            message_type = (
                MessageType.CALLRESULT
                if type(frame) is CallResult
                else MessageType.CALLRESULTERROR
                if type(frame) is CallResultError
                else MessageType.CALLERROR
            )
            message_id = frame.message_id
        self._observe_frame("out", text, message_type, message_id, action)
        self._send_text(text)

    def _observe_frame(
        self,
        direction: str,
        text: str | bytes,
        message_type: int | None,
        message_id: str | None,
        action: str | None,
    ) -> None:
        if self.observer is not None:
            if not isinstance(text, str):
                # Lossless: bytes that are not UTF-8 become lone surrogates, which the message log turns
                # back into the exact bytes received.
                text = bytes(text).decode("utf-8", "surrogateescape")
            self.observer.on_frame(self, direction, text, message_type, message_id, action)

    def _observe_call(self, action: str, started: float, outcome: str) -> None:
        if self.observer is not None:
            self.observer.on_call_done(self, action, time.perf_counter() - started, outcome)
