"""``ocppd certificates ...`` against a real ``ocppd serve``, with ``ocpp``-package stations (2.0.1 and
1.6) that renew their certificate with real keys and CSRs and keep a real trust store: list, show,
expiring, renew, refresh, install-root, delete, revoke; the expiry gauge; bad input (one line, exit 2)
and the server not running.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from typer.testing import CliRunner

from ocppd.cli import app
from ocppd.clicommon import console, err_console
from ocppd.transport.tls import client_context
from tests.api.test_web_sessions import login as form_login
from tests.csms_process import CsmsProcess, run_csms
from tests.integration import test_certificate_inventory as inventory
from tests.integration import test_certificates as signing
from tests.pki import Ca, Pki
from tests.waiting import eventually

GUARD = 20.0


class Station201(inventory.TrustStore2x, signing.Station201):
    """Renews its certificate (TriggerMessage -> SignCertificate -> CertificateSigned) and keeps a trust
    store (InstallCertificate, GetInstalledCertificateIds, DeleteCertificate)."""

    def __init__(self, identity: str, connection: Any, wallet: signing.Wallet, store: inventory.TrustStore) -> None:
        signing.Station201.__init__(self, identity, connection, wallet)
        self.store = store


@pytest.fixture(scope="module")
def csms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("certificates-cli")) as server:
        yield server


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Ca:
    return Ca.create(tmp_path_factory.mktemp("cli-roots"), "cli-root")  # valid 2 days: "expiring"


@asynccontextmanager
async def station(server: CsmsProcess, identity: str, version: str = "ocpp2.0.1") -> AsyncIterator[Any]:
    wallet, store = signing.Wallet(), inventory.TrustStore()

    def make(ws: Any) -> Any:
        if version == "ocpp1.6":
            return signing.Station16(identity, ws, wallet)
        return Station201(identity, ws, wallet, store)

    async with inventory.booted(server, identity, version, make) as cp:
        yield cp


def _invoke(server: CsmsProcess, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    # In this process (the same `ocppd` app and options, the server's environment): a new interpreter per
    # command costs seconds on a loaded machine, and these tests run some thirty of them.
    # Rich sizes tables to a terminal there is none of: as wide as the server's COLUMNS, like a subprocess.
    console.width = err_console.width = int(server.env["COLUMNS"])
    result = CliRunner().invoke(app, ["certificates", *args], env=server.env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


async def cli(server: CsmsProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """``ocppd certificates ...`` in a thread: the stations in this loop answer while it waits."""
    return await asyncio.to_thread(_invoke, server, args)


async def ok(server: CsmsProcess, *args: str) -> str:
    done = await cli(server, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


async def refused(server: CsmsProcess, *args: str, code: int = 2) -> str:
    """The command fails with ``code`` and one line on stderr, which it returns."""
    done = await cli(server, *args)
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, (args, done.stderr)
    return lines[0]


async def view(server: CsmsProcess, identity: str) -> dict[str, Any]:
    (found,) = json.loads(await ok(server, "list", "--station", identity, "--json"))
    return dict(found)


def leaf(wallet: signing.Wallet, index: int = -1) -> x509.Certificate:
    return x509.load_pem_x509_certificates(wallet.chains[index][1].encode())[0]


def serial_of(certificate: x509.Certificate) -> str:
    text = f"{certificate.serial_number:X}"
    return text.zfill(len(text) + len(text) % 2)


async def renewed(server: CsmsProcess, identity: str, count: int) -> dict[str, Any]:
    """The station's view as `list --json` prints it, once ``count`` certificates were accepted."""
    headers = {"Authorization": f"Bearer {server.admin_token}"}

    async def probe() -> bool | None:
        async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=GUARD) as api:
            issued = (await api.get(f"/api/v1/stations/{identity}/certificates")).json()
        return True if sum(r["status"] == "accepted" for r in issued) >= count else None

    await eventually(probe, f"{count} accepted certificates for {identity}", GUARD)
    return await view(server, identity)


async def test_renew_list_show_expiring_revoke_and_the_expiry_gauge(csms: CsmsProcess) -> None:
    identity = "CLI-CERT-1"
    async with station(csms, identity) as cp:
        assert "Accepted" in await ok(csms, "renew", identity)
        found = await renewed(csms, identity, 1)
        first = leaf(cp.wallet)
        (own,) = found["own"]
        assert own["serial"] == serial_of(first) and own["certificate_type"] == "ChargingStationCertificate"
        assert own["subject"] == first.subject.rfc4514_string()
        assert datetime.fromisoformat(own["not_after"]) == first.not_valid_after_utc and 364 <= own["days_left"] <= 365
        table = await ok(csms, "list", "--station", identity)
        assert "own" in table and own["serial"] in table

        shown = await ok(csms, "show", own["serial"].lower())  # serials compare as numbers
        fingerprint = first.fingerprint(hashes.SHA256()).hex()
        assert fingerprint in shown and "EC secp256r1" in shown and identity in shown
        (detail,) = json.loads(await ok(csms, "show", own["serial"], "--json"))
        assert detail["kind"] == "issued" and detail["details"]["sha256_fingerprint"] == fingerprint

        soon = json.loads(await ok(csms, "expiring", "--days", "400", "--json"))
        assert [r["serial"] for r in soon if r["station_id"] == identity] == [own["serial"]]
        assert "no certificate expires within 30 days" in await ok(csms, "expiring", "--station", identity, "--check")

        async def gauge() -> float | None:
            text = httpx.get(f"{csms.http_url}/metrics").text
            for line in text.splitlines():
                if line.startswith('ocppd_certificate_expiry_timestamp_seconds{certificate_type="ChargingStation'):
                    return float(line.split()[-1])
            return None

        soonest = await eventually(gauge, "the expiry gauge", GUARD)  # set within a housekeeping round (5 s)
        assert time.time() < soonest <= first.not_valid_after_utc.timestamp()

        # A second renewal replaces the first on the station: superseded; revoking the new one leaves none.
        assert "Accepted" in await ok(csms, "renew", identity, "--type", "ChargingStationCertificate")
        found = await renewed(csms, identity, 2)
        second = leaf(cp.wallet)
        assert [r["serial"] for r in found["own"]] == [serial_of(second)]
        states = {r["serial"]: r["state"] for r in found["issued"]}
        assert states == {serial_of(first): "superseded", serial_of(second): "accepted"}
        revoked = await ok(csms, "revoke", serial_of(second), "--reason", "keyCompromise")
        assert f"certificate {serial_of(second)} revoked (keyCompromise)" in revoked
        found = await view(csms, identity)
        assert found["own"] == [] and {r["state"] for r in found["issued"]} == {"superseded", "revoked"}
        assert "csr" in await ok(csms, "list", "--station", identity)


async def test_renew_a_16_station(csms: CsmsProcess) -> None:
    identity = "CLI-CERT-16"
    async with station(csms, identity, "ocpp1.6") as cp:
        assert "Accepted" in await ok(csms, "renew", identity)
        found = await renewed(csms, identity, 1)
        assert [r["serial"] for r in found["own"]] == [serial_of(leaf(cp.wallet))]
        # 1.6 has no V2G certificate: the server's 400 is the operator's bad input
        line = await refused(csms, "renew", identity, "--type", "V2GCertificate")
        assert line.startswith("400:"), line


async def test_install_root_refresh_expiring_and_delete(csms: CsmsProcess, root: Ca) -> None:
    identity = "CLI-CERT-2"
    async with station(csms, identity) as cp:
        assert "Accepted" in await ok(csms, "install-root", identity, str(root.pem))
        assert cp.store.certificates == {"CSMSRootCertificate": [root.pem.read_text()]}
        (row,) = (await view(csms, identity))["installed"]
        assert row["source"] == "installed" and "cli-root" in row["subject"] and row["days_left"] <= 2

        # for cron: the root expires within 30 days
        done = await cli(csms, "expiring", "--station", identity, "--check")
        assert done.returncode == 1 and "cli-root" in done.stdout, done
        soon = json.loads(await ok(csms, "expiring", "--days", "30", "--type", "CSMSRootCertificate", "--json"))
        assert [(r["station_id"], r["kind"]) for r in soon if r["station_id"] == identity] == [(identity, "installed")]

        # as the station reports it: the same certificate, its subject and expiry kept
        assert "Accepted: 1 certificates installed" in await ok(csms, "refresh", identity)
        (row,) = (await view(csms, identity))["installed"]
        assert row["source"] == "reported" and "cli-root" in row["subject"]
        assert "cli-root" in await ok(csms, "show", row["serial_number"], "--station", identity)

        assert "Accepted" in await ok(csms, "delete", identity, str(row["id"]))
        assert cp.store.certificates == {"CSMSRootCertificate": []}
        assert (await view(csms, identity))["installed"] == []


async def test_bad_input_is_one_line_and_exit_2(csms: CsmsProcess, root: Ca, tmp_path: Path) -> None:
    identity = "CLI-CERT-3"
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    leaf_file = tmp_path / "leaf.pem"
    leaf_file.write_text(Path(root.issue(tmp_path, "CS-LEAF").cert).read_text())
    async with station(csms, identity):
        for args in (["list", "--station", "NOPE"], ["renew", "NOPE"], ["delete", "NOPE", "1"]):
            assert "unknown station 'NOPE'" in await refused(csms, *args), args
        assert "not.pem: not a PEM X.509 certificate" in await refused(csms, "install-root", identity, str(not_pem))
        assert "cannot be read" in await refused(csms, "install-root", identity, str(tmp_path / "missing.pem"))
        assert "not a CA certificate" in await refused(csms, "install-root", identity, str(leaf_file))
        assert "--type: 'Bogus' is not one of" in await refused(csms, "renew", identity, "--type", "Bogus")
        assert "has no installed certificate '999'" in await refused(csms, "delete", identity, "999")
        assert "not a hexadecimal number" in await refused(csms, "show", "xyz")
        assert "no certificate with serial 'ABCDEF'" in await refused(csms, "show", "ABCDEF")
        assert "--days: must be 0 or more" in await refused(csms, "expiring", "--days", "-1")
        for days in ("99999999", "1e400"):  # past datetime's range: a traceback before
            assert "--days: must be 0 or more, at most 36500" in await refused(csms, "expiring", "--days", days)
        assert "--limit: must be 1 to" in await refused(csms, "expiring", "--limit", str(2**70))
        line = await refused(csms, "revoke", "ABCDEF")
        assert not line.startswith("404") and "'ABCDEF'" in line, line
        assert "serial: 'xyz' is not a hexadecimal number" in await refused(csms, "revoke", "xyz")

    headers = {"Authorization": f"Bearer {csms.admin_token}"}
    async with httpx.AsyncClient(base_url=csms.http_url, headers=headers, timeout=GUARD) as api:
        answer = await api.post(f"/api/v1/stations/{identity}/certificates/renew", json={"certificate_type": "Bogus"})
        assert answer.status_code == 400 and "certificate_type" in answer.json()["detail"], answer.text
        answer = await api.get("/api/v1/certificates/expiring", params={"within_days": -1})
        assert answer.status_code == 400 and "within_days" in answer.json()["detail"], answer.text
        answer = await api.get("/api/v1/certificates/expiring", params={"cursor": "bogus"})
        assert answer.status_code == 400 and "cursor" in answer.json()["detail"], answer.text
        answer = await api.get("/api/v1/stations/NOPE/certificates/overview")
        assert answer.status_code == 404 and "NOPE" in answer.json()["detail"], answer.text


def test_help_explains_itself(tmp_path: Path) -> None:
    """The installed entry point, in its own process: the group and each command say what they do."""
    env = {**os.environ, "OCPPD_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    run = [sys.executable, "-m", "ocppd.cli", "certificates"]
    group = subprocess.run([*run, "--help"], env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    for command in ("list", "show", "expiring", "renew", "refresh", "install-root", "delete", "revoke"):
        assert re.search(rf"│ {command} +\S", group), command
    renew = subprocess.run([*run, "renew", "--help"], env=env, capture_output=True, text=True, timeout=60).stdout
    assert "ExtendedTriggerMessage" in renew and "--type" in renew and "--url" in renew


async def test_acting_commands_say_when_the_server_is_not_running(tmp_path: Path) -> None:
    with run_csms(tmp_path) as server:
        server.cli("stations", "add", "CLI-CERT-4")
    for args in (["renew", "CLI-CERT-4"], ["revoke", "AB"]):
        line = await refused(server, *args, code=1)
        assert "no `ocppd serve` is running on the data directory" in line, line
    # reading needs no server
    assert "no certificates known for station CLI-CERT-4" in await ok(server, "list", "--station", "CLI-CERT-4")


async def test_list_shows_the_client_certificate_a_station_presents(tmp_path: Path) -> None:
    """Profile 3 with a certificate from the operator's own CA (not the built-in one): `list` shows it."""
    pki = Pki.create(tmp_path / "pki")
    env = {"OCPPD_OCPP__TLS_CERT": str(pki.server.cert), "OCPPD_OCPP__TLS_KEY": str(pki.server.key),
           "OCPPD_OCPP__TLS_CLIENT_CA": str(pki.ca.pem)}  # fmt: skip
    identity = "CLI-CERT-TLS"
    issued = pki.station(identity)
    certificate = x509.load_pem_x509_certificate(Path(issued.cert).read_bytes())
    with run_csms(tmp_path, extra_env=env) as server:
        server.cli("stations", "add", identity)
        context = client_context(str(pki.ca.pem), str(issued.cert), str(issued.key))
        url = f"wss://127.0.0.1:{server.ocpp_port}/ocpp/{identity}"
        async with websockets.connect(url, subprotocols=["ocpp2.0.1"], ssl=context, open_timeout=GUARD) as ws:
            cp = ChargePoint201(identity, ws)
            task = asyncio.create_task(cp.start())
            try:
                boot = await cp.call(call201.BootNotification(charging_station={"vendor_name": "ACME", "model": "X"},
                                                              reason="PowerUp"))  # fmt: skip
                assert boot.status == "Accepted"
            finally:
                task.cancel()

        async def presented() -> dict[str, Any] | None:
            return (await view(server, identity))["presented"]

        shown = await eventually(presented, "the presented certificate in `list`", GUARD)
        assert shown["serial"] == serial_of(certificate) and shown["subject"] == certificate.subject.rfc4514_string()
        assert datetime.fromisoformat(shown["not_after"]) == certificate.not_valid_after_utc
        assert shown["issuer"] == certificate.issuer.rfc4514_string()
        table = await ok(server, "list", "--station", identity)
        assert "presented" in table and serial_of(certificate) in table
        (held,) = json.loads(await ok(server, "expiring", "--days", "400", "--json"))  # the test PKI's: 2 days
        assert (held["kind"], held["serial"], held["station_id"]) == ("presented", serial_of(certificate), identity)
        async with httpx.AsyncClient(base_url=server.http_url, timeout=GUARD) as browser:
            await form_login(browser, token=server.admin_token)
            page = (await browser.get(f"/stations/{identity}/certificates")).text
        assert f'<tr data-presented="{serial_of(certificate)}">' in page and "presented at TLS" in page
