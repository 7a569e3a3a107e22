"""TLS ends at the controller; upstream is TLS of its own; Basic auth goes through as it came or is
replaced by the password configured for the station. ``ocppd serve`` over wss:// upstream (security
profile 2), stations played by the ``ocpp`` PyPI package over wss:// to the controller."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from ocpp.v201 import call as call201

from tests.csms_process import CsmsProcess, run_csms
from tests.integration.test_smart_charging import Station201
from tests.localctl.process import ControllerProcess, run_controller
from tests.localctl.test_relay import api
from tests.pki import Pki

PASSWORD = "the-first-password-16"
CONFIGURED = "the-controller-knows-16"


def basic(identity: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()}


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.create(tmp_path / "pki")


@pytest.fixture
def csms(tmp_path: Path, pki: Pki) -> Iterator[CsmsProcess]:
    env = {"OCPPD_OCPP__TLS_CERT": str(pki.server.cert), "OCPPD_OCPP__TLS_KEY": str(pki.server.key)}
    with run_csms(tmp_path, extra_env=env) as server:
        yield server


@pytest.fixture
def controller(tmp_path: Path, pki: Pki, csms: CsmsProcess) -> Iterator[ControllerProcess]:
    config = tmp_path / "lc.toml"
    config.write_text(f'[local_controller.credentials]\n"T-2" = "{CONFIGURED}"\n')
    env = {
        "OCPPD_CONFIG": str(config),
        "OCPPD_LOCAL_CONTROLLER__TLS_CERT": str(pki.server.cert),
        "OCPPD_LOCAL_CONTROLLER__TLS_KEY": str(pki.server.key),
        "OCPPD_LOCAL_CONTROLLER__UPSTREAM_CA": str(pki.ca.pem),
    }
    with run_controller(tmp_path, f"wss://127.0.0.1:{csms.ocpp_port}", env) as lc:
        yield lc


async def boot(identity: str, lc: ControllerProcess, context: ssl.SSLContext, headers: dict[str, str] | None) -> str:
    url = f"wss://127.0.0.1:{lc.port}/ocpp/{identity}"
    async with websockets.connect(url, subprotocols=["ocpp2.0.1"], ssl=context, additional_headers=headers) as ws:
        cp = Station201(identity, ws)
        task = asyncio.create_task(cp.start())
        try:
            answer = await cp.call(
                call201.BootNotification(charging_station={"vendor_name": "ACME", "model": "X"}, reason="PowerUp")
            )
            return str(answer.status)
        finally:
            task.cancel()


async def test_tls_at_the_controller_basic_auth_passed_through_or_configured(
    pki: Pki, csms: CsmsProcess, controller: ControllerProcess
) -> None:
    async with api(csms) as http:
        for identity, password in (("T-1", PASSWORD), ("T-2", CONFIGURED), ("T-3", PASSWORD)):
            r = await http.post("/api/v1/stations", json={"station_id": identity, "password": password})
            assert r.status_code == 201, r.text
    context = ssl.create_default_context(cafile=str(pki.ca.pem))  # the stations trust the controller's certificate
    # the station's own password goes through to the CSMS, over the controller's own TLS connection
    assert await boot("T-1", controller, context, basic("T-1", PASSWORD)) == "Accepted"
    # a wrong one: the CSMS refuses the upstream connection, so the controller closes the station's
    for identity, headers in (("T-1", basic("T-1", "wrong-password-123456")), ("T-3", None)):
        url = f"wss://127.0.0.1:{controller.port}/ocpp/{identity}"
        async with websockets.connect(url, subprotocols=["ocpp2.0.1"], ssl=context, additional_headers=headers) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008, closed.value
    assert controller.metric("ocppd_lc_upstream_connects_total", outcome="refused") == 2.0
    # no password from the station (as T-3), but one configured for it: the controller sends that
    assert await boot("T-2", controller, context, None) == "Accepted"


async def test_security_profile_3_through_the_controller(tmp_path: Path, pki: Pki) -> None:
    """Stations prove their identity to the controller with their certificate (CN = identity); the
    controller connects upstream with that station's certificate, so a CSMS requiring client
    certificates (profile 3) still sees each station's own."""
    env = {
        "OCPPD_OCPP__TLS_CERT": str(pki.server.cert),
        "OCPPD_OCPP__TLS_KEY": str(pki.server.key),
        "OCPPD_OCPP__TLS_CLIENT_CA": str(pki.ca.pem),
    }
    certs = tmp_path / "station-certs"
    certs.mkdir()
    good = pki.ca.issue(certs, "P3-1")  # the station's certificate, and the controller's copy of it
    with run_csms(tmp_path, extra_env=env) as server:
        lc_env = {
            "OCPPD_LOCAL_CONTROLLER__TLS_CERT": str(pki.server.cert),
            "OCPPD_LOCAL_CONTROLLER__TLS_KEY": str(pki.server.key),
            "OCPPD_LOCAL_CONTROLLER__TLS_CLIENT_CA": str(pki.ca.pem),
            "OCPPD_LOCAL_CONTROLLER__UPSTREAM_CA": str(pki.ca.pem),
            "OCPPD_LOCAL_CONTROLLER__UPSTREAM_CERT": str(certs / "{identity}.pem"),
            "OCPPD_LOCAL_CONTROLLER__UPSTREAM_KEY": str(certs / "{identity}.key"),
        }
        with run_controller(tmp_path, f"wss://127.0.0.1:{server.ocpp_port}", lc_env) as lc:
            context = ssl.create_default_context(cafile=str(pki.ca.pem))
            context.load_cert_chain(str(good.cert), str(good.key))
            assert await boot("P3-1", lc, context, None) == "Accepted"
            # a certificate naming another station is refused by the controller before the upgrade
            with pytest.raises(websockets.InvalidStatus) as refused:
                await boot("P3-2", lc, context, None)
            assert refused.value.response.status_code == 403
            # no certificate at all: no TLS connection
            with pytest.raises((ssl.SSLError, OSError, websockets.InvalidHandshake)):
                await boot("P3-1", lc, ssl.create_default_context(cafile=str(pki.ca.pem)), None)
            # a station the controller holds no upstream certificate for is closed
            (tmp_path / "elsewhere").mkdir()
            other = pki.ca.issue(tmp_path / "elsewhere", "P3-3")
            context3 = ssl.create_default_context(cafile=str(pki.ca.pem))
            context3.load_cert_chain(str(other.cert), str(other.key))
            url = f"wss://127.0.0.1:{lc.port}/ocpp/P3-3"
            async with websockets.connect(url, subprotocols=["ocpp2.0.1"], ssl=context3) as ws:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
