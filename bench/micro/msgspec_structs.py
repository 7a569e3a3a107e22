"""Generate msgspec Struct types from the OCA JSON schemas, programmatically.

This is the "typed structs instead of JSON Schema" alternative we measured (bench/micro/validators.py)
and checked for fidelity (tests/protocol/test_msgspec_differential.py). The mapping, field by field:

* object with ``additionalProperties: false`` -> Struct with ``forbid_unknown_fields=True``; the 2.x
  ``CustomDataType`` (open by design) -> a Struct that ignores unknown fields;
* required property -> a field without default; optional -> ``T | UnsetType = UNSET`` (so an explicit
  ``null`` is rejected, as the schema does);
* string -> ``str`` with ``Meta(max_length=...)``; enum -> ``Literal[...]``;
  ``format: date-time`` -> ``datetime`` (msgspec parses RFC 3339 itself);
* integer / number -> ``int`` / ``float`` with ``ge`` / ``le`` / ``multiple_of``;
* array -> ``list[T]`` with ``min_length`` / ``max_length``; untyped -> ``Any``.

Usage: ``struct_for(version, action, response=False)`` returns the Struct type for one message;
decode with ``msgspec.json.decode(data, type=T)`` or check a parsed dict with
``msgspec.convert(obj, type=T)``.
"""

from __future__ import annotations

import datetime
import keyword
from functools import cache
from typing import Annotated, Any, Literal

import msgspec

from ocppd.protocol import OcppVersion, schemas


class _Builder:
    def __init__(self, schema: dict[str, Any], prefix: str) -> None:
        self.root = schema
        self.prefix = prefix
        self.by_ref: dict[str, Any] = {}

    def resolve(self, node: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        name = None
        while "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            node = self.root["definitions"][name]
        return node, name

    def type_for(self, node: dict[str, Any], hint: str) -> Any:
        node, ref_name = self.resolve(node)
        if ref_name is not None and ref_name in self.by_ref:
            return self.by_ref[ref_name]
        built = self._build(node, ref_name or hint)
        if ref_name is not None:
            self.by_ref[ref_name] = built
        return built

    def _build(self, node: dict[str, Any], name: str) -> Any:
        if "enum" in node:
            return Literal[tuple(node["enum"])]
        kind = node.get("type")
        if kind == "object" or (kind is None and "properties" in node):
            return self._struct(node, name)
        if kind == "array":
            item = self.type_for(node["items"], name + "Item")
            meta = {}
            if "minItems" in node:
                meta["min_length"] = node["minItems"]
            if "maxItems" in node:
                meta["max_length"] = node["maxItems"]
            return Annotated[list[item], msgspec.Meta(**meta)] if meta else list[item]
        if kind == "string":
            if node.get("format") == "date-time":
                return datetime.datetime
            if "maxLength" in node:
                return Annotated[str, msgspec.Meta(max_length=node["maxLength"])]
            return str
        if kind in ("integer", "number"):
            base = int if kind == "integer" else float
            meta = {}
            if "minimum" in node:
                meta["ge"] = base(node["minimum"])
            if "maximum" in node:
                meta["le"] = base(node["maximum"])
            if "multipleOf" in node:
                meta["multiple_of"] = node["multipleOf"]
            return Annotated[base, msgspec.Meta(**meta)] if meta else base
        if kind == "boolean":
            return bool
        return Any

    def _struct(self, node: dict[str, Any], name: str) -> type[msgspec.Struct]:
        required = set(node.get("required", []))
        fields: list[tuple[Any, ...]] = []
        for prop, sub in node.get("properties", {}).items():
            field_type = self.type_for(sub, name + prop[:1].upper() + prop[1:])
            attr = prop + "_" if keyword.iskeyword(prop) else prop
            if prop in required:
                fields.append((attr, field_type, msgspec.field(name=prop)))
            else:
                fields.append((attr, field_type | msgspec.UnsetType, msgspec.field(default=msgspec.UNSET, name=prop)))
        return msgspec.defstruct(
            f"{self.prefix}{name}",
            fields,
            kw_only=True,
            omit_defaults=True,
            forbid_unknown_fields=node.get("additionalProperties") is False,
        )


@cache
def struct_for(version: OcppVersion, action: str, *, response: bool = False) -> type[msgspec.Struct]:
    """The generated Struct for one message of one version."""
    schema = schemas(version).schema(action, response=response)
    suffix = "Response" if response else "Request"
    builder = _Builder(schema, prefix=f"V{version.schema_dir[1:]}_")
    return builder.type_for(schema, action + suffix)


@cache
def decoder_for(version: OcppVersion, action: str, *, response: bool = False) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(struct_for(version, action, response=response))


def msgspec_accepts(version: OcppVersion, action: str, payload: Any, *, response: bool = False) -> bool:
    """Whether the generated Struct accepts ``payload`` (a parsed JSON value), the way a decoder would."""
    try:
        decoder_for(version, action, response=response).decode(msgspec.json.encode(payload))
    except msgspec.ValidationError:
        return False
    return True
