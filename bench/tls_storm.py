"""Boot storm over TLS: N stations connect and boot at once against ``ocppd serve``, over plain WebSocket,
security profile 2 (wss:// + Basic auth) and security profile 3 (mutual TLS, a certificate per station).

For each mode a fresh server (real process, SQLite in a temporary directory) is started; the storm
is timed from the first connect to the last BootNotification answer, and the server's resident memory
is read before the storm and with every station connected and idle, giving memory per idle station.
The stations run in this process (picows through ocppd's transport), on the same machine: the TLS
cost measured includes the clients' handshakes.

    python -m bench.tls_storm --stations 1000            # all three modes, one JSON line each
    python -m bench.tls_storm --stations 200 --modes plain,profile3

Results and their reading: docs/security.md ("TLS at scale").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import ipaddress
import json
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.csms_process import CsmsProcess, run_csms

from ocppd.protocol.versions import OcppVersion
from ocppd.transport.websocket import Link, connect

PASSWORD = "bench-password-0123"
BOOT = json.dumps([2, "b", "BootNotification", {"chargePointVendor": "bench", "chargePointModel": "storm"}])


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


def make_pki(directory: Path, identities: list[str]) -> tuple[Path, Path, Path]:
    """A CA, a server certificate for 127.0.0.1, one client certificate per identity (files)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def leaf(name: str, file_name: str, server: bool = False) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        )  # fmt: skip
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        certificate = builder.sign(ca_key, hashes.SHA256())
        (directory / f"{file_name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (directory / f"{file_name}.key").write_bytes(_key_pem(key))

    leaf("127.0.0.1", "server", server=True)
    for identity in identities:
        leaf(identity, identity)
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


async def boot_one(url: str, identity: str, context: ssl.SSLContext | None, password: str | None,
                   links: list[Link]) -> float:  # fmt: skip
    """Connect, boot, stay connected; seconds from connect to the Boot answer."""
    answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_open(link: Link) -> Any:
        def receive(data: bytes) -> None:
            if not answered.done():
                answered.set_result(None)

        return receive

    started = time.perf_counter()
    link = await connect(f"{url}/{identity}", [OcppVersion.V16], on_open, ssl_context=context,
                         basic_auth=(identity, password) if password else None, timeout=120)  # fmt: skip
    links.append(link)
    link.send(BOOT)
    await asyncio.wait_for(answered, 120)
    return time.perf_counter() - started


async def storm(mode: str, stations: int, work: Path) -> dict[str, Any]:
    identities = [f"STORM-{i:05d}" for i in range(stations)]
    pki_dir = work / "pki"
    pki_dir.mkdir(exist_ok=True)
    ca, server_cert, server_key = make_pki(pki_dir, identities if mode == "profile3" else [])
    env: dict[str, str] = {"OCPPD_LOG_LEVEL": "WARNING", "OCPPD_CA__ENABLED": "false"}
    if mode != "plain":
        env |= {"OCPPD_OCPP__TLS_CERT": str(server_cert), "OCPPD_OCPP__TLS_KEY": str(server_key)}
    if mode == "profile3":
        env["OCPPD_OCPP__TLS_CLIENT_CA"] = str(ca)
    data = work / mode
    data.mkdir()
    with run_csms(data, extra_env=env) as server:
        password = PASSWORD if mode == "profile2" else None
        if password:
            await register(server, identities)
        scheme = "ws" if mode == "plain" else "wss"
        url = f"{scheme}://127.0.0.1:{server.ocpp_port}/ocpp"
        contexts = [client(mode, ca, pki_dir, identity) for identity in identities]
        before = rss_kb(server.process.pid)
        links: list[Link] = []
        started = time.perf_counter()
        results = await asyncio.gather(
            *(boot_one(url, i, c, password, links) for i, c in zip(identities, contexts, strict=True)),
            return_exceptions=True,
        )
        seconds = time.perf_counter() - started
        times = sorted(r for r in results if isinstance(r, float))
        await asyncio.sleep(2)  # let the server settle with everyone connected and idle
        during = rss_kb(server.process.pid)
        failures = [repr(r) for r in results if not isinstance(r, float)]
        for link in links:
            link.close()
    return {
        "mode": mode,
        "stations": stations,
        "booted": len(times),
        "failed": len(failures),
        "first_failure": failures[0] if failures else None,
        "storm_s": round(seconds, 2),
        "boot_p50_s": round(times[len(times) // 2], 3) if times else None,
        "boot_p99_s": round(times[int(len(times) * 0.99) - 1], 3) if times else None,
        "server_rss_before_mb": round(before / 1024, 1),
        "server_rss_connected_mb": round(during / 1024, 1),
        "kb_per_idle_station": round((during - before) / max(1, len(times)), 1),
    }


def client(mode: str, ca: Path, pki_dir: Path, identity: str) -> ssl.SSLContext | None:
    if mode == "plain":
        return None
    context = ssl.create_default_context(cafile=str(ca))
    if mode == "profile3":
        context.load_cert_chain(str(pki_dir / f"{identity}.pem"), str(pki_dir / f"{identity}.key"))
    return context


async def register(server: CsmsProcess, identities: list[str]) -> None:
    """Profile 2: every station gets a password (the API, in parallel), then the server knows them all."""
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=120) as api:
        semaphore = asyncio.Semaphore(20)

        async def add(identity: str) -> None:
            async with semaphore:
                answer = await api.post("/api/v1/stations", json={"station_id": identity, "password": PASSWORD})
                answer.raise_for_status()

        await asyncio.gather(*(add(i) for i in identities))  # the API updates the server's directory at once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--modes", default="plain,profile2,profile3")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ocppd-tls-storm-") as tmp:
        for mode in args.modes.split(","):
            row = asyncio.run(storm(mode, args.stations, Path(tmp)))
            rows.append(row)
            print(json.dumps(row), flush=True)
    plain = next((r for r in rows if r["mode"] == "plain"), None)
    if plain and plain["storm_s"]:
        ratios = {r["mode"]: round(r["storm_s"] / plain["storm_s"], 2) for r in rows if r["mode"] != "plain"}
        print(json.dumps({"storm_time_vs_plain": ratios}), flush=True)


if __name__ == "__main__":
    main()
