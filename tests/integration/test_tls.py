"""``ocppd serve`` over TLS, as real processes: security profile 2 (wss:// + Basic auth) and 3 (mutual TLS).

A throwaway PKI (tests/pki.py), the server configured through ``OCPPD_OCPP__TLS_*`` environment
variables, and stations on the other side: the independent ``websockets`` client speaking raw OCPP-J,
the project's ``Station``, and the ``ocppd simulate`` command line.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from websockets.exceptions import InvalidStatus

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from ocppd.transport.tls import client_context
from tests.csms_process import CsmsProcess, free_port, run_csms
from tests.pki import Pki

PASSWORD = "correct-horse-battery"
GUARD = 15.0  # only turns a hang into a failure


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = Pki.create(tmp_path_factory.mktemp("pki"))
    for identity in ("P3-CS1", "P3-PW", "P3-OTHER", "WRONG-CN", "SIM-00001", "SIM-00002"):
        pki.station(identity)
    pki.station("P3-CS1", ca=pki.other_ca, file_name="P3-CS1-other-ca")
    return pki


def tls_env(pki: Pki, *, client_ca: bool) -> dict[str, str]:
    env = {"OCPPD_OCPP__TLS_CERT": str(pki.server.cert), "OCPPD_OCPP__TLS_KEY": str(pki.server.key)}
    if client_ca:
        env["OCPPD_OCPP__TLS_CLIENT_CA"] = str(pki.ca.pem)
    return env


@pytest.fixture(scope="module")
def profile2(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("profile2"), extra_env=tls_env(pki, client_ca=False)) as server:
        yield server


@pytest.fixture(scope="module")
def profile3(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("profile3"), extra_env=tls_env(pki, client_ca=True)) as server:
        yield server


def wss(server: CsmsProcess, identity: str) -> str:
    return f"wss://127.0.0.1:{server.ocpp_port}/ocpp/{identity}"


def basic(identity: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()}


def station_ssl(pki: Pki, cert: str | None = None) -> ssl.SSLContext:
    if cert is None:
        return client_context(str(pki.ca.pem))
    return client_context(str(pki.ca.pem), str(pki.directory / f"{cert}.pem"), str(pki.directory / f"{cert}.key"))


async def boot(url: str, context: ssl.SSLContext, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Connect with the independent client, send a 1.6 BootNotification, return the answer's payload."""
    async with websockets.connect(url, subprotocols=["ocpp1.6"], ssl=context, additional_headers=headers,
                                  open_timeout=GUARD) as ws:  # fmt: skip
        await ws.send(json.dumps([2, "boot-1", "BootNotification", {"chargePointVendor": "ACME",
                                                                      "chargePointModel": "TLS"}]))  # fmt: skip
        reply = json.loads(await asyncio.wait_for(ws.recv(), GUARD))
    assert reply[:2] == [3, "boot-1"], reply
    return dict(reply[2])


async def refusal(url: str, context: ssl.SSLContext | None, headers: dict[str, str] | None = None) -> Exception:
    """How a connection attempt fails (it must fail)."""
    try:
        ws = await websockets.connect(url, subprotocols=["ocpp1.6"], ssl=context, additional_headers=headers,
                                      open_timeout=GUARD)  # fmt: skip
    except Exception as exc:
        return exc
    await ws.close()
    raise AssertionError(f"{url}: the connection was accepted")


def http_status(exc: Exception) -> int | None:
    return exc.response.status_code if isinstance(exc, InvalidStatus) else None


async def wait_for_password(server: CsmsProcess, pki: Pki, identity: str) -> None:
    """The running server reads stations added by the CLI on its next directory refresh (every 5 s)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            await boot(wss(server, identity), station_ssl(pki))
        except InvalidStatus as exc:
            assert exc.response.status_code == 401
            return
        await asyncio.sleep(0.3)
    pytest.fail(f"{identity} was still let in without its password")


# ------------------------------------------------------------------------------------ profile 2
async def test_profile_2_wss_with_basic_auth(profile2: CsmsProcess, pki: Pki) -> None:
    assert f"OCPP endpoint: wss://127.0.0.1:{profile2.ocpp_port}/ocpp/<station-id>" in profile2.log()
    assert "Security profiles 2 and 3" in profile2.log() and "need profile 0" in profile2.log()
    profile2.cli("stations", "add", "P2-CS1", "--password", PASSWORD)
    await wait_for_password(profile2, pki, "P2-CS1")

    answer = await boot(wss(profile2, "P2-CS1"), station_ssl(pki), basic("P2-CS1", PASSWORD))
    assert answer["status"] == "Accepted"

    wrong = await refusal(wss(profile2, "P2-CS1"), station_ssl(pki), basic("P2-CS1", "wrong-password-123"))
    assert http_status(wrong) == 401
    assert http_status(await refusal(wss(profile2, "P2-CS1"), station_ssl(pki))) == 401

    # Plain ws:// to the TLS port is no WebSocket handshake at all: the connection fails (quickly).
    plain = await refusal(f"ws://127.0.0.1:{profile2.ocpp_port}/ocpp/P2-CS1", None, basic("P2-CS1", PASSWORD))
    assert not isinstance(plain, TimeoutError | InvalidStatus), repr(plain)

    # A station that does not trust the server's CA does not talk to it.
    untrusted = await refusal(wss(profile2, "P2-CS1"), ssl.create_default_context(), basic("P2-CS1", PASSWORD))
    assert isinstance(untrusted, ssl.SSLCertVerificationError), repr(untrusted)

    # Stations without a password still get in over TLS (profile 2 adds the password per station).
    assert (await boot(wss(profile2, "P2-OPEN"), station_ssl(pki)))["status"] == "Accepted"


async def test_failed_handshakes_are_logged_with_the_cause_and_counted(profile2: CsmsProcess, pki: Pki) -> None:
    untrusted = await refusal(wss(profile2, "P2-UNTRUSTING"), ssl.create_default_context())
    assert isinstance(untrusted, ssl.SSLCertVerificationError), repr(untrusted)
    deadline = time.monotonic() + GUARD
    while "TLS handshake failed from 127.0.0.1: the client reset" not in profile2.log():
        assert time.monotonic() < deadline, profile2.log()[-2000:]
        await asyncio.sleep(0.1)
    assert "tb_frame" not in profile2.log() and "Traceback" not in profile2.log()
    metrics = httpx.get(f"{profile2.http_url}/metrics", timeout=GUARD).text
    assert 'ocppd_connections_refused_total{reason="tls_handshake"}' in metrics


async def test_profile_2_with_the_project_station(profile2: CsmsProcess, pki: Pki) -> None:
    profile2.cli("stations", "add", "P2-SIM", "--password", PASSWORD)
    await wait_for_password(profile2, pki, "P2-SIM")
    config = StationConfig(identity="P2-SIM", url=f"wss://127.0.0.1:{profile2.ocpp_port}/ocpp",
                           version=OcppVersion.V201, password=PASSWORD, ca_file=str(pki.ca.pem))  # fmt: skip
    async with Station(config) as st:
        await st.wait_booted(timeout=GUARD)
        assert st.boot_status == "Accepted"
        assert st.settings["security_profile"] == 2


# ------------------------------------------------------------------------------------ profile 3
async def test_profile_3_mutual_tls(profile3: CsmsProcess, pki: Pki) -> None:
    assert "stations without a stored profile need profile 3" in profile3.log()
    url = wss(profile3, "P3-CS1")
    assert (await boot(url, station_ssl(pki, "P3-CS1")))["status"] == "Accepted"

    # A station that stays connected while others are refused.
    async with websockets.connect(wss(profile3, "P3-OTHER"), subprotocols=["ocpp1.6"],
                                  ssl=station_ssl(pki, "P3-OTHER"), open_timeout=GUARD) as other:  # fmt: skip
        # No certificate: the TLS layer asks for one but lets the station say its id; its profile
        # (3: every station needs one here) refuses it with 401.
        assert http_status(await refusal(url, station_ssl(pki))) == 401
        # A certificate from an untrusted CA: refused by the TLS layer (no HTTP status, and not a timeout).
        foreign = await refusal(url, station_ssl(pki, "P3-CS1-other-ca"))
        assert not isinstance(foreign, TimeoutError | InvalidStatus), repr(foreign)

        wrong_cn = await refusal(url, station_ssl(pki, "WRONG-CN"))
        assert http_status(wrong_cn) == 403
        # ... even with the right password: in profile 3 the certificate is the credential.
        assert http_status(await refusal(url, station_ssl(pki, "WRONG-CN"), basic("P3-CS1", PASSWORD))) == 403

        await other.send(json.dumps([2, "hb-1", "Heartbeat", {}]))
        reply = json.loads(await asyncio.wait_for(other.recv(), GUARD))
        assert reply[:2] == [3, "hb-1"] and "currentTime" in reply[2]

    assert "P3-CS1: refused (the client certificate is for CN 'WRONG-CN', not 'P3-CS1')" in profile3.log()
    assert (await boot(url, station_ssl(pki, "P3-CS1")))["status"] == "Accepted"


async def test_profile_3_certificate_replaces_the_password(profile3: CsmsProcess, pki: Pki) -> None:
    profile3.cli("stations", "add", "P3-PW", "--password", PASSWORD)
    await asyncio.sleep(6)  # past the server's directory refresh, so the password is known to it
    assert (await boot(wss(profile3, "P3-PW"), station_ssl(pki, "P3-PW")))["status"] == "Accepted"


async def test_profile_3_with_the_project_station(profile3: CsmsProcess, pki: Pki) -> None:
    config = StationConfig(identity="P3-CS1", url=f"wss://127.0.0.1:{profile3.ocpp_port}/ocpp",
                           version=OcppVersion.V21, ca_file=str(pki.ca.pem),
                           cert_file=str(pki.directory / "P3-CS1.pem"),
                           key_file=str(pki.directory / "P3-CS1.key"))  # fmt: skip
    async with Station(config) as st:
        await st.wait_booted(timeout=GUARD)
        assert st.boot_status == "Accepted"
        assert st.settings["security_profile"] == 3


def simulate(port: int, *args: str, duration: float = 3) -> tuple[int, dict[str, Any], str]:
    """``ocppd simulate`` with two idle stations against wss://127.0.0.1:PORT/ocpp; exit code, summary, stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "ocppd.cli", "simulate", "--url", f"wss://127.0.0.1:{port}/ocpp",
         "-n", "2", "--duration", str(duration), "--no-live", "--scenario", "idle", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    summary = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    return done.returncode, summary, done.stderr


def test_simulator_cli_with_client_certificates(profile3: CsmsProcess, pki: Pki) -> None:
    d = pki.directory
    code, summary, stderr = simulate(profile3.ocpp_port, "--ca-file", str(pki.ca.pem), "--cert", f"{d}/{{id}}.pem",
                                     "--key", f"{d}/{{id}}.key")  # fmt: skip
    assert code == 0, stderr
    assert summary["stations"] == 2 and summary["booted"] == 2 and summary["error_count"] == 0, summary
    listed = profile3.cli("stations", "list", "--json").stdout
    assert "SIM-00001" in listed and "SIM-00002" in listed

    # Without a certificate the same fleet does not get in.
    code, summary, stderr = simulate(profile3.ocpp_port, "--ca-file", str(pki.ca.pem), duration=2)
    assert summary["booted"] == 0, summary


def test_simulator_cli_refuses_unusable_certificate_files(pki: Pki) -> None:
    code, _, stderr = simulate(free_port(), "--cert", f"{pki.directory}/missing-{{id}}.pem")
    assert code == 2
    assert "SIM-00001: client certificate: no such file" in stderr
    code, _, stderr = simulate(free_port(), "--cert", f"{pki.directory}/{{id}}.pem", "--key", str(pki.server.key))
    assert code == 2 and "does not match" in stderr


# ------------------------------------------------------------------------------------ configuration
@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("TLS_CERT", "missing.pem", "ocpp.tls_cert: no such file"),
        ("TLS_KEY", "P3-CS1.key", "ocpp.tls_key: the private key in"),  # another certificate's key
        ("TLS_CLIENT_CA", "missing-ca.pem", "ocpp.tls_client_ca: no such file"),
    ],
)
def test_serve_exits_2_on_tls_configuration_errors(
    pki: Pki, tmp_path: Path, setting: str, value: str, message: str
) -> None:
    env = {
        **os.environ,
        **tls_env(pki, client_ca=True),
        f"OCPPD_OCPP__{setting}": str(pki.directory / value),
        "OCPPD_DATA_DIR": str(tmp_path / "data"),
        "OCPPD_OCPP__PORT": str(free_port()),
        "OCPPD_HTTP__PORT": str(free_port()),
        "COLUMNS": "500",
    }
    done = subprocess.run([sys.executable, "-m", "ocppd.cli", "serve"], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stdout + done.stderr
    if setting == "TLS_KEY":
        assert "does not match the certificate" in done.stdout + done.stderr


# ------------------------------------------------------------------------------------ TLS as OCA tests it
@pytest.fixture(scope="module")
def dual(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    """An ECDSA and an RSA server certificate on one port."""
    rsa = pki.ca.issue(pki.directory, "127.0.0.1", server=True, file_name="server-rsa", rsa_bits=2048)
    env = {**tls_env(pki, client_ca=True), "OCPPD_OCPP__TLS_EXTRA_CERT": str(rsa.cert),
           "OCPPD_OCPP__TLS_EXTRA_KEY": str(rsa.key)}  # fmt: skip
    with run_csms(tmp_path_factory.mktemp("dual"), extra_env=env) as server:
        yield server


async def handshake(server: CsmsProcess, context: ssl.SSLContext) -> tuple[str, str, x509.Certificate]:
    """TLS only (no WebSocket): the protocol, the cipher suite and the server certificate it got."""
    _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.ocpp_port, ssl=context), GUARD)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        return ssl_object.version(), ssl_object.cipher()[0], x509.load_der_x509_certificate(der)
    finally:
        writer.close()


def tls12(pki: Pki, cipher: str) -> ssl.SSLContext:
    context = client_context(str(pki.ca.pem))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(cipher)
    return context


@pytest.mark.parametrize(
    ("cipher", "key_type"),
    [
        ("ECDHE-ECDSA-AES128-GCM-SHA256", ec.EllipticCurvePublicKey),
        ("ECDHE-ECDSA-AES256-GCM-SHA384", ec.EllipticCurvePublicKey),
        ("AES128-GCM-SHA256", rsa.RSAPublicKey),  # TLS_RSA_WITH_AES_128_GCM_SHA256
        ("AES256-GCM-SHA384", rsa.RSAPublicKey),  # TLS_RSA_WITH_AES_256_GCM_SHA384
    ],
)
async def test_tc_a_04_tc_086_the_four_ocpp_cipher_suites_with_ecdsa_and_rsa_certificates(
    dual: CsmsProcess, pki: Pki, cipher: str, key_type: type
) -> None:
    version, chosen, certificate = await handshake(dual, tls12(pki, cipher))
    assert (version, chosen) == ("TLSv1.2", cipher)
    assert isinstance(certificate.public_key(), key_type)
    key = certificate.public_key()
    assert key.key_size >= (2048 if isinstance(key, rsa.RSAPublicKey) else 224)  # type: ignore[union-attr]
    assert certificate.serial_number


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
async def test_tc_a_06_tls_below_1_2_is_refused_then_a_normal_handshake_works(dual: CsmsProcess, pki: Pki) -> None:
    old = client_context(str(pki.ca.pem))
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")  # so that this client really offers TLS 1.1 ...
    with pytest.raises((ssl.SSLError, ConnectionError)) as refused:
        await handshake(dual, old)
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)  # ... and the server is the one refusing it
    version, _, _ = await handshake(dual, client_context(str(pki.ca.pem)))
    assert version == "TLSv1.3"


async def test_tc_a_07_tc_087_mutual_tls_with_either_server_certificate(dual: CsmsProcess, pki: Pki) -> None:
    for cipher in ("ECDHE-ECDSA-AES128-GCM-SHA256", "AES256-GCM-SHA384"):
        context = tls12(pki, cipher)
        context.load_cert_chain(str(pki.directory / "P3-CS1.pem"), str(pki.directory / "P3-CS1.key"))
        assert (await boot(wss(dual, "P3-CS1"), context))["status"] == "Accepted"


def test_serve_exits_2_on_unusable_ca_files(pki: Pki, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OCPPD_CA__STATION_CA_CERT": str(pki.ca.pem),
        "OCPPD_CA__STATION_CA_KEY": str(pki.directory / "P3-CS1.key"),  # not the CA's key
        "OCPPD_DATA_DIR": str(tmp_path / "data"),
        "OCPPD_OCPP__PORT": str(free_port()),
        "OCPPD_HTTP__PORT": str(free_port()),
        "COLUMNS": "500",
    }
    done = subprocess.run([sys.executable, "-m", "ocppd.cli", "serve"], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "ca.station_ca_key does not match the certificate in ca.station_ca_cert" in done.stdout + done.stderr
