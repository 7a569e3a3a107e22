"""Verifying signed meter values (pure): OCMF with its ECDSA signature, against the meter's public key.

OCMF (Open Charge Metering Format, S.A.F.E. e.V.) is ``OCMF|{payload}|{signature}``: the signature
section's ``SA`` names the algorithm (``ECDSA-secp256r1-SHA256`` by default), ``SE`` the encoding of
``SD`` (``hex`` by default, or ``base64``), ``SM`` its form (``application/x-der``: a DER ECDSA
signature). What is signed is the payload section exactly as sent. The public key is the meter's, as
DER SubjectPublicKeyInfo (hex as the transparency software shows it, base64 as OCPP 2.x carries it,
or PEM); a bare uncompressed point is read on the curve the algorithm names.

2.x ``signedMeterData`` is base64 of the signed data; stations also send the OCMF text as it is, and
1.6 stations a ``SignedData`` value that is either OCMF text or the 2.x object as JSON (both read).

A verdict is ``verified`` (the signature holds for the meter's key), ``failed`` (it does not, or the
data is not well-formed OCMF, or the value's key contradicts the station's reported key), or
``unverifiable`` (no key known, or a format / algorithm ocppd cannot check: EDL, DLMS, ...).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

VERIFIED = "verified"
FAILED = "failed"
UNVERIFIABLE = "unverifiable"
NO_KEY = "no public key known for this meter"

# OCMF SA values -> curve (the hash is named in the suffix)
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp192r1": ec.SECP192R1,
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
    "brainpool256r1": ec.BrainpoolP256R1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpool384r1": ec.BrainpoolP384R1,
    "brainpoolP384r1": ec.BrainpoolP384R1,
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}
DEFAULT_ALGORITHM = "ECDSA-secp256r1-SHA256"
_HEX = re.compile(r"^[0-9A-Fa-f]+$")


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # VERIFIED, FAILED, UNVERIFIABLE
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"status": self.status, "detail": self.detail}


class PublicKeyError(ValueError):
    """A public key ocppd cannot read."""


def _bytes_of(text: str) -> bytes:
    """Hex, or else base64, as bytes (whitespace ignored)."""
    compact = "".join(text.split())
    if _HEX.match(compact) and len(compact) % 2 == 0:
        return bytes.fromhex(compact)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise PublicKeyError("neither hex nor base64") from None


def load_public_key(text: str, curve_hint: type[ec.EllipticCurve] | None = None) -> ec.EllipticCurvePublicKey:
    """The meter's EC public key from PEM, hex or base64 DER (SubjectPublicKeyInfo), base64 of those
    texts, or a bare point on ``curve_hint``. Raises PublicKeyError when it is none of them."""
    text = text.strip()
    if not text:
        raise PublicKeyError("empty")
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise PublicKeyError(f"PEM not readable: {exc}") from None
    else:
        raw = _bytes_of(text)
        try:
            key = serialization.load_der_public_key(raw)
        except (ValueError, UnsupportedAlgorithm):
            try:  # base64 of the hex / PEM text (some 2.x stations)
                inner = raw.decode("ascii")
            except UnicodeDecodeError:
                inner = ""
            if inner and inner.strip() != text and (inner.startswith("-----BEGIN") or _HEX.match(inner.strip())):
                return load_public_key(inner, curve_hint)
            if curve_hint is not None and raw[:1] in (b"\x02", b"\x03", b"\x04"):
                try:
                    return ec.EllipticCurvePublicKey.from_encoded_point(curve_hint(), raw)
                except ValueError:
                    pass
            raise PublicKeyError("not a DER/PEM EC public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise PublicKeyError(f"not an elliptic-curve key ({type(key).__name__})")
    return key


def same_key(a: str, b: str) -> bool:
    """Two texts of one public key (whatever their encodings)."""
    try:
        der = [
            load_public_key(k).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            for k in (a, b)
        ]
    except PublicKeyError:
        return "".join(a.split()).lower() == "".join(b.split()).lower()
    return der[0] == der[1]


def key_hex(key: ec.EllipticCurvePublicKey) -> str:
    """As the transparency software shows it: hex of the DER SubjectPublicKeyInfo, upper case."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex().upper()


def ocmf_text(signed_data: str) -> str | None:
    """The OCMF text of a signed value: as it is, or base64-decoded (2.x signedMeterData)."""
    data = signed_data.strip()
    if data.startswith("OCMF|"):
        return data
    try:
        decoded = base64.b64decode("".join(data.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return decoded.strip() if decoded.strip().startswith("OCMF|") else None


def ocmf_sections(text: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(payload text as signed, payload, signature section); ValueError when not well-formed."""
    if not text.startswith("OCMF|"):
        raise ValueError("does not start with OCMF|")
    rest = text[len("OCMF|") :]
    payload_text, sep, signature_text = rest.rpartition("|")
    if not sep:
        raise ValueError("no signature section")
    try:
        payload = json.loads(payload_text)
        signature = json.loads(signature_text)
    except ValueError as exc:
        raise ValueError(f"a section is not JSON: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(signature, dict):
        raise ValueError("a section is not a JSON object")
    return payload_text, payload, signature


def _algorithm(name: str) -> tuple[type[ec.EllipticCurve], type[hashes.HashAlgorithm]] | None:
    parts = name.split("-")
    if len(parts) != 3 or parts[0] != "ECDSA":
        return None
    curve, digest = _CURVES.get(parts[1]), _HASHES.get(parts[2])
    return (curve, digest) if curve and digest else None


def verify_ocmf(text: str, public_key: str | None) -> Verdict:
    try:
        payload_text, _payload, signature = ocmf_sections(text)
    except ValueError as exc:
        return Verdict(FAILED, f"not well-formed OCMF: {exc}")
    algorithm_name = str(signature.get("SA") or DEFAULT_ALGORITHM)
    algorithm = _algorithm(algorithm_name)
    if algorithm is None:
        return Verdict(UNVERIFIABLE, f"signature algorithm {algorithm_name} is not one ocppd checks")
    curve, digest = algorithm
    mime = str(signature.get("SM") or "application/x-der")
    if mime != "application/x-der":
        return Verdict(UNVERIFIABLE, f"signature form {mime} is not one ocppd checks")
    encoding = str(signature.get("SE") or "hex").lower()
    sd = str(signature.get("SD") or "")
    try:
        sig = bytes.fromhex(sd) if encoding == "hex" else base64.b64decode(sd, validate=True)
    except (ValueError, binascii.Error):
        return Verdict(FAILED, f"SD is not {encoding}")
    if encoding not in ("hex", "base64"):
        return Verdict(UNVERIFIABLE, f"signature encoding {encoding} is not one ocppd reads")
    if not public_key:
        return Verdict(UNVERIFIABLE, NO_KEY)
    try:
        key = load_public_key(public_key, curve)
    except PublicKeyError as exc:
        return Verdict(FAILED, f"the public key cannot be read: {exc}")
    if not isinstance(key.curve, curve):
        return Verdict(FAILED, f"the key is on {key.curve.name}, the signature says {algorithm_name}")
    try:
        key.verify(sig, payload_text.encode("utf-8"), ec.ECDSA(digest()))
    except InvalidSignature:
        return Verdict(FAILED, "the signature does not match the data and key")
    return Verdict(VERIFIED, f"{algorithm_name} with the meter's key")


def verify(signed_data: str, encoding: str | None, public_key: str | None, station_key: str | None = None) -> Verdict:
    """The verdict on one signed value. ``public_key``: the one the value carried; ``station_key``: the
    EVSE's key the station reported (preferred: a value cannot vouch for itself with its own key)."""
    if public_key and station_key and not same_key(public_key, station_key):
        return Verdict(FAILED, "the value's public key is not the meter key the station reported")
    key = station_key or public_key
    kind = (encoding or "").split("/")[0].strip()
    text = ocmf_text(signed_data)
    if text is None:
        if kind.upper() == "OCMF":
            return Verdict(FAILED, "says OCMF but is not OCMF text (nor base64 of it)")
        return Verdict(UNVERIFIABLE, f"encoding {kind or 'unknown'} is not one ocppd checks (OCMF is)")
    return verify_ocmf(text, key)


def unwrap_v16(value: str) -> tuple[str, str | None, str | None, str | None]:
    """A 1.6 ``SignedData`` value as (signed data, encoding, signing method, public key): OCMF text as
    it is, or the 2.x signedMeterValue object carried as JSON (a common 1.6 convention)."""
    text = value.strip()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            data = obj.get("signedMeterData") or obj.get("signedMeterValue")
            if isinstance(data, str) and data:
                return (
                    data,
                    obj.get("encodingMethod") or ("OCMF" if ocmf_text(data) else None),
                    obj.get("signingMethod") or None,
                    obj.get("publicKey") or None,
                )
    return text, ("OCMF" if text.startswith("OCMF|") else None), None, None


# --------------------------------------------------------------------------- meter keys in the device model

FISCAL_COMPONENT = "FiscalMetering"
KEY_VARIABLES_2X = ("PublicKey", "MeterPublicKey")
_EVSE_OF = re.compile(r"@evse(\d+)")
_V16_KEY = re.compile(r"^MeterPublicKey(?:\[(\d+)\])?$")


def meter_keys(rows: list[tuple[str, str, str, str | None, bool]]) -> list[tuple[int, str, str]]:
    """(evse_id, public key, where) of the meter keys among stored device-model / configuration rows:
    2.x component FiscalMetering (per EVSE: ``FiscalMetering@evse1``), variable PublicKey (also read:
    MeterPublicKey), Actual; 1.6 configuration key ``MeterPublicKey[n]`` (n: the connector) or
    ``MeterPublicKey``. An empty value is no key."""
    found = []
    for component, variable, attribute, value, _readonly in rows:
        if not value or not value.strip() or (attribute or "Actual") != "Actual":
            continue
        if component.split("@")[0].split("[")[0] == FISCAL_COMPONENT and variable in KEY_VARIABLES_2X:
            match = _EVSE_OF.search(component)
            found.append((int(match.group(1)) if match else 0, value.strip(), f"{component}/{variable}"))
        elif component == "" and (m := _V16_KEY.match(variable)):
            found.append((int(m.group(1) or 0), value.strip(), variable))
    return found
