"""OCPP-S envelopes: SOAP 1.2 with WS-Addressing, parsed safely and built for both directions.

Sans-I/O: bytes in, :class:`SoapMessage` or :class:`SoapFault` out; payload dicts in, bytes out.
What field stations get wrong and we accept anyway is recorded in :attr:`Addressing.accepted` (the
caller logs it and keeps it with the station), never silently:

* the 2004/08 WS-Addressing namespace beside the 2005/08 one, or headers in no namespace;
* ``From`` as bare text instead of ``<Address>``, with an empty host (``http://:8082/``) or a
  private address;
* ``chargeBoxIdentity`` in any letter case and any (or no) namespace;
* a missing ``MessageID`` (or one that is not a URI), a missing ``Action`` (the body tells).

Refused: a DOCTYPE (so no entity expansion, no external entities), a body over the size cap, SOAP 1.1.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.protocol.soap.wsdl import PayloadError, Service, SoapVersion, service, version_of_namespace

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA_2005 = "http://www.w3.org/2005/08/addressing"
WSA_2004 = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSA_ANONYMOUS = {WSA_2005: f"{WSA_2005}/anonymous", WSA_2004: f"{WSA_2004}/role/anonymous"}
CONTENT_TYPE = "application/soap+xml; charset=utf-8"

DEFAULT_MAX_BODY = 1024 * 1024

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


class SoapFault(Exception):
    """A SOAP 1.2 fault: ``code`` is ``Sender`` or ``Receiver``, ``subcode`` the OCPP-S one.

    OCPP-S subcodes: Sender ``SecurityError``, ``IdentityMismatch``, ``ProtocolError``; Receiver
    ``InternalError``, ``NotSupported``.
    """

    def __init__(self, code: str, subcode: str, reason: str) -> None:
        super().__init__(f"{code}/{subcode}: {reason}")
        self.code = code
        self.subcode = subcode
        self.reason = reason

    @classmethod
    def from_error(cls, error: OcppError) -> SoapFault:
        """The fault a handler's version-neutral error becomes."""
        if error.kind in (ErrorKind.NOT_IMPLEMENTED, ErrorKind.NOT_SUPPORTED):
            return cls("Receiver", "NotSupported", error.description or error.kind.value)
        if error.kind is ErrorKind.INTERNAL_ERROR:
            return cls("Receiver", "InternalError", error.description or "internal error")
        if error.kind is ErrorKind.SECURITY_ERROR:
            return cls("Sender", "SecurityError", error.description or "security error")
        return cls("Sender", "ProtocolError", error.description or error.kind.value)

    def to_error(self) -> OcppError:
        """A fault received from a peer, as the error the domain understands."""
        kind = {
            "NotSupported": ErrorKind.NOT_SUPPORTED,
            "InternalError": ErrorKind.INTERNAL_ERROR,
            "SecurityError": ErrorKind.SECURITY_ERROR,
            "IdentityMismatch": ErrorKind.SECURITY_ERROR,
        }.get(self.subcode, ErrorKind.PROTOCOL_ERROR if self.code == "Sender" else ErrorKind.GENERIC_ERROR)
        return OcppError(kind, self.reason, {"soapFault": f"{self.code}/{self.subcode}"}, code=self.subcode)


@dataclass(slots=True)
class Addressing:
    """The WS-Addressing headers of one message, and what was tolerated to read them."""

    namespace: str = WSA_2005
    action: str | None = None
    message_id: str | None = None
    to: str | None = None
    from_address: str | None = None
    reply_to: str | None = None
    relates_to: str | None = None
    accepted: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SoapMessage:
    version: SoapVersion
    side: str  # the service the body belongs to: "cs" or "cp"
    operation: str  # e.g. "BootNotification"
    response: bool
    payload: dict[str, Any]
    identity: str | None
    addressing: Addressing
    body: Any = None  # the body element, for validation

    @property
    def service(self) -> Service:
        return service(self.version, self.side)


def _local(node: Any) -> str:
    return etree.QName(node).localname


def _text(node: Any) -> str:
    return (node.text or "").strip()


def parse_xml(body: bytes, *, max_size: int = DEFAULT_MAX_BODY) -> Any:
    """The document element of ``body``, parsed without DTDs, entities or network access."""
    if len(body) > max_size:
        raise SoapFault("Sender", "ProtocolError", f"message larger than {max_size} bytes")
    if b"<!DOCTYPE" in body.upper():
        raise SoapFault("Sender", "ProtocolError", "DOCTYPE is not allowed in SOAP messages")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault("Sender", "ProtocolError", f"malformed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise SoapFault("Sender", "ProtocolError", "DOCTYPE is not allowed in SOAP messages")
    return root


def _header_and_body(root: Any) -> tuple[Any, Any]:
    if not isinstance(root.tag, str) or _local(root) != "Envelope":
        raise SoapFault("Sender", "ProtocolError", "not a SOAP envelope")
    namespace = etree.QName(root).namespace
    if namespace == SOAP11:
        raise SoapFault("Sender", "ProtocolError", "SOAP 1.1 envelope: OCPP-S uses SOAP 1.2")
    if namespace != SOAP12:
        raise SoapFault("Sender", "ProtocolError", f"unknown envelope namespace {namespace!r}")
    header = root.find(f"{{{SOAP12}}}Header")
    body = root.find(f"{{{SOAP12}}}Body")
    if body is None:
        raise SoapFault("Sender", "ProtocolError", "SOAP envelope without a Body")
    return header, body


def _addressing(header: Any) -> tuple[Addressing, str | None]:
    """WS-Addressing headers and chargeBoxIdentity, whatever namespace and letter case they come in."""
    found = Addressing()
    identity: str | None = None
    namespaces: set[str | None] = set()
    if header is None:
        found.accepted.append("no SOAP header")
        return found, None
    for node in header:
        if not isinstance(node.tag, str):
            continue
        name = _local(node)
        namespace = etree.QName(node).namespace
        if name.lower() == "chargeboxidentity":
            identity = _text(node)
            if name != "chargeBoxIdentity":
                found.accepted.append(f"chargeBoxIdentity spelt {name!r}")
            if namespace is None:
                found.accepted.append("chargeBoxIdentity in no namespace")
            continue
        if namespace not in (WSA_2005, WSA_2004, None):
            continue
        if name in ("Action", "MessageID", "To", "From", "ReplyTo", "RelatesTo"):
            namespaces.add(namespace)
        if name == "Action":
            found.action = _text(node)
        elif name == "MessageID":
            found.message_id = _text(node) or None
        elif name == "To":
            found.to = _text(node) or None
        elif name in ("From", "ReplyTo"):
            address = next((c for c in node if isinstance(c.tag, str) and _local(c) == "Address"), None)
            if address is not None:
                value = _text(address) or None
            else:
                value = _text(node) or None
                if value and name == "From":
                    found.accepted.append("From as bare text (no Address element)")
            if name == "From":
                found.from_address = value
            else:
                found.reply_to = value
        elif name == "RelatesTo":
            found.relates_to = _text(node) or None
    if WSA_2004 in namespaces:
        found.namespace = WSA_2004
        found.accepted.append("WS-Addressing 2004/08 namespace")
    if None in namespaces:
        found.accepted.append("WS-Addressing headers in no namespace")
        if WSA_2004 not in namespaces and WSA_2005 not in namespaces:
            found.namespace = WSA_2005
    if found.message_id is None:
        found.accepted.append("no MessageID")
    elif ":" not in found.message_id:
        found.accepted.append("MessageID is not a URI")
    return found, identity


def parse(body: bytes, *, max_size: int = DEFAULT_MAX_BODY, validate: bool = False) -> SoapMessage:
    """Parse one OCPP-S request or response envelope.

    Raises :class:`SoapFault` (to send back) for anything that is not a well-formed OCPP-S message
    of a known version and operation, and for a payload the schema rejects when ``validate``.
    A received fault is raised as :class:`RemoteFault`.
    """
    root = parse_xml(body, max_size=max_size)
    header, soap_body = _header_and_body(root)
    addressing, identity = _addressing(header)
    content = next((c for c in soap_body if isinstance(c.tag, str)), None)
    if content is None:
        raise SoapFault("Sender", "ProtocolError", "empty SOAP Body")
    if etree.QName(content).namespace == SOAP12 and _local(content) == "Fault":
        raise RemoteFault.from_element(content)
    namespace = etree.QName(content).namespace or ""
    known = version_of_namespace(namespace)
    if known is None:
        raise SoapFault("Sender", "ProtocolError", f"unknown OCPP-S namespace {namespace!r}")
    version, side = known
    svc = service(version, side)
    found = svc.operation_of(_local(content))
    if found is None:
        raise SoapFault(
            "Receiver", "NotSupported", f"{_local(content)} is not an operation of OCPP {version.label} ({side})"
        )
    operation, response = found
    expected_action = f"/{operation.name}Response" if response else f"/{operation.name}"
    if addressing.action is None:
        addressing.accepted.append("no Action header")
    elif addressing.action.rsplit("/", 1)[-1] != expected_action[1:]:
        raise SoapFault(
            "Sender", "ProtocolError", f"Action {addressing.action!r} does not match the body ({operation.name})"
        )
    elif addressing.action != expected_action:
        addressing.accepted.append(f"Action {addressing.action!r} for {expected_action!r}")
    if validate:
        problem = svc.validate(content)
        if problem is not None:
            raise SoapFault("Sender", "ProtocolError", f"{operation.name}: {problem}")
    try:
        payload = svc.decode(content)
    except PayloadError as exc:
        raise SoapFault("Sender", "ProtocolError", str(exc)) from None
    return SoapMessage(version, side, operation.name, response, payload, identity, addressing, content)


class RemoteFault(SoapFault):
    """A fault that the peer sent us."""

    @classmethod
    def from_element(cls, fault: Any) -> RemoteFault:
        def first(path: str) -> str:
            node = fault.find(path, {"e": SOAP12})
            return _text(node).split(":")[-1] if node is not None else ""

        code = first("e:Code/e:Value") or "Receiver"
        subcode = first("e:Code/e:Subcode/e:Value") or ""
        reason_node = fault.find("e:Reason/e:Text", {"e": SOAP12})
        return cls(code, subcode, _text(reason_node) if reason_node is not None else "")


# ---------------------------------------------------------------------------------------- building
def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _envelope(addressing_ns: str, namespace: str) -> tuple[Any, Any, Any]:
    root = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"s": SOAP12, "a": addressing_ns, "o": namespace})
    header = etree.SubElement(root, f"{{{SOAP12}}}Header")
    body = etree.SubElement(root, f"{{{SOAP12}}}Body")
    return root, header, body


def _add(header: Any, namespace: str, name: str, text: str | None) -> Any:
    node = etree.SubElement(header, f"{{{namespace}}}{name}")
    if text is not None:
        node.text = text
    return node


def _serialise(root: Any) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def build_request(
    version: SoapVersion,
    side: str,
    operation: str,
    payload: dict[str, Any],
    *,
    identity: str,
    to: str,
    from_address: str | None = None,
    message_id: str | None = None,
    addressing_ns: str = WSA_2005,
) -> tuple[bytes, str]:
    """A request envelope to the ``side`` service; returns (bytes, its MessageID)."""
    svc = service(version, side)
    message_id = message_id or new_message_id()
    root, header, body = _envelope(addressing_ns, svc.namespace)
    _add(header, svc.namespace, "chargeBoxIdentity", identity)
    _add(header, addressing_ns, "Action", f"/{operation}")
    _add(header, addressing_ns, "MessageID", message_id)
    _add(header, addressing_ns, "To", to)
    reply_to = _add(header, addressing_ns, "ReplyTo", None)
    _add(reply_to, addressing_ns, "Address", WSA_ANONYMOUS[addressing_ns])
    if from_address is not None:
        sender = _add(header, addressing_ns, "From", None)
        _add(sender, addressing_ns, "Address", from_address)
    try:
        body.append(svc.encode(svc.operations[operation].request, payload))
    except KeyError:
        raise OcppError(ErrorKind.NOT_SUPPORTED, f"{operation} does not exist in OCPP {version.label}") from None
    except PayloadError as exc:
        raise OcppError(ErrorKind.FORMAT_VIOLATION, str(exc)) from None
    return _serialise(root), message_id


def build_response(
    version: SoapVersion,
    side: str,
    operation: str,
    payload: dict[str, Any],
    *,
    relates_to: str | None,
    addressing_ns: str = WSA_2005,
) -> bytes:
    """The response envelope to a request of ``side``'s service."""
    svc = service(version, side)
    root, header, body = _envelope(addressing_ns, svc.namespace)
    _add(header, addressing_ns, "Action", f"/{operation}Response")
    _add(header, addressing_ns, "MessageID", new_message_id())
    if relates_to is not None:
        _add(header, addressing_ns, "RelatesTo", relates_to)
    _add(header, addressing_ns, "To", WSA_ANONYMOUS[addressing_ns])
    try:
        body.append(svc.encode(svc.operations[operation].response, payload))
    except PayloadError as exc:
        raise OcppError(ErrorKind.INTERNAL_ERROR, f"cannot encode {operation} response: {exc}") from None
    return _serialise(root)


def build_fault(
    fault: SoapFault,
    *,
    namespace: str | None = None,
    relates_to: str | None = None,
    addressing_ns: str = WSA_2005,
) -> bytes:
    """A SOAP 1.2 fault; the OCPP subcode is qualified by the service namespace when known."""
    nsmap: dict[str | None, str] = {"s": SOAP12, "a": addressing_ns}
    if namespace:
        nsmap["o"] = namespace
    root = etree.Element(f"{{{SOAP12}}}Envelope", nsmap=nsmap)
    header = etree.SubElement(root, f"{{{SOAP12}}}Header")
    _add(header, addressing_ns, "Action", f"{addressing_ns}/fault")
    if relates_to is not None:
        _add(header, addressing_ns, "RelatesTo", relates_to)
    body = etree.SubElement(root, f"{{{SOAP12}}}Body")
    node = etree.SubElement(body, f"{{{SOAP12}}}Fault")
    code = etree.SubElement(node, f"{{{SOAP12}}}Code")
    _add(code, SOAP12, "Value", f"s:{fault.code}")
    if fault.subcode:
        subcode = etree.SubElement(code, f"{{{SOAP12}}}Subcode")
        _add(subcode, SOAP12, "Value", f"o:{fault.subcode}" if namespace else fault.subcode)
    reason = etree.SubElement(node, f"{{{SOAP12}}}Reason")
    text = _add(reason, SOAP12, "Text", fault.reason)
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    return _serialise(root)


# ---------------------------------------------------------------------------------------- From
def is_anonymous(address: str | None) -> bool:
    return address is None or address in WSA_ANONYMOUS.values() or address.endswith("/none")


def usable_endpoint(address: str | None, peer_host: str | None) -> tuple[str | None, list[str]]:
    """The URL to call a station back at, from its ``From`` address and the connection's peer.

    Returns (url or None, notes). An empty host (``http://:8082/``) is filled with the peer's
    address, as field stations expect; a private address is kept (it works when the CSMS is on
    the station's network or VPN) and noted.
    """
    notes: list[str] = []
    if address is None or is_anonymous(address):
        return None, ["no From address"]
    try:
        parts = urlsplit(address)
    except ValueError:
        return None, [f"From {address!r} is not a URL"]
    if parts.scheme not in ("http", "https"):
        return None, [f"From {address!r} is not an http(s) URL"]
    host = parts.hostname or ""
    if not host:
        if not peer_host:
            return None, [f"From {address!r} has no host and the peer address is unknown"]
        port = f":{parts.port}" if parts.port else ""
        host_part = f"[{peer_host}]" if ":" in peer_host else peer_host
        address = parts._replace(netloc=f"{host_part}{port}").geturl()
        notes.append(f"From had an empty host: used the peer address {peer_host}")
        host = peer_host
    try:
        ip = ipaddress.ip_address(host)
        if ip.is_private or ip.is_loopback or ip.is_link_local:
            notes.append(f"From is a private address ({host})")
    except ValueError:
        pass
    return address, notes
