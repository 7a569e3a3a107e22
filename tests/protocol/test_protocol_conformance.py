"""Both-directions conformance: our validator (jsonschema-rs) against the ``ocpp`` package's (jsonschema).

For every action of every version, in both directions (request and response), payloads generated
from the schema must be accepted by both validators, and mutations of them (a required field
dropped at any depth, a wrong type, a bad enum value, an over-long string, too many items, an extra
property) must be rejected by both. Our error kind for each mutation is checked against the
OCPP-J mapping too. The schemas we ship are the ones the ``ocpp`` package ships (checked below),
so any disagreement is a validator disagreement.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

import ocpp
import ocpp.exceptions
import ocpp.messages
import pytest
from schema_examples import DATE_TIME, example, sample_mutations

from ocppd.protocol import ErrorKind, OcppError, OcppVersion, schemas

VERSIONS = [OcppVersion.V16, OcppVersion.V201, OcppVersion.V21]
OCPP_PACKAGE = Path(ocpp.__file__).parent
# The one 2.1 message the ``ocpp`` package cannot validate: its schema file has no "Request" suffix
# (a SEND-only message), and ocpp.messages.get_validator always appends one for 2.x requests.
OCPP_CANNOT_VALIDATE = {(OcppVersion.V21, "NotifyPeriodicEventStream", False)}

EXPECTED_KIND = {
    "missing": ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    "too many items": ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    "wrong type": ErrorKind.TYPE_CONSTRAINT_VIOLATION,
    "bad enum": ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    "too long": ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
    "extra top-level property": ErrorKind.FORMAT_VIOLATION,
}


@pytest.fixture(autouse=True)
def _validate_inline(monkeypatch):
    # The package's own switch: validate in the calling thread instead of a thread pool per event loop.
    monkeypatch.setattr(ocpp.messages, "ASYNC_VALIDATION", False)


def cases() -> list[tuple[OcppVersion, str, bool]]:
    out = []
    for version in VERSIONS:
        schema_set = schemas(version)
        for action in sorted(schema_set.actions()):
            out.append((version, action, False))
            if (action, True) in schema_set._compiled:
                out.append((version, action, True))
    return out


CASES = cases()
IDS = [f"{v.label}-{a}-{'response' if r else 'request'}" for v, a, r in CASES]


async def ocpp_accepts(version: OcppVersion, action: str, response: bool, payload: dict) -> bool:
    """What the ``ocpp`` package's own validator says (it raises an OCPPError subclass on failure)."""
    payload = copy.deepcopy(payload)  # it rewrites floats as Decimal in some 1.6 messages
    if response:
        message = ocpp.messages.CallResult("1", payload, action=action)
    else:
        message = ocpp.messages.Call("1", action, payload)
    try:
        await ocpp.messages.validate_payload(message, version.label)
    except ocpp.exceptions.OCPPError:
        return False
    return True


def ours(version: OcppVersion, action: str, response: bool, payload: dict) -> OcppError | None:
    try:
        schemas(version).validate(action, copy.deepcopy(payload), response=response)
    except OcppError as error:
        return error
    return None


def test_we_ship_the_same_schemas_as_the_ocpp_package():
    for version in VERSIONS:
        ours_dir = resources.files("ocppd.protocol") / "schemas" / version.schema_dir
        theirs_dir = OCPP_PACKAGE / version.schema_dir / "schemas"
        our_files = {entry.name for entry in ours_dir.iterdir() if entry.name.endswith(".json")}
        assert our_files == {p.name for p in theirs_dir.glob("*.json")}
        for name in our_files:
            mine = json.loads((ours_dir / name).read_text(encoding="utf-8-sig"))
            theirs = json.loads((theirs_dir / name).read_text(encoding="utf-8-sig"))
            assert mine == theirs, f"{version.label}/{name}"


def test_every_action_is_covered():
    assert len(CASES) == 2 * (39 + 64 + 91) - 1  # NotifyPeriodicEventStream (2.1) is a SEND: no response


@pytest.mark.parametrize(("version", "action", "response"), CASES, ids=IDS)
async def test_valid_examples_accepted_by_both(version, action, response):
    schema = schemas(version).schema(action, response=response)
    for full in (False, True):
        payload = example(schema, full=full)
        error = ours(version, action, response, payload)
        assert error is None, f"ours rejects {payload}: {error}"
        if (version, action, response) in OCPP_CANNOT_VALIDATE:
            assert not await ocpp_accepts(version, action, response, payload)
        else:
            assert await ocpp_accepts(version, action, response, payload), f"ocpp rejects {payload}"


@pytest.mark.parametrize(("version", "action", "response"), CASES, ids=IDS)
async def test_mutations_rejected_by_both(version, action, response):
    schema = schemas(version).schema(action, response=response)
    payload = example(schema, full=True)
    mutants = sample_mutations(schema, payload)
    assert mutants or schema.get("additionalProperties") is not False
    for label, mutant in mutants:
        error = ours(version, action, response, mutant)
        assert error is not None, f"ours accepts mutant ({label}): {mutant}"
        expected = next(kind for prefix, kind in EXPECTED_KIND.items() if label.startswith(prefix))
        assert error.kind is expected, f"{label}: {error}"
        assert not await ocpp_accepts(version, action, response, mutant), f"ocpp accepts ({label})"


# ------------------------------------------------------------------ known, deliberate differences
async def test_date_time_format_checked_by_us_not_by_ocpp_package():
    """The ``ocpp`` package builds its Draft4Validator without a format checker: it accepts any string
    as a date-time. We reject it (PropertyConstraintViolation) unless lenient_datetime is on."""
    response = {"status": "Accepted", "currentTime": "yesterday at noon", "interval": 300}
    assert ours(OcppVersion.V16, "BootNotification", True, response) is not None
    assert await ocpp_accepts(OcppVersion.V16, "BootNotification", True, response)
    response["currentTime"] = DATE_TIME
    assert ours(OcppVersion.V16, "BootNotification", True, response) is None


async def test_multiple_of_point_one_agrees_with_ocpp_decimal_workaround():
    """21.4 is a multiple of 0.1 only in decimal; the ``ocpp`` package re-parses with Decimal."""
    payload = example(schemas(OcppVersion.V16).schema("SetChargingProfile"), full=True)
    period = payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]
    assert period["limit"] == 21.4
    assert ours(OcppVersion.V16, "SetChargingProfile", False, payload) is None
    assert await ocpp_accepts(OcppVersion.V16, "SetChargingProfile", False, payload)
    period["limit"] = 21.45
    assert ours(OcppVersion.V16, "SetChargingProfile", False, payload) is not None
    assert not await ocpp_accepts(OcppVersion.V16, "SetChargingProfile", False, payload)
