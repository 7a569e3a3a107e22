"""One station through the local controller: its connection, the upstream one, and the gate between.

Rules (docs/smart-charging.md, "A local controller"):

- every frame goes on as it came, byte for byte: the station's up, the CSMS's down;
- towards the station there is one CALL in flight at a time, the CSMS's or the controller's (OCPP-J:
  a party waits for the answer before its next CALL, and to the station both are "the CSMS"); the
  others wait in order. So an answer always belongs to the one CALL in flight: the controller's own
  answers are never relayed up, whatever ids the CSMS uses; the controller's ids also carry a
  reserved prefix (``lc-``) for whoever reads a message log;
- the upstream connection drops -> the station's is closed (2.0.1 Part 4 §6.3); the station's drops
  -> the upstream one is closed;
- a station connecting while the CSMS is unreachable stays connected and balanced; what it sends
  then reaches nobody and is not answered (as when a CSMS does not respond: the station goes
  offline and queues its transaction messages); the controller retries upstream with backoff and
  relays again as soon as it is up. The CSMS refusing the station (an HTTP status) closes it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import ssl
import time
from base64 import b64encode
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from picows import WSCloseCode

from ocppd import metrics
from ocppd.localctl.frames import CALL, CALLERROR, CALLRESULT, SEND, head
from ocppd.logs import RateLimitedLog
from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.protocol.frames import Call, CallError, CallResult, FrameError, parse_frame
from ocppd.protocol.validation import schemas
from ocppd.protocol.versions import OcppVersion
from ocppd.rpc.session import CallErrorReceived, CallTimeout, SessionClosed
from ocppd.transport.websocket import HandshakeRefused, Link, connect

if TYPE_CHECKING:
    from ocppd.config import LocalControllerSettings

log = logging.getLogger("ocppd.localctl")
_quiet = RateLimitedLog(log)

OWN_ID_PREFIX = "lc-"
CONNECTING, UP, OFFLINE, CLOSED = "connecting", "up", "offline", "closed"
_CSMS, _OWN = "csms", "own"
_EXPIRED_KEPT = 64  # ids of our timed-out calls remembered, so a late answer is still not relayed
_ASKED_KEPT = 256  # station CALLs whose CSMS answer the observer waits for


class Observer:
    """What the controller learns from relayed traffic (``observe.Tracker``); every method is cheap."""

    def station_call(self, relay: Relay, action: str, payload: dict[str, Any]) -> None: ...

    def csms_answer(self, relay: Relay, action: str, request: dict[str, Any], answer: dict[str, Any]) -> None: ...

    def csms_call(self, relay: Relay, action: str, payload: dict[str, Any]) -> None: ...

    def state_changed(self, relay: Relay) -> None: ...


@dataclass(slots=True)
class _Slot:
    owner: str
    message_id: str
    data: bytes
    action: str = ""
    future: asyncio.Future[bytes] | None = None  # our own calls: resolved with the answer frame
    timer: asyncio.TimerHandle | None = field(default=None)


def upstream_url(base: str, path: str) -> str:
    """The CSMS URL for a station: the configured scheme and host (and path prefix) + the station's path."""
    parts = urlsplit(base)
    prefix = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{prefix}{path if path.startswith('/') else '/' + path}"


class Relay:
    def __init__(
        self,
        station: Link,
        settings: LocalControllerSettings,
        observer: Observer,
        upstream_ssl: ssl.SSLContext | None,
        interesting: frozenset[str],
    ) -> None:
        self.station = station
        self.identity = station.identity
        self.version: OcppVersion = station.version
        self.settings = settings
        self.observer = observer
        self.upstream_ssl = upstream_ssl
        self.interesting = interesting  # actions whose payloads the observer reads
        self.upstream: Link | None = None
        self.state = CONNECTING
        self.state_since = time.time()  # for the status page: connected / reconnecting since when
        self.connected_at = self.state_since
        self.closed = False
        self.last_error = ""  # why the CSMS is unreachable, while it is
        # frames relayed, for the status page (the metrics count them for the whole controller)
        self.frames_up = self.frames_down = self.frames_unforwarded = 0
        self.url = upstream_url(settings.upstream_url, station.path or f"/{station.identity}")
        self._held: list[bytes] = []
        self._asked: dict[str, tuple[str, dict[str, Any]]] = {}  # station CALL id -> (action, payload) we read
        self._inflight: _Slot | None = None
        self._waiting: deque[_Slot] = deque()
        self._expired: deque[str] = deque(maxlen=_EXPIRED_KEPT)
        self._recent_csms_ids: deque[str] = deque(maxlen=_EXPIRED_KEPT)
        self._own_prefix = f"{OWN_ID_PREFIX}{secrets.token_hex(4)}-"
        self._counter = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._schemas = schemas(self.version)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep_upstream())

    def close(self, why: str) -> None:
        """The station's connection is gone: close the upstream one, fail our calls."""
        if self.closed:
            return
        self.closed = True
        self._set_state(CLOSED)
        if self._task is not None:
            self._task.cancel()
        if self.upstream is not None:
            self.upstream.close(why, WSCloseCode.OK)
        for slot in [self._inflight, *self._waiting]:
            if slot is not None:
                self._cancel_timer(slot)
                if slot.future is not None and not slot.future.done():
                    slot.future.set_exception(SessionClosed(f"{self.identity}: connection closed"))
        self._inflight = None
        self._waiting.clear()
        log.info("%s: disconnected (%s)", self.identity, why)

    def _set_state(self, state: str) -> None:
        before, self.state = self.state, state
        if before != state:
            self.state_since = time.time()
            metrics.LC_STATIONS.labels(before).dec()
            if state != CLOSED:
                metrics.LC_STATIONS.labels(state).inc()
            self.observer.state_changed(self)

    def _headers(self) -> dict[str, str]:
        password = self.settings.credentials.get(self.identity)
        if password is not None:
            return {"Authorization": "Basic " + b64encode(f"{self.identity}:{password}".encode()).decode()}
        auth = self.station.headers.get("Authorization")
        return {"Authorization": auth} if auth else {}

    async def _keep_upstream(self) -> None:
        s = self.settings
        failures = 0
        while not self.closed:
            try:
                link = await connect(
                    self.url,
                    [self.version],
                    lambda link: self.from_upstream,
                    headers=self._headers(),
                    ssl_context=self.upstream_ssl if self.url.startswith("wss://") else None,
                    ping_interval=s.ping_interval,
                    max_frame_size=s.max_frame_size,
                    timeout=s.connect_timeout,
                )
            except asyncio.CancelledError:
                raise
            except HandshakeRefused as exc:
                metrics.LC_UPSTREAM_ATTEMPTS.labels("refused").inc()
                log.warning("%s: the CSMS refused the connection (%s); closing the station's", self.identity, exc)
                self.station.close("refused by the CSMS", WSCloseCode.POLICY_VIOLATION)
                return
            except Exception as exc:  # unreachable, timed out, TLS (picows raises WSError for what is not HTTP)
                metrics.LC_UPSTREAM_ATTEMPTS.labels("failed").inc()
                failures += 1
                self.last_error = str(exc) or type(exc).__name__
                if self.state == CONNECTING:
                    log.info("%s: the CSMS at %s is unreachable (%s); the station stays connected, offline",
                             self.identity, self.url, exc or type(exc).__name__)  # fmt: skip
                    dropped, self._held = self._held, []
                    metrics.LC_UNFORWARDED.inc(len(dropped))
                    self.frames_unforwarded += len(dropped)
                    self._set_state(OFFLINE)
                await asyncio.sleep(min(s.reconnect_max_s, 0.5 * 2 ** min(failures, 10)))
                continue
            if self.closed:
                link.close("station gone")
                return
            metrics.LC_UPSTREAM_ATTEMPTS.labels("connected").inc()
            self.upstream = link
            self.last_error = ""
            was = self.state
            self._set_state(UP)
            held, self._held = self._held, []
            for data in held:
                link.send_bytes(data)
                metrics.LC_FORWARDED.labels("up").inc()
            self.frames_up += len(held)
            log.info("%s: relayed to %s as %s%s", self.identity, self.url, self.version.value,
                     " (the CSMS is back)" if was == OFFLINE else "")  # fmt: skip
            await link.wait_closed()
            self.upstream = None
            if not self.closed:
                log.info("%s: the CSMS closed the connection; closing the station's (OCPP 2.0.1 Part 4 §6.3)",
                         self.identity)  # fmt: skip
                self._set_state(OFFLINE)
                self.station.close("the CSMS connection closed", WSCloseCode.GOING_AWAY)
            return

    # ------------------------------------------------------------------ station -> CSMS
    def from_station(self, data: bytes) -> None:
        h = head(data)
        if h.kind in (CALLRESULT, CALLERROR):
            slot = self._inflight
            if slot is not None and slot.message_id == h.message_id:
                self._release(slot)
                if slot.owner == _OWN:
                    assert slot.future is not None
                    if not slot.future.done():
                        slot.future.set_result(data)
                    return  # our answer: never relayed
            elif h.message_id in self._expired:
                log.info("%s: late answer to our call %s dropped", self.identity, h.message_id)
                return
        elif h.kind in (CALL, SEND) and h.action in self.interesting:
            payload = _payload(data)
            if payload is not None:
                self.observer.station_call(self, h.action, payload)
                if h.kind == CALL and self.state == UP:
                    if len(self._asked) >= _ASKED_KEPT:  # answers the CSMS never sent: forget the oldest
                        del self._asked[next(iter(self._asked))]
                    self._asked[h.message_id] = (h.action, payload)
        self._up(data)

    def _up(self, data: bytes) -> None:
        upstream = self.upstream
        if self.state == UP and upstream is not None:
            upstream.send_bytes(data)
            metrics.LC_FORWARDED.labels("up").inc()
            self.frames_up += 1
        elif self.state == CONNECTING and len(self._held) < self.settings.hold_frames:
            self._held.append(data)
        else:
            metrics.LC_UNFORWARDED.inc()
            self.frames_unforwarded += 1
            _quiet.log(logging.INFO, "unforwarded", "%s: no CSMS connection; %.80r not relayed, not answered",
                       self.identity, bytes(data))  # fmt: skip

    # ------------------------------------------------------------------ CSMS -> station
    def from_upstream(self, data: bytes) -> None:
        h = head(data)
        if h.kind == CALL:
            if h.action == "SetChargingProfile":
                payload = _payload(data)
                if payload is not None:
                    self.observer.csms_call(self, h.action, payload)
            self._recent_csms_ids.append(h.message_id)
            self._enqueue(_Slot(_CSMS, h.message_id, data, h.action))
            return
        if h.kind in (CALLRESULT, CALLERROR) and self._asked:
            asked = self._asked.pop(h.message_id, None)
            if asked is not None and h.kind == CALLRESULT:
                answer = _answer_payload(data)
                if answer is not None:
                    self.observer.csms_answer(self, asked[0], asked[1], answer)
        self._down(data)

    def _down(self, data: bytes) -> None:
        self.station.send_bytes(data)
        metrics.LC_FORWARDED.labels("down").inc()
        self.frames_down += 1

    # ------------------------------------------------------------------ the gate towards the station
    def _enqueue(self, slot: _Slot) -> None:
        if self._inflight is None and not self._waiting:
            self._send(slot)
        else:
            self._waiting.append(slot)

    def _send(self, slot: _Slot) -> None:
        self._inflight = slot
        slot.timer = asyncio.get_running_loop().call_later(self.settings.call_timeout, self._timed_out, slot)
        if slot.owner == _CSMS:
            self._down(slot.data)
        else:
            self.station.send_bytes(slot.data)

    def _release(self, slot: _Slot) -> None:
        self._cancel_timer(slot)
        if self._inflight is slot:
            self._inflight = None
        while self._inflight is None and self._waiting:
            nxt = self._waiting.popleft()
            if nxt.future is not None and nxt.future.done():
                continue  # our call timed out while it waited
            self._send(nxt)

    def _timed_out(self, slot: _Slot) -> None:
        slot.timer = None
        if slot.owner == _OWN:
            self._expired.append(slot.message_id)
            if slot.future is not None and not slot.future.done():
                slot.future.set_exception(CallTimeout(slot.action, self.settings.call_timeout))
        else:
            log.info("%s: no answer to the CSMS's %s %s within %g s; next CALL goes on", self.identity,
                     slot.action, slot.message_id, self.settings.call_timeout)  # fmt: skip
        self._release(slot)

    @staticmethod
    def _cancel_timer(slot: _Slot) -> None:
        if slot.timer is not None:
            slot.timer.cancel()
            slot.timer = None

    def _new_id(self) -> str:
        while True:
            message_id = f"{self._own_prefix}{next(self._counter)}"
            if message_id not in self._recent_csms_ids:  # a CSMS that borrows our prefix still cannot collide
                return message_id

    # ------------------------------------------------------------------ the controller's own calls
    async def call(self, action: str, payload: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """A CALL of the controller's own; its answer is not relayed. Raises like ``Session.call``:
        SessionClosed, CallTimeout, CallErrorReceived, OcppError (an answer that breaks the schema)."""
        if self.closed:
            raise SessionClosed(f"{self.identity}: connection closed")
        self._schemas.validate(action, payload)
        message_id = self._new_id()
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        slot = _Slot(_OWN, message_id, Call(message_id, action, payload).encode().encode(), action, future)
        self._enqueue(slot)
        try:
            data = await asyncio.wait_for(asyncio.shield(future), (timeout or self.settings.call_timeout) * 2)
        except TimeoutError:  # still waiting behind the CSMS's calls: give up without sending
            if slot in self._waiting:
                self._waiting.remove(slot)
            metrics.LC_OWN_CALLS.labels(action, "timeout").inc()
            raise CallTimeout(action, timeout or self.settings.call_timeout) from None
        except (CallTimeout, SessionClosed) as exc:
            metrics.LC_OWN_CALLS.labels(action, "timeout" if isinstance(exc, CallTimeout) else "closed").inc()
            raise
        try:
            frame = parse_frame(data, self.version)
        except FrameError as exc:
            metrics.LC_OWN_CALLS.labels(action, "invalid").inc()
            raise OcppError(ErrorKind.PROTOCOL_ERROR, f"unreadable answer: {exc.reason}") from None
        if isinstance(frame, CallError):
            metrics.LC_OWN_CALLS.labels(action, frame.error_code).inc()
            raise CallErrorReceived(
                frame.kind or ErrorKind.GENERIC_ERROR, frame.description, frame.details, code=frame.error_code
            )
        assert isinstance(frame, CallResult)
        self._schemas.validate(action, frame.payload, response=True)
        metrics.LC_OWN_CALLS.labels(action, "ok").inc()
        return frame.payload


def _payload(data: bytes) -> dict[str, Any] | None:
    """The payload of a CALL we read (None if it does not parse: it is relayed anyway)."""
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if isinstance(frame, list) and len(frame) == 4 and isinstance(frame[3], dict):
        return frame[3]
    return None


def _answer_payload(data: bytes) -> dict[str, Any] | None:
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if isinstance(frame, list) and len(frame) == 3 and isinstance(frame[2], dict):
        return frame[2]
    return None
