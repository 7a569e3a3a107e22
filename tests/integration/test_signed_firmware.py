"""Signed firmware (1.6 TC_080, 2.0.1 L_01): the CSMS downloads the image from its location, signs it with
the firmware-signing certificate of its CA and sends 1.6 SignedUpdateFirmware / 2.x UpdateFirmware;
the ``ocpp`` package station checks the signature against the image and the certificate's chain.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.csms_process import CsmsProcess, run_csms

GUARD = 20.0
IMAGE = os.urandom(300_000)


class Images(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/fw/station-2.0.bin":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(IMAGE)))
        self.end_headers()
        self.wfile.write(IMAGE)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fw"
    server.shutdown()


@pytest.fixture(scope="module")
def csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("firmware")) as server:
        yield server


def verify(firmware: dict[str, Any], root: x509.Certificate) -> None:
    """What a station does before installing: the signature over the image, the certificate's chain."""
    signer, *chain = x509.load_pem_x509_certificates(firmware["signing_certificate"].encode())
    key = signer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(base64.b64decode(firmware["signature"]), IMAGE, ec.ECDSA(hashes.SHA256()))
    signer.verify_directly_issued_by(chain[0])
    chain[0].verify_directly_issued_by(root)


class Station16(ChargePoint16):
    received: list[dict[str, Any]] = []

    @on("SignedUpdateFirmware")
    async def on_signed_update(
        self, request_id: int, firmware: dict[str, Any], **_: Any
    ) -> result16.SignedUpdateFirmware:
        Station16.received.append(firmware)
        return result16.SignedUpdateFirmware(status="Accepted")


class Station201(ChargePoint201):
    received: list[dict[str, Any]] = []

    @on("UpdateFirmware")
    async def on_update(self, request_id: int, firmware: dict[str, Any], **_: Any) -> result201.UpdateFirmware:
        Station201.received.append(firmware)
        return result201.UpdateFirmware(status="Accepted")


@asynccontextmanager
async def station(server: CsmsProcess, identity: str, version: str) -> AsyncIterator[Any]:
    cls = Station16 if version == "ocpp1.6" else Station201
    async with websockets.connect(f"{server.ws_url}/{identity}", subprotocols=[version], open_timeout=GUARD) as ws:
        cp = cls(identity, ws)
        task = asyncio.create_task(cp.start())
        try:
            if version == "ocpp1.6":
                await cp.call(call16.BootNotification(charge_point_vendor="ACME", charge_point_model="X"))
            else:
                await cp.call(call201.BootNotification(charging_station={"vendor_name": "ACME", "model": "X"},
                                                       reason="PowerUp"))  # fmt: skip
            yield cp
        finally:
            task.cancel()


@pytest.mark.parametrize(("version", "case"), [("ocpp1.6", "tc_080"), ("ocpp2.0.1", "tc_l_01")])
async def test_tc_080_tc_l_01_signed_firmware_update(csms: CsmsProcess, images: str, version: str, case: str) -> None:
    identity = f"FW-{case}"
    received = Station16.received if version == "ocpp1.6" else Station201.received
    async with (
        httpx.AsyncClient(base_url=csms.http_url, headers={"Authorization": f"Bearer {csms.admin_token}"},
                          timeout=GUARD) as client,
        station(csms, identity, version),
    ):  # fmt: skip
        answer = await client.post(f"/api/v1/stations/{identity}/firmware/signed",
                                   json={"location": f"{images}/station-2.0.bin"})  # fmt: skip
        assert answer.status_code == 200 and answer.json()["status"] == "Accepted", answer.text
        missing = await client.post(f"/api/v1/stations/{identity}/firmware/signed",
                                    json={"location": f"{images}/missing.bin"})  # fmt: skip
        assert missing.status_code == 400 and "cannot be downloaded" in missing.json()["detail"]
        root = x509.load_pem_x509_certificate((await client.get("/ca/csms-root.pem")).content)
        published = (await client.get("/ca/firmware-signing.pem")).text
    firmware = received[-1]
    assert firmware["location"] == f"{images}/station-2.0.bin"
    assert firmware["signing_certificate"] == published
    verify(firmware, root)


def test_the_firmware_signing_certificate_is_kept_with_the_ca(csms: CsmsProcess) -> None:
    ca_dir = Path(csms.data_dir) / "ca"
    assert (ca_dir / "firmware-signing.pem").exists()
    assert oct((ca_dir / "firmware-signing.key").stat().st_mode & 0o777) == "0o600"
