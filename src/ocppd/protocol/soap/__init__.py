"""OCPP-S (OCPP 1.2, 1.5 and 1.6 over SOAP 1.2): the sans-I/O codec driven by the official WSDLs."""

from ocppd.protocol.soap.envelope import (
    CONTENT_TYPE,
    DEFAULT_MAX_BODY,
    Addressing,
    RemoteFault,
    SoapFault,
    SoapMessage,
    build_fault,
    build_request,
    build_response,
    parse,
    usable_endpoint,
)
from ocppd.protocol.soap.wsdl import Service, SoapVersion, service

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_MAX_BODY",
    "Addressing",
    "RemoteFault",
    "Service",
    "SoapFault",
    "SoapMessage",
    "SoapVersion",
    "build_fault",
    "build_request",
    "build_response",
    "parse",
    "service",
    "usable_endpoint",
]
