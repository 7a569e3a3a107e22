"""OCPP-S over HTTP: the SOAP endpoint (an ASGI app), the client that calls the peer back, and the
per-station :class:`SoapSession` that the domain sees in place of an RPC session.

Both ends use the same pieces. The CSMS serves the Central System service and calls each station's
Charge Point service at the address the station gave in ``From``; the simulator serves the Charge
Point service and calls the CSMS. Replies are synchronous, in the HTTP response.

HTTP rules kept here: POST only; ``Content-Encoding: gzip``/``deflate`` request bodies (decompressed
under the same size cap as plain ones), gzip responses for clients that accept it; the whole request
body must arrive within ``read_timeout`` (a slow client gets 408); a SOAP 1.2 fault is sent with
HTTP 400 (Sender) or 500 (Receiver) as the SOAP 1.2 HTTP binding says, a refused password with 401.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from ocppd.protocol.compat import STRICT, CompatProfile
from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.protocol.soap import dialect
from ocppd.protocol.soap.envelope import (
    CONTENT_TYPE,
    DEFAULT_MAX_BODY,
    RemoteFault,
    SoapFault,
    SoapMessage,
    build_fault,
    build_request,
    build_response,
    is_anonymous,
    parse,
    usable_endpoint,
)
from ocppd.protocol.soap.wsdl import SoapVersion, service
from ocppd.protocol.versions import OcppVersion
from ocppd.rpc import CallErrorReceived, CallTimeout, Handler, Payload, SessionClosed, SessionObserver
from ocppd.transport import tls

log = logging.getLogger("ocppd.soap")

# Message types in the message log, the same numbers as OCPP-J's (a fault is an error answer).
REQUEST, RESPONSE, FAULT = 2, 3, 4
_GZIP_RESPONSE_ABOVE = 1024


class StationUnreachable(SessionClosed):
    """The peer gave no address we can call (no usable ``From``), or the address did not answer."""


@dataclass(slots=True)
class Endpoint:
    """Where a SOAP peer can be called, as learnt from its messages."""

    url: str | None = None
    notes: list[str] = field(default_factory=list)  # what was tolerated to get it, or why there is none

    def as_record(self) -> dict[str, Any]:
        return {"endpoint": self.url, "reachable": self.url is not None, "notes": self.notes}


class SoapSession:
    """One SOAP peer as the domain sees a connection (same surface as :class:`ocppd.rpc.Session`).

    ``version`` is OCPP 1.6 for every OCPP-S version: the domain reads and writes the 1.6 shape and
    :mod:`ocppd.protocol.soap.dialect` translates 1.2/1.5; ``label`` ("1.5S") is what operators see.
    ``own_side`` is the service this end serves: ``cs`` on the CSMS, ``cp`` on a station.
    """

    def __init__(
        self,
        *,
        identity: str,
        soap_version: SoapVersion,
        own_side: str,
        handlers: Mapping[str, Handler],
        client: SoapClient,
        call_timeout: float = 30.0,
        validate: bool = True,
        compat: CompatProfile = STRICT,
        observer: SessionObserver | None = None,
        own_address: str | None = None,
    ) -> None:
        self.identity = identity
        self.soap_version = soap_version
        self.version = OcppVersion.V16
        self.label = soap_version.label
        self.own_side = own_side
        self.peer_side = "cp" if own_side == "cs" else "cs"
        self.handlers = handlers
        self.client = client
        self.call_timeout = call_timeout
        self.validate = validate
        self.compat = compat
        self.observer = observer
        self.own_address = own_address  # sent as From in our requests (the station's callback URL)
        self.basic_auth: tuple[str, str] | None = None  # a station's password towards the CSMS
        self.on_unreachable: Callable[[], None] | None = None  # the peer's address stopped answering
        self.context: dict[str, Any] = {}
        self.closed = False
        self.endpoint = Endpoint()
        self.accepted: list[str] = []  # field variations accepted in the last request
        self._call_lock = asyncio.Lock()

    # ------------------------------------------------------------------ addressing
    def learn(self, message: SoapMessage, peer_host: str | None) -> bool:
        """Take the peer's callback address from ``From`` (or ReplyTo) and note the field variations
        accepted; True if either changed (so the caller stores them)."""
        address = message.addressing.from_address
        if address is None and message.addressing.reply_to and not is_anonymous(message.addressing.reply_to):
            address = message.addressing.reply_to
        if address is None and self.endpoint.url is not None:
            url, notes = self.endpoint.url, self.endpoint.notes  # one message without From loses nothing
        else:
            url, notes = usable_endpoint(address, peer_host)
        changed = url != self.endpoint.url or notes != self.endpoint.notes
        if changed:
            self.endpoint = Endpoint(url, notes)
            if url is None:
                log.warning("%s: cannot be reached (%s)", self.identity, "; ".join(notes))
            else:
                log.info("%s: callback endpoint %s%s", self.identity, url, f" ({'; '.join(notes)})" if notes else "")
        if message.addressing.accepted != self.accepted:  # logged when it changes, not per heartbeat
            self.accepted = message.addressing.accepted
            changed = True
            if self.accepted:
                log.info("%s: field variations accepted: %s", self.identity, "; ".join(self.accepted))
        return changed

    # ------------------------------------------------------------------ inbound
    async def handle(self, message: SoapMessage, text: str) -> tuple[int, bytes]:
        """Answer one request of our own service: (HTTP status, envelope)."""
        operation = message.operation
        relates_to = message.addressing.message_id
        ns = message.addressing.namespace
        self._observe("in", text, REQUEST, relates_to, operation)
        try:
            if self.validate and operation not in self.compat.skip_actions:
                problem = message.service.validate(message.body)
                if problem is not None:
                    raise SoapFault("Sender", "ProtocolError", f"{operation}: {problem}")
            handler = self.handlers.get(operation)
            if handler is None:
                raise SoapFault("Receiver", "NotSupported", f"{operation} is not supported")
            payload = dialect.to_16(self.soap_version, self.own_side, operation, message.payload, response=False)
            result = await handler(self, payload)  # type: ignore[arg-type]
            wire = dialect.from_16(self.soap_version, self.own_side, operation, result or {}, response=True)
            body = build_response(
                self.soap_version, self.own_side, operation, wire, relates_to=relates_to, addressing_ns=ns
            )
            status, outcome, kind = 200, "ok", RESPONSE
        except Exception as exc:
            fault = _as_fault(exc, self.identity, operation)
            log.warning("%s: %s answered with fault %s/%s: %s", self.identity, operation, fault.code,
                        fault.subcode, fault.reason)  # fmt: skip
            body = build_fault(fault, namespace=message.service.namespace, relates_to=relates_to, addressing_ns=ns)
            status, outcome, kind = (400 if fault.code == "Sender" else 500), fault.subcode, FAULT
        if self.observer is not None:
            self.observer.on_inbound_done(self, operation, outcome)  # type: ignore[arg-type]
        self._observe("out", body.decode("utf-8", "replace"), kind, relates_to, operation)
        return status, body

    # ------------------------------------------------------------------ outbound
    def check_expressible(self, action: str, payload: Payload) -> Payload:
        """The call in this version's wire shape; OcppError(NOT_SUPPORTED) if the version lacks it."""
        if action not in service(self.soap_version, self.peer_side).operations:
            raise OcppError(ErrorKind.NOT_SUPPORTED, f"{action} does not exist in OCPP {self.label}")
        return dialect.from_16(self.soap_version, self.peer_side, action, payload, response=False)

    async def call(self, action: str, payload: Payload, *, timeout: float | None = None) -> Payload:
        """Call the peer's service; the same contract as :meth:`ocppd.rpc.Session.call`."""
        wire = self.check_expressible(action, payload)
        url = self.endpoint.url
        if url is None:
            reason = "; ".join(self.endpoint.notes) or "it has not sent a message with a From address yet"
            raise StationUnreachable(f"{self.identity} cannot be reached: {reason}")
        timeout = self.call_timeout if timeout is None else timeout
        body, message_id = build_request(
            self.soap_version,
            self.peer_side,
            action,
            wire,
            identity=self.identity,
            to=url,
            from_address=self.own_address,
        )
        async with self._call_lock:
            started = time.perf_counter()
            self._observe("out", body.decode(), REQUEST, message_id, action)
            try:
                status, answer = await self.client.post(url, body, action, timeout, self.basic_auth)
            except httpx.TimeoutException:
                self._observe_call(action, started, "timeout")
                raise CallTimeout(action, timeout) from None
            except httpx.HTTPError as exc:
                self._observe_call(action, started, "unreachable")
                if self.on_unreachable is not None:
                    self.on_unreachable()
                raise StationUnreachable(f"{self.identity} cannot be reached at {url}: {exc}") from None
        text = answer.decode("utf-8", "replace")
        try:
            reply = parse(answer, validate=self.validate)
        except RemoteFault as fault:
            self._observe("in", text, FAULT, message_id, action)
            self._observe_call(action, started, fault.subcode or fault.code)
            error = fault.to_error()
            raise CallErrorReceived(error.kind, error.description, error.details, code=error.code) from None
        except SoapFault as exc:
            self._observe("in", text, None, message_id, action)
            self._observe_call(action, started, "invalid")
            detail = f"HTTP {status}: {exc.reason}"
            raise OcppError(ErrorKind.FORMAT_VIOLATION, f"{action} answer unreadable ({detail})") from None
        self._observe("in", text, RESPONSE, message_id, action)
        if reply.operation != action or not reply.response:
            self._observe_call(action, started, "invalid")
            raise OcppError(ErrorKind.PROTOCOL_ERROR, f"expected {action}Response, got {reply.operation}")
        self._observe_call(action, started, "ok")
        return dialect.to_16(self.soap_version, self.peer_side, action, reply.payload, response=True)

    def connection_lost(self) -> None:
        """SOAP has no connection; a session is only dropped when replaced (nothing in flight to fail)."""
        self.closed = True

    # ------------------------------------------------------------------ observer
    def _observe(self, direction: str, text: str, kind: int | None, message_id: str | None, action: str) -> None:
        if self.observer is not None:
            self.observer.on_frame(self, direction, text, kind, message_id, action)  # type: ignore[arg-type]

    def _observe_call(self, action: str, started: float, outcome: str) -> None:
        if self.observer is not None:
            self.observer.on_call_done(self, action, time.perf_counter() - started, outcome)  # type: ignore[arg-type]


def _as_fault(exc: Exception, identity: str, operation: str) -> SoapFault:
    if isinstance(exc, SoapFault):
        return exc
    if isinstance(exc, OcppError):
        return SoapFault.from_error(exc)
    log.exception("%s: handler for %s failed", identity, operation, exc_info=exc)
    return SoapFault("Receiver", "InternalError", f"An internal error occurred handling {operation}")


# ---------------------------------------------------------------------------------------- client
class SoapClient:
    """POSTs envelopes with one shared HTTP client (connection pooling, gzip answers decoded)."""

    def __init__(self, *, verify: Any = True) -> None:
        self._client = httpx.AsyncClient(verify=verify, headers={"Accept-Encoding": "gzip, deflate"})

    async def post(
        self, url: str, body: bytes, action: str, timeout: float, auth: tuple[str, str] | None = None
    ) -> tuple[int, bytes]:
        response = await self._client.post(
            url,
            content=body,
            headers={"Content-Type": f'{CONTENT_TYPE}; action="/{action}"'},
            timeout=timeout,
            auth=auth,
        )
        return response.status_code, response.content

    async def close(self) -> None:
        await self._client.aclose()


# ---------------------------------------------------------------------------------------- server
class SoapApplication(Protocol):
    """What the endpoint needs from its owner (the CSMS, or the simulator's fleet)."""

    def soap_admit(
        self, identity: str, headers: Mapping[str, str], remote: str, peer: tls.Peer | None = None
    ) -> int | None:
        """An HTTP status to refuse the request with (401: password), or None.

        ``peer``: None over plain HTTP; over HTTPS the client certificate the TLS layer verified, if the
        station sent one, whose subject CN the endpoint checked is ``identity`` (security profile 3)."""
        ...

    def soap_session(self, identity: str, version: SoapVersion, remote: str) -> SoapSession | None:
        """The session for ``identity`` (created on first contact), or None if there is none."""
        ...

    def soap_learnt(self, session: SoapSession) -> None:
        """The peer's callback endpoint changed: keep it."""
        ...


@dataclass(slots=True)
class SoapServerOptions:
    side: str = "cs"  # the service served: "cs" (CSMS) or "cp" (station)
    max_body: int = DEFAULT_MAX_BODY
    read_timeout: float = 30.0


class SoapEndpoint:
    """The ASGI application serving one side's OCPP-S service (all versions, told by namespace)."""

    def __init__(self, app: SoapApplication, options: SoapServerOptions | None = None) -> None:
        self.app = app
        self.options = options or SoapServerOptions()

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]], send: Any
    ) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        # case-insensitive, as the provisioning's Basic auth check and HTTP expect
        headers = httpx.Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])])
        client = scope.get("client")
        remote = client[0] if client else ""
        if scope["method"] == "GET" and _wsdl_query(scope.get("query_string", b"")) is not None:
            await self._wsdl(send, _wsdl_query(scope.get("query_string", b"")) or "1.6")
            return
        if scope["method"] != "POST":
            await _respond(send, 405, b"OCPP-S: POST a SOAP 1.2 envelope\n", "text/plain", extra=[(b"allow", b"POST")])
            return
        try:
            raw = await asyncio.wait_for(self._read(receive, headers), self.options.read_timeout)
        except TimeoutError:
            log.warning("SOAP request from %s: body not received within %g s", remote, self.options.read_timeout)
            await _respond(send, 408, b"request body not received in time\n", "text/plain")
            return
        except SoapFault as fault:
            await self._send(send, headers, _fault_status(fault), build_fault(fault))
            return
        status, body = await self._process(raw, headers, remote, scope.get("extensions", {}).get("tls"))
        await self._send(send, headers, status, body)

    async def _wsdl(self, send: Any, version_text: str) -> None:
        """``GET ...?wsdl`` (1.6) or ``?wsdl=1.5``: the official WSDL of the service served here."""
        version = SoapVersion.from_label(version_text)
        if version is None:
            await _respond(send, 404, b"no such OCPP-S version: use ?wsdl=1.2, 1.5 or 1.6\n", "text/plain")
            return
        await _respond(send, 200, service(version, self.options.side).wsdl, "text/xml; charset=utf-8")

    async def _read(self, receive: Callable[[], Awaitable[dict[str, Any]]], headers: Mapping[str, str]) -> bytes:
        cap = self.options.max_body
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise SoapFault("Sender", "ProtocolError", f"message larger than {cap} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await receive()
            if event["type"] == "http.disconnect":
                raise SoapFault("Sender", "ProtocolError", "client went away")
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > cap:
                raise SoapFault("Sender", "ProtocolError", f"message larger than {cap} bytes")
            chunks.append(chunk)
            if not event.get("more_body"):
                break
        return decompress(b"".join(chunks), headers.get("content-encoding", ""), cap)

    async def _process(
        self, raw: bytes, headers: Mapping[str, str], remote: str, tls_info: Mapping[str, Any] | None = None
    ) -> tuple[int, bytes]:
        """``tls_info``: the ASGI TLS extension of an HTTPS connection (None: plain HTTP)."""
        text = raw.decode("utf-8", "replace")
        try:
            message = parse(raw, max_size=self.options.max_body)
        except SoapFault as fault:
            log.warning("SOAP request from %s refused: %s", remote, fault)
            return _fault_status(fault), build_fault(fault)
        ns = message.addressing.namespace
        relates_to = message.addressing.message_id
        namespace = message.service.namespace
        if message.response or message.side != self.options.side:
            fault = SoapFault("Sender", "ProtocolError", f"{message.operation} is not a request to this service")
            return 400, build_fault(fault, namespace=namespace, relates_to=relates_to, addressing_ns=ns)
        identity = message.identity
        if not identity:
            fault = SoapFault("Sender", "ProtocolError", "chargeBoxIdentity header missing")
            log.warning("SOAP %s from %s refused: no chargeBoxIdentity", message.operation, remote)
            return 400, build_fault(fault, namespace=namespace, relates_to=relates_to, addressing_ns=ns)
        peer: tls.Peer | None = None
        if tls_info is not None:
            # As over OCPP-J: a verified client certificate proves the identity only if its CN is it.
            peercert = tls_info.get("peercert")
            if peercert:
                problem = tls.certificate_identity_problem(peercert, identity)
                if problem is not None:
                    log.warning("SOAP %s from %s (%s) refused with HTTP 403: %s", message.operation, identity,
                                remote, problem)  # fmt: skip
                    fault = SoapFault("Sender", "SecurityError", problem)
                    return 403, build_fault(fault, namespace=namespace, relates_to=relates_to, addressing_ns=ns)
            peer = tls.Peer(ssl.PEM_cert_to_DER_cert(tls_info["client_cert_chain"][0]) if peercert else None)
        refused = self.app.soap_admit(identity, headers, remote, peer)
        if refused is not None:
            log.warning("SOAP %s from %s (%s) refused with HTTP %d", message.operation, identity, remote, refused)
            fault = SoapFault("Sender", "SecurityError", "authentication failed")
            return refused, build_fault(fault, namespace=namespace, relates_to=relates_to, addressing_ns=ns)
        session = self.app.soap_session(identity, message.version, remote)
        if session is None:
            fault = SoapFault("Sender", "IdentityMismatch", f"unknown chargeBoxIdentity {identity!r}")
            return 400, build_fault(fault, namespace=namespace, relates_to=relates_to, addressing_ns=ns)
        if session.soap_version is not message.version:
            log.info("%s: now speaks OCPP %s (was %s)", identity, message.version.label, session.label)
        if session.learn(message, remote):
            self.app.soap_learnt(session)
        return await session.handle(message, text)

    @staticmethod
    async def _send(send: Any, headers: Mapping[str, str], status: int, body: bytes) -> None:
        extra: list[tuple[bytes, bytes]] = []
        if status == 401:
            extra.append((b"www-authenticate", b'Basic realm="ocpp"'))
        if len(body) > _GZIP_RESPONSE_ABOVE and "gzip" in headers.get("accept-encoding", ""):
            body = gzip.compress(body, 5)
            extra.append((b"content-encoding", b"gzip"))
        await _respond(send, status, body, CONTENT_TYPE, extra=extra)


def _wsdl_query(query: bytes) -> str | None:
    """The version asked for by ``?wsdl`` / ``?wsdl=1.5`` ("" for the bare form), or None."""
    for part in query.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        if name.lower() == "wsdl":
            return value
    return None


def _fault_status(fault: SoapFault) -> int:
    return 400 if fault.code == "Sender" else 500


def decompress(body: bytes, encoding: str, cap: int) -> bytes:
    """The request body under ``Content-Encoding`` (gzip, deflate, identity), at most ``cap`` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        # RFC 9110's deflate is zlib-wrapped; some clients send raw deflate: accept both.
        decoder = zlib.decompressobj(zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS)
    else:
        raise SoapFault("Sender", "ProtocolError", f"unsupported Content-Encoding {encoding!r}")
    try:
        out = decoder.decompress(body, cap + 1)
    except zlib.error as exc:
        raise SoapFault("Sender", "ProtocolError", f"body is not valid {encoding}: {exc}") from None
    if len(out) > cap:
        raise SoapFault("Sender", "ProtocolError", f"message larger than {cap} bytes once decompressed")
    return out


async def _respond(
    send: Any, status: int, body: bytes, content_type: str, *, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})
