"""TLS contexts (security profiles 2 and 3) and the transport's client-certificate identity check.

Real TLS on 127.0.0.1 with a throwaway PKI; our own ``connect`` and the independent ``websockets``
client on the station side.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from tests.pki import Ca, Pki, private_key_pem
from websockets.exceptions import InvalidStatus

from ocppd.config import load_settings
from ocppd.protocol import OcppVersion
from ocppd.transport import tls
from ocppd.transport.websocket import HandshakeRefused, Link, OcppServer, ServerOptions, connect

V16 = OcppVersion.V16
GUARD = 10.0  # only turns a hang into a failure


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = Pki.create(tmp_path_factory.mktemp("pki"))
    pki.station("CS-1")
    pki.station("WRONG-CN")
    pki.station("CS-1", ca=pki.other_ca, file_name="CS-1-other-ca")
    return pki


# ------------------------------------------------------------------------------------ contexts
def test_server_context_profile_2(pki: Pki) -> None:
    context = tls.server_context(str(pki.server.cert), str(pki.server.key))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE
    assert not tls.requires_client_certificate(context)


def test_server_context_profile_3_trusts_only_the_client_ca(pki: Pki) -> None:
    context = tls.server_context(str(pki.server.cert), str(pki.server.key), str(pki.ca.pem), "1.3")
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert tls.requires_client_certificate(context)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    # Not the system's CAs: a public CA's certificate for the right CN must not get a station in.
    assert context.cert_store_stats()["x509_ca"] == 1


def test_key_in_the_certificate_file(pki: Pki, tmp_path: Path) -> None:
    both = tmp_path / "both.pem"
    both.write_bytes(pki.server.cert.read_bytes() + pki.server.key.read_bytes())
    tls.server_context(str(both))
    with pytest.raises(tls.TlsFileError, match="holds no private key") as err:
        tls.server_context(str(pki.server.cert))
    assert err.value.role == "key"


def test_file_errors_name_the_file_at_fault(pki: Pki, tmp_path: Path) -> None:
    cert, key = str(pki.server.cert), str(pki.server.key)
    other_key = str(pki.directory / "CS-1.key")
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(private_key_pem(pki.ca.key, b"secret-password"))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    cases: list[tuple[tls.Role, str, dict[str, str | None]]] = [
        ("cert", "no such file", {"cert": str(tmp_path / "missing.pem"), "key": key}),
        ("key", "no such file", {"cert": cert, "key": str(tmp_path / "missing.key")}),
        ("cert", "no PEM certificate", {"cert": key, "key": key}),
        ("key", "no PEM private key", {"cert": cert, "key": cert}),
        ("key", "does not match", {"cert": cert, "key": other_key}),
        ("key", "is encrypted", {"cert": cert, "key": str(encrypted)}),
        ("ca", "no such file", {"cert": cert, "key": key, "client_ca": str(tmp_path / "ca.pem")}),
        ("ca", "no PEM certificate", {"cert": cert, "key": key, "client_ca": key}),
        ("ca", "cannot load", {"cert": cert, "key": key, "client_ca": str(garbage)}),
    ]
    for role, message, kwargs in cases:
        with pytest.raises(tls.TlsFileError, match=message) as err:
            tls.server_context(**kwargs)  # type: ignore[arg-type]
        assert err.value.role == role, (role, message)


def test_client_context(pki: Pki) -> None:
    context = tls.client_context(str(pki.ca.pem), str(pki.directory / "CS-1.pem"), str(pki.directory / "CS-1.key"))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    insecure = tls.client_context(insecure=True)
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
    with pytest.raises(tls.TlsFileError, match="without a certificate"):
        tls.client_context(key=str(pki.directory / "CS-1.key"))


def test_certificate_identity_problem() -> None:
    cert = {"subject": ((("organizationName", "ACME"),), (("commonName", "CS-1"),))}
    assert tls.common_names(cert) == ["CS-1"]
    assert tls.certificate_identity_problem(cert, "CS-1") is None
    assert "not 'CS-2'" in (tls.certificate_identity_problem(cert, "CS-2") or "")
    assert tls.certificate_identity_problem(None, "CS-1") == "no client certificate"
    assert tls.certificate_identity_problem({}, "CS-1") == "no client certificate"
    assert "no subject CN" in (tls.certificate_identity_problem({"subject": ()}, "CS-1") or "")
    two = {"subject": ((("commonName", "CS-1"),), (("commonName", "CS-2"),))}
    assert tls.certificate_identity_problem(two, "CS-1") is not None


# ------------------------------------------------------------------------------------ settings
def test_settings_name_the_tls_setting(pki: Pki, tmp_path: Path) -> None:
    base = {"OCPPD_OCPP__TLS_CERT": str(pki.server.cert), "OCPPD_OCPP__TLS_KEY": str(pki.server.key)}
    settings = load_settings(env={**base, "OCPPD_OCPP__TLS_CLIENT_CA": str(pki.ca.pem)})
    assert settings.ocpp.security_profile == 3
    assert tls.requires_client_certificate(settings.ocpp.ssl_context())
    assert load_settings(env=base).ocpp.security_profile == 2
    assert load_settings(env={}).ocpp.ssl_context() is None
    for section in ("ocpp", "http"):  # one ServerTlsSettings, its errors named in each section
        tls_ = f"OCPPD_{section.upper()}__TLS"
        base = {f"{tls_}_CERT": str(pki.server.cert), f"{tls_}_KEY": str(pki.server.key)}
        bad: list[tuple[dict[str, str], str]] = [
            ({**base, f"{tls_}_CERT": str(tmp_path / "nope.pem")}, rf"{section}\.tls_cert: no such file"),
            ({**base, f"{tls_}_KEY": str(pki.directory / "CS-1.key")}, rf"{section}\.tls_key: .*does not match"),
            ({**base, f"{tls_}_CLIENT_CA": str(tmp_path / "ca.pem")}, rf"{section}\.tls_client_ca: no such file"),
            (
                {f"{tls_}_CLIENT_CA": str(pki.ca.pem)},
                rf"{section}\.tls_client_ca is set but {section}\.tls_cert is not",
            ),
            ({**base, f"{tls_}_MIN_VERSION": "1.1"}, rf"{section}\.tls_min_version"),
            (
                {**base, f"{tls_}_CRL": str(pki.ca.pem)},
                rf"{section}\.tls_crl: no PEM or DER certificate revocation list",
            ),
            ({**base, f"{tls_}_CRL": str(tmp_path / "x.crl")}, rf"{section}\.tls_crl: no such file"),
            ({f"{tls_}_CRL": str(pki.ca.pem)}, rf"{section}\.tls_crl is set but {section}\.tls_cert is not"),
        ]
        for env, message in bad:
            with pytest.raises(ValueError, match=message):
                load_settings(env=env)
    with pytest.raises(ValueError, match=r"soap\.station_ca: no such file"):
        load_settings(env={"OCPPD_SOAP__STATION_CA": str(tmp_path / "stations-ca.pem")})


def test_a_crl_is_checked_in_the_handshake_only_where_every_client_ca_has_one(pki: Pki, tmp_path: Path) -> None:
    """OpenSSL refuses a client certificate whose issuer has no CRL: the built-in CA's CRL goes into the
    context only when tls_client_ca has its own (tls_crl) or is not set."""
    base = {"OCPPD_OCPP__TLS_CERT": str(pki.server.cert), "OCPPD_OCPP__TLS_KEY": str(pki.server.key)}
    crl = tmp_path / "empty.crl"
    now = dt.datetime.now(dt.UTC)
    crl.write_bytes(
        x509.CertificateRevocationListBuilder().issuer_name(pki.ca.certificate.subject).last_update(now)
        .next_update(now + dt.timedelta(days=1)).sign(pki.ca.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )  # fmt: skip
    builtin_crl = crl.read_text()  # stands for the built-in CA's CRL here

    def checks_crl(env: dict[str, str]) -> bool:
        context = load_settings(env=env).ocpp.ssl_context(trust_pem=pki.ca.pem.read_text(), crl_pem=builtin_crl)
        assert context is not None
        return bool(context.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF)

    assert checks_crl(base)
    assert not checks_crl({**base, "OCPPD_OCPP__TLS_CLIENT_CA": str(pki.other_ca.pem)})
    assert checks_crl({**base, "OCPPD_OCPP__TLS_CLIENT_CA": str(pki.ca.pem), "OCPPD_OCPP__TLS_CRL": str(crl)})


# ------------------------------------------------------------------------------------ transport
@dataclass
class App:
    admitted: list[str] = field(default_factory=list)

    def admit(
        self, identity: str, version: OcppVersion, headers: Mapping[str, str], remote: str, peer: object = None
    ) -> int | None:
        self.admitted.append(identity)
        return None

    def opened(self, link: Link):  # type: ignore[no-untyped-def]
        return lambda data: link.send("echo:" + bytes(data).decode())

    def closed(self, link: Link) -> None:
        pass


@pytest.fixture
async def mtls_server(pki: Pki) -> AsyncIterator[tuple[OcppServer, App]]:
    app = App()
    context = tls.server_context(str(pki.server.cert), str(pki.server.key), str(pki.ca.pem))
    server = OcppServer(app, ServerOptions(host="127.0.0.1", port=0, versions=[V16], ssl_context=context))
    await server.start()
    yield server, app
    await asyncio.wait_for(server.stop(), GUARD)


def station_context(pki: Pki, name: str | None) -> ssl.SSLContext:
    if name is None:
        return tls.client_context(str(pki.ca.pem))
    return tls.client_context(str(pki.ca.pem), str(pki.directory / f"{name}.pem"), str(pki.directory / f"{name}.key"))


async def failure(attempt: Awaitable[object]) -> Exception:
    """The exception a connection attempt ends with (it must not succeed)."""
    try:
        result = await attempt
    except Exception as exc:
        return exc
    close = getattr(result, "close", None)
    if close is not None:
        outcome = close()
        if asyncio.iscoroutine(outcome):
            await outcome
    raise AssertionError("the connection was accepted")


async def echo_once(link: Link, inbox: asyncio.Queue[bytes]) -> bytes:
    link.send("ping")
    return await asyncio.wait_for(inbox.get(), GUARD)


async def test_mutual_tls_admits_the_matching_certificate(mtls_server: tuple[OcppServer, App], pki: Pki) -> None:
    server, app = mtls_server
    inbox: asyncio.Queue[bytes] = asyncio.Queue()

    def on_open(link: Link):  # type: ignore[no-untyped-def]
        return inbox.put_nowait

    link = await connect(f"wss://127.0.0.1:{server.port}/ocpp/CS-1", [V16], on_open,
                         ssl_context=station_context(pki, "CS-1"))  # fmt: skip
    try:
        assert await echo_once(link, inbox) == b"echo:ping"
        assert app.admitted == ["CS-1"]
    finally:
        link.close()


async def test_mutual_tls_refuses_a_certificate_for_another_identity(
    mtls_server: tuple[OcppServer, App], pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    server, app = mtls_server
    with pytest.raises(HandshakeRefused) as refused:
        await connect(f"wss://127.0.0.1:{server.port}/ocpp/CS-1", [V16], lambda link: lambda data: None,
                      ssl_context=station_context(pki, "WRONG-CN"))  # fmt: skip
    assert refused.value.status == 403
    assert "the client certificate is for CN 'WRONG-CN', not 'CS-1'" in caplog.text
    assert app.admitted == []  # refused before the application saw it
    # The independent client sees the same HTTP refusal.
    with pytest.raises(InvalidStatus) as status:
        async with websockets.connect(f"wss://127.0.0.1:{server.port}/ocpp/CS-1", subprotocols=["ocpp1.6"],
                                      ssl=station_context(pki, "WRONG-CN"), open_timeout=GUARD):  # fmt: skip
            pass
    assert status.value.response.status_code == 403


@pytest.mark.parametrize("name", [None, "CS-1-other-ca"])
async def test_mutual_tls_refuses_no_certificate_and_a_foreign_ca(
    mtls_server: tuple[OcppServer, App], pki: Pki, name: str | None
) -> None:
    server, app = mtls_server
    # A TLS alert (SSLError, a reset or EOF while reading the HTTP response), not a timeout or an HTTP status.
    refused = await failure(websockets.connect(f"wss://127.0.0.1:{server.port}/ocpp/CS-1", subprotocols=["ocpp1.6"],
                                               ssl=station_context(pki, name), open_timeout=GUARD))  # fmt: skip
    assert not isinstance(refused, TimeoutError | InvalidStatus), repr(refused)
    assert app.admitted == []
    # ... and the server goes on serving the right station.
    inbox: asyncio.Queue[bytes] = asyncio.Queue()
    link = await connect(f"wss://127.0.0.1:{server.port}/ocpp/CS-1", [V16], lambda link: inbox.put_nowait,
                         ssl_context=station_context(pki, "CS-1"))  # fmt: skip
    try:
        assert await echo_once(link, inbox) == b"echo:ping"
    finally:
        link.close()


async def test_profile_2_server_needs_no_client_certificate(pki: Pki) -> None:
    app = App()
    context = tls.server_context(str(pki.server.cert), str(pki.server.key))
    server = OcppServer(app, ServerOptions(host="127.0.0.1", port=0, versions=[V16], ssl_context=context))
    await server.start()
    try:
        inbox: asyncio.Queue[bytes] = asyncio.Queue()
        link = await connect(f"wss://localhost:{server.port}/ocpp/ANY-ID", [V16], lambda link: inbox.put_nowait,
                             ssl_context=station_context(pki, None))  # fmt: skip
        assert await echo_once(link, inbox) == b"echo:ping"
        link.close()
        # A station that does not trust the server's CA refuses the server.
        stranger = tls.client_context(str(Ca.create(pki.directory / "x", "x").pem))
        refused = await failure(connect(f"wss://127.0.0.1:{server.port}/ocpp/ANY-ID", [V16],
                                        lambda link: inbox.put_nowait, ssl_context=stranger))  # fmt: skip
        assert isinstance(refused, ssl.SSLCertVerificationError), repr(refused)
    finally:
        await asyncio.wait_for(server.stop(), GUARD)


# ------------------------------------------------------------------------------------ failed handshakes
class _Loop:
    def __init__(self) -> None:
        self.default: list[dict[str, object]] = []

    def default_exception_handler(self, context: dict[str, object]) -> None:
        self.default.append(context)


def test_failed_handshakes_are_one_line_with_the_cause_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    counted: list[str] = []
    failures = tls.HandshakeFailures(counted.append)
    loop = _Loop()
    # The TLS layer hands over the exception *class* at times: that made asyncio's handler crash.
    for _ in range(3):
        failures.handle(loop, {"message": "SSL handshake failed", "exception": ConnectionResetError})  # type: ignore[arg-type]
    failures.handle(loop, {"message": "SSL handshake failed", "exception": ssl.SSLError(1, "x")})  # type: ignore[arg-type]
    lines = [r.getMessage() for r in caplog.records if r.name == "ocppd.transport.tls"]
    assert lines[0].startswith("TLS handshake failed from ?: the client reset the connection")
    assert len(lines) == 2  # the same cause twice more within the interval: counted, not logged
    assert len(counted) == 4 and loop.default == []


def test_other_loop_errors_go_to_the_default_handler_without_a_class_as_exception() -> None:
    failures = tls.HandshakeFailures()
    loop = _Loop()
    failures.handle(loop, {"message": "something else", "exception": ValueError})  # type: ignore[arg-type]
    (context,) = loop.default
    assert context["exception"] is None and "ValueError" in str(context["message"])
