"""A throwaway PKI for TLS tests: CAs, a server certificate for 127.0.0.1/localhost, station certificates.

Made with the ``cryptography`` package (EC P-256 keys: quick to generate), written as PEM files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


@dataclass
class Ca:
    name: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    pem: Path

    @classmethod
    def create(cls, directory: Path, name: str) -> Ca:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ocppd tests"),
                             x509.NameAttribute(NameOID.COMMON_NAME, name)])  # fmt: skip
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        pem = directory / f"{name}.pem"
        pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(name, key, certificate, pem)

    def issue(
        self,
        directory: Path,
        common_name: str,
        *,
        server: bool = False,
        file_name: str | None = None,
        rsa_bits: int | None = None,
    ) -> Issued:
        """A leaf certificate signed by this CA: a TLS server's (127.0.0.1, localhost) or a station's;
        EC P-256, or RSA of ``rsa_bits``."""
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
            if rsa_bits
            else ec.generate_private_key(ec.SECP256R1())
        )
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ocppd tests"),
                        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                    ]
                )
            )
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        certificate = builder.sign(self.key, hashes.SHA256())
        stem = directory / (file_name or common_name)
        cert_path, key_path = stem.with_name(stem.name + ".pem"), stem.with_name(stem.name + ".key")
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(private_key_pem(key))
        return Issued(cert_path, key_path)


def private_key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@dataclass
class Pki:
    """What the TLS tests use: ``ca`` signs the server and the stations, ``other_ca`` signs an impostor."""

    directory: Path
    ca: Ca
    other_ca: Ca
    server: Issued

    @classmethod
    def create(cls, directory: Path) -> Pki:
        ca = Ca.create(directory, "test-ca")
        other = Ca.create(directory, "other-ca")
        return cls(directory, ca, other, ca.issue(directory, "127.0.0.1", server=True, file_name="server"))

    def station(self, identity: str, *, ca: Ca | None = None, file_name: str | None = None) -> Issued:
        return (ca or self.ca).issue(self.directory, identity, file_name=file_name)


# A handshake refused for a revoked client certificate: OpenSSL's alert, or -- as asyncio's TLS layer (and
# aiofastnet's) closes a failed server handshake without sending the alert -- the handshake cut short.
REVOKED_IN_HANDSHAKE = ("SSLV3_ALERT_CERTIFICATE_REVOKED", "UNEXPECTED_EOF_WHILE_READING")


def handshake_failure(port: int, ca: Path | str, cert: Path | str, key: Path | str) -> str | None:
    """A bare TLS 1.2 handshake to 127.0.0.1:``port`` with a client certificate: None, or the reason it
    failed. (In TLS 1.2 the server checks the client certificate before the handshake ends; in 1.3 after.)"""
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return None
    except ssl.SSLError as exc:
        return str(exc.reason)
