"""The simulated station's security: its key pair and CSR, the certificate the CSMS signs, the Basic-auth
password the CSMS rotates, and the security profile it connects with (the same for 1.6 and 2.x).

What it does mirrors a real charger: a CSR for a fresh EC P-256 key (CN = the station identity, O =
the OrganizationName setting); the signed chain is checked (our key, our name, each certificate signed
by the next) and only then installed, written to files the TLS client context loads; a chain that
fails is answered Rejected and reported as a security event. Changes of credentials take effect with
a reconnect, as on a charger: at once for a password or certificate, at the next reset for a profile.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.ocsp import OCSPRequestBuilder
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from ocppd.transport.tls import client_context

if TYPE_CHECKING:
    from ocppd.station.station import Station

log = logging.getLogger("ocppd.station.security")

CHARGING_STATION = "ChargingStationCertificate"
V2G = "V2GCertificate"


@dataclass(slots=True)
class PendingCsr:
    certificate_type: str | None  # None: a combined certificate (2.x certificateType omitted)
    key: ec.EllipticCurvePrivateKey


def _ocsp_url(certificate: x509.Certificate) -> str:
    try:
        aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return ""
    urls = [str(d.access_location.value) for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP]
    return urls[0] if urls else ""


class StationSecurity:
    def __init__(self, station: Station) -> None:
        self.station = station
        self.password: str | None = station.config.password
        self.cert_file: str | None = station.config.cert_file
        self.key_file: str | None = station.config.key_file
        self.url = station.config.url
        self._pending: dict[str | None, PendingCsr] = {}
        self._directory: Path | None = None
        self.profile_after_reset: int | None = None
        self.url_after_reset: str | None = None

    # ------------------------------------------------------------------ what a connection uses
    def credentials(self) -> tuple[tuple[str, str] | None, Any]:
        """``(basic auth, ssl context)`` for the next connection, by the current security profile."""
        if self.profile_after_reset is not None and self.station._reboot not in (None, "reconnect"):
            # A reset after a profile change: the new profile (and network profile URL) takes effect now.
            self.station.settings.force("security_profile", self.profile_after_reset)
            self.url = self.url_after_reset or self.url
            self.profile_after_reset = self.url_after_reset = None
        profile = int(self.station.settings["security_profile"])
        secure = self.url.lower().startswith("wss:")
        with_certificate = profile >= 3 and self.cert_file is not None
        basic = (self.station.identity, self.password) if self.password and not with_certificate else None
        context = self.station.ssl_context
        if secure and (context is None or with_certificate != bool(self._uses_certificate)):
            context = client_context(self.station.config.ca_file, self.cert_file if with_certificate else None,
                                     self.key_file if with_certificate else None)  # fmt: skip
            self._uses_certificate = with_certificate
            self.station.ssl_context = context
        return basic, context

    _uses_certificate: bool | None = None

    # ------------------------------------------------------------------ certificates
    def csr(self, certificate_type: str | None) -> str:
        """A CSR for a new key; the key waits for the signed certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        self._pending[certificate_type] = PendingCsr(certificate_type, key)
        common_name = f"SECC-{self.station.identity}" if certificate_type == V2G else self.station.identity
        name = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, str(self.station.settings["organization"]) or "ocppd"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ])  # fmt: skip
        request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
        return request.public_bytes(serialization.Encoding.PEM).decode()

    def install(self, chain_pem: str, certificate_type: str | None) -> str | None:
        """Check and install a signed chain; None when installed, else why not."""
        pending = self._pending.get(certificate_type) or self._pending.get(None)
        if pending is None:
            return "no CSR is waiting for a certificate"
        try:
            chain = x509.load_pem_x509_certificates(chain_pem.encode())
        except ValueError:
            return "the chain is not PEM"
        leaf = chain[0]
        if leaf.public_key() != pending.key.public_key():
            return "the certificate is not for the key of the CSR"
        names = [str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if certificate_type != V2G and names != [self.station.identity]:
            return f"the certificate is for CN {names}, not {self.station.identity!r}"
        for child, parent in itertools.pairwise(chain):
            try:
                child.verify_directly_issued_by(parent)
            except (ValueError, TypeError, InvalidSignature):
                return "the chain does not verify"
        del self._pending[pending.certificate_type]
        if certificate_type == V2G:
            return None  # the SECC certificate serves the EV, not the CSMS connection
        directory = self._files()
        cert_path, key_path = directory / "station.pem", directory / "station.key"
        cert_path.write_text(chain_pem)
        key_path.write_bytes(pending.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))  # fmt: skip
        key_path.chmod(0o600)
        self.cert_file, self.key_file = str(cert_path), str(key_path)
        self._uses_certificate = None  # rebuild the context for the next connection
        log.info("%s: installed the certificate %X from the CSMS", self.station.identity, leaf.serial_number)
        return None

    def _files(self) -> Path:
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix=f"ocppd-station-{self.station.identity}-"))
        return self._directory

    # ------------------------------------------------------------------ plug & charge
    def contract_hash_data(self, id_token: str) -> list[dict[str, str]] | None:
        """iso15118CertificateHashData of the contract chain whose leaf is for ``id_token`` (the eMAID),
        each entry with the OCSP responder of its certificate (AIA); None for any other token."""
        path = self.station.config.contract_certificate
        if not path:
            return None
        chain = x509.load_pem_x509_certificates(Path(path).read_bytes())
        names = [str(a.value) for a in chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if names != [id_token]:
            return None
        out = []
        for certificate, issuer in itertools.pairwise(chain):
            request = OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256()).build()
            serial = f"{certificate.serial_number:X}"
            out.append({"hashAlgorithm": "SHA256", "issuerNameHash": request.issuer_name_hash.hex(),
                        "issuerKeyHash": request.issuer_key_hash.hex(), "serialNumber": serial,
                        "responderURL": _ocsp_url(certificate)})  # fmt: skip
        return out

    # ------------------------------------------------------------------ passwords and profiles
    def set_password(self, value: str, hex_encoded: bool) -> bool:
        """A new Basic password (1.6 AuthorizationKey hex per the whitepaper; 2.x as is)."""
        password = value
        if hex_encoded:
            try:
                password = bytes.fromhex(value).decode()
            except ValueError:
                password = value  # not hex: some CSMSs send the password itself
        if not 16 <= len(password) <= 40:
            return False
        self.password = password
        return True

    def set_profile(self, profile: int, url: str | None = None) -> bool:
        """Take ``profile`` at the next reset; only upwards (A_19, TC_083)."""
        if profile <= int(self.station.settings["security_profile"]) or profile > 3:
            return False
        if profile == 3 and self.cert_file is None:
            return False  # no certificate to connect with
        self.profile_after_reset, self.url_after_reset = profile, url
        return True
