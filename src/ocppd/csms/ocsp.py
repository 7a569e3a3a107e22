"""OCSP for the CSMS: certificate status for GetCertificateStatus (OCA M_24) and for ISO 15118 contract
authorization (Authorize with iso15118CertificateHashData or a contract certificate, C_50-C_52).

Building the request and reading the answer are pure functions (:func:`request_der`,
:func:`read_response`); :class:`OcspClient` POSTs to the responder with a bounded wait and keeps each
answer until its nextUpdate. Reading is lenient, as the field is: a response whose signature does not
verify is still used, and what did not verify is said in ``OcspAnswer.problems`` (and logged).
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

log = logging.getLogger("ocppd.ocsp")

HASHES: dict[str, type[hashes.HashAlgorithm]] = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384,
                                                  "SHA512": hashes.SHA512}  # fmt: skip
GOOD, REVOKED, UNKNOWN, FAILED = "good", "revoked", "unknown", "failed"
# Without nextUpdate a response says nothing about how long it holds: keep it this long.
DEFAULT_CACHE_S = 300.0


@dataclass(frozen=True, slots=True)
class CertId:
    """OCPP OCSPRequestDataType: which certificate, and which responder to ask."""

    hash_algorithm: str
    issuer_name_hash: str  # hex
    issuer_key_hash: str  # hex
    serial_number: str  # hex
    responder_url: str

    @classmethod
    def from_ocpp(cls, data: dict[str, Any]) -> CertId:
        return cls(
            str(data["hashAlgorithm"]),
            str(data["issuerNameHash"]).lower(),
            str(data["issuerKeyHash"]).lower(),
            str(data["serialNumber"]).upper().lstrip("0") or "0",
            str(data["responderURL"]),
        )

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.hash_algorithm, self.issuer_name_hash, self.issuer_key_hash, self.serial_number)


@dataclass(frozen=True, slots=True)
class OcspAnswer:
    status: str  # good | revoked | unknown | failed (no usable answer)
    der: bytes | None = None  # the responder's OCSPResponse, as received
    next_update: datetime | None = None
    problems: tuple[str, ...] = ()  # what did not verify, or why it failed


class OcspError(ValueError):
    pass


def request_der(cert_id: CertId) -> bytes:
    """The DER OCSPRequest for one certificate, built from the hashes the station sent."""
    algorithm = HASHES.get(cert_id.hash_algorithm)
    if algorithm is None:
        raise OcspError(f"hash algorithm {cert_id.hash_algorithm!r} is not SHA256, SHA384 or SHA512")
    try:
        name_hash, key_hash = bytes.fromhex(cert_id.issuer_name_hash), bytes.fromhex(cert_id.issuer_key_hash)
        serial = int(cert_id.serial_number, 16)
    except ValueError as exc:
        raise OcspError(f"the certificate hash data is not hex: {exc}") from None
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(name_hash, key_hash, serial, algorithm())
    return builder.build().public_bytes(serialization.Encoding.DER)


def cert_ids_from_chain(pem: str, hash_algorithm: str = "SHA256") -> list[CertId]:
    """The CertIds of a PEM chain (leaf first), each with the OCSP URL from its AIA (C_52)."""
    try:
        chain = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise OcspError(f"the certificate chain cannot be read: {exc}") from None
    out = []
    for certificate, issuer in itertools.pairwise(chain):
        url = responder_url(certificate)
        if url is None:
            raise OcspError(f"certificate {certificate.subject.rfc4514_string()} names no OCSP responder (AIA)")
        request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, HASHES[hash_algorithm]()).build()
        out.append(CertId(hash_algorithm, request.issuer_name_hash.hex(), request.issuer_key_hash.hex(),
                          f"{certificate.serial_number:X}", url))  # fmt: skip
    if not out:
        raise OcspError("the chain needs the certificate and its issuer")
    return out


def responder_url(certificate: x509.Certificate) -> str | None:
    try:
        aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for description in aia:
        if description.access_method == AuthorityInformationAccessOID.OCSP:
            return str(description.access_location.value)
    return None


def read_response(der: bytes, cert_id: CertId) -> OcspAnswer:
    """Read a responder's answer for ``cert_id``; lenient: signature problems are listed, not fatal."""
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        return OcspAnswer(FAILED, der, problems=(f"not an OCSP response: {exc}",))
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return OcspAnswer(FAILED, der, problems=(f"responder status {response.response_status.name}",))
    problems: list[str] = []
    single = None
    for candidate in response.responses:
        if f"{candidate.serial_number:X}" == cert_id.serial_number and candidate.issuer_key_hash.hex() == (
            cert_id.issuer_key_hash
        ):
            single = candidate
            break
    if single is None:
        return OcspAnswer(FAILED, der, problems=("the response is not about this certificate",))
    problems.extend(_signature_problems(response))
    status = {
        ocsp.OCSPCertStatus.GOOD: GOOD,
        ocsp.OCSPCertStatus.REVOKED: REVOKED,
        ocsp.OCSPCertStatus.UNKNOWN: UNKNOWN,
    }[single.certificate_status]
    return OcspAnswer(status, der, single.next_update_utc, tuple(problems))


def _signature_problems(response: ocsp.OCSPResponse) -> list[str]:
    if not response.certificates:
        return ["no responder certificate in the response: signature not checked"]
    responder = response.certificates[0]
    try:
        _verify(responder.public_key(), response.signature, response.tbs_response_bytes, response)
    except (InvalidSignature, ValueError, TypeError) as exc:
        return [f"the response signature does not verify with its responder certificate ({exc or 'invalid'})"]
    try:
        usages = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.OCSP_SIGNING not in usages:
            return ["the responder certificate lacks the OCSPSigning usage"]
    except x509.ExtensionNotFound:
        pass  # the issuing CA signs itself
    return []


def _verify(key: Any, signature: bytes, data: bytes, response: ocsp.OCSPResponse) -> None:
    algorithm = response.signature_hash_algorithm
    if algorithm is None:
        raise ValueError("no signature hash algorithm")
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(algorithm))
    else:
        raise ValueError(f"unsupported responder key {type(key).__name__}")


@dataclass
class OcspClient:
    """Asks responders over HTTP (RFC 6960 POST) within ``timeout`` seconds; answers kept until nextUpdate."""

    timeout: float = 5.0
    _cache: dict[tuple[str, str, str, str], tuple[float, OcspAnswer]] = field(default_factory=dict)
    queries: int = 0  # requests actually sent (the rest came from the cache)

    async def status(self, cert_id: CertId) -> OcspAnswer:
        cached = self._cache.get(cert_id.key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        answer = await self._ask(cert_id)
        if answer.status != FAILED:
            self._cache[cert_id.key] = (time.monotonic() + _lifetime(answer), answer)
        if answer.problems:
            log.warning("OCSP %s serial %s: %s (%s)", cert_id.responder_url, cert_id.serial_number, answer.status,
                        "; ".join(answer.problems))  # fmt: skip
        return answer

    async def _ask(self, cert_id: CertId) -> OcspAnswer:
        try:
            body = request_der(cert_id)
        except OcspError as exc:
            return OcspAnswer(FAILED, problems=(str(exc),))
        self.queries += 1
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(cert_id.responder_url, content=body,
                                             headers={"Content-Type": "application/ocsp-request"})  # fmt: skip
        except (httpx.HTTPError, ValueError) as exc:
            return OcspAnswer(FAILED, problems=(f"responder {cert_id.responder_url} unreachable: {exc!r}",))
        if response.status_code != 200:
            return OcspAnswer(FAILED, problems=(f"responder answered HTTP {response.status_code}",))
        return read_response(response.content, cert_id)


def _lifetime(answer: OcspAnswer) -> float:
    if answer.next_update is None:
        return DEFAULT_CACHE_S
    return max(0.0, (answer.next_update - datetime.now(UTC)).total_seconds())
