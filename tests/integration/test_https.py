"""The HTTP listener over TLS (``http.tls_*``), as a real ``ocppd serve``: the dashboard and API over
HTTPS, OCPP-S stations with client certificates (security profile 3 over SOAP), bad files exit 2.

The PKI is tests/pki.py; the clients are independent: httpx with a client certificate, and zeep (the
official 1.6 WSDL) over requests for the SOAP station.
"""

from __future__ import annotations

import datetime as dt
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.csms_process import CsmsProcess, run_csms
from tests.integration.test_soap import HEARTBEAT, envelope, fault
from tests.pki import REVOKED_IN_HANDSHAKE, Pki, handshake_failure
from tests.soap_peers import ZeepStation


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = Pki.create(tmp_path_factory.mktemp("pki"))
    for identity in ("SOAP-P3", "SOAP-OTHER"):
        pki.station(identity)
    return pki


@pytest.fixture(scope="module")
def https(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    env = {
        "OCPPD_HTTP__TLS_CERT": str(pki.server.cert),
        "OCPPD_HTTP__TLS_KEY": str(pki.server.key),
        "OCPPD_HTTP__TLS_CLIENT_CA": str(pki.ca.pem),
        # Stations without a stored profile need a client certificate (profile 3), over SOAP too.
        "OCPPD_OCPP__DEFAULT_SECURITY_PROFILE": "3",
    }
    with run_csms(tmp_path_factory.mktemp("https"), extra_env=env) as server:
        yield server


def client(pki: Pki, cert: str | None = None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(pki.ca.pem))
    if cert is not None:
        context.load_cert_chain(pki.directory / f"{cert}.pem", pki.directory / f"{cert}.key")
    return httpx.Client(verify=context, timeout=30)


def test_dashboard_and_api_over_https(https: CsmsProcess, pki: Pki) -> None:
    assert https.http_url.startswith("https://")
    with client(pki) as http:
        assert http.get(f"{https.http_url}/health").status_code == 200
        stations = http.get(
            f"{https.http_url}/api/v1/stations", headers={"Authorization": f"Bearer {https.admin_token}"}
        )
        assert stations.status_code == 200, stations.text
        login = http.get(f"{https.http_url}/login")
        assert login.status_code == 200
        assert "secure" in login.headers["set-cookie"].lower()  # the login CSRF cookie: HTTPS only
    # The port speaks only TLS: a plain HTTP request gets no HTTP answer.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{https.http_port}/health", timeout=10)
    assert "Dashboard and API: https://127.0.0.1:" in https.log()
    # The commands that tell the running server about a change reach it over HTTPS (its own certificate
    # is trusted): "applied" is their confirmation, exit 0, not "did not confirm it", exit 1.
    added = https.cli("--verbose", "stations", "add", "HTTPS-CLI", "--password", "correct-horse-battery")
    assert "the running server" in added.stderr and "applied it" in added.stderr, added.stderr


def soap_url(server: CsmsProcess) -> str:
    return f"{server.http_url}/ocpp/soap"


def test_soap_station_with_a_client_certificate(https: CsmsProcess, pki: Pki) -> None:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would replace verify
    session.verify = str(pki.ca.pem)
    session.cert = (str(pki.directory / "SOAP-P3.pem"), str(pki.directory / "SOAP-P3.key"))
    station = ZeepStation("1.6", soap_url(https), "SOAP-P3", "http://127.0.0.1:9/", session=session)
    boot = station.call("BootNotification", chargePointVendor="ACME", chargePointModel="S-TLS")
    assert boot["status"] == "Accepted"
    assert station.call("Heartbeat")["currentTime"] is not None

    body = envelope("1.6", "<o:chargeBoxIdentity>SOAP-P3</o:chargeBoxIdentity>", HEARTBEAT)
    headers = {"Content-Type": "application/soap+xml"}
    # Another station's certificate: its CN is not this chargeBoxIdentity.
    with client(pki, "SOAP-OTHER") as http:
        refused = http.post(soap_url(https), content=body, headers=headers)
    assert refused.status_code == 403 and fault(refused) == ("s:Sender", "SecurityError")
    assert "CN 'SOAP-OTHER', not 'SOAP-P3'" in refused.text
    # TLS without a certificate does not reach profile 3.
    with client(pki) as http:
        anonymous = http.post(soap_url(https), content=body, headers=headers)
    assert anonymous.status_code == 401 and fault(anonymous) == ("s:Sender", "SecurityError")
    assert "SOAP-P3: refused with 401 (security profile 3: a client certificate is required)" in https.log()


def serve_exit(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ocppd.cli", "serve"],
        env={"OCPPD_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_https_files_exit_2_naming_the_setting(tmp_path: Path, pki: Pki) -> None:
    wrong_key = serve_exit(
        tmp_path, OCPPD_HTTP__TLS_CERT=str(pki.server.cert), OCPPD_HTTP__TLS_KEY=str(pki.directory / "SOAP-P3.key")
    )
    assert wrong_key.returncode == 2
    lines = wrong_key.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: http.tls_key: the private key in"), lines
    missing = serve_exit(tmp_path, OCPPD_HTTP__TLS_CERT=str(tmp_path / "nope.pem"))
    assert missing.returncode == 2 and "http.tls_cert: no such file" in missing.stderr
    bad_crl = serve_exit(
        tmp_path,
        OCPPD_HTTP__TLS_CERT=str(pki.server.cert),
        OCPPD_HTTP__TLS_KEY=str(pki.server.key),
        OCPPD_HTTP__TLS_CRL=str(pki.server.cert),
    )
    assert bad_crl.returncode == 2 and "http.tls_crl: no PEM or DER certificate revocation list" in bad_crl.stderr


def test_your_own_ca_crl_is_checked_in_the_handshake_on_both_ports(tmp_path: Path, pki: Pki) -> None:
    """``ocpp.tls_crl`` / ``http.tls_crl``: a certificate the operator's CRL lists fails the TLS handshake
    on the OCPP port and on the HTTPS port; one it does not list passes."""
    good, revoked = pki.station("CRL-GOOD"), pki.station("CRL-REVOKED")
    serial = x509.load_pem_x509_certificate(revoked.cert.read_bytes()).serial_number
    now = dt.datetime.now(dt.UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.ca.certificate.subject)
        .last_update(now - dt.timedelta(minutes=1))
        .next_update(now + dt.timedelta(days=1))
        .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
        .sign(pki.ca.key, hashes.SHA256())
    )
    crl_file = tmp_path / "test-ca.crl"
    crl_file.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    env: dict[str, str] = {}
    for section in ("OCPP", "HTTP"):
        env |= {
            f"OCPPD_{section}__TLS_CERT": str(pki.server.cert),
            f"OCPPD_{section}__TLS_KEY": str(pki.server.key),
            f"OCPPD_{section}__TLS_CLIENT_CA": str(pki.ca.pem),
            f"OCPPD_{section}__TLS_CRL": str(crl_file),
        }
    with run_csms(tmp_path, extra_env=env) as server:
        for port in (server.ocpp_port, server.http_port):
            assert handshake_failure(port, pki.ca.pem, good.cert, good.key) is None
            assert handshake_failure(port, pki.ca.pem, revoked.cert, revoked.key) in REVOKED_IN_HANDSHAKE
        # Nothing reached HTTP: no refusal was answered or logged for it.
        assert "CRL-REVOKED" not in server.log()
