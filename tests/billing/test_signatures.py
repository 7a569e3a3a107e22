"""Signed meter value verification (pure): OCMF ECDSA against the meter key, in the encodings stations use."""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ocppd.csms.billing.signatures import (
    FAILED,
    NO_KEY,
    UNVERIFIABLE,
    VERIFIED,
    load_public_key,
    meter_keys,
    same_key,
    unwrap_v16,
    verify,
)
from tests.billing.ocmf import new_key, ocmf, public_hex


def test_a_signed_ocmf_value_verifies_with_its_meter_key_in_any_key_encoding() -> None:
    key = new_key()
    data = ocmf(key, 12.5)
    der = bytes.fromhex(public_hex(key))
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    for text in (public_hex(key), base64.b64encode(der).decode(), pem.decode(), base64.b64encode(pem).decode(),
                 point.hex(), base64.b64encode(public_hex(key).encode()).decode()):  # fmt: skip
        verdict = verify(data, "OCMF", None, text)
        assert verdict.status == VERIFIED, (text, verdict)
    # 2.x carries signedMeterData as base64 of the OCMF text
    assert verify(base64.b64encode(data.encode()).decode(), "OCMF", public_hex(key)).status == VERIFIED


def test_a_changed_reading_or_another_key_fails() -> None:
    key = new_key()
    data = ocmf(key, 12.5)
    tampered = data.replace('"RV":12.5', '"RV":125')
    assert verify(tampered, "OCMF", public_hex(key)).status == FAILED
    other = new_key()
    assert verify(data, "OCMF", public_hex(other)).detail == "the signature does not match the data and key"
    # the value cannot vouch for itself: a key in the value that is not the station's reported key fails
    verdict = verify(ocmf(other, 12.5), "OCMF", public_hex(other), station_key=public_hex(key))
    assert verdict.status == FAILED and "not the meter key" in verdict.detail
    # a key on another curve than the algorithm names
    p384 = new_key(ec.SECP384R1())
    assert "secp384r1" in verify(data, "OCMF", public_hex(p384)).detail


def test_what_cannot_be_checked_is_unverifiable_and_malformed_ocmf_fails() -> None:
    key = new_key()
    assert verify(ocmf(key, 1.0), "OCMF", None).detail == NO_KEY
    assert verify("AQIDBAUG", "EDL", public_hex(key)).status == UNVERIFIABLE
    payload, _, signature = ocmf(key, 1.0).rpartition("|")
    odd = json.loads(signature) | {"SA": "ECDSA-secp192k1-SHA256"}
    assert verify(f"{payload}|{json.dumps(odd)}", "OCMF", public_hex(key)).status == UNVERIFIABLE
    assert verify("OCMF|{not json}|{}", "OCMF", public_hex(key)).status == FAILED
    assert verify("garbage", "OCMF", public_hex(key)).status == FAILED
    hexsig = json.loads(signature)["SD"]
    b64 = json.loads(signature) | {"SE": "base64", "SD": base64.b64encode(bytes.fromhex(hexsig)).decode()}
    assert verify(f"{payload}|{json.dumps(b64)}", "OCMF", public_hex(key)).status == VERIFIED


def test_keys_compare_across_encodings() -> None:
    key = new_key()
    der = bytes.fromhex(public_hex(key))
    assert same_key(public_hex(key), base64.b64encode(der).decode())
    assert not same_key(public_hex(key), public_hex(new_key()))
    assert load_public_key(public_hex(key).lower()).curve.name == "secp256r1"


def test_1_6_signed_data_as_ocmf_text_or_the_2x_object_in_json() -> None:
    key = new_key()
    data = ocmf(key, 3.0)
    assert unwrap_v16(data) == (data, "OCMF", None, None)
    wrapped = json.dumps({"signedMeterValue": base64.b64encode(data.encode()).decode(), "encodingMethod": "OCMF",
                          "publicKey": public_hex(key)})  # fmt: skip
    signed, encoding, method, public = unwrap_v16(wrapped)
    assert (encoding, method, public) == ("OCMF", None, public_hex(key))
    assert verify(signed, encoding, public).status == VERIFIED


def test_meter_keys_from_the_device_model_and_1_6_configuration() -> None:
    rows = [
        ("FiscalMetering@evse1", "PublicKey", "Actual", "3059AA", True),
        ("FiscalMetering@evse2", "PublicKey", "Actual", "", True),  # empty: no key
        ("FiscalMetering", "MeterPublicKey", "Actual", "3059BB", True),
        ("FiscalMetering@evse3", "PublicKey", "Target", "3059CC", False),  # not the actual value
        ("SampledDataCtrlr", "SignReadings", "Actual", "true", False),
        ("", "MeterPublicKey[2]", "Actual", "3059DD", True),
        ("", "MeterPublicKey", "Actual", "3059EE", True),
        ("", "MeterPublicKeys", "Actual", "3059FF", True),
    ]
    assert meter_keys(rows) == [
        (1, "3059AA", "FiscalMetering@evse1/PublicKey"),
        (0, "3059BB", "FiscalMetering/MeterPublicKey"),
        (2, "3059DD", "MeterPublicKey[2]"),
        (0, "3059EE", "MeterPublicKey"),
    ]
