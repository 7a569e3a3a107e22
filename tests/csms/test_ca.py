"""The built-in CA and the CSR checks, without I/O beyond the CA's directory (real cryptography)."""

from __future__ import annotations

import base64
import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ocppd.csms import ca, profiles


def csr(
    common_name: str | None = "CS-1",
    organization: str | None = "ACME CPO",
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
) -> str:
    attributes = []
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .sign(key or ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


POLICY = ca.CsrPolicy(organization="ACME CPO")


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> ca.BuiltinCa:
    return ca.BuiltinCa.load_or_create(ca.CaFiles(tmp_path_factory.mktemp("ca"), "ACME CPO"))


def reason(text: str, station_id: str = "CS-1", certificate_type: str = ca.CHARGING_STATION, policy=POLICY) -> str:
    with pytest.raises(ca.CsrRejected) as info:
        ca.check_csr(text, station_id, certificate_type, policy)
    return info.value.reason


def test_a_good_csr_passes_ec_and_rsa() -> None:
    assert ca.check_csr(csr(), "CS-1", ca.CHARGING_STATION, POLICY).subject.rfc4514_string() == "CN=CS-1,O=ACME CPO"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca.check_csr(csr(key=rsa_key), "CS-1", ca.CHARGING_STATION, POLICY)


def test_bad_csrs_are_rejected_with_a_reason() -> None:
    assert reason("-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----") == "InvalidCSR"
    assert reason("garbage") == "InvalidCSR"
    assert reason(csr(common_name="CS-2")) == "WrongStation"  # another station's id
    assert reason(csr(common_name=None)) == "InvalidCSR"
    assert reason(csr(organization="Other CPO")) == "WrongOrganization"
    assert reason(csr(organization=None)) == "WrongOrganization"
    assert reason(csr(key=rsa.generate_private_key(public_exponent=65537, key_size=1024))) == "KeyTooWeak"
    assert reason(csr(key=ec.generate_private_key(ec.SECP192R1()))) == "KeyTooWeak"
    small = ca.CsrPolicy(max_bytes=300)
    assert reason(csr(), policy=small) == "TooLarge"


def test_a_tampered_csr_does_not_verify() -> None:
    good = x509.load_pem_x509_csr(csr().encode())
    other = ec.generate_private_key(ec.SECP256R1())
    # The subject and public key of one CSR, signed with another key: the self-signature fails.
    forged = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(good.subject)
        .sign(other, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    public = good.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    mine = other.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert len(public) == len(mine)
    tampered = forged.replace(mine, public)
    assert reason(base64.b64encode(tampered).decode()) == "InvalidCSR"


def test_octt_compat_skips_the_name_checks() -> None:
    lenient = ca.CsrPolicy(check_common_name=False)
    ca.check_csr(csr(common_name="octt-serial", organization=None), "CS-1", ca.CHARGING_STATION, lenient)
    # V2G (SECC) certificates carry the SECC id as CN: not compared with the station id.
    ca.check_csr(csr(common_name="SECC-77"), "CS-1", ca.V2G, POLICY)
    # A certificate for both links (2.x SignCertificate without certificateType) names the station.
    assert reason(csr(common_name="SECC-77"), certificate_type=ca.COMBINED) == "WrongStation"


def test_the_ca_is_created_once_with_private_keys_only_for_its_owner(tmp_path: Path) -> None:
    first = ca.BuiltinCa.load_or_create(ca.CaFiles(tmp_path, "ACME CPO"))
    again = ca.BuiltinCa.load_or_create(ca.CaFiles(tmp_path, "ACME CPO"))
    assert first.root == again.root and first.station_ca.certificate == again.station_ca.certificate
    for key in tmp_path.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert first.station_ca.certificate.issuer == first.root.subject
    assert first.v2g_ca.certificate.issuer == first.v2g_root.subject != first.root.subject


def test_issued_certificates_chain_to_the_root(authority: ca.BuiltinCa) -> None:
    request = ca.check_csr(csr(), "CS-1", ca.CHARGING_STATION, POLICY)
    issued = authority.issue(ca.CHARGING_STATION, request)
    leaf, sub_ca = issued.chain
    assert leaf.public_key() == request.public_key() and leaf.subject == request.subject
    leaf.verify_directly_issued_by(sub_ca)
    sub_ca.verify_directly_issued_by(authority.root)
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert issued.chain_pem.count("BEGIN CERTIFICATE") == 2
    v2g = authority.issue(ca.V2G, ca.check_csr(csr("SECC-1"), "CS-1", ca.V2G, POLICY))
    v2g.certificate.verify_directly_issued_by(authority.v2g_ca.certificate)


def test_rsa_station_keys_get_a_pkcs1_signature_from_an_rsa_ca(tmp_path: Path) -> None:
    # OCTT checks SHA256withRSA, not RSA-PSS (oca-test-cases.md, finding 4): an operator's RSA sub-CA.
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "RSA root")])
    now = dt.datetime.now(dt.UTC)
    root = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(root_key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "rsa-ca.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "rsa-ca.key").write_bytes(
        root_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files = ca.CaFiles(tmp_path / "ca", station_ca_cert=str(tmp_path / "rsa-ca.pem"),
                       station_ca_key=str(tmp_path / "rsa-ca.key"))  # fmt: skip
    authority = ca.BuiltinCa.load_or_create(files)
    assert authority.root == root
    station_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issued = authority.issue(ca.CHARGING_STATION, x509.load_pem_x509_csr(csr(key=station_key).encode()))
    assert issued.certificate.signature_hash_algorithm is not None
    root_key.public_key().verify(
        issued.certificate.signature,
        issued.certificate.tbs_certificate_bytes,
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_operator_ca_files_must_match(tmp_path: Path, authority: ca.BuiltinCa) -> None:
    other = ca.BuiltinCa.load_or_create(ca.CaFiles(tmp_path / "other"))
    files = ca.CaFiles(tmp_path / "x", station_ca_cert=str(tmp_path / "other" / "station-ca.pem"),
                       station_ca_key=str(tmp_path / "other" / "csms-root.key"))  # fmt: skip
    with pytest.raises(ValueError, match="does not match"):
        ca.BuiltinCa.load_or_create(files)
    with pytest.raises(ValueError, match="go together"):
        ca.BuiltinCa.load_or_create(ca.CaFiles(tmp_path / "y", station_ca_cert=str(tmp_path / "other" / "x.pem")))
    assert other.root != authority.root


def test_revocation_and_crl(authority: ca.BuiltinCa) -> None:
    issued = authority.issue(ca.CHARGING_STATION, x509.load_pem_x509_csr(csr().encode()))
    serial = issued.certificate.serial_number
    assert not authority.is_revoked(issued.certificate.issuer, serial)
    authority.set_revoked([(serial, dt.datetime.now(dt.UTC))])
    assert authority.is_revoked(issued.certificate.issuer, serial)
    crl = authority.crl()
    assert crl.is_signature_valid(authority.station_ca.certificate.public_key())
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    authority.set_revoked([])


@pytest.mark.parametrize(
    ("required", "tls", "certificate", "sent", "ok", "status"),
    [
        (0, False, False, False, False, None),  # profile 0: anyone
        (1, False, False, False, False, 401),  # a stored password must be sent
        (1, False, False, True, False, 401),  # ... and be right
        (1, False, False, True, True, None),
        (2, False, False, True, True, 401),  # profile 2 needs TLS
        (2, True, False, True, True, None),
        (3, True, False, True, True, 401),  # profile 3 needs the certificate; a password is not enough
        (3, True, True, False, False, None),
        (1, True, True, True, False, None),  # the certificate is the credential; a stale password is ignored
        (0, False, False, True, False, 401),  # a wrong password (or user name) is refused even when not needed
    ],
)
def test_admission_by_security_profile(
    required: int, tls: bool, certificate: bool, sent: bool, ok: bool, status: int | None
) -> None:
    refusal = profiles.admission(required=required, tls=tls, certificate=certificate, password_sent=sent,
                                 password_ok=ok)  # fmt: skip
    assert (refusal.status if refusal else None) == status


def test_required_profile() -> None:
    assert profiles.required_profile(None, 0, has_password=False) == 0
    assert profiles.required_profile(None, 0, has_password=True) == 1
    assert profiles.required_profile(None, 3, has_password=True) == 3
    assert profiles.required_profile(2, 3, has_password=False) == 2  # the station's own profile wins
