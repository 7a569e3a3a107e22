"""The OCPP-S service descriptions (the official WSDLs, shipped unmodified) turned into a payload codec.

Each WSDL's ``<types>`` schema is read once into a small type table: for every complex type the
ordered child elements (name, type, repeated?, required?), attributes and simple content. Payloads
are the same dicts as OCPP-J: an ``s:int`` becomes an ``int``, an ``s:decimal`` a ``float``, an
``s:boolean`` a ``bool``, a repeated element a list (even with one item), date-times stay strings.
The same table encodes a dict back into elements in schema order. Validation against the schema is
separate (:meth:`Service.validate`, libxml2's XML Schema engine through lxml).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from lxml import etree

XSD = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"

_INT_TYPES = frozenset({"int", "integer", "long", "short", "byte", "nonNegativeInteger", "positiveInteger"})
_FLOAT_TYPES = frozenset({"decimal", "float", "double"})


class SoapVersion(StrEnum):
    """An OCPP-S version; the value is the version number."""

    V12 = "1.2"
    V15 = "1.5"
    V16 = "1.6"

    @property
    def label(self) -> str:
        """How the operator sees it, beside the JSON versions ("1.6" is 1.6J)."""
        return self.value + "S"

    @property
    def cs_namespace(self) -> str:
        return f"urn://Ocpp/Cs/{_DATES[self]}/"

    @property
    def cp_namespace(self) -> str:
        return f"urn://Ocpp/Cp/{_DATES[self]}/"

    @classmethod
    def from_label(cls, label: str) -> SoapVersion | None:
        text = label.strip().lower().removeprefix("ocpp").removesuffix("s")
        try:
            return cls(text)
        except ValueError:
            return None


_DATES = {SoapVersion.V12: "2010/08", SoapVersion.V15: "2012/06", SoapVersion.V16: "2015/10"}

_FILES = {
    (SoapVersion.V12, "cs"): "1.2/centralsystemservice_0.wsdl",
    (SoapVersion.V12, "cp"): "1.2/chargepointservice.wsdl",
    (SoapVersion.V15, "cs"): "1.5/ocpp_centralsystemservice_1.5_final.wsdl",
    (SoapVersion.V15, "cp"): "1.5/ocpp_chargepointservice_1.5_final.wsdl",
    (SoapVersion.V16, "cs"): "1.6/OCPP_CentralSystemService_1.6.wsdl",
    (SoapVersion.V16, "cp"): "1.6/OCPP_ChargePointService_1.6.wsdl",
}


class PayloadError(ValueError):
    """A body element that cannot be decoded (or a dict that cannot be encoded); names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass(frozen=True, slots=True)
class SimpleType:
    """A leaf: its XML Schema built-in base decides the Python type."""

    base: str

    def decode(self, text: str, path: str) -> Any:
        text = text.strip()
        try:
            if self.base in _INT_TYPES:
                return int(text)
            if self.base in _FLOAT_TYPES:
                return float(text)
        except ValueError:
            raise PayloadError(path, f"{text!r} is not a valid {self.base}") from None
        if self.base == "boolean":
            if text in ("true", "1"):
                return True
            if text in ("false", "0"):
                return False
            raise PayloadError(path, f"{text!r} is not a valid boolean")
        return text

    def encode(self, value: Any, path: str) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            text = format(Decimal(repr(value)), "f")
            return text if self.base in _FLOAT_TYPES or not text.endswith(".0") else text[:-2]
        if isinstance(value, int | str):
            return str(value)
        raise PayloadError(path, f"cannot encode {type(value).__name__} as {self.base}")


@dataclass(slots=True)
class Element:
    name: str
    type: SimpleType | ComplexType
    repeated: bool
    required: bool


@dataclass(slots=True)
class ComplexType:
    name: str
    fields: list[Element] = field(default_factory=list)
    attributes: dict[str, SimpleType] = field(default_factory=dict)
    text: SimpleType | None = None  # simple content (1.5's meter value with attributes)

    def child(self, name: str) -> Element | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    request: str  # body element local name, e.g. "bootNotificationRequest"
    response: str


class Service:
    """One WSDL: its namespace, operations and the codec for their body elements."""

    def __init__(self, version: SoapVersion, side: str) -> None:
        self.version = version
        self.side = side  # "cs" (Central System service, station -> CSMS) or "cp" (Charge Point service)
        source = (resources.files("ocppd.protocol.soap") / "wsdl" / _FILES[(version, side)]).read_bytes()
        self.wsdl: bytes = source  # the file as published, for ``GET ?wsdl``
        root = etree.fromstring(source, etree.XMLParser(resolve_entities=False, no_network=True))
        schema = root.find(f"{{{WSDL}}}types/{{{XSD}}}schema")
        assert schema is not None
        self.namespace: str = schema.get("targetNamespace", "")
        self._schema_element = schema
        self._simple: dict[str, SimpleType] = {}
        self._complex: dict[str, ComplexType] = {}
        self._elements: dict[str, SimpleType | ComplexType] = {}
        for node in schema.iterfind(f"{{{XSD}}}simpleType"):
            self._simple[node.get("name", "")] = SimpleType(self._simple_base(node, schema))
        for node in schema.iterfind(f"{{{XSD}}}complexType"):
            name = node.get("name", "")
            self._complex[name] = ComplexType(name)
        for node in schema.iterfind(f"{{{XSD}}}complexType"):
            self._fill(self._complex[node.get("name", "")], node)
        for node in schema.iterfind(f"{{{XSD}}}element"):
            self._elements[node.get("name", "")] = self._type_of(node, node.get("name", ""))
        self.operations: dict[str, Operation] = {}
        self._by_element: dict[str, tuple[Operation, bool]] = {}
        parts = {
            m.get("name"): m.find(f"{{{WSDL}}}part").get("element", "").split(":")[-1]  # type: ignore[union-attr]
            for m in root.iterfind(f"{{{WSDL}}}message")
        }
        for op in root.iterfind(f"{{{WSDL}}}portType/{{{WSDL}}}operation"):
            inp, out = op.find(f"{{{WSDL}}}input"), op.find(f"{{{WSDL}}}output")
            assert inp is not None and out is not None
            operation = Operation(
                op.get("name", ""),
                parts[inp.get("message", "").split(":")[-1]],
                parts[out.get("message", "").split(":")[-1]],
            )
            self.operations[operation.name] = operation
            self._by_element[operation.request] = (operation, False)
            self._by_element[operation.response] = (operation, True)
        self._validator: etree.XMLSchema | None = None

    # ------------------------------------------------------------------ reading the schema
    def _simple_base(self, node: Any, schema: Any) -> str:
        restriction = node.find(f"{{{XSD}}}restriction")
        base = (restriction.get("base", "") if restriction is not None else "string").split(":")[-1]
        if base in self._simple:
            return self._simple[base].base
        other = schema.find(f"{{{XSD}}}simpleType[@name='{base}']")
        return self._simple_base(other, schema) if other is not None else base

    def _type_of(self, node: Any, name: str) -> SimpleType | ComplexType:
        ref = node.get("type")
        if ref is not None:
            local = ref.split(":")[-1]
            if ref.startswith(("s:", "xs:", "xsd:")) or (local not in self._simple and local not in self._complex):
                return SimpleType(local)
            return self._simple.get(local) or self._complex[local]
        inline_complex = node.find(f"{{{XSD}}}complexType")
        if inline_complex is not None:
            anonymous = ComplexType(name)
            self._fill(anonymous, inline_complex)
            return anonymous
        inline_simple = node.find(f"{{{XSD}}}simpleType")
        if inline_simple is not None:
            return SimpleType(self._simple_base(inline_simple, self._schema_element))
        return SimpleType("string")

    def _fill(self, target: ComplexType, node: Any) -> None:
        for child in node.iterfind(f"{{{XSD}}}sequence/{{{XSD}}}element"):
            name = child.get("name", "")
            max_occurs = child.get("maxOccurs", "1")
            target.fields.append(
                Element(
                    name,
                    self._type_of(child, name),
                    repeated=max_occurs == "unbounded" or int(max_occurs) > 1,
                    required=child.get("minOccurs", "1") != "0",
                )
            )
        extension = node.find(f"{{{XSD}}}simpleContent/{{{XSD}}}extension")
        if extension is not None:
            base = extension.get("base", "s:string").split(":")[-1]
            target.text = self._simple.get(base) or SimpleType(base)
            for attribute in extension.iterfind(f"{{{XSD}}}attribute"):
                target.attributes[attribute.get("name", "")] = self._type_of(attribute, "")  # type: ignore[assignment]

    # ------------------------------------------------------------------ operations
    def operation_of(self, element_name: str) -> tuple[Operation, bool] | None:
        """The operation whose request (False) or response (True) body element this is."""
        return self._by_element.get(element_name)

    # ------------------------------------------------------------------ decoding and encoding
    def decode(self, element: Any) -> dict[str, Any]:
        """A body element (e.g. ``bootNotificationRequest``) as an OCPP-J-shaped dict."""
        name = etree.QName(element).localname
        kind = self._elements.get(name)
        if not isinstance(kind, ComplexType):
            raise PayloadError(name, "not an element of this service")
        return self._decode_complex(element, kind, name)

    def _decode_complex(self, element: Any, kind: ComplexType, path: str) -> Any:
        if kind.text is not None:
            value: dict[str, Any] = {"value": kind.text.decode(element.text or "", path)}
            for attr, attr_type in kind.attributes.items():
                if element.get(attr) is not None:
                    value[attr] = attr_type.decode(element.get(attr), f"{path}@{attr}")
            return value
        out: dict[str, Any] = {}
        for child in element:
            if not isinstance(child.tag, str):  # comments, processing instructions
                continue
            local = etree.QName(child).localname
            spec = kind.child(local)
            if spec is None:
                continue  # unknown element: the schema check (strict mode) reports it
            where = f"{path}/{local}"
            if isinstance(spec.type, ComplexType):
                value = self._decode_complex(child, spec.type, where)
            else:
                value = spec.type.decode(child.text or "", where)
            if spec.repeated:
                out.setdefault(local, []).append(value)
            else:
                out[local] = value
        return out

    def encode(self, name: str, payload: dict[str, Any]) -> Any:
        """The body element ``name`` built from ``payload``, children in schema order."""
        kind = self._elements.get(name)
        if not isinstance(kind, ComplexType):
            raise PayloadError(name, "not an element of this service")
        element = etree.Element(f"{{{self.namespace}}}{name}", nsmap={None: self.namespace})
        self._encode_complex(element, kind, payload, name)
        return element

    def _encode_complex(self, element: Any, kind: ComplexType, value: Any, path: str) -> None:
        if kind.text is not None:
            if not isinstance(value, dict):
                value = {"value": value}
            element.text = kind.text.encode(value["value"], path)
            for attr, attr_type in kind.attributes.items():
                if value.get(attr) is not None:
                    element.set(attr, attr_type.encode(value[attr], f"{path}@{attr}"))
            return
        if not isinstance(value, dict):
            raise PayloadError(path, "expected an object")
        for spec in kind.fields:
            item = value.get(spec.name)
            if item is None:
                continue
            items = item if spec.repeated and isinstance(item, list) else [item]
            for one in items:
                child = etree.SubElement(element, f"{{{self.namespace}}}{spec.name}")
                where = f"{path}/{spec.name}"
                if isinstance(spec.type, ComplexType):
                    self._encode_complex(child, spec.type, one, where)
                else:
                    child.text = spec.type.encode(one, where)

    # ------------------------------------------------------------------ validation
    def validate(self, element: Any) -> str | None:
        """None if the body element is valid against the WSDL's schema, else the first error."""
        if self._validator is None:
            # The schema's QName values (type="tns:...") use prefixes declared on the WSDL root:
            # give a standalone copy every namespace in scope.
            schema = self._schema_element
            standalone = etree.Element(schema.tag, dict(schema.attrib), nsmap=dict(schema.nsmap))
            standalone.extend(copy.deepcopy(child) for child in schema)
            self._validator = etree.XMLSchema(etree.fromstring(etree.tostring(standalone)))
        if self._validator.validate(element):
            return None
        error = self._validator.error_log.last_error
        return error.message if error is not None else "invalid"


@cache
def service(version: SoapVersion, side: str) -> Service:
    """The parsed WSDL of one version and side, built once per process."""
    return Service(version, side)


def version_of_namespace(namespace: str) -> tuple[SoapVersion, str] | None:
    """(version, side) of an OCPP-S body namespace, e.g. ``urn://Ocpp/Cs/2015/10/``."""
    for version in SoapVersion:
        if namespace == version.cs_namespace:
            return version, "cs"
        if namespace == version.cp_namespace:
            return version, "cp"
    return None
