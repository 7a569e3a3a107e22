"""The project's simulator through the whole security story against ``ocppd serve`` (real processes,
real TLS): profile 1 on the plain port, up to 2 on the TLS port, a rotated password, a certificate
the CSMS's CA issued, up to 3 with it on the same TLS port; the lower profiles refused afterwards.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station, StationConfig
from ocppd.transport.tls import client_context
from tests.csms_process import CsmsProcess, free_port, run_csms
from tests.pki import Pki

GUARD = 30.0
PASSWORD = "simulator-password-01"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def csms(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    plain = free_port()
    env = {"OCPPD_OCPP__TLS_CERT": str(pki.server.cert), "OCPPD_OCPP__TLS_KEY": str(pki.server.key),
           "OCPPD_OCPP__PLAIN_PORT": str(plain)}  # fmt: skip
    with run_csms(tmp_path_factory.mktemp("simsec"), extra_env=env) as server:
        server.env["PLAIN_PORT"] = str(plain)
        yield server


def api(server: CsmsProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http_url, headers={"Authorization": f"Bearer {server.admin_token}"},
                             timeout=GUARD)  # fmt: skip


async def until(condition: Any, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + GUARD
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not reached in time: {what}")
        await asyncio.sleep(0.1)


async def stored_profile(client: httpx.AsyncClient, identity: str) -> int | None:
    return (await client.get(f"/api/v1/stations/{identity}")).json().get("security_profile")  # type: ignore[no-any-return]


async def connects(url: str, context: Any, password: str | None, identity: str) -> bool:
    headers = (
        {"Authorization": "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()} if password else None
    )
    try:
        async with websockets.connect(f"{url}/{identity}", subprotocols=["ocpp2.0.1"], ssl=context,
                                      additional_headers=headers, open_timeout=GUARD):  # fmt: skip
            return True
    except InvalidStatus as exc:
        assert exc.response.status_code == 401
        return False


async def test_simulator_goes_from_profile_1_to_2_to_3_with_a_certificate_the_csms_issued(
    csms: CsmsProcess, pki: Pki
) -> None:
    identity = "SIM-UPGRADE"
    plain_url = f"ws://127.0.0.1:{csms.env['PLAIN_PORT']}/ocpp"
    tls_url = f"wss://127.0.0.1:{csms.ocpp_port}/ocpp"
    async with api(csms) as client:
        assert (
            await client.post("/api/v1/stations", json={"station_id": identity, "password": PASSWORD})
        ).status_code == 201
        config = StationConfig(identity=identity, url=plain_url, version=OcppVersion.V201, password=PASSWORD,
                               ca_file=str(pki.ca.pem), reconnect_min=0.2, reconnect_max=1.0)  # fmt: skip
        async with Station(config) as st:
            await st.wait_booted(timeout=GUARD)
            assert st.settings["security_profile"] == 1

            # 1 -> 2: SetNetworkProfile to the TLS port, priority, reset; confirmed when it is back over TLS.
            up = await client.post(f"/api/v1/stations/{identity}/security-profile/upgrade",
                                   json={"profile": 2, "csms_url": tls_url})  # fmt: skip
            assert up.status_code == 200 and up.json()["status"] == "Accepted", up.text

            async def at_2() -> bool:
                return (
                    await stored_profile(client, identity) == 2 and st.online and st.settings["security_profile"] == 2
                )

            await until(at_2, "profile 2 over TLS")
            assert st.security.url == tls_url

            # The password rotated: the station reconnects with the new one.
            reconnects = st.counters["reconnects"]
            rotated = await client.post(f"/api/v1/stations/{identity}/password/rotate", json={})
            assert rotated.json()["status"] == "Accepted", rotated.text
            new_password = st.security.password
            assert new_password != PASSWORD and 16 <= len(str(new_password)) <= 40

            async def reconnected() -> bool:
                return st.counters["reconnects"] > reconnects and st.online and st.boot_status == "Accepted"

            await until(reconnected, "back with the new password")

            # A certificate from the CSMS's CA, then 2 -> 3 on the same port.
            renewed = await client.post(f"/api/v1/stations/{identity}/certificates/renew", json={})
            assert renewed.json()["status"] == "Accepted"

            async def installed() -> bool:
                rows = (await client.get(f"/api/v1/stations/{identity}/certificates")).json()
                return bool(rows) and rows[0]["status"] == "accepted" and st.security.cert_file is not None

            await until(installed, "the certificate installed")
            up = await client.post(f"/api/v1/stations/{identity}/security-profile/upgrade",
                                   json={"profile": 3, "csms_url": tls_url})  # fmt: skip
            assert up.json()["status"] == "Accepted", up.text

            async def at_3() -> bool:
                return (
                    await stored_profile(client, identity) == 3 and st.online and st.settings["security_profile"] == 3
                )

            await until(at_3, "profile 3 with the issued certificate")
            assert st.security.credentials()[0] is None  # no password any more: the certificate is the credential
        # The lower profiles are refused now: the password over TLS, and the plain port.
        trust = client_context(str(pki.ca.pem))
        assert not await connects(tls_url, trust, new_password, identity)
        assert not await connects(plain_url, None, new_password, identity)
    log = csms.log()
    assert f"{identity}: security profile 2 confirmed" in log and f"{identity}: security profile 3 confirmed" in log


async def test_simulator_rejects_a_certificate_for_another_key_and_reports_it(csms: CsmsProcess, pki: Pki) -> None:
    identity = "SIM-BADCERT"
    config = StationConfig(identity=identity, url=f"wss://127.0.0.1:{csms.ocpp_port}/ocpp", version=OcppVersion.V16,
                           ca_file=str(pki.ca.pem))  # fmt: skip
    async with api(csms) as client, Station(config) as st:
        await st.wait_booted(timeout=GUARD)
        other = pki.ca.issue(pki.directory, identity, file_name="sim-badcert")
        sent = await client.post(f"/api/v1/stations/{identity}/call/CertificateSigned",
                                 json={"certificateChain": other.cert.read_text()})  # fmt: skip
        assert sent.json()["status"] == "Rejected"  # no CSR of ours for that key

        async def reported() -> bool:
            events = (await client.get(f"/api/v1/stations/{identity}/security-events")).json()
            return any(e["type"] == "InvalidChargePointCertificate" for e in events)

        await until(reported, "the security event")


async def test_simulator_16_from_profile_2_to_3(csms: CsmsProcess, pki: Pki) -> None:
    """1.6: ExtendedTriggerMessage for the CSR, ChangeConfiguration SecurityProfile, Reset Hard (TC_074, TC_083)."""
    identity = "SIM16-UPGRADE"
    tls_url = f"wss://127.0.0.1:{csms.ocpp_port}/ocpp"
    async with api(csms) as client:
        added = await client.post("/api/v1/stations", json={"station_id": identity, "password": PASSWORD})
        assert added.status_code == 201
        config = StationConfig(identity=identity, url=tls_url, version=OcppVersion.V16, password=PASSWORD,
                               ca_file=str(pki.ca.pem), reconnect_min=0.2, reconnect_max=1.0)  # fmt: skip
        async with Station(config) as st:
            await st.wait_booted(timeout=GUARD)
            assert st.settings["security_profile"] == 2
            assert (await client.post(f"/api/v1/stations/{identity}/certificates/renew", json={})).json()[
                "status"] == "Accepted"  # fmt: skip

            async def installed() -> bool:
                return st.security.cert_file is not None

            await until(installed, "the certificate installed")
            up = await client.post(f"/api/v1/stations/{identity}/security-profile/upgrade", json={"profile": 3})
            assert up.json()["status"] == "Accepted", up.text

            async def at_3() -> bool:
                profile = await stored_profile(client, identity)
                return profile == 3 and st.online and st.settings["security_profile"] == 3

            await until(at_3, "profile 3 with the issued certificate")
        assert not await connects(tls_url, client_context(str(pki.ca.pem)), PASSWORD, identity)
