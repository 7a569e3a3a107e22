"""Build valid example payloads from the OCA JSON schemas, and mutations of them that must be invalid.

Used by the conformance tests to cross-check our validator (jsonschema-rs) against an independent
implementation (the ``ocpp`` package, which uses ``jsonschema``). The schemas only use a small subset
of JSON Schema (type, properties, required, enum, $ref to #/definitions, items, min/maxItems,
maxLength, minimum/maximum, multipleOf, format date-time/uri), which is all this module handles.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

DATE_TIME = "2024-05-01T12:30:00Z"
URI = "https://example.com/ocpp"
MULTIPLE_OF_SAMPLE = 21.4  # the 1.6 multipleOf 0.1 trap: 21.4 / 0.1 is not exact in binary floating point

Path = tuple[str | int, ...]


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/definitions/"), ref
        node = root["definitions"][ref.removeprefix("#/definitions/")]
    return node


def example(schema: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """A valid payload: only the required properties, or (``full``) every property, recursively."""
    return _example(schema, schema, full, depth=0)


def _example(node: dict[str, Any], root: dict[str, Any], full: bool, depth: int) -> Any:
    node = resolve(node, root)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object" or (kind is None and "properties" in node):
        props = node.get("properties", {})
        names = list(props) if full and depth < 8 else list(node.get("required", []))
        return {name: _example(props[name], root, full, depth + 1) for name in names}
    if kind == "array":
        count = node.get("minItems", 1 if full else 0)
        return [_example(node["items"], root, full, depth + 1) for _ in range(count)]
    if kind == "string":
        fmt = node.get("format")
        if fmt == "date-time":
            return DATE_TIME
        if fmt == "uri":
            return URI
        return "x" * max(1, node.get("minLength", 1))
    if kind == "integer":
        value = int(node.get("minimum", 0))
        return min(value, int(node["maximum"])) if "maximum" in node else value
    if kind == "number":
        low, high = node.get("minimum", float("-inf")), node.get("maximum", float("inf"))
        if "multipleOf" in node and low <= MULTIPLE_OF_SAMPLE <= high:
            return MULTIPLE_OF_SAMPLE
        return float(max(low, 0.0)) if low != float("-inf") else 0.0
    if kind == "boolean":
        return False
    # e.g. 2.x DataTransfer.data has no type: anything goes
    return "x"


def schema_at(schema: dict[str, Any], path: Path) -> dict[str, Any]:
    """The (resolved) schema node describing the value at ``path`` in a payload."""
    node = resolve(schema, schema)
    for step in path:
        node = resolve(node["items"] if isinstance(step, int) else node["properties"][step], schema)
    return node


def walk(payload: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every (path, value) below the root, depth first."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            yield (*path, key), value
            yield from walk(value, (*path, key))
    elif isinstance(payload, list):
        for index, value in enumerate(payload):
            yield (*path, index), value
            yield from walk(value, (*path, index))


def _set(payload: Any, path: Path, value: Any) -> Any:
    clone = copy.deepcopy(payload)
    target = clone
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return clone


def _drop(payload: Any, path: Path) -> Any:
    clone = copy.deepcopy(payload)
    target = clone
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return clone


_WRONG_TYPE: dict[str, Any] = {
    "string": 12345,
    "integer": "1",
    "number": "1.5",
    "boolean": "true",
    "object": ["not", "an", "object"],
    "array": {"not": "an array"},
}


def mutations(schema: dict[str, Any], payload: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Invalid variants of a valid ``payload``, each with a label; every one breaks a schema rule
    that both validators enforce (formats are left out: the ``ocpp`` package does not check them)."""
    root = resolve(schema, schema)
    if root.get("additionalProperties") is False:
        yield "extra top-level property", {**payload, "noSuchField": 1}
    for name in root.get("required", []):
        yield f"missing {name}", _drop(payload, (name,))
    for path, value in walk(payload):
        where = "/".join(map(str, path))
        parent = schema_at(schema, path[:-1])
        node = schema_at(schema, path)
        if isinstance(path[-1], str) and path[-1] in parent.get("required", []) and len(path) > 1:
            yield f"missing {where}", _drop(payload, path)
        if "enum" in node:
            yield f"bad enum at {where}", _set(payload, path, "NoSuchEnumValue")
            continue
        kind = node.get("type")
        if kind in _WRONG_TYPE:
            yield f"wrong type at {where}", _set(payload, path, _WRONG_TYPE[kind])
        if kind == "string" and "maxLength" in node and "format" not in node:
            yield f"too long at {where}", _set(payload, path, "y" * (node["maxLength"] + 1))
        # (limits like 1024 schedule periods are left out: the reference validator would take seconds)
        if kind == "array" and node.get("maxItems", 1000) <= 64 and value:
            yield f"too many items at {where}", _set(payload, path, value * (node["maxItems"] + 1))


def sample_mutations(schema: dict[str, Any], payload: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A bounded selection of :func:`mutations`: the first and the last of each kind (missing field,
    wrong type, bad enum, too long, too many items, extra property), so that both shallow and deep
    fields are hit while the pure-Python reference validator stays fast enough for a unit test."""
    by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for label, mutant in mutations(schema, payload):
        kind = label.split(" at ")[0] if " at " in label else label.split(" ")[0]
        by_kind.setdefault(kind, []).append((label, mutant))
    chosen: list[tuple[str, dict[str, Any]]] = []
    for group in by_kind.values():
        chosen.append(group[0])
        if len(group) > 1:
            chosen.append(group[-1])
    return chosen
