"""The built-in CA end to end (OCA A_11-A_14, 1.6 TC_074/TC_077): ``ocppd serve`` over TLS as a real
process, the independent ``ocpp`` package as the station, real keys, CSRs and certificates.

The operator asks for a renewal (API); the CSMS triggers the station, the station sends a CSR, the CA
signs it, the CSMS sends CertificateSigned, the station installs the chain and reconnects with it at
security profile 3. Revocation, bad CSRs and a station that refuses the certificate are covered too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.exceptions import InvalidMessage, InvalidStatus

from ocppd.transport.tls import client_context
from tests.csms_process import CsmsProcess, run_csms
from tests.pki import REVOKED_IN_HANDSHAKE, Pki, handshake_failure, private_key_pem

GUARD = 20.0  # only turns a hang into a failure
PASSWORD = "certificate-test-password"
ORGANIZATION = "ACME CPO"
PUBLIC_URL = "https://csms.example.test"  # how stations would reach the HTTP port (nothing is fetched there)


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def make_csr(common_name: str, key: Any, organization: str = ORGANIZATION) -> str:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Wallet:
    """What a station keeps: its key per certificate type and the chains the CSMS sent."""

    keys: dict[str, Any] = field(default_factory=dict)
    chains: list[tuple[str | None, str]] = field(default_factory=list)
    installed: asyncio.Event = field(default_factory=asyncio.Event)
    accept: bool = True

    def files(self, directory: Path, name: str, key_type: str = "ChargingStationCertificate") -> tuple[str, str]:
        cert, key = directory / f"{name}.pem", directory / f"{name}.key"
        cert.write_text(self.chains[-1][1])
        key.write_bytes(private_key_pem(self.keys[key_type]))
        return str(cert), str(key)


class Station201(ChargePoint201):
    def __init__(self, identity: str, connection: Any, wallet: Wallet) -> None:
        super().__init__(identity, connection)
        self.wallet = wallet

    @on("TriggerMessage")
    async def on_trigger(self, requested_message: str, **_: Any) -> result201.TriggerMessage:
        return result201.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def send_csr(self, requested_message: str, **_: Any) -> None:
        certificate_type = {"SignChargingStationCertificate": "ChargingStationCertificate",
                            "SignV2GCertificate": "V2GCertificate"}.get(requested_message)  # fmt: skip
        key = ec.generate_private_key(ec.SECP256R1())
        self.wallet.keys[certificate_type or "ChargingStationCertificate"] = key
        common_name = "SECC-0001" if certificate_type == "V2GCertificate" else self.id
        answer = await self.call(call201.SignCertificate(csr=make_csr(common_name, key),
                                                         certificate_type=certificate_type))  # fmt: skip
        assert answer.status == "Accepted", answer

    @on("CertificateSigned")
    async def on_certificate_signed(
        self, certificate_chain: str, certificate_type: str | None = None, **_: Any
    ) -> result201.CertificateSigned:
        self.wallet.chains.append((certificate_type, certificate_chain))
        self.wallet.installed.set()
        return result201.CertificateSigned(status="Accepted" if self.wallet.accept else "Rejected")


class Station16(ChargePoint16):
    def __init__(self, identity: str, connection: Any, wallet: Wallet, key: Any = None) -> None:
        super().__init__(identity, connection)
        self.wallet = wallet
        self.key = key

    @on("ExtendedTriggerMessage")
    async def on_trigger(self, requested_message: str, **kwargs: Any) -> result16.ExtendedTriggerMessage:
        assert "connector_id" not in kwargs  # TC_074: connectorId omitted
        return result16.ExtendedTriggerMessage(status="Accepted")

    @after("ExtendedTriggerMessage")
    async def send_csr(self, requested_message: str, **_: Any) -> None:
        key = self.key or ec.generate_private_key(ec.SECP256R1())
        self.wallet.keys["ChargingStationCertificate"] = key
        answer = await self.call(call16.SignCertificate(csr=make_csr(self.id, key)))
        assert answer.status == "Accepted", answer

    @on("CertificateSigned")
    async def on_certificate_signed(self, certificate_chain: str, **_: Any) -> result16.CertificateSigned:
        self.wallet.chains.append((None, certificate_chain))
        self.wallet.installed.set()
        return result16.CertificateSigned(status="Accepted" if self.wallet.accept else "Rejected")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def csms(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    env = {
        "OCPPD_OCPP__TLS_CERT": str(pki.server.cert),
        "OCPPD_OCPP__TLS_KEY": str(pki.server.key),
        "OCPPD_CA__CSR_ORGANIZATION": ORGANIZATION,
        "OCPPD_CA__ORGANIZATION": ORGANIZATION,
        "OCPPD_FILES__PUBLIC_URL": PUBLIC_URL,  # issued certificates name the CRL there
    }
    with run_csms(tmp_path_factory.mktemp("certificates"), extra_env=env) as server:
        yield server


def api(server: CsmsProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http_url, headers={"Authorization": f"Bearer {server.admin_token}"},
                             timeout=GUARD)  # fmt: skip


def url(server: CsmsProcess, identity: str) -> str:
    return f"wss://127.0.0.1:{server.ocpp_port}/ocpp/{identity}"


def basic(identity: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{identity}:{PASSWORD}".encode()).decode()}


@asynccontextmanager
async def connected(
    server: CsmsProcess,
    identity: str,
    cls: type,
    context: ssl.SSLContext,
    *args: Any,
    headers: dict[str, str] | None = None,
    version: str = "ocpp2.0.1",
) -> AsyncIterator[Any]:
    async with websockets.connect(url(server, identity), subprotocols=[version], ssl=context,
                                  additional_headers=headers, open_timeout=GUARD) as ws:  # fmt: skip
        station = cls(identity, ws, *args)
        task = asyncio.create_task(station.start())
        try:
            if version == "ocpp1.6":
                boot = await station.call(call16.BootNotification(charge_point_vendor="ACME", charge_point_model="X"))
            else:
                boot = await station.call(
                    call201.BootNotification(charging_station={"vendor_name": "ACME", "model": "X"}, reason="PowerUp")
                )
            assert boot.status == "Accepted"
            yield station
        finally:
            task.cancel()


async def add_station(server: CsmsProcess, identity: str) -> None:
    """A station with a password (profile 1 stored); the server reads it on its next directory refresh."""
    server.cli("stations", "add", identity, "--password", PASSWORD)
    deadline = asyncio.get_running_loop().time() + GUARD
    while asyncio.get_running_loop().time() < deadline:
        try:
            async with websockets.connect(url(server, identity), subprotocols=["ocpp2.0.1"], ssl=client_context(
                    str(server_pki(server))), open_timeout=GUARD):  # fmt: skip
                pass
        except InvalidStatus as exc:
            assert exc.response.status_code == 401
            return
        await asyncio.sleep(0.3)
    pytest.fail(f"{identity}: the password was not required in time")


def server_pki(server: CsmsProcess) -> str:
    return server.env["OCPPD_OCPP__TLS_CERT"].replace("server.pem", "test-ca.pem")


async def wait_status(client: httpx.AsyncClient, identity: str, status: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + GUARD
    while asyncio.get_running_loop().time() < deadline:
        rows = (await client.get(f"/api/v1/stations/{identity}/certificates")).json()
        if rows and rows[0]["status"] == status:
            return dict(rows[0])
        await asyncio.sleep(0.1)
    pytest.fail(f"{identity}: no certificate reached status {status!r}: {rows}")


def chain_of(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


async def csms_root(client: httpx.AsyncClient) -> x509.Certificate:
    response = await client.get("/ca/csms-root.pem")
    assert response.status_code == 200
    return x509.load_pem_x509_certificate(response.content)


async def test_tc_a_11_renew_charging_station_certificate_then_reconnect_at_profile_3(
    csms: CsmsProcess, pki: Pki, tmp_path: Path
) -> None:
    identity = "A11-CS"
    await add_station(csms, identity)
    wallet = Wallet()
    trust = client_context(str(pki.ca.pem))
    async with api(csms) as client, connected(csms, identity, Station201, trust, wallet, headers=basic(identity)):
        answer = await client.post(f"/api/v1/stations/{identity}/certificates/renew", json={})
        assert answer.status_code == 200 and answer.json()["status"] == "Accepted", answer.text
        await asyncio.wait_for(wallet.installed.wait(), GUARD)
        row = await wait_status(client, identity, "accepted")
        root = await csms_root(client)
    certificate_type, pem = wallet.chains[-1]
    assert certificate_type == "ChargingStationCertificate"
    leaf, sub_ca = chain_of(pem)
    assert leaf.subject.rfc4514_string() == f"CN={identity},O={ORGANIZATION}"
    assert leaf.public_key() == wallet.keys["ChargingStationCertificate"].public_key()
    leaf.verify_directly_issued_by(sub_ca)
    sub_ca.verify_directly_issued_by(root)
    assert row["serial"] == f"{leaf.serial_number:X}".zfill(len(row["serial"]))

    # Reconnect with the issued certificate and no password: security profile 3 on the same port.
    cert, key = wallet.files(tmp_path, identity)
    async with connected(csms, identity, Station201, client_context(str(pki.ca.pem), cert, key), Wallet()) as station:
        assert (await station.call(call201.Heartbeat())).current_time


async def test_tc_a_12_v2g_certificate_signed_by_the_v2g_sub_ca(csms: CsmsProcess, pki: Pki) -> None:
    identity = "A12-CS"
    wallet = Wallet()
    async with api(csms) as client, connected(csms, identity, Station201, client_context(str(pki.ca.pem)), wallet):
        answer = await client.post(f"/api/v1/stations/{identity}/certificates/renew",
                                   json={"certificate_type": "V2GCertificate"})  # fmt: skip
        assert answer.json()["status"] == "Accepted", answer.text
        await asyncio.wait_for(wallet.installed.wait(), GUARD)
        await wait_status(client, identity, "accepted")
        root = await csms_root(client)
    certificate_type, pem = wallet.chains[-1]
    assert certificate_type == "V2GCertificate"
    leaf, cpo_sub_ca = chain_of(pem)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "SECC-0001"
    leaf.verify_directly_issued_by(cpo_sub_ca)
    assert cpo_sub_ca.issuer != root.subject  # the V2G hierarchy is its own, not the CSMS root's
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)


async def test_tc_a_13_combined_certificate(csms: CsmsProcess, pki: Pki) -> None:
    identity = "A13-CS"
    wallet = Wallet()
    async with api(csms) as client, connected(csms, identity, Station201, client_context(str(pki.ca.pem)), wallet):
        answer = await client.post(f"/api/v1/stations/{identity}/certificates/renew",
                                   json={"certificate_type": "Combined"})  # fmt: skip
        assert answer.json()["status"] == "Accepted", answer.text
        await asyncio.wait_for(wallet.installed.wait(), GUARD)
        row = await wait_status(client, identity, "accepted")
    certificate_type, pem = wallet.chains[-1]
    assert certificate_type is None and row["certificate_type"] == "Combined"  # certificateType omitted
    assert chain_of(pem)[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == identity


async def test_tc_a_14_station_rejects_the_certificate_and_reports_a_security_event(
    csms: CsmsProcess, pki: Pki
) -> None:
    identity = "A14-CS"
    wallet = Wallet(accept=False)
    async with api(csms) as client, connected(csms, identity, Station201, client_context(str(pki.ca.pem)),
                                              wallet) as station:  # fmt: skip
        answer = await client.post(f"/api/v1/stations/{identity}/certificates/renew", json={})
        assert answer.json()["status"] == "Accepted"
        await asyncio.wait_for(wallet.installed.wait(), GUARD)
        await wait_status(client, identity, "rejected")
        event = await station.call(
            call201.SecurityEventNotification(type="InvalidChargingStationCertificate", timestamp=now())
        )
        assert event is not None


async def test_bad_csrs_are_rejected_with_a_reason_and_the_connection_stays(csms: CsmsProcess, pki: Pki) -> None:
    identity = "BAD-CSR"
    async with connected(csms, identity, Station201, client_context(str(pki.ca.pem)), Wallet()) as station:
        cases = {
            "WrongStation": make_csr("SOMEONE-ELSE", ec.generate_private_key(ec.SECP256R1())),
            "InvalidCSR": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            "KeyTooWeak": make_csr(identity, rsa.generate_private_key(public_exponent=65537, key_size=1024)),
            "WrongOrganization": make_csr(identity, ec.generate_private_key(ec.SECP256R1()), "Other CPO"),
        }
        for reason, text in cases.items():
            answer = await station.call(
                call201.SignCertificate(csr=text, certificate_type="ChargingStationCertificate")
            )
            assert answer.status == "Rejected", (reason, answer)
            assert answer.status_info["reason_code"] == reason, answer
            assert answer.status_info["additional_info"]
        assert (await station.call(call201.Heartbeat())).current_time
    assert "BAD-CSR: SignCertificate Rejected (WrongStation: the CSR is for CN 'SOMEONE-ELSE'" in csms.log()


@pytest.mark.parametrize("key_type", ["ecdsa", "rsa"])
async def test_tc_074_update_charge_point_certificate_then_mutual_tls(
    csms: CsmsProcess, pki: Pki, tmp_path: Path, key_type: str
) -> None:
    identity = f"TC074-{key_type}"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if key_type == "rsa" else None
    wallet = Wallet()
    trust = client_context(str(pki.ca.pem))
    async with api(csms) as client, connected(csms, identity, Station16, trust, wallet, key, version="ocpp1.6"):
        answer = await client.post(f"/api/v1/stations/{identity}/certificates/renew", json={})
        assert answer.json()["status"] == "Accepted", answer.text
        await asyncio.wait_for(wallet.installed.wait(), GUARD)
        await wait_status(client, identity, "accepted")
        # 1.6 has only the charge point certificate
        refused = await client.post(f"/api/v1/stations/{identity}/certificates/renew",
                                    json={"certificate_type": "V2GCertificate"})  # fmt: skip
        assert refused.status_code == 400
    leaf = chain_of(wallet.chains[-1][1])[0]
    assert leaf.public_key() == wallet.keys["ChargingStationCertificate"].public_key()
    cert, key_file = wallet.files(tmp_path, identity)
    context = client_context(str(pki.ca.pem), cert, key_file)
    async with connected(csms, identity, Station16, context, Wallet(), version="ocpp1.6") as station:
        assert (await station.call(call16.Heartbeat())).current_time


async def test_tc_077_invalid_charge_point_certificate_security_event(csms: CsmsProcess, pki: Pki) -> None:
    identity = "TC077-CS"
    wallet = Wallet(accept=False)
    async with api(csms) as client, connected(csms, identity, Station16, client_context(str(pki.ca.pem)), wallet,
                                              version="ocpp1.6") as station:  # fmt: skip
        answer = await client.post(f"/api/v1/stations/{identity}/certificates/renew", json={})
        assert answer.json()["status"] == "Accepted"
        await asyncio.wait_for(wallet.installed.wait(), GUARD)
        await wait_status(client, identity, "rejected")
        event = call16.SecurityEventNotification(type="InvalidChargePointCertificate", timestamp=now(),
                                                 tech_info="chain does not verify")  # fmt: skip
        assert await station.call(event) is not None  # answered, not a CALLERROR


async def test_a_revoked_certificate_is_refused_and_listed_in_the_crl(
    csms: CsmsProcess, pki: Pki, tmp_path: Path
) -> None:
    identity = "REVOKE-CS"
    wallet = Wallet()
    async with api(csms) as client:
        async with connected(csms, identity, Station201, client_context(str(pki.ca.pem)), wallet):
            await client.post(f"/api/v1/stations/{identity}/certificates/renew", json={})
            await asyncio.wait_for(wallet.installed.wait(), GUARD)
            row = await wait_status(client, identity, "accepted")
        cert, key = wallet.files(tmp_path, identity)
        leaf = chain_of(wallet.chains[-1][1])[0]
        points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert [n.value for p in points for n in p.full_name or []] == [f"{PUBLIC_URL}/ca/station-ca.crl"]
        context = client_context(str(pki.ca.pem), cert, key)
        async with connected(csms, identity, Station201, context, Wallet()):
            pass
        assert handshake_failure(csms.ocpp_port, pki.ca.pem, cert, key) is None  # before the revocation
        revoked = await client.post(f"/api/v1/certificates/{row['serial']}/revoke", json={"reason": "keyCompromise"})
        assert revoked.status_code == 200, revoked.text
        # Right after the revocation, same server process: the TLS handshake itself fails (the CRL is in
        # the server's TLS context), before any HTTP or WebSocket answer.
        assert handshake_failure(csms.ocpp_port, pki.ca.pem, cert, key) in REVOKED_IN_HANDSHAKE
        # TLS 1.3 (the station's default): the server checks the certificate after the client's last
        # handshake message, so the client sees the connection closed before the upgrade's answer.
        with pytest.raises((ssl.SSLError, ConnectionError, InvalidMessage)):
            async with connected(csms, identity, Station201, context, Wallet()):
                pass
        crl = x509.load_der_x509_crl((await client.get("/ca/station-ca.crl")).content)
        assert crl.get_revoked_certificate_by_serial_number(int(row["serial"], 16)) is not None
        unknown = await client.post("/api/v1/certificates/ABCDEF/revoke", json={})
        assert unknown.status_code == 404
    assert f"{identity}: refused with 403" not in csms.log()  # never got as far as the upgrade


async def test_security_events_are_classified_stored_and_critical_ones_raised_as_alerts(
    csms: CsmsProcess, pki: Pki
) -> None:
    identity = "SEC-EVENTS"
    async with api(csms) as client:
        alerts: list[dict[str, Any]] = []

        async def read_stream() -> None:
            async with client.stream("GET", "/api/v1/events", params={"types": "security."}) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        event = json.loads(line[5:])
                        if event["type"] == "security.alert":
                            alerts.append(event)
                            return

        reader = asyncio.create_task(read_stream())
        async with connected(csms, identity, Station201, client_context(str(pki.ca.pem)), Wallet()) as station:
            await station.call(call201.SecurityEventNotification(type="InvalidTLSCipherSuite", timestamp=now()))
            await station.call(call201.SecurityEventNotification(type="TamperDetectionActivated", timestamp=now(),
                                                                 tech_info="lid opened"))  # fmt: skip
            await asyncio.wait_for(reader, GUARD)
        stored = (await client.get(f"/api/v1/stations/{identity}/security-events")).json()
        metrics = (await client.get("/metrics")).text
    (alert,) = alerts
    assert alert["station_id"] == identity and alert["security_event"] == "TamperDetectionActivated"
    assert alert["tech_info"] == "lid opened"
    assert [(e["type"], e["severity"]) for e in stored] == [("TamperDetectionActivated", "critical"),
                                                            ("InvalidTLSCipherSuite", "info")]  # fmt: skip
    assert 'ocppd_security_events_total{severity="critical"}' in metrics
    assert f"{identity}: critical security event TamperDetectionActivated (lid opened)" in csms.log()


async def test_expiring_certificates_are_warned_about_and_renewed(pki: Pki, tmp_path: Path) -> None:
    """Certificates valid 10 days, a warning horizon of 30 and renewal at 20 days: the first check warns
    and asks the connected station for a new CSR, which the CA signs."""
    env = {
        "OCPPD_OCPP__TLS_CERT": str(pki.server.cert), "OCPPD_OCPP__TLS_KEY": str(pki.server.key),
        "OCPPD_CA__CSR_ORGANIZATION": ORGANIZATION, "OCPPD_CA__CERTIFICATE_DAYS": "10",
        "OCPPD_CA__AUTO_RENEW_DAYS": "20", "OCPPD_CA__EXPIRY_CHECK_INTERVAL_S": "1",
    }  # fmt: skip
    identity = "EXPIRING-CS"
    wallet = Wallet()
    with run_csms(tmp_path, extra_env=env) as server:
        async with api(server) as client, connected(server, identity, Station201, client_context(str(pki.ca.pem)),
                                                    wallet):  # fmt: skip
            events: list[dict[str, Any]] = []

            async def read_stream() -> None:
                async with client.stream("GET", "/api/v1/events", params={"types": "certificate.expiring"}) as s:
                    async for line in s.aiter_lines():
                        if line.startswith("data:"):
                            events.append(json.loads(line[5:]))
                            return

            reader = asyncio.create_task(read_stream())
            await client.post(f"/api/v1/stations/{identity}/certificates/renew", json={})
            await asyncio.wait_for(reader, GUARD)
            deadline = asyncio.get_running_loop().time() + GUARD
            while len(wallet.chains) < 2:  # the renewal the CSMS asked for on its own
                assert asyncio.get_running_loop().time() < deadline, "no automatic renewal"
                await asyncio.sleep(0.1)
        log = server.log()
    (event,) = events
    assert event["station_id"] == identity and event["kind"] == "issued" and 9 < event["days"] <= 10
    assert f"{identity}: issued certificate" in log and "renewal requested" in log
