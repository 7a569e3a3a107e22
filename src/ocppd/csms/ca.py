"""The built-in certificate authority: a CSMS root, a sub-CA for charging-station certificates and a
V2G root with a CPO sub-CA for ISO 15118 (SECC) certificates, with the ``cryptography`` package.

Created on first start in ``<data_dir>/ca`` (or loaded from files the operator names); the private keys
are written readable only by their owner. :func:`check_csr` is a pure function: what a station's CSR
must satisfy before anything is signed. :class:`CertificateProvider` is the seam an external CA (an EST
or HTTP signing service) plugs into; :class:`BuiltinCa` is the default implementation.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CHARGING_STATION = "ChargingStationCertificate"
V2G = "V2GCertificate"
# 2.x SignCertificate without certificateType: one certificate for both the CSMS and the ISO 15118 link.
COMBINED = "Combined"

# OCPP 2.0.1 part 2, A00.FR.306 and the 1.6 security whitepaper: RSA keys of 2048 bits or more,
# elliptic-curve keys of 224 bits or more (secp256r1 recommended).
DEFAULT_MIN_RSA_BITS = 2048
DEFAULT_MIN_EC_BITS = 224


class CsrRejected(ValueError):
    """A CSR the CA will not sign. ``reason`` is a short code for statusInfo.reasonCode (2.x)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CsrPolicy:
    """What a station's CSR must satisfy (``[ca]`` settings; docs/security.md)."""

    min_rsa_bits: int = DEFAULT_MIN_RSA_BITS
    min_ec_bits: int = DEFAULT_MIN_EC_BITS
    check_common_name: bool = True  # CN = the station identity (A00.FR.405); V2G: not checked (CN = SECC id)
    organization: str = ""  # when set, O must equal it (A00.FR.404: the CPO name)
    max_bytes: int = 5500  # the schemas' maxLength; an operator may set less


def _load_csr(text: str) -> x509.CertificateSigningRequest:
    data = text.strip().encode()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_csr(data)
    # Lenient: some stations send the base64 body without the PEM armour.
    return x509.load_der_x509_csr(base64.b64decode(data, validate=False))


def check_csr(text: str, station_id: str, certificate_type: str, policy: CsrPolicy) -> x509.CertificateSigningRequest:
    """The parsed CSR if the policy allows signing it; raises :class:`CsrRejected` saying why not."""
    if len(text.encode()) > policy.max_bytes:
        raise CsrRejected("TooLarge", f"the CSR is {len(text.encode())} bytes, more than {policy.max_bytes}")
    try:
        csr = _load_csr(text)
    except (ValueError, TypeError):
        raise CsrRejected("InvalidCSR", "the CSR is not a PEM (or base64 DER) PKCS#10 certificate request") from None
    try:
        signature_ok = csr.is_signature_valid
    except (ValueError, InvalidSignature, x509.UnsupportedGeneralNameType):
        signature_ok = False
    if not signature_ok:
        raise CsrRejected("InvalidCSR", "the CSR's signature does not verify with its own public key")
    try:
        key = csr.public_key()
    except ValueError as exc:
        raise CsrRejected("InvalidCSR", f"the CSR's public key cannot be read: {exc}") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < policy.min_rsa_bits:
            raise CsrRejected("KeyTooWeak", f"RSA key of {key.key_size} bits; at least {policy.min_rsa_bits} needed")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < policy.min_ec_bits:
            raise CsrRejected(
                "KeyTooWeak", f"EC key of {key.curve.key_size} bits; at least {policy.min_ec_bits} needed"
            )
    else:
        raise CsrRejected("KeyTypeNotSupported", f"{type(key).__name__.removesuffix('PublicKey')} keys are not signed")
    subject = csr.subject
    common_names = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if not common_names:
        raise CsrRejected("InvalidCSR", "the CSR's subject has no CN")
    if policy.check_common_name and certificate_type != V2G and common_names != [station_id]:
        raise CsrRejected(
            "WrongStation", f"the CSR is for CN {', '.join(map(repr, common_names))}, not this station {station_id!r}"
        )
    if policy.organization:
        organizations = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        if organizations != [policy.organization]:
            shown = ", ".join(map(repr, organizations)) or "none"
            raise CsrRejected("WrongOrganization", f"the CSR's O is {shown}, not {policy.organization!r}")
    return csr


@dataclass(frozen=True, slots=True)
class Issued:
    """A signed certificate and the chain to send with it (leaf first, then the sub-CA(s))."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def chain_pem(self) -> str:
        return pem(self.chain)

    @property
    def serial_hex(self) -> str:
        return serial_hex(self.certificate.serial_number)


def serial_hex(serial: int) -> str:
    """Serials as OpenSSL prints them (``getpeercert()['serialNumber']``): upper-case hex, even length."""
    text = f"{serial:X}"
    return text if len(text) % 2 == 0 else "0" + text


class CertificateProvider(Protocol):
    """Signs station certificates. The built-in CA is the default; an EST or HTTP signing service can
    take its place. ``trust_anchors`` are what the TLS port trusts for station (client) certificates."""

    async def sign(self, station_id: str, certificate_type: str, csr: x509.CertificateSigningRequest) -> Issued: ...

    def trust_anchors(self) -> list[x509.Certificate]: ...


@dataclass
class _Authority:
    """One signing certificate with its key and the chain above it (not including the root)."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    parents: tuple[x509.Certificate, ...] = ()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(organization: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


_KEY_USAGES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
               "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")  # fmt: skip


def _key_usage(**on: bool) -> x509.KeyUsage:
    return x509.KeyUsage(**{name: on.get(name, False) for name in _KEY_USAGES})


def _ca_certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: _Authority | None,
    days: int,
    path_length: int | None,
) -> x509.Certificate:
    now = _now()
    signer_key = key if issuer is None else issuer.key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    return builder.sign(signer_key, hashes.SHA256())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{path}: only RSA and EC CA keys are supported")
    return key


def _load_certificates(path: Path) -> list[x509.Certificate]:
    certificates = x509.load_pem_x509_certificates(path.read_bytes())
    if not certificates:
        raise ValueError(f"{path}: no PEM certificate")
    return certificates


@dataclass(frozen=True)
class CaFiles:
    """Operator-provided CA material (``[ca]`` settings); empty fields: generate in ``directory``."""

    directory: Path
    organization: str = "ocppd"
    station_ca_cert: str = ""  # PEM: the sub-CA, then any intermediates up to (and maybe including) the root
    station_ca_key: str = ""
    root_cert: str = ""  # the root stations install as CSMSRootCertificate / the TLS port trusts
    v2g_ca_cert: str = ""
    v2g_ca_key: str = ""
    v2g_root_cert: str = ""
    firmware_signing_cert: str = ""  # PEM, its chain after it
    firmware_signing_key: str = ""


def _organization(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(names[0].value) if names else "ocppd"


@dataclass
class BuiltinCa:
    """The default :class:`CertificateProvider`: signs with a sub-CA of its own root."""

    root: x509.Certificate
    station_ca: _Authority
    v2g_root: x509.Certificate
    v2g_ca: _Authority
    firmware_signer: _Authority  # a code-signing certificate under the CSMS root, for firmware images
    certificate_days: int = 365
    crl_url: str = ""  # written into issued certificates as their CRL distribution point, when set
    revoked: dict[int, dt.datetime] = field(default_factory=dict)

    # ------------------------------------------------------------------ creation / loading
    @classmethod
    def load_or_create(cls, files: CaFiles, *, certificate_days: int = 365, crl_url: str = "") -> BuiltinCa:
        """Load the CA from the operator's files or ``files.directory``; create what is missing there."""
        d = files.directory
        d.mkdir(parents=True, exist_ok=True)
        root, station_ca = cls._hierarchy(
            d, "csms-root", "station-ca", f"{files.organization} CSMS root CA", f"{files.organization} station CA",
            files.organization, files.root_cert, files.station_ca_cert, files.station_ca_key, "station_ca",
        )  # fmt: skip
        v2g_root, v2g_ca = cls._hierarchy(
            d, "v2g-root", "cpo-sub-ca", f"{files.organization} V2G root CA", f"{files.organization} CPO sub-CA",
            files.organization, files.v2g_root_cert, files.v2g_ca_cert, files.v2g_ca_key, "v2g_ca",
        )  # fmt: skip
        firmware_signer = cls._firmware_signer(d, files, root, station_ca)
        return cls(root, station_ca, v2g_root, v2g_ca, firmware_signer, certificate_days, crl_url)

    @staticmethod
    def _firmware_signer(d: Path, files: CaFiles, root: x509.Certificate, station_ca: _Authority) -> _Authority:
        if files.firmware_signing_cert or files.firmware_signing_key:
            if not (files.firmware_signing_cert and files.firmware_signing_key):
                raise ValueError("ca.firmware_signing_cert and ca.firmware_signing_key go together")
            chain = _load_certificates(Path(files.firmware_signing_cert))
            return _Authority(chain[0], _load_key(Path(files.firmware_signing_key)), tuple(chain[1:]))
        cert_path, key_path = d / "firmware-signing.pem", d / "firmware-signing.key"
        if not cert_path.exists():
            # Signed by the station sub-CA, whose chain (to the CSMS root) stations can check.
            key = ec.generate_private_key(ec.SECP256R1())
            now = _now()
            certificate = (
                x509.CertificateBuilder()
                .subject_name(_name(_organization(root), "firmware signing"))
                .issuer_name(station_ca.certificate.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(min(now + dt.timedelta(days=5 * 365), station_ca.certificate.not_valid_after_utc))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(_key_usage(digital_signature=True), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(station_ca.key.public_key()), critical=False
                )
                .sign(station_ca.key, hashes.SHA256())
            )
            _write_private(key_path, _key_pem(key))
            cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return _Authority(_load_certificates(cert_path)[0], _load_key(key_path), (station_ca.certificate,))

    @staticmethod
    def _hierarchy(
        directory: Path,
        root_name: str,
        ca_name: str,
        root_cn: str,
        ca_cn: str,
        organization: str,
        root_file: str,
        ca_file: str,
        key_file: str,
        setting: str,
    ) -> tuple[x509.Certificate, _Authority]:
        if ca_file or key_file:
            if not (ca_file and key_file):
                raise ValueError(f"ca.{setting}_cert and ca.{setting}_key go together")
            chain = _load_certificates(Path(ca_file))
            key = _load_key(Path(key_file))
            if chain[0].public_key().public_numbers() != key.public_key().public_numbers():
                raise ValueError(f"ca.{setting}_key does not match the certificate in ca.{setting}_cert")
            roots = [c for c in chain if c.subject == c.issuer]
            if root_file:
                root = _load_certificates(Path(root_file))[0]
            elif roots:
                root = roots[0]
            else:
                raise ValueError(f"ca.{setting}_cert has no self-signed root after the sub-CA; set ca.root_cert")
            parents = tuple(c for c in chain[1:] if c.subject != c.issuer)
            return root, _Authority(chain[0], key, parents)
        root_pem, root_key = directory / f"{root_name}.pem", directory / f"{root_name}.key"
        ca_pem, ca_key = directory / f"{ca_name}.pem", directory / f"{ca_name}.key"
        if not root_pem.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            certificate = _ca_certificate(_name(organization, root_cn), key, None, 20 * 365, None)
            _write_private(root_key, _key_pem(key))
            root_pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        root = _load_certificates(root_pem)[0]
        root_authority = _Authority(root, _load_key(root_key)) if root_key.exists() else None
        if not ca_pem.exists():
            if root_authority is None:
                raise ValueError(f"{ca_pem} is missing and {root_key} (to sign a new one) too")
            key = ec.generate_private_key(ec.SECP256R1())
            certificate = _ca_certificate(_name(organization, ca_cn), key, root_authority, 10 * 365, 0)
            _write_private(ca_key, _key_pem(key))
            ca_pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return root, _Authority(_load_certificates(ca_pem)[0], _load_key(ca_key))

    # ------------------------------------------------------------------ the provider interface
    async def sign(self, station_id: str, certificate_type: str, csr: x509.CertificateSigningRequest) -> Issued:
        return self.issue(certificate_type, csr)

    def trust_anchors(self) -> list[x509.Certificate]:
        return [self.root, self.station_ca.certificate, *self.station_ca.parents]

    # ------------------------------------------------------------------ signing
    def authority(self, certificate_type: str) -> _Authority:
        return self.v2g_ca if certificate_type == V2G else self.station_ca

    def issue(self, certificate_type: str, csr: x509.CertificateSigningRequest) -> Issued:
        """Sign a CSR that :func:`check_csr` accepted: the CSR's subject and key, our extensions."""
        ca = self.authority(certificate_type)
        key = csr.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)  # check_csr let only these through
        now = _now()
        not_after = min(now + dt.timedelta(days=self.certificate_days), ca.certificate.not_valid_after_utc)
        is_ec = isinstance(key, ec.EllipticCurvePublicKey)
        # A V2G (SECC) certificate serves TLS to the EV; a station certificate is a TLS client to the CSMS.
        usages = {
            V2G: [ExtendedKeyUsageOID.SERVER_AUTH],
            COMBINED: [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
        }.get(certificate_type, [ExtendedKeyUsageOID.CLIENT_AUTH])
        builder = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(ca.certificate.subject)
            .public_key(key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(digital_signature=True, key_encipherment=not is_ec, key_agreement=is_ec), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        )
        if self.crl_url:
            point = x509.DistributionPoint([x509.UniformResourceIdentifier(self.crl_url)], None, None, None)
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
        # SHA256withRSA (PKCS#1 v1.5) for an RSA CA key, ECDSA-SHA256 for an EC one: what OCTT accepts.
        certificate = builder.sign(ca.key, hashes.SHA256())
        return Issued(certificate, (certificate, ca.certificate, *ca.parents))

    # ------------------------------------------------------------------ firmware
    def sign_digest(self, sha256_digest: bytes) -> bytes:
        """The firmware-signing key's signature (DER) of an image's SHA-256 digest: ECDSA, or RSA-PSS."""
        key = self.firmware_signer.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(sha256_digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        return key.sign(sha256_digest, pss, Prehashed(hashes.SHA256()))

    def firmware_signing_chain_pem(self) -> str:
        return pem([self.firmware_signer.certificate, *self.firmware_signer.parents])

    # ------------------------------------------------------------------ revocation
    def is_revoked(self, issuer: x509.Name, serial: int) -> bool:
        return serial in self.revoked and issuer == self.station_ca.certificate.subject

    def crl(self, next_update_days: int = 7) -> x509.CertificateRevocationList:
        """The station sub-CA's CRL of every revoked serial, signed now."""
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.station_ca.certificate.subject)
            .last_update(now)
            .next_update(now + dt.timedelta(days=next_update_days))
        )
        for serial, when in sorted(self.revoked.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return builder.sign(self.station_ca.key, hashes.SHA256())

    def set_revoked(self, entries: Iterable[tuple[int, dt.datetime]]) -> None:
        self.revoked = dict(entries)


def pem(certificates: Iterable[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)
