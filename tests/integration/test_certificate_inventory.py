"""The stations' trust stores: InstallCertificate, GetInstalledCertificateIds, DeleteCertificate through
the API against ``ocppd serve``, with the ``ocpp`` package as a station that keeps a real trust store
and reports it in the hash algorithm it is set to (OCA M_01-M_05, M_12, M_17-M_21; 1.6 TC_075, TC_076).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.csms_process import CsmsProcess, run_csms
from tests.pki import Ca

GUARD = 20.0
ALGORITHMS = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}


@dataclass
class TrustStore:
    """A station's store: type -> PEMs; answers in ``algorithm``; ``fail`` makes it answer Failed."""

    algorithm: str = "SHA256"
    fail: bool = False
    certificates: dict[str, list[str]] = field(default_factory=dict)

    def hash_of(self, text: str) -> dict[str, str]:
        certificate = x509.load_pem_x509_certificate(text.encode())
        algorithm = ALGORITHMS[self.algorithm]()
        request = ocsp.OCSPRequestBuilder().add_certificate(certificate, certificate, algorithm).build()
        return {"hash_algorithm": self.algorithm, "issuer_name_hash": request.issuer_name_hash.hex(),
                "issuer_key_hash": request.issuer_key_hash.hex(),
                "serial_number": f"{certificate.serial_number:x}"}  # fmt: skip

    def install(self, kind: str, text: str) -> str:
        if self.fail:
            return "Failed"
        self.certificates.setdefault(kind, []).append(text)
        return "Accepted"

    def delete(self, hashed: dict[str, str]) -> str:
        if self.fail:
            return "Failed"
        for certificates in self.certificates.values():
            for text in certificates:
                if self.hash_of(text) == hashed:  # exactly what was reported (TC_076)
                    certificates.remove(text)
                    return "Accepted"
        return "NotFound"


class TrustStore2x:
    """The 2.x handlers (2.0.1 and 2.1 alike) over a TrustStore."""

    store: TrustStore

    @on("InstallCertificate")
    async def on_install(self, certificate_type: str, certificate: str, **_: Any) -> result201.InstallCertificate:
        return result201.InstallCertificate(status=self.store.install(certificate_type, certificate))

    @on("GetInstalledCertificateIds")
    async def on_get_ids(  # V2GCertificateChain entries carry the sub-CAs as children (M_15)
        self, certificate_type: list[str] | None = None, **_: Any
    ) -> result201.GetInstalledCertificateIds:
        chain = []
        for kind, texts in self.store.certificates.items():
            if certificate_type and kind not in certificate_type:
                continue
            for text in texts:
                entry = {"certificate_type": kind, "certificate_hash_data": self.store.hash_of(text)}
                if kind == "V2GCertificateChain":
                    entry["child_certificate_hash_data"] = [self.store.hash_of(text)]
                chain.append(entry)
        if not chain:
            return result201.GetInstalledCertificateIds(status="NotFound")
        return result201.GetInstalledCertificateIds(status="Accepted", certificate_hash_data_chain=chain)

    @on("DeleteCertificate")
    async def on_delete(self, certificate_hash_data: dict[str, str], **_: Any) -> result201.DeleteCertificate:
        return result201.DeleteCertificate(status=self.store.delete(certificate_hash_data))


class Station201(TrustStore2x, ChargePoint201):
    def __init__(self, identity: str, connection: Any, store: TrustStore) -> None:
        super().__init__(identity, connection)
        self.store = store


class Station21(TrustStore2x, ChargePoint21):
    def __init__(self, identity: str, connection: Any, store: TrustStore) -> None:
        super().__init__(identity, connection)
        self.store = store


class Station16(ChargePoint16):
    def __init__(self, identity: str, connection: Any, store: TrustStore) -> None:
        super().__init__(identity, connection)
        self.store = store

    @on("InstallCertificate")
    async def on_install(self, certificate_type: str, certificate: str, **_: Any) -> result16.InstallCertificate:
        return result16.InstallCertificate(status=self.store.install(certificate_type, certificate))

    @on("GetInstalledCertificateIds")
    async def on_get_ids(self, certificate_type: str, **_: Any) -> result16.GetInstalledCertificateIds:
        hashes_ = [self.store.hash_of(text) for text in self.store.certificates.get(certificate_type, [])]
        if not hashes_:
            return result16.GetInstalledCertificateIds(status="NotFound")
        return result16.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=hashes_)

    @on("DeleteCertificate")
    async def on_delete(self, certificate_hash_data: dict[str, str], **_: Any) -> result16.DeleteCertificate:
        return result16.DeleteCertificate(status=self.store.delete(certificate_hash_data))


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("roots")
    return {name: Ca.create(directory, name).pem.read_text() for name in ("root-1", "root-2", "mo-root")}


@pytest.fixture(scope="module")
def csms(tmp_path_factory: pytest.TempPathFactory, roots: dict[str, str]) -> Iterator[CsmsProcess]:
    directory = tmp_path_factory.mktemp("inventory")
    (directory / "mo-root.pem").write_text(roots["mo-root"])
    env = {"OCPPD_CA__STATION_ROOTS": f"MORootCertificate:{directory / 'mo-root.pem'}"}
    with run_csms(directory, extra_env=env) as server:
        yield server


def api(server: CsmsProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http_url, headers={"Authorization": f"Bearer {server.admin_token}"},
                             timeout=GUARD)  # fmt: skip


@asynccontextmanager
async def station(
    server: CsmsProcess, identity: str, store: TrustStore, version: str = "ocpp2.0.1"
) -> AsyncIterator[Any]:
    cls = {"ocpp1.6": Station16, "ocpp2.1": Station21}.get(version, Station201)
    async with booted(server, identity, version, lambda ws: cls(identity, ws, store)) as cp:
        yield cp


@asynccontextmanager
async def booted(server: CsmsProcess, identity: str, version: str, make: Callable[[Any], Any]) -> AsyncIterator[Any]:
    """Connect, run the ``ocpp`` charge point ``make(websocket)`` and boot it; stop it on exit."""
    async with websockets.connect(f"{server.ws_url}/{identity}", subprotocols=[version], open_timeout=GUARD) as ws:
        cp = make(ws)
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


async def install(client: httpx.AsyncClient, identity: str, kind: str, text: str) -> httpx.Response:
    return await client.post(f"/api/v1/stations/{identity}/certificates/install",
                             json={"certificate_type": kind, "certificate": text})  # fmt: skip


async def refresh(client: httpx.AsyncClient, identity: str, *types: str) -> dict[str, Any]:
    answer = await client.post(f"/api/v1/stations/{identity}/certificates/installed/refresh",
                               json={"certificate_types": list(types)})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.mark.parametrize(("case", "kind"), [("m_01", "CSMSRootCertificate"), ("m_02", "ManufacturerRootCertificate"),
                                            ("m_03", "V2GRootCertificate"), ("m_04", "MORootCertificate")])  # fmt: skip
async def test_tc_m_01_to_m_04_install_ca_certificate(
    csms: CsmsProcess, roots: dict[str, str], case: str, kind: str
) -> None:
    identity = f"INV-{case}"
    store = TrustStore()
    async with api(csms) as client, station(csms, identity, store):
        answer = await install(client, identity, kind, roots["root-1"])
        assert answer.status_code == 200 and answer.json()["status"] == "Accepted", answer.text
        rows = (await client.get(f"/api/v1/stations/{identity}/certificates/installed")).json()
    assert store.certificates == {kind: [roots["root-1"]]}
    (row,) = rows
    assert row["certificate_type"] == kind and row["source"] == "installed" and "root-1" in row["subject"]
    assert row["not_after"]


async def test_tc_m_05_install_failed_and_bad_certificates_refused_before_sending(
    csms: CsmsProcess, roots: dict[str, str]
) -> None:
    identity = "INV-M05"
    store = TrustStore(fail=True)
    async with api(csms) as client, station(csms, identity, store):
        answer = await install(client, identity, "CSMSRootCertificate", roots["root-1"])
        assert answer.json()["status"] == "Failed"
        bad = await install(
            client, identity, "CSMSRootCertificate", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"
        )
        assert bad.status_code == 400 and "certificate" in bad.json()["detail"]
        two = await install(client, identity, "CSMSRootCertificate", roots["root-1"] + roots["root-2"])
        assert two.status_code == 400
        assert (await client.get(f"/api/v1/stations/{identity}/certificates/installed")).json() == []


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
async def test_tc_m_12_m_20_report_in_every_hash_algorithm_then_delete_with_exactly_that(
    csms: CsmsProcess, roots: dict[str, str], algorithm: str
) -> None:
    identity = f"INV-M12-{algorithm}"
    store = TrustStore(algorithm=algorithm)
    async with api(csms) as client, station(csms, identity, store):
        assert (await install(client, identity, "CSMSRootCertificate", roots["root-1"])).json()["status"] == "Accepted"
        report = await refresh(client, identity, "CSMSRootCertificate")
        (row,) = report["certificates"]
        assert row["hash_algorithm"] == algorithm and row["source"] == "reported"
        assert "root-1" in row["subject"]  # matched with what the CSMS installed, in the station's algorithm
        deleted = await client.delete(f"/api/v1/stations/{identity}/certificates/installed/{row['id']}")
        assert deleted.json()["status"] == "Accepted", deleted.text
        assert store.certificates == {"CSMSRootCertificate": []}
        assert (await client.get(f"/api/v1/stations/{identity}/certificates/installed")).json() == []


async def test_tc_m_17_m_18_m_19_types_all_and_not_found(csms: CsmsProcess, roots: dict[str, str]) -> None:
    identity = "INV-M17"
    store = TrustStore()
    async with api(csms) as client, station(csms, identity, store):
        assert (await refresh(client, identity))["status"] == "NotFound"  # M_19
        await install(client, identity, "CSMSRootCertificate", roots["root-1"])
        await install(client, identity, "ManufacturerRootCertificate", roots["root-2"])
        await install(client, identity, "MORootCertificate", roots["mo-root"])
        both = await refresh(client, identity, "CSMSRootCertificate", "ManufacturerRootCertificate")  # M_17
        assert sorted(r["certificate_type"] for r in both["certificates"] if r["source"] == "reported") == [
            "CSMSRootCertificate", "ManufacturerRootCertificate"]  # fmt: skip
        every = await refresh(client, identity)  # M_18: certificateType omitted
        assert len(every["certificates"]) == 3 and all(r["source"] == "reported" for r in every["certificates"])


async def test_tc_m_21_delete_failed_keeps_the_entry(csms: CsmsProcess, roots: dict[str, str]) -> None:
    identity = "INV-M21"
    store = TrustStore()
    async with api(csms) as client, station(csms, identity, store):
        await install(client, identity, "CSMSRootCertificate", roots["root-1"])
        (row,) = (await refresh(client, identity))["certificates"]
        store.fail = True
        assert (await client.delete(f"/api/v1/stations/{identity}/certificates/installed/{row['id']}")).json()[
            "status"] == "Failed"  # fmt: skip
        assert len((await client.get(f"/api/v1/stations/{identity}/certificates/installed")).json()) == 1
        assert (await client.delete(f"/api/v1/stations/{identity}/certificates/installed/999999")).status_code == 404


@pytest.mark.parametrize(("case", "kind"), [("tc_075_1", "ManufacturerRootCertificate"),
                                            ("tc_075_2", "CSMSRootCertificate")])  # fmt: skip
async def test_tc_075_076_install_list_delete_on_16(
    csms: CsmsProcess, roots: dict[str, str], case: str, kind: str
) -> None:
    identity = f"INV-{case}"
    store = TrustStore(algorithm="SHA384")
    v16_name = {"CSMSRootCertificate": "CentralSystemRootCertificate"}.get(kind, kind)
    async with api(csms) as client, station(csms, identity, store, "ocpp1.6"):
        assert (await install(client, identity, kind, roots["root-2"])).json()["status"] == "Accepted"
        assert store.certificates == {v16_name: [roots["root-2"]]}
        (row,) = (await refresh(client, identity, kind))["certificates"]
        assert row["certificate_type"] == kind and row["hash_algorithm"] == "SHA384"
        deleted = await client.delete(f"/api/v1/stations/{identity}/certificates/installed/{row['id']}")  # TC_076
        assert deleted.json()["status"] == "Accepted"
        v2g = await install(client, identity, "V2GRootCertificate", roots["root-1"])
        assert v2g.status_code == 400  # 1.6 has no V2G root


async def test_sync_installs_the_trust_set(csms: CsmsProcess, roots: dict[str, str], tmp_path: Path) -> None:
    identity = "INV-SYNC"
    store = TrustStore()
    async with api(csms) as client, station(csms, identity, store):
        trust = (await client.get("/api/v1/trust-set")).json()
        assert [t["certificate_type"] for t in trust] == [
            "CSMSRootCertificate",
            "V2GRootCertificate",
            "MORootCertificate",
        ]
        first = (await client.post(f"/api/v1/stations/{identity}/certificates/sync")).json()
        assert [r["status"] for r in first] == ["Accepted", "Accepted", "Accepted"]
        again = (await client.post(f"/api/v1/stations/{identity}/certificates/sync")).json()
        assert [r["status"] for r in again] == ["present", "present", "present"]
        root = x509.load_pem_x509_certificate((await client.get("/ca/csms-root.pem")).content)
    assert store.certificates["CSMSRootCertificate"] == [root.public_bytes(serialization.Encoding.PEM).decode()]
    assert store.certificates["MORootCertificate"] == [roots["mo-root"]]


@pytest.mark.parametrize(
    ("case", "kind"),
    [("m_13", "ManufacturerRootCertificate"), ("m_14", "V2GRootCertificate"), ("m_16", "MORootCertificate"),
     ("m_15", "V2GCertificateChain")],
)  # fmt: skip
async def test_tc_m_13_to_m_16_retrieve_each_type(
    csms: CsmsProcess, roots: dict[str, str], case: str, kind: str
) -> None:
    identity = f"INV-{case}"
    store = TrustStore(certificates={kind: [roots["root-1"]]})
    async with api(csms) as client, station(csms, identity, store):
        (row,) = (await refresh(client, identity, kind))["certificates"]
    assert row["certificate_type"] == kind
    if kind == "V2GCertificateChain":
        assert row["children"] and row["children"][0]["serialNumber"] == row["serial_number"]


async def test_tc_m_101_oem_root_needs_2_1(csms: CsmsProcess, roots: dict[str, str]) -> None:
    async with api(csms) as client:
        async with station(csms, "INV-M101-201", TrustStore()):
            refused = await install(client, "INV-M101-201", "OEMRootCertificate", roots["root-1"])
            assert refused.status_code == 400 and "2.1" in refused.json()["detail"]
        store = TrustStore()
        async with station(csms, "INV-M101", store, "ocpp2.1"):
            assert (await install(client, "INV-M101", "OEMRootCertificate", roots["root-1"])).json()[
                "status"
            ] == "Accepted"
    assert store.certificates == {"OEMRootCertificate": [roots["root-1"]]}


async def test_tc_078_install_rejected_then_the_station_reports_it(csms: CsmsProcess, roots: dict[str, str]) -> None:
    identity = "INV-TC078"
    store = TrustStore(fail=True)
    async with api(csms) as client, station(csms, identity, store, "ocpp1.6") as cp:
        answer = await install(client, identity, "CSMSRootCertificate", roots["root-1"])
        assert answer.json()["status"] == "Failed"
        event = call16.SecurityEventNotification(type="InvalidCentralSystemCertificate",
                                                 timestamp="2026-01-01T00:00:00Z", tech_info="rejected")  # fmt: skip
        assert await cp.call(event) is not None
        stored = (await client.get(f"/api/v1/stations/{identity}/security-events")).json()
    assert stored[0]["type"] == "InvalidCentralSystemCertificate" and stored[0]["severity"] == "info"
