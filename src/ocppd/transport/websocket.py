"""OCPP-J over WebSocket, server and client, on picows.

picows was chosen on measurement (docs/architecture.md): its echo loop runs several times faster
than ``websockets`` on this machine, and it gives us the handshake hooks OCPP needs (choose the
subprotocol, refuse with an HTTP status, auto ping).

The transport knows identities, subprotocols, sizes and keep-alive; it hands text to whatever the
application returns from :meth:`LinkApp.opened` and knows nothing of OCPP messages.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_connect,
)
from picows.picows import WSProtocol  # type: ignore[attr-defined]  # see _create_server_seeing_peer

from ocppd.logs import RateLimitedLog
from ocppd.protocol.versions import ALL_VERSIONS, OcppVersion
from ocppd.transport import tls

try:  # picows uses it when installed; so does the client-certificate server
    import aiofastnet
except ImportError:  # pragma: no cover
    aiofastnet = None

log = logging.getLogger("ocppd.transport")
_refusals = RateLimitedLog(log)

Receiver = Callable[[bytes], None]
MAX_IDENTITY_LENGTH = 255


# How long our answers may sit unsent because the peer does not read them before the connection is
# closed. Meanwhile nothing more is read from it, so it can neither make us queue more nor make other
# stations wait.
DEFAULT_WRITE_STALL_TIMEOUT = 30.0


class Link:
    """One open WebSocket connection, as the layers above see it.

    Back-pressure: reading stops while the layer above says it is busy (:meth:`hold`) or while the
    peer does not read what we send (the transport's write buffer is over its high-water mark); a
    peer that leaves our frames unread for ``write_stall_timeout`` seconds is disconnected, with a
    WARNING saying so.
    """

    __slots__ = ("_closed", "_held", "_stall", "_transport", "_write_blocked", "headers", "identity", "path",
                 "remote", "version", "write_stall_timeout")  # fmt: skip

    def __init__(
        self,
        transport: WSTransport,
        identity: str,
        version: OcppVersion,
        headers: Mapping[str, str],
        remote: str,
        write_stall_timeout: float = DEFAULT_WRITE_STALL_TIMEOUT,
    ) -> None:
        self._transport = transport
        self.identity = identity
        self.version = version
        self.headers = headers
        self.remote = remote
        self.write_stall_timeout = write_stall_timeout
        self.path = ""  # the request path (server side), e.g. /ocpp/CP1: a relay reuses it upstream
        self._closed = asyncio.get_running_loop().create_future()
        self._held = False
        self._write_blocked = False
        self._stall: asyncio.TimerHandle | None = None

    def hold(self, busy: bool) -> None:
        """Stop (True) or resume (False) reading from the peer, for the layer above (too many calls in flight)."""
        if busy != self._held:
            self._held = busy
            self._apply_reading()

    def _writes_blocked(self, blocked: bool) -> None:
        """The transport's write buffer went over (True) or back under (False) its high-water mark."""
        self._write_blocked = blocked
        self._apply_reading()
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        if blocked and self.write_stall_timeout > 0:
            self._stall = asyncio.get_running_loop().call_later(self.write_stall_timeout, self._stalled)

    def _apply_reading(self) -> None:
        underlying = self._transport.underlying_transport
        if self._transport.is_disconnected or underlying.is_closing():
            return
        if self._held or self._write_blocked:
            underlying.pause_reading()
        else:
            underlying.resume_reading()

    def _stalled(self) -> None:
        self._stall = None
        if self._transport.is_disconnected:
            return
        queued = self._transport.underlying_transport.get_write_buffer_size()
        log.warning("%s: does not read what we send (%d bytes unsent for %g s), disconnecting",
                    self.identity, queued, self.write_stall_timeout)  # fmt: skip
        self._transport.disconnect(graceful=False)  # a close frame would only queue behind the rest

    def send(self, text: str) -> None:
        if not self._transport.is_disconnected:
            self._transport.send(WSMsgType.TEXT, text.encode())

    def send_bytes(self, data: bytes) -> None:
        """Send a received message on as it came (a relay: no decoding, no re-encoding)."""
        if not self._transport.is_disconnected:
            self._transport.send(WSMsgType.TEXT, data)

    def close(self, reason: str = "", code: WSCloseCode = WSCloseCode.OK) -> None:
        """Close cleanly: a close frame, then the TCP connection."""
        if not self._transport.is_disconnected:
            if not self._transport.is_close_frame_sent:
                self._transport.send_close(code, reason.encode()[:120])
            self._transport.disconnect(graceful=True)

    @property
    def is_open(self) -> bool:
        return not self._closed.done()

    @property
    def reading_paused(self) -> bool:
        return self._held or self._write_blocked

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def _mark_closed(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        if not self._closed.done():
            self._closed.set_result(None)


class _Listener(WSListener):
    """Reassembles fragmented messages and forwards text; a thin shim over picows callbacks."""

    def __init__(
        self,
        on_open: Callable[[WSTransport], Receiver | None],
        on_close: Callable[[], None],
        max_size: int = 1024 * 1024,
        on_write_blocked: Callable[[bool], None] | None = None,
    ) -> None:
        self._on_open = on_open
        self._on_close = on_close
        self.on_write_blocked = on_write_blocked
        self._receiver: Receiver | None = None
        self._fragments: list[bytes] | None = None
        self._max_size = max_size  # bounds a reassembled message too, not only each frame
        self._size = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._receiver = self._on_open(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if msg_type is WSMsgType.PING or msg_type is WSMsgType.PONG:
            return  # auto pong / auto ping are on
        if transport.is_close_frame_sent:
            # Closing: nothing more is read. (picows hands over an oversized frame after rejecting it.)
            self._fragments = None
            return
        if msg_type is WSMsgType.CONTINUATION:
            if self._fragments is None:
                return
            self._size += frame.payload_size
            if self._size > self._max_size:
                log.warning("fragmented message over %d bytes, closing", self._max_size)
                self._fragments = None
                transport.send_close(WSCloseCode.MESSAGE_TOO_BIG, b"message too big")
                transport.disconnect()
                return
            self._fragments.append(frame.get_payload_as_bytes())
            if not frame.fin:
                return
            data = b"".join(self._fragments)
            self._fragments = None
        elif not frame.fin:
            self._fragments = [frame.get_payload_as_bytes()]
            self._size = frame.payload_size
            return
        else:
            # OCPP-J is text; a binary frame from a sloppy charger is read the same way.
            data = frame.get_payload_as_bytes()
        if self._receiver is not None:
            try:
                self._receiver(data)
            except Exception:  # one bad message must not cost the station its connection
                log.exception("receiver failed on a %d-byte message", len(data))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._on_close()

    def pause_writing(self) -> None:
        if self.on_write_blocked is not None:
            self.on_write_blocked(True)

    def resume_writing(self) -> None:
        if self.on_write_blocked is not None:
            self.on_write_blocked(False)


class LinkApp(Protocol):
    """What the server needs from the application (the CSMS)."""

    def admit(
        self, identity: str, version: OcppVersion, headers: Mapping[str, str], remote: str, peer: tls.Peer | None
    ) -> int | None:
        """Return None to accept, or the HTTP status to refuse the upgrade with (401, 404...).

        ``peer`` is None on a plain connection; over TLS it carries the client certificate the TLS layer
        verified (if the station sent one) and that the transport checked names ``identity``. ``remote``
        is the peer's address (or its X-Forwarded-For).
        """
        ...

    def opened(self, link: Link) -> Receiver:
        """A connection is up; return the function that takes each received message."""
        ...

    def closed(self, link: Link) -> None: ...


@dataclass(slots=True)
class ServerOptions:
    host: str = "0.0.0.0"
    port: int = 9000
    versions: Sequence[OcppVersion] = ALL_VERSIONS  # the server's preference order
    ping_interval: float = 60.0  # seconds of silence before a WebSocket ping; 0 turns it off
    ping_timeout: float = 30.0
    max_frame_size: int = 1024 * 1024
    listen_backlog: int = 4096
    write_stall_timeout: float = DEFAULT_WRITE_STALL_TIMEOUT  # see Link; 0 never disconnects
    # wss://; with client certificates (tls.server_context with client_ca or trust_pem) the server also
    # refuses, with 403 before the upgrade, a certificate whose subject CN is not the identity.
    ssl_context: ssl.SSLContext | None = None


class BadIdentity(ValueError):
    """The path names no acceptable station identity; the message says why (sent with the 400)."""


def identity_from_path(raw_path: bytes) -> str:
    """The station identity: the last path segment, percent-decoded (``/ocpp/RDAM%20123`` -> ``RDAM 123``).

    OCPP-J makes the identity an identifierString (letters, digits and ``*-_=:+|@.``); the spec's own
    example ``RDAM 123`` has a space, and chargers in the field use other printable ASCII, so any
    printable ASCII is accepted. Anything else -- zero-width or right-to-left marks, control
    characters, letters that only look like ASCII (``SP1\u200b`` next to ``SP1``) -- is refused:
    it would give one station two names an operator cannot tell apart.
    """
    path = raw_path.decode("latin-1").split("?", 1)[0].rstrip("/")
    segment = path.rsplit("/", 1)[-1]
    try:
        identity = unquote(segment, errors="strict") if segment else ""
    except UnicodeDecodeError:  # percent-encoded bytes that are not UTF-8
        raise BadIdentity("station identity is not UTF-8") from None
    if not identity:
        raise BadIdentity("no station identity in path")
    if len(identity) > MAX_IDENTITY_LENGTH:
        raise BadIdentity(f"station identity longer than {MAX_IDENTITY_LENGTH} characters")
    for position, char in enumerate(identity):
        if not " " <= char <= "~":
            raise BadIdentity(
                f"station identity has U+{ord(char):04X} at position {position}: only printable ASCII is allowed "
                "(OCPP identifierString)"
            )
    if identity != identity.strip():
        raise BadIdentity("station identity starts or ends with a space")
    return identity


def choose_version(offered: str | None, preference: Sequence[OcppVersion]) -> OcppVersion | None:
    """The first version in the server's preference that the client offered, if any."""
    if not offered:
        return None
    names = {name.strip().lower() for name in offered.split(",")}
    for version in preference:
        if version.value in names:
            return version
    return None


@dataclass
class OcppServer:
    """The CSMS's WebSocket endpoint: ``ws://HOST:PORT/<any path>/<station identity>``."""

    app: LinkApp
    options: ServerOptions = field(default_factory=ServerOptions)
    links: dict[str, Link] = field(default_factory=dict)
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        o = self.options
        settings: dict[str, Any] = dict(
            enable_auto_ping=o.ping_interval > 0,
            auto_ping_idle_timeout=o.ping_interval or 60.0,
            auto_ping_reply_timeout=min(o.ping_timeout, o.ping_interval or 60.0),  # picows asserts reply <= idle
            auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE,
            max_frame_size=o.max_frame_size,
            websocket_handshake_timeout=10,
            # picows starts each connection with a 16 KB read buffer; OCPP frames are mostly small and
            # it grows on demand. Measured: 35 -> 21 KB of server memory per idle station.
            read_buffer_init_size=2048,
        )
        # The listen backlog (o.listen_backlog): a boot storm overflows asyncio's default of 100.
        # Every handshake sees its connection: the client certificate (profile 3) and the peer address
        # that refusals and replacements are logged with.
        self._server = await _create_server_seeing_peer(self._factory, o, settings)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for link in list(self.links.values()):
                link.close("server shutting down", WSCloseCode.GOING_AWAY)
            await self._server.wait_closed()

    def _factory(
        self, request: WSUpgradeRequest, transport: WSTransport | None = None
    ) -> WSListener | WSUpgradeResponseWithListener | None:
        """Route one upgrade request (``transport``: the connection it came on)."""
        peer = transport.underlying_transport.get_extra_info("peername") if transport is not None else None
        remote = request.headers.get("X-Forwarded-For", "") or (str(peer[0]) if peer else "")
        try:
            identity = identity_from_path(request.path)
        except BadIdentity as exc:
            _refusals.log(logging.WARNING, "identity", "refused %.80r from %s: 400 %s", request.path, remote, exc)
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_error_response(HTTPStatus.BAD_REQUEST, str(exc).encode()), None
            )
        peer: tls.Peer | None = None
        if transport is not None and self.options.ssl_context is not None:
            # TLS: a client certificate, when sent, was verified against the trusted CAs; it proves this
            # identity only if its subject CN is the identity (security profile 3).
            underlying = transport.underlying_transport
            peercert = underlying.get_extra_info("peercert")
            if peercert:
                problem = tls.certificate_identity_problem(peercert, identity)
                if problem is not None:
                    _refusals.log(logging.WARNING, "certificate", "%s: refused (%s) from %s", identity, problem, remote)
                    return WSUpgradeResponseWithListener(
                        WSUpgradeResponse.create_error_response(HTTPStatus.FORBIDDEN, problem.encode()), None
                    )
            peer = tls.Peer(tls.peer_certificate_der(underlying) if peercert else None)
        headers = request.headers
        version = choose_version(headers.get("Sec-WebSocket-Protocol"), self.options.versions)
        if version is None:
            # Refused before the upgrade, as the OCA cases TC_B_58 / TC_088 require ("the CSMS rejects the
            # connection and does NOT upgrade"); OCPP-J's older "upgrade, then close" fails them.
            offered = headers.get("Sec-WebSocket-Protocol")
            log.warning("%s: no common subprotocol in %r", identity, offered)
            reason = f"no supported OCPP subprotocol (offered: {offered or 'none'})"
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_error_response(HTTPStatus.BAD_REQUEST, reason.encode()[:200]), None
            )
        refusal = self.app.admit(identity, version, headers, remote, peer)
        if refusal is not None:
            return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(refusal), None)
        response = WSUpgradeResponse.create_101_response({"Sec-WebSocket-Protocol": version.value})
        holder: list[Link] = []

        def on_open(transport: WSTransport) -> Receiver:
            link = Link(transport, identity, version, headers, remote, self.options.write_stall_timeout)
            link.path = request.path.decode("latin-1")
            listener.on_write_blocked = link._writes_blocked
            holder.append(link)
            previous = self.links.get(identity)
            self.links[identity] = link
            if previous is not None:
                log.warning("%s: a new connection from %s replaces the one from %s", identity, remote, previous.remote)
                previous.close("replaced by a new connection", WSCloseCode.POLICY_VIOLATION)
            return self.app.opened(link)

        def on_close() -> None:
            if not holder:
                return
            link = holder[0]
            link._mark_closed()
            if self.links.get(identity) is link:
                del self.links[identity]
            self.app.closed(link)

        listener = _Listener(on_open, on_close, self.options.max_frame_size)
        return WSUpgradeResponseWithListener(response, listener)


async def _create_server_seeing_peer(
    factory: Callable[[WSUpgradeRequest, WSTransport], WSListener | WSUpgradeResponseWithListener | None],
    options: ServerOptions,
    settings: dict[str, Any],
) -> asyncio.Server:
    """``ws_create_server``, except that the listener factory also gets the connection's transport.

    picows hands a server's listener factory the upgrade request only, but the client-certificate
    check needs the TLS peer certificate of that very connection before it answers the upgrade. So this
    builds picows' protocol itself, as ``ws_create_server`` does (picows 2.3), with one factory per
    connection, for every server: the application learns whether the connection is TLS and sees a client
    certificate, and refusals and replacements are logged with the peer address.
    """
    loop = asyncio.get_running_loop()
    create_server: Callable[..., Any] = (
        functools.partial(aiofastnet.create_server, loop) if aiofastnet is not None else loop.create_server
    )
    logger = logging.getLogger("picows.server")

    def protocol_factory() -> WSProtocol:
        protocol: WSProtocol

        def listener_factory(request: WSUpgradeRequest) -> WSListener | WSUpgradeResponseWithListener | None:
            return factory(request, protocol.transport)

        protocol = WSProtocol(
            None,  # host and port: server side
            None,  # path
            False,  # is_client_side
            listener_factory,
            logger,
            True,  # disconnect_on_exception
            settings["websocket_handshake_timeout"],
            settings["enable_auto_ping"],
            settings["auto_ping_idle_timeout"],
            settings["auto_ping_reply_timeout"],
            settings["auto_ping_strategy"],
            True,  # enable_auto_pong
            settings["max_frame_size"],
            None,  # extra_headers
            settings["read_buffer_init_size"],
        )
        return protocol

    server: asyncio.Server = await create_server(
        protocol_factory, host=options.host, port=options.port, ssl=options.ssl_context, backlog=options.listen_backlog
    )
    return server


class HandshakeRefused(ConnectionError):
    """The server refused the upgrade (HTTP status) or agreed on no OCPP version."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


async def connect(
    url: str,
    versions: Sequence[OcppVersion],
    on_open: Callable[[Link], Receiver],
    *,
    basic_auth: tuple[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    ping_interval: float = 0.0,
    max_frame_size: int = 1024 * 1024,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
) -> Link:
    """Open a station-side connection offering ``versions``; ``on_open`` wires the receiver.

    ``headers``: more request headers (a relay passes a station's Authorization on as it came)."""
    from picows import WSError

    identity = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    headers = {**(headers or {}), "Sec-WebSocket-Protocol": ", ".join(v.value for v in versions)}
    if basic_auth is not None:
        token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    holder: list[Link] = []
    agreed: list[bool] = []

    def factory() -> _Listener:
        def opened(transport: WSTransport) -> Receiver:
            chosen = OcppVersion.from_subprotocol(transport.response.headers.get("Sec-WebSocket-Protocol", ""))
            link = Link(transport, identity, chosen or versions[0], {}, url)
            holder.append(link)
            agreed.append(chosen is not None and chosen in versions)
            if not agreed[0]:
                link.close("no OCPP subprotocol agreed", WSCloseCode.PROTOCOL_ERROR)
                return lambda data: None
            return on_open(link)

        def closed() -> None:
            if holder:
                holder[0]._mark_closed()

        return _Listener(opened, closed, max_frame_size)

    try:
        _transport, _ = await ws_connect(
            factory,
            url,
            ssl_context=ssl_context,
            extra_headers=headers,
            enable_auto_ping=ping_interval > 0,
            auto_ping_idle_timeout=ping_interval or 60.0,
            auto_ping_reply_timeout=min(10.0, ping_interval or 60.0),  # picows' default, but never > idle
            max_frame_size=max_frame_size,
            websocket_handshake_timeout=timeout,
        )
    except WSError as exc:
        status = getattr(getattr(exc, "response", None), "status", None)
        raise HandshakeRefused(f"{url}: {exc}", int(status) if status else None) from exc
    link = holder[0]
    if not agreed[0]:
        raise HandshakeRefused(f"{url}: server agreed on none of {[v.value for v in versions]}")
    return link
