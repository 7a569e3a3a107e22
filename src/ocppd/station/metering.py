"""The simulated station's fiscal meters: OCMF signed readings with a test key, and the public key the
station reports (2.x ``FiscalMetering.PublicKey`` per EVSE, 1.6 ``MeterPublicKey[n]``).

A test key is generated per EVSE (each EVSE has its own meter), or one PEM private key file is given
for all of them (``meter_key_file``): a verifier then knows the key in advance. Sans-I/O apart from
reading that file once.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNING_METHOD = "ECDSA-secp256r1-SHA256"
# OCMF transaction markers of a reading by its OCPP context
_TX = {"Transaction.Begin": "B", "Transaction.End": "E", "Sample.Clock": "T", "Sample.Periodic": "T"}


class MeterKeyError(ValueError):
    """The meter key file cannot be used."""


def load_private_key(path: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise MeterKeyError(f"meter_key_file {path}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise MeterKeyError(f"meter_key_file {path}: needs an EC P-256 (secp256r1) private key")
    return key


def _ocmf_time(epoch: float) -> str:
    """OCMF's TM: local-time-free ISO form with milliseconds, offset and the sync state (S: synchronised)."""
    whole = time.gmtime(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", whole) + f",{int(epoch * 1000) % 1000:03d}+0000 S"


class FiscalMeters:
    """One signing meter per EVSE."""

    def __init__(self, evse_ids: list[int], serial: str, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.serial = serial or "SIM"
        self._keys = {evse: key or ec.generate_private_key(ec.SECP256R1()) for evse in evse_ids}
        self.signed = 0  # readings signed so far

    def public_key_hex(self, evse_id: int) -> str | None:
        """The EVSE meter's key as the transparency software shows it (hex DER SubjectPublicKeyInfo)."""
        key = self._keys.get(evse_id)
        if key is None:
            return None
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return der.hex().upper()

    def shared_key_hex(self) -> str | None:
        """The key when every EVSE shares one (a key file), else None."""
        keys = {self.public_key_hex(e) for e in self._keys}
        return keys.pop() if len(keys) == 1 else None

    def ocmf(self, evse_id: int, energy_wh: float, at: float, context: str, id_tag: str | None) -> str:
        """An OCMF text of one energy reading, signed by the EVSE's meter."""
        payload = {
            "FV": "1.0", "GI": "ocppd SimMeter", "GS": f"{self.serial}-{evse_id}", "GV": "1.0",
            "PG": f"T{self.signed + 1}", "MV": "ocppd", "MM": "SimMeter", "MS": f"{self.serial}-{evse_id}",
            "IS": id_tag is not None, "IT": "ISO14443" if id_tag else "NONE", "ID": id_tag or "",
            "RD": [{"TM": _ocmf_time(at), "TX": _TX.get(context, "T"), "RV": round(energy_wh / 1000, 4),
                    "RI": "1-b:1.8.0", "RU": "kWh", "RT": "AC", "ST": "G"}],
        }  # fmt: skip
        text = json.dumps(payload, separators=(",", ":"))
        signature = self._keys[evse_id].sign(text.encode(), ec.ECDSA(hashes.SHA256()))
        self.signed += 1
        return f"OCMF|{text}|{json.dumps({'SA': SIGNING_METHOD, 'SD': signature.hex().upper()})}"

    def signed_meter_value_2x(
        self, evse_id: int, energy_wh: float, at: float, context: str, id_tag: str | None, with_key: bool
    ) -> dict[str, str]:
        """2.x SignedMeterValueType: signedMeterData is base64 of the OCMF text; publicKey (base64 DER)
        only when the station sends its key with the values (PublicKeyWithSignedMeterValue)."""
        data = self.ocmf(evse_id, energy_wh, at, context, id_tag)
        key = self.public_key_hex(evse_id) if with_key else None
        return {
            "signedMeterData": base64.b64encode(data.encode()).decode(),
            "signingMethod": SIGNING_METHOD,
            "encodingMethod": "OCMF",
            "publicKey": base64.b64encode(bytes.fromhex(key)).decode() if key else "",
        }
