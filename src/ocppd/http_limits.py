"""Limits on the HTTP (dashboard/API) port, so that slow or idle clients can never lock out the stations.

uvicorn bounds neither how long a client may take to send a request nor how many connections it
keeps; 1,100 unfinished ``GET /health`` requests once used up a 1,024 open-file limit, and then the
OCPP listener could not accept stations either. :func:`guarded_protocol` returns uvicorn's HTTP
protocol with these bounds:

* a request's head (request line and headers) must arrive within ``header_timeout`` of the
  connection or of its first byte, and its body within ``body_timeout`` after that; otherwise the
  connection gets ``408`` and is closed (uvicorn's own ``timeout_keep_alive`` closes an idle
  keep-alive connection);
* at most ``max_connections`` HTTP connections are open. At the limit a new connection first evicts
  the connection that has waited longest for a request head (the slow or idle clients); when every
  connection is busy with a real request or an event stream, the new one gets ``503``.

Every limit that is hit is logged, at most once per ten seconds per kind, with how often it fired, and
counted (``ocppd_http_limited_total{limit}``).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ocppd import metrics
from ocppd.transport import tls

log = logging.getLogger("ocppd.http")

_REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 5\r\nconnection: close\r\n\r\n"


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_connections: int = 512
    header_timeout: float = 10.0
    body_timeout: float = 30.0


class RateLimitedLog:
    """``warn(kind, message)`` logs the first event of a kind, then at most one line per ``interval``
    seconds that says how many were suppressed meanwhile."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warn(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        self._last[kind] = now
        suppressed = self._suppressed.pop(kind, 0)
        more = f" ({suppressed} more in the last {self._interval:g} s)" if suppressed else ""
        self._logger.warning(message + more, *args)


def guarded_protocol(limits: HttpLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol class with ``limits`` (give it to ``uvicorn.Config(http=...)``)."""
    # Per server: connections waiting for a request head, oldest first (dicts keep insertion order).
    waiting: dict[GuardedProtocol, None] = {}
    open_connections: set[GuardedProtocol] = set()
    rate_limited = RateLimitedLog(log)

    def warn(kind: str, message: str, *args: Any) -> None:
        metrics.HTTP_LIMITED.labels(kind).inc()
        rate_limited.warn(kind, message, *args)

    class GuardedProtocol(H11Protocol):
        _read_timer: asyncio.TimerHandle | None = None
        _tls: dict[str, Any] | None = None
        _reading_body = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            # uvicorn tells the application nothing of TLS: the client certificate (OCPP-S security
            # profile 3) goes into each request's scope as the ASGI TLS extension (see data_received).
            self._tls = tls.asgi_tls_extension(transport)
            if len(open_connections) >= limits.max_connections and not self._evict_oldest_waiting():
                warn("busy", "HTTP: %d connections, all busy: refusing new ones (503)", len(open_connections))
                transport.write(_BUSY)
                transport.close()
                return
            open_connections.add(self)
            self._await_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timer()
            waiting.pop(self, None)
            open_connections.discard(self)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            scope = getattr(self, "scope", None) if self._tls is not None else None  # the request just read
            if scope is not None and "extensions" not in scope:
                scope["extensions"] = {"tls": self._tls}  # type: ignore[typeddict-unknown-key]
            if self.transport.is_closing():
                return
            state = self.conn.their_state
            if state is h11.SEND_BODY:
                if not self._reading_body:  # the head is complete: now the body has its own deadline
                    waiting.pop(self, None)
                    self._reading_body = True
                    self._start_timer(limits.body_timeout, "body")
            elif state is not h11.IDLE:  # the request is read (DONE) or the connection ends
                waiting.pop(self, None)
                self._stop_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._await_head()  # keep-alive: the next request's head has the same deadline

        # ---------------------------------------------------------------- helpers
        def _await_head(self) -> None:
            self._reading_body = False
            waiting[self] = None
            self._start_timer(limits.header_timeout, "headers")

        def _start_timer(self, seconds: float, what: str) -> None:
            self._stop_timer()
            self._read_timer = self.loop.call_later(seconds, self._timed_out, what, seconds)

        def _stop_timer(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None

        def _timed_out(self, what: str, seconds: float) -> None:
            self._read_timer = None
            if self.transport.is_closing():
                return
            if what == "headers" and self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]:
                # Nothing of a next request arrived: an idle keep-alive connection. uvicorn's keep-alive
                # timeout normally ends these first; end it quietly.
                self.transport.close()
                return
            warn(what, "HTTP: request %s not received within %g s from %s, closing", what, seconds, self._peer())
            if what == "headers":
                self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()

        def _evict_oldest_waiting(self) -> bool:
            for victim in waiting:
                waiting.pop(victim)
                open_connections.discard(victim)
                victim._stop_timer()
                warn("evict", "HTTP: at %d connections: closing the one waiting longest for a request (%s)",
                     limits.max_connections, victim._peer())  # fmt: skip
                victim.transport.close()
                return True
            return False

        def _peer(self) -> str:
            return f"{self.client[0]}:{self.client[1]}" if self.client else "?"

    return GuardedProtocol


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (or to 1,048,576 if that is unlimited).

    Every station is an open socket; a default soft limit of 1,024 caps a CSMS at fewer stations than
    one small depot has. Returns the (soft, hard) limits now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:  # e.g. above the kernel's nr_open
        log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
        return soft, hard
    return target, hard
