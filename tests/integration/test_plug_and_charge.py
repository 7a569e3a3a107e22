"""Plug & charge against real responders: ``openssl ocsp`` as the OCSP responder (started here, with its
own index of good and revoked contract certificates) and a contract-certificate provider double over
HTTP; ``ocppd serve`` as a real process and the ``ocpp`` package as the station (OCA M_24, C_50-C_52,
M_26, M_28; 2.1 GetCertificateChainStatus).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call as call21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from tests.csms_process import CsmsProcess, free_port, run_csms
from tests.pki import Ca, private_key_pem

GUARD = 20.0
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command (OCSP responder)")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MO tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])  # fmt: skip


def issue(ca: Ca, common_name: str, ocsp_url: str | None, *, ocsp_signer: bool = False) -> tuple[x509.Certificate, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca.certificate.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
    )  # fmt: skip
    if ocsp_url:
        access = x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    if ocsp_signer:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
    return builder.sign(ca.key, hashes.SHA256()), key


def pem(*certificates: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)


def hash_data(certificate: x509.Certificate, issuer: x509.Certificate, url: str) -> dict[str, str]:
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256()).build()
    return {"hash_algorithm": "SHA256", "issuer_name_hash": request.issuer_name_hash.hex(),
            "issuer_key_hash": request.issuer_key_hash.hex(), "serial_number": f"{certificate.serial_number:X}",
            "responder_url": url}  # fmt: skip


@dataclass
class Mo:
    """A mobility operator's PKI with an OCSP responder: one good and one revoked contract certificate."""

    root: Ca
    good: x509.Certificate
    revoked: x509.Certificate
    url: str
    process: subprocess.Popen[bytes]


def _index_line(state: str, certificate: x509.Certificate, revoked_at: str = "") -> str:
    expires = certificate.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    subject = "".join(f"/{a.rfc4514_attribute_name}={a.value}" for a in certificate.subject)
    return f"{state}\t{expires}\t{revoked_at}\t{certificate.serial_number:X}\tunknown\t{subject}\n"


def start_responder(directory: Path) -> Mo:
    root = Ca.create(directory, "mo-root")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    good, _ = issue(root, "NLOCP000000001", url)
    revoked, _ = issue(root, "NLOCP000000002", url)
    signer, signer_key = issue(root, "mo-ocsp", None, ocsp_signer=True)
    (directory / "ocsp.pem").write_text(pem(signer))
    (directory / "ocsp.key").write_bytes(private_key_pem(signer_key))
    revoked_at = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%y%m%d%H%M%SZ")
    (directory / "index.txt").write_text(_index_line("V", good) + _index_line("R", revoked, revoked_at))
    log = open(directory / "ocsp.log", "wb")  # noqa: SIM115  (lives as long as the process)
    process = subprocess.Popen(
        ["openssl", "ocsp", "-index", str(directory / "index.txt"), "-port", str(port),
         "-rsigner", str(directory / "ocsp.pem"), "-rkey", str(directory / "ocsp.key"), "-CA", str(root.pem),
         "-nmin", "10"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    # Ready once it says so: a probe connection would block it (openssl ocsp serves one connection at a
    # time and waits for a request on it).
    deadline = time.monotonic() + GUARD
    while b"waiting for OCSP client connections" not in (directory / "ocsp.log").read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("openssl ocsp did not start: " + (directory / "ocsp.log").read_text())
        time.sleep(0.05)
    return Mo(root, good, revoked, url, process)


def stop_responder(mo: Mo) -> None:
    mo.process.terminate()
    mo.process.wait(10)


class ContractProvider(BaseHTTPRequestHandler):
    """The contract-certificate provider double: answers EXI requests with a recognisable EXI answer."""

    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ContractProvider.requests.append(body)
        if body["exi_request"] == base64.b64encode(b"SLOW").decode():
            time.sleep(3)  # slower than ocppd's configured wait: the station gets Failed meanwhile
        exi = base64.b64encode(b"RES:" + base64.b64decode(body["exi_request"])).decode()
        answer = {"status": "Accepted", "exi_response": exi}
        data = json.dumps(answer).encode()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # ocppd stopped waiting (the slow case)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def mo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mo]:
    responder = start_responder(tmp_path_factory.mktemp("mo"))
    yield responder
    stop_responder(responder)


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ContractProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/contract-certificates"
    server.shutdown()


@pytest.fixture(scope="module")
def csms(tmp_path_factory: pytest.TempPathFactory, provider: str) -> Iterator[CsmsProcess]:
    env = {"OCPPD_CA__CONTRACT_PROVIDER_URL": provider, "OCPPD_CA__CONTRACT_PROVIDER_TIMEOUT": "1",
           "OCPPD_CA__OCSP_TIMEOUT": "2"}  # fmt: skip
    with run_csms(tmp_path_factory.mktemp("pnc"), extra_env=env) as server:
        server.cli("tokens", "add", "NLOCP000000001", "NLOCP000000002")
        yield server


@asynccontextmanager
async def station(server: CsmsProcess, identity: str, version: str = "ocpp2.0.1") -> AsyncIterator[Any]:
    cls = ChargePoint21 if version == "ocpp2.1" else ChargePoint201
    calls = call21 if version == "ocpp2.1" else call201
    async with websockets.connect(f"{server.ws_url}/{identity}", subprotocols=[version], open_timeout=GUARD) as ws:
        cp = cls(identity, ws)
        task = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(calls.BootNotification(charging_station={"vendor_name": "ACME", "model": "PnC"},
                                                        reason="PowerUp"))  # fmt: skip
            assert boot.status == "Accepted"
            yield cp
        finally:
            task.cancel()


def emaid(certificate: x509.Certificate) -> dict[str, str]:
    return {"id_token": str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value), "type": "eMAID"}


async def test_tc_c_50_contract_certificate_hash_data_accepted_after_ocsp(csms: CsmsProcess, mo: Mo) -> None:
    async with station(csms, "PNC-C50") as cp:
        data = [hash_data(mo.good, mo.root.certificate, mo.url)]
        answer = await cp.call(call201.Authorize(id_token=emaid(mo.good), iso15118_certificate_hash_data=data))
    assert answer.certificate_status == "Accepted"
    assert answer.id_token_info["status"] == "Accepted"


async def test_tc_c_51_revoked_contract_certificate(csms: CsmsProcess, mo: Mo) -> None:
    async with station(csms, "PNC-C51") as cp:
        data = [hash_data(mo.revoked, mo.root.certificate, mo.url)]
        answer = await cp.call(call201.Authorize(id_token=emaid(mo.revoked), iso15118_certificate_hash_data=data))
    assert answer.certificate_status == "CertificateRevoked"
    assert answer.id_token_info["status"] == "Invalid"


async def test_tc_c_52_contract_certificate_checked_through_its_aia(csms: CsmsProcess, mo: Mo) -> None:
    async with station(csms, "PNC-C52") as cp:
        good = await cp.call(call201.Authorize(id_token=emaid(mo.good), certificate=pem(mo.good, mo.root.certificate)))
        revoked = await cp.call(
            call201.Authorize(id_token=emaid(mo.revoked), certificate=pem(mo.revoked, mo.root.certificate))
        )
        garbage = await cp.call(call201.Authorize(id_token=emaid(mo.good), certificate="not a certificate"))
    assert good.certificate_status == "Accepted" and good.id_token_info["status"] == "Accepted"
    assert revoked.certificate_status == "CertificateRevoked"
    assert garbage.certificate_status == "CertChainError" and garbage.id_token_info["status"] == "Invalid"


async def test_tc_m_24_get_certificate_status_relays_a_real_ocsp_response_cached_until_next_update(
    csms: CsmsProcess, tmp_path: Path
) -> None:
    own = start_responder(tmp_path)  # its own responder: this test stops it to show the cache
    request = hash_data(own.good, own.root.certificate, own.url)
    try:
        async with station(csms, "PNC-M24") as cp:
            answer = await cp.call(call201.GetCertificateStatus(ocsp_request_data=request))
            assert answer.status == "Accepted"
            response = ocsp.load_der_ocsp_response(base64.b64decode(answer.ocsp_result))
            assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
            assert response.serial_number == own.good.serial_number
            assert response.next_update_utc is not None  # -nmin 10: valid for 10 minutes
            stop_responder(own)
            again = await cp.call(call201.GetCertificateStatus(ocsp_request_data=request))
            assert again.status == "Accepted" and again.ocsp_result == answer.ocsp_result  # from the cache
            # A certificate the cache has not seen, with the responder gone: Failed, in bounded time.
            other = hash_data(own.revoked, own.root.certificate, own.url)
            failed = await asyncio.wait_for(cp.call(call201.GetCertificateStatus(ocsp_request_data=other)), GUARD)
            assert failed.status == "Failed" and failed.status_info["reason_code"] == "OCSPFailed"
            assert (await cp.call(call201.Heartbeat())).current_time  # the connection is untouched
    finally:
        if own.process.poll() is None:
            stop_responder(own)


@pytest.mark.parametrize(("action", "case"), [("Install", "m_26"), ("Update", "m_28")])
async def test_tc_m_26_m_28_ev_certificate_through_the_contract_provider(
    csms: CsmsProcess, action: str, case: str
) -> None:
    exi = base64.b64encode(f"EXI-{action}".encode()).decode()
    async with station(csms, f"PNC-{case}") as cp:
        answer = await cp.call(call201.Get15118EVCertificate(iso15118_schema_version="urn:iso:15118:2:2013:MsgDef",
                                                             action=action, exi_request=exi))  # fmt: skip
    assert answer.status == "Accepted"
    assert base64.b64decode(answer.exi_response) == f"RES:EXI-{action}".encode()  # passed through unchanged
    sent = [r for r in ContractProvider.requests if r["exi_request"] == exi][-1]
    assert sent["action"] == action and sent["station_id"] == f"PNC-{case}"


async def test_a_slow_contract_provider_gets_the_station_failed_in_bounded_time(csms: CsmsProcess) -> None:
    async with station(csms, "PNC-SLOW") as cp:
        answer = await asyncio.wait_for(
            cp.call(call201.Get15118EVCertificate(iso15118_schema_version="urn:iso:15118:2:2013:MsgDef",
                                                  action="Install", exi_request=base64.b64encode(b"SLOW").decode())),
            GUARD,
        )  # fmt: skip
        assert answer.status == "Failed" and answer.exi_response == ""
        assert (await cp.call(call201.Heartbeat())).current_time


async def test_get_certificate_chain_status_2_1(csms: CsmsProcess, mo: Mo) -> None:
    def request(certificate: x509.Certificate) -> dict[str, Any]:
        data = hash_data(certificate, mo.root.certificate, mo.url)
        url = data.pop("responder_url")
        return {"certificate_hash_data": data, "source": "OCSP", "urls": [url]}

    async with station(csms, "PNC-21", "ocpp2.1") as cp:
        requests = [request(mo.good), request(mo.revoked)]
        answer = await cp.call(call21.GetCertificateChainStatus(certificate_status_requests=requests))
    assert [s["status"] for s in answer.certificate_status] == ["Good", "Revoked"]


async def test_tc_m_100_several_ev_certificate_requests_iso_15118_20(csms: CsmsProcess) -> None:
    async with station(csms, "PNC-M100", "ocpp2.1") as cp:
        schema = "urn:iso:std:iso:15118:-20:CommonMessages"
        answers = []
        for n in range(3):
            exi = base64.b64encode(f"chain-{n}".encode()).decode()
            request = call21.Get15118EVCertificate(iso_15118_schema_version=schema, action="Install", exi_request=exi)
            answers.append(await cp.call(request))
    assert [a.status for a in answers] == ["Accepted"] * 3
    assert [base64.b64decode(a.exi_response) for a in answers] == [f"RES:chain-{n}".encode() for n in range(3)]


async def test_the_simulator_authorizes_with_its_contract_certificate(
    csms: CsmsProcess, mo: Mo, tmp_path: Path
) -> None:
    """The project's simulator as the EV's station: Authorize with the eMAID and the contract chain's hash
    data; the CSMS asks the responder (C_50 / C_51 from the simulator's side)."""
    results = {}
    for certificate in (mo.good, mo.revoked):
        chain = tmp_path / f"{certificate.serial_number}.pem"
        chain.write_text(pem(certificate, mo.root.certificate))
        config = StationConfig(identity=f"SIM-PNC-{len(results)}", url=csms.ws_url, version=OcppVersion.V201,
                               contract_certificate=str(chain))  # fmt: skip
        async with Station(config) as st:
            await st.wait_booted(timeout=GUARD)
            status, _ = await st.adapter.authorize(emaid(certificate)["id_token"])
            results[emaid(certificate)["id_token"]] = status
    assert results == {"NLOCP000000001": "Accepted", "NLOCP000000002": "Invalid"}
