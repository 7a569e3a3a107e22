"""Independent OCPP-S peers for tests: zeep, driven by the official WSDLs, on both sides.

* :class:`ZeepStation` -- a charging station's client of the Central System service (zeep with
  WS-Addressing, ``chargeBoxIdentity`` and a ``From`` address, as OCPP-S asks).
* :class:`ChargePointPeer` -- a station's Charge Point service that ocppd calls back: a threaded
  stdlib HTTP server whose envelopes are read and written by zeep's binding for the WSDL, so neither
  side of a test uses ocppd's own codec.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import zeep
import zeep.helpers
from lxml import etree
from zeep.plugins import Plugin
from zeep.transports import Transport
from zeep.wsa import WsAddressingPlugin

WSA = "http://www.w3.org/2005/08/addressing"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
FILES = {
    ("1.2", "cs"): "1.2/centralsystemservice_0.wsdl",
    ("1.2", "cp"): "1.2/chargepointservice.wsdl",
    ("1.5", "cs"): "1.5/ocpp_centralsystemservice_1.5_final.wsdl",
    ("1.5", "cp"): "1.5/ocpp_chargepointservice_1.5_final.wsdl",
    ("1.6", "cs"): "1.6/OCPP_CentralSystemService_1.6.wsdl",
    ("1.6", "cp"): "1.6/OCPP_ChargePointService_1.6.wsdl",
}
DATES = {"1.2": "2010/08", "1.5": "2012/06", "1.6": "2015/10"}


def wsdl_path(version: str, side: str) -> str:
    return str(resources.files("ocppd.protocol.soap") / "wsdl" / FILES[(version, side)])


class _From(Plugin):
    """Adds ``wsa:From`` (the station's callback address) to every request, as field stations do."""

    def __init__(self, address: str | None) -> None:
        self.address = address

    def egress(self, envelope: Any, http_headers: Any, operation: Any, binding_options: Any) -> Any:
        if self.address is not None:
            header = envelope.find(f"{{{SOAP12}}}Header")
            sender = etree.SubElement(header, f"{{{WSA}}}From")
            etree.SubElement(sender, f"{{{WSA}}}Address").text = self.address
        return envelope, http_headers


class ZeepStation:
    """The station side of OCPP-S: zeep calling the Central System service at ``url``."""

    def __init__(self, version: str, url: str, identity: str, from_address: str | None, session: Any = None) -> None:
        """``session``: a ``requests.Session`` (HTTPS: its ``verify`` CA and client ``cert``)."""
        self.version = version
        self.identity = identity
        self.client = zeep.Client(
            wsdl_path(version, "cs"),
            plugins=[WsAddressingPlugin(), _From(from_address)],
            transport=Transport(timeout=30, operation_timeout=30, session=session),
        )
        binding = f"{{urn://Ocpp/Cs/{DATES[version]}/}}CentralSystemServiceSoap"
        self.service = self.client.create_service(binding, url)
        self.binding = self.client.wsdl.bindings[binding]

    def call(self, operation: str, **payload: Any) -> dict[str, Any]:
        result = getattr(self.service, operation)(**payload, _soapheaders={"ChargeBoxIdentity": self.identity})
        fields = [name for name, _ in self.binding._operations[operation].output.body.type.elements]
        if len(fields) == 1:  # zeep unwraps a one-field answer; give it its name back
            result = {fields[0]: result}
        return zeep.helpers.serialize_object(result, dict) or {}


Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ChargePointPeer:
    """A station's Charge Point service: answers ocppd's calls with ``handlers[operation](body)``."""

    def __init__(self, version: str, handlers: dict[str, Handler]) -> None:
        self.version = version
        self.handlers = handlers
        self.received: list[tuple[str, str | None, dict[str, Any]]] = []  # (operation, identity, body)
        client = zeep.Client(wsdl_path(version, "cp"))
        self.binding = next(iter(client.wsdl.bindings.values()))
        self.namespace = f"urn://Ocpp/Cp/{DATES[version]}/"
        self.url = ""

    def answer(self, data: bytes) -> tuple[int, bytes]:
        envelope = etree.fromstring(data)
        body = envelope.find(f"{{{SOAP12}}}Body")
        assert body is not None
        element = body[0]
        operation = next(
            name
            for name, op in self.binding._operations.items()
            if op.input.body.qname == etree.QName(element.tag)  # type: ignore[union-attr]
        )
        op = self.binding._operations[operation]
        request = op.input.deserialize(envelope)
        payload = zeep.helpers.serialize_object(request.body, dict) or {}
        identity = request.header["ChargeBoxIdentity"] if request.header is not None else None
        self.received.append((operation, identity, payload))
        result = self.handlers[operation](payload)
        message = op.output.serialize(**result)
        return 200, etree.tostring(message.content, xml_declaration=True, encoding="utf-8")

    def operations(self) -> list[str]:
        return [op for op, _, _ in self.received]


@contextmanager
def serve_charge_point(peer: ChargePointPeer) -> Iterator[ChargePointPeer]:
    """Run the peer on a free loopback port until the block ends; ``peer.url`` is its address."""

    class RequestHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                status, answer = peer.answer(data)
            except Exception as exc:  # a test peer: say what went wrong, as a SOAP fault
                status = 500
                answer = (
                    f'<?xml version="1.0"?><e:Envelope xmlns:e="{SOAP12}"><e:Body><e:Fault><e:Code>'
                    f"<e:Value>e:Receiver</e:Value></e:Code><e:Reason><e:Text xml:lang='en'>{exc!r}</e:Text>"
                    "</e:Reason></e:Fault></e:Body></e:Envelope>"
                ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    peer.url = f"http://127.0.0.1:{server.server_address[1]}/ChargePointService"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
