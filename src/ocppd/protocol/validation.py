"""The official OCA JSON schemas, compiled once into fast validators.

The schemas ship unmodified in ``protocol/schemas/`` (CC BY-ND 4.0); relaxations for broken chargers
happen here, in code. jsonschema-rs was chosen on measurement (see docs/architecture.md): about 5 µs
for a 10-sample 1.6 MeterValues, against 35 µs for fastjsonschema and 850 µs for jsonschema.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs

from ocppd.protocol.compat import STRICT, CompatProfile, Relaxation
from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.protocol.versions import OcppVersion

_K = jsonschema_rs.ValidationErrorKind

# Which RPC error a schema violation becomes (OCPP-J 1.6 §4.2.3, 2.0.1 Part 4 §4.3).
_KIND_BY_ERROR: dict[type, ErrorKind] = {
    _K.Required: ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    _K.MinItems: ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    _K.MaxItems: ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    _K.Type: ErrorKind.TYPE_CONSTRAINT_VIOLATION,
    _K.Enum: ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    _K.Constant: ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    _K.MaxLength: ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    _K.MinLength: ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    _K.Maximum: ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    _K.Minimum: ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    _K.ExclusiveMaximum: ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    _K.ExclusiveMinimum: ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    _K.MultipleOf: ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    _K.Pattern: ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    _K.Format: ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    _K.AdditionalProperties: ErrorKind.FORMAT_VIOLATION,
}


def _relaxation_for(error: jsonschema_rs.ValidationError, profile: CompatProfile) -> Relaxation | None:
    kind = type(error.kind)
    rel = profile.relaxations
    if kind is _K.Enum and Relaxation.UNKNOWN_ENUM_VALUES in rel:
        return Relaxation.UNKNOWN_ENUM_VALUES
    if kind is _K.MaxLength and Relaxation.TRUNCATE_LONG_STRINGS in rel:
        return Relaxation.TRUNCATE_LONG_STRINGS
    if kind is _K.Format and error.kind.format == "date-time" and Relaxation.LENIENT_DATETIME in rel:
        return Relaxation.LENIENT_DATETIME
    return None


# OCPP 2.0.1/2.1 Part 2 "Primitive datatypes": an integer is 32 bit. 1.6 does not size it, but its
# ids and counters are the same fields, and a CSMS column cannot hold more. The official schemas say
# only "integer", so the bounds are added to the compiled copy (the files stay unmodified).
INTEGER_MIN = -(2**31)
INTEGER_MAX = 2**31 - 1


def _bound_integers(schema: Any) -> Any:
    """A copy of ``schema`` in which every ``"type": "integer"`` without bounds gets the 32-bit ones."""
    if isinstance(schema, list):
        return [_bound_integers(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {key: _bound_integers(value) for key, value in schema.items()}
    if bounded.get("type") == "integer":
        bounded.setdefault("minimum", INTEGER_MIN)
        bounded.setdefault("maximum", INTEGER_MAX)
    return bounded


def _json_pointer_refs(schema: Any) -> Any:
    """The 2.0 schemas as published write ``"$ref": "#definitions/X"`` (no slash after ``#``), which
    only lenient validators resolve; read it as the JSON pointer ``#/definitions/X`` it means."""
    if isinstance(schema, list):
        return [_json_pointer_refs(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _json_pointer_refs(value) for key, value in schema.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#definitions/"):
        out["$ref"] = "#/" + ref[1:]
    return out


def _unconvertible(action: str, exc: ValueError) -> OcppError:
    """jsonschema-rs cannot even read the payload: too deep, or a number beyond 64 bits."""
    reason = str(exc)
    if "Recursion" in reason:
        return OcppError(ErrorKind.FORMAT_VIOLATION, f"{action}: payload nested too deep")
    if "64-bit" in reason:
        return OcppError(ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, f"{action}: an integer beyond 64 bits")
    return OcppError(ErrorKind.FORMAT_VIOLATION, f"{action}: payload cannot be validated ({reason[:80]})")


def _truncate(payload: Any, path: list[str | int], limit: int) -> None:
    target = payload
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = target[path[-1]][:limit]


class SchemaSet:
    """All schemas of one OCPP version, compiled into validators, by action and direction."""

    def __init__(self, version: OcppVersion) -> None:
        self.version = version
        self._requests: dict[str, Any] = {}
        self._responses: dict[str, Any] = {}
        folder = resources.files("ocppd.protocol") / "schemas" / version.schema_dir
        for entry in folder.iterdir():
            name = entry.name
            if not name.endswith(".json"):
                continue
            stem = name[:-5].removesuffix("_v1p0")  # 2.0 names its files <Action>Request_v1p0.json
            # 2.0's files start with a byte order mark and have broken $refs (fixed in memory only)
            schema = _json_pointer_refs(json.loads(entry.read_text(encoding="utf-8-sig")))
            if stem.endswith("Response"):
                self._responses[stem[: -len("Response")]] = schema
            elif stem.endswith("Request"):
                self._requests[stem[: -len("Request")]] = schema
            else:  # 1.6 names requests without a suffix; 2.1 has one SEND-only message likewise
                self._requests[stem] = schema
        self._compiled: dict[tuple[str, bool], Any] = {}
        for action, schema in self._requests.items():
            self._compiled[(action, False)] = jsonschema_rs.validator_for(_bound_integers(schema))
        for action, schema in self._responses.items():
            self._compiled[(action, True)] = jsonschema_rs.validator_for(_bound_integers(schema))

    def actions(self) -> frozenset[str]:
        return frozenset(self._requests)

    def has(self, action: str) -> bool:
        return (action, False) in self._compiled

    def schema(self, action: str, *, response: bool = False) -> dict[str, Any]:
        return (self._responses if response else self._requests)[action]

    def validate(
        self, action: str, payload: dict[str, Any], *, response: bool = False, profile: CompatProfile = STRICT
    ) -> tuple[Relaxation, ...]:
        """Check ``payload`` against the schema; return the relaxations that had to fire (usually none).

        Raises :class:`OcppError` with the version's error kind when the payload is invalid and no
        relaxation in ``profile`` covers every violation. Truncation edits ``payload`` in place.
        """
        validator = self._compiled.get((action, response))
        if validator is None:
            raise OcppError(ErrorKind.NOT_IMPLEMENTED, f"No schema for {action}")
        try:
            if validator.is_valid(payload):
                return ()
            errors = list(validator.iter_errors(payload))
        except ValueError as exc:
            raise _unconvertible(action, exc) from None
        if action in profile.skip_actions:
            return (Relaxation.SKIP_VALIDATION,)
        fired: list[Relaxation] = []
        for error in errors:
            relaxation = _relaxation_for(error, profile)
            if relaxation is None:
                raise self._to_ocpp_error(error)
            if relaxation is Relaxation.TRUNCATE_LONG_STRINGS:
                _truncate(payload, list(error.instance_path), error.kind.limit)
            fired.append(relaxation)
        return tuple(dict.fromkeys(fired))

    @staticmethod
    def _to_ocpp_error(error: jsonschema_rs.ValidationError) -> OcppError:
        kind = _KIND_BY_ERROR.get(type(error.kind), ErrorKind.FORMAT_VIOLATION)
        where = "/".join(str(p) for p in error.instance_path) or "payload"
        return OcppError(kind, f"{where}: {error.message}", {"path": where})


@cache
def schemas(version: OcppVersion) -> SchemaSet:
    """The compiled schema set of ``version``, built once per process."""
    return SchemaSet(version)
