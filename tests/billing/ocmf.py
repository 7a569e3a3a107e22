"""Signing OCMF values with a test meter key, for the tests (the simulator has its own signer)."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def new_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def public_hex(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der.hex().upper()


def ocmf(
    key: ec.EllipticCurvePrivateKey, reading_kwh: float, at: str = "2026-06-10T10:00:00,000+0000 S", **extra: Any
) -> str:
    payload = json.dumps(
        {"FV": "1.0", "GI": "TEST METER", "GS": "0001", "PG": "T1", "MS": "0001", "IS": True, "IT": "ISO14443",
         "ID": "04A10001", "RD": [{"TM": at, "TX": "B", "RV": reading_kwh, "RI": "1-b:1.8.0", "RU": "kWh", "ST": "G"}],
         **extra},
        separators=(",", ":"),
    )  # fmt: skip
    sig = key.sign(payload.encode(), ec.ECDSA(hashes.SHA256()))
    return f"OCMF|{payload}|{json.dumps({'SA': 'ECDSA-secp256r1-SHA256', 'SD': sig.hex().upper()})}"
