"""Differential test: msgspec Structs generated from the schemas versus the schemas themselves.

Evidence for the validation choice (docs/measurements.md): msgspec decodes straight into typed
structs and is fast, but does it say yes and no where the OCA schema does? On a corpus of valid
examples and mutated payloads (missing fields, wrong types, bad enums, over-long strings, too many
items, extra properties) it agrees everywhere, except on the cases pinned down below: ``multipleOf``
on floats (msgspec rejects the 1.6 limit 21.4, and even 21), date-times (msgspec takes naive and
space-separated times, refuses leap seconds), and integral floats such as ``1.0`` for a 2.x integer.
The structs come from ``bench/micro/msgspec_structs.py``.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
from schema_examples import example, mutations, sample_mutations

from ocppd.protocol import OcppError, OcppVersion, schemas

# msgspec is a bench dependency (pyproject "bench" extra); without it this evidence is skipped.
msgspec = pytest.importorskip("msgspec")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "micro"))
from msgspec_structs import decoder_for, msgspec_accepts, struct_for  # noqa: E402

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
FOCUS = [
    (V16, "MeterValues", False), (V16, "MeterValues", True),
    (V16, "BootNotification", False), (V16, "BootNotification", True),
    (V201, "TransactionEvent", False), (V201, "TransactionEvent", True),
]  # fmt: skip
# The only messages with multipleOf (0.1): their full examples carry 21.4, which msgspec rejects.
MULTIPLE_OF = {(V16, "SetChargingProfile", False), (V16, "RemoteStartTransaction", False),
               (V16, "GetCompositeSchedule", True)}  # fmt: skip


def schema_accepts(version: OcppVersion, action: str, payload, *, response: bool = False) -> bool:
    try:
        schemas(version).validate(action, copy.deepcopy(payload), response=response)
    except OcppError:
        return False
    return True


def disagreements(version, action, response, corpus) -> list[tuple[str, bool, bool]]:
    out = []
    for label, payload in corpus:
        ours = schema_accepts(version, action, payload, response=response)
        theirs = msgspec_accepts(version, action, payload, response=response)
        if ours != theirs:
            out.append((label, ours, theirs))
    return out


def all_messages() -> list[tuple[OcppVersion, str, bool]]:
    out = []
    for version in (V16, V201, V21):
        for action in sorted(schemas(version).actions()):
            out.append((version, action, False))
            if (action, True) in schemas(version)._compiled:
                out.append((version, action, True))
    return out


def test_a_struct_is_generated_for_every_message():
    messages = all_messages()
    assert len(messages) == 387
    for version, action, response in messages:
        assert issubclass(struct_for(version, action, response=response), msgspec.Struct)


@pytest.mark.parametrize(("version", "action", "response"), FOCUS, ids=lambda v: str(v))
def test_focus_messages_agree_on_the_whole_corpus(version, action, response):
    schema = schemas(version).schema(action, response=response)
    full = example(schema, full=True)
    corpus = [("minimal", example(schema)), ("full", full), *mutations(schema, full)]
    assert len(corpus) >= 3
    assert disagreements(version, action, response, corpus) == []


def test_all_messages_agree_except_multiple_of():
    found = set()
    checked = 0
    for version, action, response in all_messages():
        schema = schemas(version).schema(action, response=response)
        full = example(schema, full=True)
        corpus = [("minimal", example(schema)), ("full", full), *sample_mutations(schema, full)]
        checked += len(corpus)
        for label, ours, theirs in disagreements(version, action, response, corpus):
            assert (label, ours, theirs) == ("full", True, False), (version, action, response, label)
            found.add((version, action, response))
    assert found == MULTIPLE_OF
    assert checked > 3000


# ------------------------------------------------------------------ the disagreements, one by one
def boot_response(current_time="2024-01-01T00:00:00Z", interval=300) -> dict:
    return {"status": "Accepted", "currentTime": current_time, "interval": interval}


@pytest.mark.parametrize("version", [V16, V201])
@pytest.mark.parametrize(
    ("current_time", "schema_says", "msgspec_says"),
    [
        ("2024-01-01T00:00:00Z", True, True),
        ("2024-01-01T00:00:00.123456789+02:00", True, True),
        ("2024-01-01t00:00:00z", True, True),
        ("2024-01-01T00:00:00", False, True),  # no offset: msgspec makes a naive datetime
        ("2024-01-01 00:00:00Z", False, True),  # space separator
        ("2024-06-30T23:59:60Z", True, False),  # leap second: RFC 3339 allows it, datetime cannot hold it
        ("2024-02-30T00:00:00Z", False, False),
        ("2024-01-01T00:00Z", False, False),
    ],
)
def test_date_time_disagreements(version, current_time, schema_says, msgspec_says):
    payload = boot_response(current_time=current_time)
    assert schema_accepts(version, "BootNotification", payload, response=True) is schema_says
    assert msgspec_accepts(version, "BootNotification", payload, response=True) is msgspec_says


@pytest.mark.parametrize(
    ("version", "raw", "schema_says", "msgspec_says"),
    [
        (V16, b"300", True, True),
        (V16, b"300.0", False, False),  # draft-04: an integer has no fraction part, even .0
        (V201, b"300.0", True, False),  # draft-06: 300.0 is an integer; msgspec int refuses a float
        (V201, b"3e2", True, False),
        (V16, b"true", False, False),
        # orjson reads an integer beyond 64 bits as a float: draft-04 then rejects it, msgspec keeps an int;
        # draft-06 would take it as an integer, but ocppd bounds integers to 32 bits (validation.py)
        (V16, b"99999999999999999999", False, True),
        (V201, b"99999999999999999999", False, True),
    ],
)
def test_integer_disagreements(version, raw, schema_says, msgspec_says):
    import orjson

    text = b'{"status":"Accepted","currentTime":"2024-01-01T00:00:00Z","interval":' + raw + b"}"
    assert schema_accepts(version, "BootNotification", orjson.loads(text), response=True) is schema_says
    decoder = decoder_for(version, "BootNotification", response=True)
    try:
        decoder.decode(text)
        accepted = True
    except msgspec.ValidationError:
        accepted = False
    assert accepted is msgspec_says


@pytest.mark.parametrize(
    ("limit", "schema_says", "msgspec_says"),
    [(21.4, True, False), (21, True, False), (16.0, True, False), (0.5, True, False), (0.2, True, True),
     (0, True, True), (4.11, False, False)],
)  # fmt: skip
def test_multiple_of_disagreements(limit, schema_says, msgspec_says):
    """msgspec checks multiple_of with binary floating point: of 0.1's multiples it takes only a few."""
    from test_protocol_validation import charging_profile

    payload = charging_profile(limit)
    del payload["csChargingProfiles"]["chargingSchedule"]["minChargingRate"]
    assert schema_accepts(V16, "SetChargingProfile", payload) is schema_says
    assert msgspec_accepts(V16, "SetChargingProfile", payload) is msgspec_says


@pytest.mark.parametrize(
    ("vendor", "accepted"), [("é" * 20, True), ("e\u0301" * 10, True), ("😀" * 20, True), ("😀" * 21, False)]
)
def test_string_length_counts_code_points_in_both(vendor, accepted):
    payload = {"chargePointVendor": vendor, "chargePointModel": "M"}
    assert schema_accepts(V16, "BootNotification", payload) is accepted
    assert msgspec_accepts(V16, "BootNotification", payload) is accepted


def test_explicit_null_for_optional_field_rejected_by_both():
    payload = {"chargePointVendor": "V", "chargePointModel": "M", "chargePointSerialNumber": None}
    assert not schema_accepts(V16, "BootNotification", payload)
    assert not msgspec_accepts(V16, "BootNotification", payload)


def test_open_custom_data_accepted_by_both():
    payload = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V",
               "customData": {"vendorId": "x", "anything": [1, 2]}}}  # fmt: skip
    assert schema_accepts(V201, "BootNotification", payload)
    assert msgspec_accepts(V201, "BootNotification", payload)
