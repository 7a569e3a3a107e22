"""The simulator installs firmware from real HTTP downloads (a stdlib HTTP server in a thread): the
bytes checked against the server's Repr-Digest and Content-Length, a signature checked against the
signing certificate, the status set of each version (1.6 FirmwareStatusNotification, 1.6 signed
SignedFirmwareStatusNotification, 2.x), and the boot after the install naming the image's version.

The tests are named after the OCA cases whose station behaviour they simulate (the CSMS side of those
cases is in tests/integration/test_firmware_hosting.py and test_signed_firmware.py)."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

from ocppd.protocol.versions import OcppVersion
from ocppd.smart.schedule import format_time
from ocppd.station.files import firmware_image
from ocppd.station.station import Station
from tests.station.conftest import fast_config
from tests.station.csms import OcppCsms

IMAGE = firmware_image("2.0.0", 64 * 1024)


def _digest(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


class _Files(BaseHTTPRequestHandler):
    """/good.bin (right digest), /tampered.bin (the digest of other bytes), /short.bin (the body ends
    before its Content-Length), anything else 404."""

    def do_GET(self) -> None:
        if self.path == "/good.bin":
            self._send(IMAGE, _digest(IMAGE), len(IMAGE))
        elif self.path == "/tampered.bin":
            self._send(IMAGE, _digest(IMAGE + b"x"), len(IMAGE))
        elif self.path == "/short.bin":
            self._send(IMAGE[:1000], _digest(IMAGE), len(IMAGE))
        else:
            self.send_error(404)

    def _send(self, body: bytes, digest: str, length: int) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.send_header("Repr-Digest", digest)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def files_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _signing() -> tuple[str, str, str]:
    """A self-signed firmware-signing certificate, the image's signature, and a signature of other bytes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "firmware signing")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))  # fmt: skip
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    prehashed = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
    good = base64.b64encode(key.sign(hashlib.sha256(IMAGE).digest(), prehashed)).decode()
    bad = base64.b64encode(key.sign(hashlib.sha256(b"other").digest(), prehashed)).decode()
    return pem, good, bad


@pytest.fixture
async def station_for(csms: OcppCsms) -> AsyncIterator[Any]:
    started: list[Station] = []

    async def start(identity: str, version: OcppVersion, **kwargs: Any) -> Station:
        station = Station(fast_config(identity, csms.url, version, firmware="1.0.0", **kwargs))
        await station.__aenter__()
        started.append(station)
        await station.wait_booted(5)
        await csms.wait_connected(identity)
        return station

    yield start
    for station in started:
        await station.__aexit__(None, None, None)


def _statuses(csms: OcppCsms, identity: str, action: str) -> list[str]:
    return [m["status"] for m in csms.messages(identity, action)]


def _boot_versions(csms: OcppCsms, identity: str, version: OcppVersion) -> list[str]:
    boots = csms.messages(identity, "BootNotification")
    if version is OcppVersion.V16:
        return [b["firmwareVersion"] for b in boots]
    return [b["chargingStation"]["firmwareVersion"] for b in boots]


async def _update(csms: OcppCsms, identity: str, version: OcppVersion, location: str, **image: Any) -> None:
    now = format_time(time.time())
    if version is OcppVersion.V16:
        assert await csms.call(identity, "UpdateFirmware", location=location, retrieve_date=now) == {}
    else:
        firmware = {"location": location, "retrieveDateTime": now, **image}
        answer = await csms.call(identity, "UpdateFirmware", request_id=7, firmware=firmware)
        assert answer["status"] == "Accepted"


async def _final(csms: OcppCsms, identity: str, action: str, final: str) -> list[str]:
    await csms.wait_for(identity, action, predicate=lambda m: m["status"] == final)
    return _statuses(csms, identity, action)


VERSIONS = pytest.mark.parametrize("version", [OcppVersion.V16, OcppVersion.V201], ids=["1.6", "2.0.1"])


@VERSIONS
async def test_tc_l_01_downloads_checks_and_boots_with_the_new_version(
    csms: OcppCsms, station_for: Any, files_url: str, version: OcppVersion
) -> None:
    identity = f"FWOK{version.value[-3:].replace('.', '')}"
    await station_for(identity, version)
    await _update(csms, identity, version, f"{files_url}/good.bin")
    statuses = await _final(csms, identity, "FirmwareStatusNotification", "Installed")
    if version is OcppVersion.V16:
        assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    else:
        assert statuses == ["Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed"]
        assert {m["requestId"] for m in csms.messages(identity, "FirmwareStatusNotification")} == {7}
    assert _boot_versions(csms, identity, version) == ["1.0.0", "2.0.0"]


@VERSIONS
async def test_tc_l_07_a_refused_or_broken_download_is_download_failed(
    csms: OcppCsms, station_for: Any, files_url: str, version: OcppVersion
) -> None:
    identity = f"FWDL{version.value[-3:].replace('.', '')}"
    await station_for(identity, version)
    for path in ("/missing.bin", "/short.bin"):
        before = len(csms.messages(identity, "FirmwareStatusNotification"))
        await _update(csms, identity, version, files_url + path)
        await csms.wait_for(identity, "FirmwareStatusNotification", count=before + 2)
        assert _statuses(csms, identity, "FirmwareStatusNotification")[before:] == ["Downloading", "DownloadFailed"]
    assert _boot_versions(csms, identity, version) == ["1.0.0"]  # no reboot


@VERSIONS
async def test_tc_l_08_an_image_not_matching_its_digest_is_not_installed(
    csms: OcppCsms, station_for: Any, files_url: str, version: OcppVersion
) -> None:
    identity = f"FWVF{version.value[-3:].replace('.', '')}"
    await station_for(identity, version)
    await _update(csms, identity, version, f"{files_url}/tampered.bin")
    failed = "InstallationFailed" if version is OcppVersion.V16 else "InstallVerificationFailed"  # 1.6 has no other
    statuses = await _final(csms, identity, "FirmwareStatusNotification", failed)
    assert statuses == ["Downloading", "Downloaded", "Installing", failed]
    assert _boot_versions(csms, identity, version) == ["1.0.0"]


async def test_tc_l_01_tc_l_06_signed_update_checks_the_signature(
    csms: OcppCsms, station_for: Any, files_url: str
) -> None:
    pem, good, bad = _signing()
    await station_for("FWSIG201", OcppVersion.V201)
    await _update(csms, "FWSIG201", OcppVersion.V201, f"{files_url}/good.bin", signing_certificate=pem, signature=good)
    statuses = await _final(csms, "FWSIG201", "FirmwareStatusNotification", "Installed")
    assert statuses[:3] == ["Downloading", "Downloaded", "SignatureVerified"]
    # 1.6 security extension: SignedUpdateFirmware, SignedFirmwareStatusNotification with its requestId
    await station_for("FWSIG16", OcppVersion.V16)
    image = {"location": f"{files_url}/good.bin", "retrieveDateTime": format_time(time.time()),
             "signingCertificate": pem, "signature": bad}  # fmt: skip
    answer = await csms.call("FWSIG16", "SignedUpdateFirmware", request_id=9, firmware=image)
    assert answer["status"] == "Accepted"
    statuses = await _final(csms, "FWSIG16", "SignedFirmwareStatusNotification", "InvalidSignature")
    assert statuses == ["Downloading", "Downloaded", "InvalidSignature"]
    assert {m["requestId"] for m in csms.messages("FWSIG16", "SignedFirmwareStatusNotification")} == {9}
    assert _boot_versions(csms, "FWSIG16", OcppVersion.V16) == ["1.0.0"]


async def test_tc_l_09_tc_044_3_faults_on_purpose_installation_failed_and_old_version(
    csms: OcppCsms, station_for: Any, files_url: str
) -> None:
    await station_for("FWINST", OcppVersion.V201, firmware_fault="install")
    await _update(csms, "FWINST", OcppVersion.V201, f"{files_url}/good.bin")
    statuses = await _final(csms, "FWINST", "FirmwareStatusNotification", "InstallationFailed")
    assert statuses == ["Downloading", "Downloaded", "Installing", "InstallRebooting", "InstallationFailed"]
    assert _boot_versions(csms, "FWINST", OcppVersion.V201) == ["1.0.0", "1.0.0"]  # rebooted, old version
    await station_for("FWINST16", OcppVersion.V16, firmware_fault="install")  # 1.6: TC_044_3
    await _update(csms, "FWINST16", OcppVersion.V16, f"{files_url}/good.bin")
    statuses = await _final(csms, "FWINST16", "FirmwareStatusNotification", "InstallationFailed")
    assert statuses == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    assert _boot_versions(csms, "FWINST16", OcppVersion.V16) == ["1.0.0", "1.0.0"]
    # keep-version: reports Installed, but boots with the version it had (a campaign must catch it)
    await station_for("FWKEEP", OcppVersion.V16, firmware_fault="keep-version")
    await _update(csms, "FWKEEP", OcppVersion.V16, f"{files_url}/good.bin")
    await _final(csms, "FWKEEP", "FirmwareStatusNotification", "Installed")
    assert _boot_versions(csms, "FWKEEP", OcppVersion.V16) == ["1.0.0", "1.0.0"]


async def test_tc_l_02_tc_l_03_scheduled_download_and_install(csms: OcppCsms, station_for: Any, files_url: str) -> None:
    await station_for("FWSCHED", OcppVersion.V201)
    now = time.time()
    image = {"location": f"{files_url}/good.bin", "retrieveDateTime": format_time(now + 2),
             "installDateTime": format_time(now + 3)}  # fmt: skip
    answer = await csms.call("FWSCHED", "UpdateFirmware", request_id=11, firmware=image)
    assert answer["status"] == "Accepted"
    statuses = await _final(csms, "FWSCHED", "FirmwareStatusNotification", "Installed")
    assert statuses == ["DownloadScheduled", "Downloading", "Downloaded", "InstallScheduled", "Installing",
                        "InstallRebooting", "Installed"]  # fmt: skip
    assert _boot_versions(csms, "FWSCHED", OcppVersion.V201) == ["1.0.0", "2.0.0"]


async def test_tc_l_10_a_second_update_cancels_the_running_one(
    csms: OcppCsms, station_for: Any, files_url: str
) -> None:
    await station_for("FWTWICE", OcppVersion.V201)
    later = {"location": f"{files_url}/good.bin", "retrieveDateTime": format_time(time.time() + 60)}
    assert (await csms.call("FWTWICE", "UpdateFirmware", request_id=21, firmware=later))["status"] == "Accepted"
    await csms.wait_for("FWTWICE", "FirmwareStatusNotification", predicate=lambda m: m["status"] == "DownloadScheduled")
    now = {"location": f"{files_url}/good.bin", "retrieveDateTime": format_time(time.time())}
    answer = await csms.call("FWTWICE", "UpdateFirmware", request_id=22, firmware=now)
    assert answer["status"] == "AcceptedCanceled"
    await _final(csms, "FWTWICE", "FirmwareStatusNotification", "Installed")
    by_request = [(m["requestId"], m["status"]) for m in csms.messages("FWTWICE", "FirmwareStatusNotification")]
    assert by_request[0] == (21, "DownloadScheduled") and {r for r, _ in by_request[1:]} == {22}
