"""Per-station security profiles and Basic-auth password rotation, end to end: ``ocppd serve`` over TLS
as a real process, the ``ocpp`` package as the station (OCA A_09, A_10, A_19; 1.6 TC_073, TC_083).

One TLS port serves stations with a password and stations with a client certificate; the operator
rotates passwords and moves stations up a profile through the API, and the lower profile is refused
once the station has come back with the higher one.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.exceptions import InvalidStatus

from ocppd.transport.tls import client_context
from tests.csms_process import CsmsProcess, run_csms
from tests.pki import Pki, private_key_pem

GUARD = 20.0  # only turns a hang into a failure
PASSWORD = "the-first-password-16"


@dataclass
class Seen:
    """What the station was told, and how it answers."""

    accept: bool = True
    passwords: list[str] = field(default_factory=list)
    settings: list[tuple[str, str]] = field(default_factory=list)
    network_profiles: list[dict[str, Any]] = field(default_factory=list)
    resets: list[str] = field(default_factory=list)
    key: Any = None
    chain: str = ""
    installed: asyncio.Event = field(default_factory=asyncio.Event)

    def certificate_files(self, directory: Path, name: str) -> tuple[str, str]:
        cert, key = directory / f"{name}.pem", directory / f"{name}.key"
        cert.write_text(self.chain)
        key.write_bytes(private_key_pem(self.key))
        return str(cert), str(key)


def make_csr(identity: str, key: Any) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


class Station201(ChargePoint201):
    def __init__(self, identity: str, connection: Any, seen: Seen) -> None:
        super().__init__(identity, connection)
        self.seen = seen

    @on("SetVariables")
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> result201.SetVariables:
        results = []
        for d in set_variable_data:
            name = (d["component"]["name"], d["variable"]["name"])
            self.seen.settings.append((".".join(name), d["attribute_value"]))
            if name == ("SecurityCtrlr", "BasicAuthPassword"):
                self.seen.passwords.append(d["attribute_value"])
            status = "Accepted" if self.seen.accept else "Rejected"
            results.append({"attribute_status": status, "component": d["component"], "variable": d["variable"]})
        return result201.SetVariables(set_variable_result=results)

    @on("SetNetworkProfile")
    async def on_set_network_profile(
        self, configuration_slot: int, connection_data: dict[str, Any], **_: Any
    ) -> result201.SetNetworkProfile:
        self.seen.network_profiles.append({"slot": configuration_slot, **connection_data})
        return result201.SetNetworkProfile(status="Accepted")

    @on("Reset")
    async def on_reset(self, type: str, **_: Any) -> result201.Reset:
        self.seen.resets.append(type)
        return result201.Reset(status="Accepted")

    @on("TriggerMessage")
    async def on_trigger(self, requested_message: str, **_: Any) -> result201.TriggerMessage:
        return result201.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def send_csr(self, requested_message: str, **_: Any) -> None:
        self.seen.key = ec.generate_private_key(ec.SECP256R1())
        await self.call(call201.SignCertificate(csr=make_csr(self.id, self.seen.key)))

    @on("CertificateSigned")
    async def on_certificate_signed(self, certificate_chain: str, **_: Any) -> result201.CertificateSigned:
        self.seen.chain = certificate_chain
        self.seen.installed.set()
        return result201.CertificateSigned(status="Accepted")


class Station16(ChargePoint16):
    def __init__(self, identity: str, connection: Any, seen: Seen) -> None:
        super().__init__(identity, connection)
        self.seen = seen

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key: str, value: str, **_: Any) -> result16.ChangeConfiguration:
        self.seen.settings.append((key, value))
        if key == "AuthorizationKey":
            self.seen.passwords.append(bytes.fromhex(value).decode())  # hex, as the whitepaper says
        return result16.ChangeConfiguration(status="Accepted" if self.seen.accept else "Rejected")

    @on("Reset")
    async def on_reset(self, type: str, **_: Any) -> result16.Reset:
        self.seen.resets.append(type)
        return result16.Reset(status="Accepted")

    @on("ExtendedTriggerMessage")
    async def on_trigger(self, requested_message: str, **_: Any) -> result16.ExtendedTriggerMessage:
        return result16.ExtendedTriggerMessage(status="Accepted")

    @after("ExtendedTriggerMessage")
    async def send_csr(self, requested_message: str, **_: Any) -> None:
        self.seen.key = ec.generate_private_key(ec.SECP256R1())
        await self.call(call16.SignCertificate(csr=make_csr(self.id, self.seen.key)))

    @on("CertificateSigned")
    async def on_certificate_signed(self, certificate_chain: str, **_: Any) -> result16.CertificateSigned:
        self.seen.chain = certificate_chain
        self.seen.installed.set()
        return result16.CertificateSigned(status="Accepted")


CSMS_URL = "wss://127.0.0.1:1/ocpp/"  # what the station is told in SetNetworkProfile (the test reconnects itself)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def csms(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    env = {
        "OCPPD_OCPP__TLS_CERT": str(pki.server.cert),
        "OCPPD_OCPP__TLS_KEY": str(pki.server.key),
        "OCPPD_OCPP__CSMS_URL": CSMS_URL,
    }
    with run_csms(tmp_path_factory.mktemp("profiles"), extra_env=env) as server:
        yield server


def api(server: CsmsProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http_url, headers={"Authorization": f"Bearer {server.admin_token}"},
                             timeout=GUARD)  # fmt: skip


def basic(identity: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()}


@asynccontextmanager
async def connected(
    server: CsmsProcess,
    identity: str,
    cls: type,
    seen: Seen,
    context: ssl.SSLContext,
    password: str | None = None,
    version: str = "ocpp2.0.1",
) -> AsyncIterator[Any]:
    headers = basic(identity, password) if password else None
    async with websockets.connect(f"wss://127.0.0.1:{server.ocpp_port}/ocpp/{identity}", subprotocols=[version],
                                  ssl=context, additional_headers=headers, open_timeout=GUARD) as ws:  # fmt: skip
        station = cls(identity, ws, seen)
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


async def refused(server: CsmsProcess, identity: str, context: ssl.SSLContext, password: str | None) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connected(server, identity, Station201, Seen(), context, password):
            pass
    return int(info.value.response.status_code)


async def add_station(client: httpx.AsyncClient, identity: str) -> None:
    answer = await client.post("/api/v1/stations", json={"station_id": identity, "password": PASSWORD})
    assert answer.status_code == 201, answer.text


async def station_profile(client: httpx.AsyncClient, identity: str) -> int | None:
    answer = await client.get(f"/api/v1/stations/{identity}")
    assert answer.status_code == 200, answer.text
    return answer.json().get("security_profile")  # type: ignore[no-any-return]


async def wait_profile(client: httpx.AsyncClient, identity: str, profile: int) -> None:
    deadline = asyncio.get_running_loop().time() + GUARD
    while asyncio.get_running_loop().time() < deadline:
        if await station_profile(client, identity) == profile:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"{identity}: profile {profile} not stored")


@pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp1.6"])
async def test_tc_a_09_tc_073_password_rotation_accepted(csms: CsmsProcess, pki: Pki, version: str) -> None:
    identity = f"ROTATE-{version[-3:]}"
    trust = client_context(str(pki.ca.pem))
    cls = Station16 if version == "ocpp1.6" else Station201
    seen = Seen()
    async with api(csms) as client:
        await add_station(client, identity)
        async with connected(csms, identity, cls, seen, trust, PASSWORD, version):
            answer = await client.post(f"/api/v1/stations/{identity}/password/rotate", json={})
            assert answer.status_code == 200 and answer.json()["status"] == "Accepted", answer.text
        (new,) = seen.passwords
        assert 16 <= len(new) <= 40 and new != PASSWORD
        if version == "ocpp1.6":
            assert seen.settings == [("AuthorizationKey", new.encode().hex())]
        # The station reconnects at once with the new password; the old one is still accepted for the
        # switch-over window; a wrong one is not.
        async with connected(csms, identity, cls, Seen(), trust, new, version):
            pass
        async with connected(csms, identity, cls, Seen(), trust, PASSWORD, version):
            pass
        assert await refused(csms, identity, trust, "not-the-password-at-all") == 401
        # The operator may choose the password, within the spec's 16-40 characters.
        async with connected(csms, identity, cls, seen, trust, new, version):
            chosen = await client.post(f"/api/v1/stations/{identity}/password/rotate",
                                       json={"password": "operator-chosen-password"})  # fmt: skip
            assert chosen.json()["status"] == "Accepted"
            short = await client.post(f"/api/v1/stations/{identity}/password/rotate", json={"password": "short"})
            assert short.status_code == 400 and "password" in short.text
        async with connected(csms, identity, cls, Seen(), trust, "operator-chosen-password", version):
            pass


async def test_tc_a_10_password_rotation_rejected_keeps_the_old_password(csms: CsmsProcess, pki: Pki) -> None:
    identity = "ROTATE-REJECTED"
    trust = client_context(str(pki.ca.pem))
    seen = Seen(accept=False)
    async with api(csms) as client:
        await add_station(client, identity)
        async with connected(csms, identity, Station201, seen, trust, PASSWORD):
            answer = await client.post(f"/api/v1/stations/{identity}/password/rotate", json={})
            assert answer.json()["status"] == "Rejected", answer.text
        assert await refused(csms, identity, trust, seen.passwords[0]) == 401  # never stored
        async with connected(csms, identity, Station201, Seen(), trust, PASSWORD):
            pass
    assert f"{identity}: the station refused the new Basic-auth password (Rejected); the old one stays" in csms.log()


@pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp1.6"])
async def test_tc_a_19_tc_083_upgrade_to_profile_3_then_the_lower_profile_is_refused(
    csms: CsmsProcess, pki: Pki, tmp_path: Path, version: str
) -> None:
    identity = f"UPGRADE-{version[-3:]}"
    trust = client_context(str(pki.ca.pem))
    cls = Station16 if version == "ocpp1.6" else Station201
    seen = Seen()
    async with api(csms) as client:
        await add_station(client, identity)
        async with connected(csms, identity, cls, seen, trust, PASSWORD, version):
            # Profile 2 -> 3 needs a station certificate first (A_19: RenewChargingStationCertificate).
            renewed = await client.post(f"/api/v1/stations/{identity}/certificates/renew", json={})
            assert renewed.json()["status"] == "Accepted"
            await asyncio.wait_for(seen.installed.wait(), GUARD)
            upgrade = await client.post(f"/api/v1/stations/{identity}/security-profile/upgrade", json={"profile": 3})
            assert upgrade.status_code == 200 and upgrade.json()["status"] == "Accepted", upgrade.text
        if version == "ocpp1.6":
            assert ("SecurityProfile", "3") in seen.settings and seen.resets == ["Hard"]
        else:
            (network,) = seen.network_profiles
            assert network["security_profile"] == 3 and network["ocpp_csms_url"] == CSMS_URL
            assert network["ocpp_transport"] == "JSON" and network["ocpp_version"] == "OCPP20"
            assert ("OCPPCommCtrlr.NetworkConfigurationPriority", str(network["slot"])) in seen.settings
            assert seen.resets == ["Immediate"]
        assert await station_profile(client, identity) == 1  # not confirmed before the reconnect
        cert, key = seen.certificate_files(tmp_path, identity)
        with_certificate = client_context(str(pki.ca.pem), cert, key)
        async with connected(csms, identity, cls, Seen(), with_certificate, version=version):
            await wait_profile(client, identity, 3)
        # The old profile (password over TLS) is refused from now on; the new one still works.
        assert await refused(csms, identity, trust, PASSWORD) == 401
        async with connected(csms, identity, cls, Seen(), with_certificate, version=version):
            pass
        again = await client.post(f"/api/v1/stations/{identity}/security-profile/upgrade", json={"profile": 2})
        assert again.status_code == 409  # offline now; and the profile only goes up
        lower = await client.put(f"/api/v1/stations/{identity}/security-profile", json={"profile": 1})
        assert lower.status_code == 409 and "force" in lower.json()["detail"]
    assert f"{identity}: security profile 3 confirmed" in csms.log()
    assert f"{identity}: refused with 401 (security profile 3: a client certificate is required)" in csms.log()


async def test_profile_only_goes_up_and_refusals_are_counted(csms: CsmsProcess, pki: Pki) -> None:
    identity = "ONLY-UP"
    trust = client_context(str(pki.ca.pem))
    async with api(csms) as client:
        await add_station(client, identity)
        async with connected(csms, identity, Station201, Seen(), trust, PASSWORD):
            down = await client.post(f"/api/v1/stations/{identity}/security-profile/upgrade", json={"profile": 1})
            assert down.status_code == 400 and "only go up" in down.json()["detail"]
        assert await refused(csms, identity, trust, None) == 401
        set_2 = await client.put(f"/api/v1/stations/{identity}/security-profile", json={"profile": 2})
        assert set_2.status_code == 200
        forced = await client.put(f"/api/v1/stations/{identity}/security-profile", json={"profile": 0, "force": True})
        assert forced.status_code == 200
        metrics = (await client.get("/metrics")).text
    assert 'ocppd_connections_refused_total{reason="password_required"}' in metrics


async def test_tc_a_01_a_02_a_03_tc_085_basic_authentication(csms: CsmsProcess, pki: Pki) -> None:
    identity = "BASIC-AUTH"
    trust = client_context(str(pki.ca.pem))
    async with api(csms) as client:
        await add_station(client, identity)
        for version, cls in (("ocpp2.0.1", Station201), ("ocpp1.6", Station16)):  # A_01, TC_085
            async with connected(csms, identity, cls, Seen(), trust, PASSWORD, version):
                pass
    # A_02: a Basic user name that is not the station id, with the right password
    headers = {"Authorization": "Basic " + base64.b64encode(f"SOMEONE:{PASSWORD}".encode()).decode()}
    with pytest.raises(InvalidStatus) as wrong_user:
        async with websockets.connect(f"wss://127.0.0.1:{csms.ocpp_port}/ocpp/{identity}", subprotocols=["ocpp2.0.1"],
                                      ssl=trust, additional_headers=headers, open_timeout=GUARD):  # fmt: skip
            pass
    assert wrong_user.value.response.status_code == 401
    # A_03 (and TC_085's negative): no Authorization header, then a wrong password
    assert await refused(csms, identity, trust, None) == 401
    assert await refused(csms, identity, trust, "a-wrong-password-16") == 401


async def test_tc_a_08_invalid_client_certificates_are_refused_then_a_valid_one_works(
    csms: CsmsProcess, pki: Pki, tmp_path: Path
) -> None:
    identity = "A08-CS"
    seen = Seen()
    trust = client_context(str(pki.ca.pem))
    async with api(csms) as client, connected(csms, identity, Station201, seen, trust):
        assert (await client.post(f"/api/v1/stations/{identity}/certificates/renew", json={})).status_code == 200
        await asyncio.wait_for(seen.installed.wait(), GUARD)
    # unknown CA: the TLS handshake fails (no HTTP status)
    foreign = pki.other_ca.issue(pki.directory, identity, file_name="a08-foreign")
    with pytest.raises(Exception) as unknown_ca:
        async with connected(csms, identity, Station201, Seen(), client_context(str(pki.ca.pem), str(foreign.cert),
                                                                                str(foreign.key))):  # fmt: skip
            pass
    assert not isinstance(unknown_ca.value, InvalidStatus | TimeoutError), repr(unknown_ca.value)
    # CN is not the station id: a certificate the CSMS issued to another station
    cert, key = seen.certificate_files(tmp_path, identity)
    with pytest.raises(InvalidStatus) as wrong_cn:
        async with websockets.connect(f"wss://127.0.0.1:{csms.ocpp_port}/ocpp/A08-OTHER", subprotocols=["ocpp2.0.1"],
                                      ssl=client_context(str(pki.ca.pem), cert, key), open_timeout=GUARD):  # fmt: skip
            pass
    assert wrong_cn.value.response.status_code == 403
    # then the valid certificate
    async with connected(csms, identity, Station201, Seen(), client_context(str(pki.ca.pem), cert, key)):
        pass


async def test_tc_073_the_other_authorization_key_reading_per_station(csms: CsmsProcess, pki: Pki) -> None:
    """A 1.6 charger that takes AuthorizationKey as the password itself: the operator says so per station."""
    identity = "ROTATE-PLAIN"
    trust = client_context(str(pki.ca.pem))

    class PlainStation(Station16):
        @on("ChangeConfiguration")
        async def on_change_configuration(self, key: str, value: str, **_: Any) -> result16.ChangeConfiguration:
            self.seen.settings.append((key, value))
            return result16.ChangeConfiguration(status="Accepted")

    seen = Seen()
    async with api(csms) as client:
        await add_station(client, identity)
        answer = await client.put(f"/api/v1/stations/{identity}/authorization-key-encoding", json={"encoding": "plain"})
        assert answer.status_code == 200, answer.text
        async with connected(csms, identity, PlainStation, seen, trust, PASSWORD, "ocpp1.6"):
            assert (await client.post(f"/api/v1/stations/{identity}/password/rotate", json={})).json()[
                "status"
            ] == "Accepted"
        ((key, value),) = seen.settings
        assert key == "AuthorizationKey" and 16 <= len(value) <= 40  # the password itself, not hex
        async with connected(csms, identity, PlainStation, Seen(), trust, value, "ocpp1.6"):
            pass


@pytest.fixture(scope="module")
def short(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    """A server with a 1 s upgrade timeout and a 1 s password switch-over."""
    env = {"OCPPD_OCPP__TLS_CERT": str(pki.server.cert), "OCPPD_OCPP__TLS_KEY": str(pki.server.key),
           "OCPPD_OCPP__CSMS_URL": CSMS_URL, "OCPPD_OCPP__PROFILE_UPGRADE_TIMEOUT_S": "1",
           "OCPPD_OCPP__PASSWORD_SWITCH_OVER_S": "1"}  # fmt: skip
    with run_csms(tmp_path_factory.mktemp("short"), extra_env=env) as server:
        yield server


async def test_an_upgrade_not_confirmed_in_time_is_reported_and_changes_nothing(short: CsmsProcess, pki: Pki) -> None:
    server = short
    identity = "UPGRADE-LOST"
    trust = client_context(str(pki.ca.pem))
    async with api(server) as client:
        await add_station(client, identity)
        async with connected(server, identity, Station201, Seen(), trust, PASSWORD):
            up = await client.post(f"/api/v1/stations/{identity}/security-profile/upgrade", json={"profile": 2})
            assert up.json()["status"] == "Accepted"
        # The station does not come back in time (here: it stays away until the upgrade has expired).
        deadline = asyncio.get_running_loop().time() + GUARD
        while "security profile 2 not confirmed in time" not in server.log():
            assert asyncio.get_running_loop().time() < deadline, server.log()[-2000:]
            await asyncio.sleep(0.2)
        assert await station_profile(client, identity) == 1
        async with connected(server, identity, Station201, Seen(), trust, PASSWORD):
            pass  # nothing was confirmed: the station's own profile still applies
    assert f"{identity}: security profile 2 not confirmed in time; the station stays at profile 1" in server.log()


async def test_the_old_password_ends_with_the_switch_over_window(short: CsmsProcess, pki: Pki) -> None:
    identity = "ROTATE-WINDOW"
    trust = client_context(str(pki.ca.pem))
    seen = Seen()
    async with api(short) as client:
        await add_station(client, identity)
        async with connected(short, identity, Station201, seen, trust, PASSWORD):
            assert (await client.post(f"/api/v1/stations/{identity}/password/rotate", json={})).json()[
                "status"] == "Accepted"  # fmt: skip
    deadline = asyncio.get_running_loop().time() + GUARD
    while not await refused_or_none(short, identity, trust, PASSWORD):
        assert asyncio.get_running_loop().time() < deadline, "the old password was still accepted"
        await asyncio.sleep(0.2)
    async with connected(short, identity, Station201, Seen(), trust, seen.passwords[0]):
        pass


async def refused_or_none(server: CsmsProcess, identity: str, context: ssl.SSLContext, password: str) -> bool:
    try:
        async with connected(server, identity, Station201, Seen(), context, password):
            return False
    except InvalidStatus as exc:
        assert exc.response.status_code == 401
        return True
