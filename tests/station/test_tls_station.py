"""The station side of TLS: client certificates (security profile 3) in templates, expand and Station."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station import Station
from ocppd.station.template import TemplateError, expand, load_template
from ocppd.transport.tls import server_context
from tests.pki import Pki
from tests.station.conftest import fast_config
from tests.station.csms import OcppCsms


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = Pki.create(tmp_path_factory.mktemp("pki"))
    for identity in ("TLS-1", "TLS-2", "CP-1"):
        pki.station(identity)
    return pki


def template(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


def test_template_client_certificates_per_station(pki: Pki, tmp_path: Path) -> None:
    d = pki.directory
    path = template(
        tmp_path,
        f"""
stations:
  - id: "TLS-{{n}}"
    count: 2
    ca_file: {pki.ca.pem}
    cert: "{d}/{{id}}.pem"
    key: "{d}/{{id}}.key"
  - id: "PLAIN-{{n}}"
    ca_file: {pki.ca.pem}
""",
    )
    configs = expand(load_template(path), "wss://127.0.0.1:1/ocpp")
    assert [c.cert_file for c in configs] == [f"{d}/TLS-1.pem", f"{d}/TLS-2.pem", None]
    assert [c.key_file for c in configs] == [f"{d}/TLS-1.key", f"{d}/TLS-2.key", None]
    contexts = [c.ssl_context for c in configs]
    assert all(isinstance(c, ssl.SSLContext) for c in contexts)
    assert len({id(c) for c in contexts}) == 3  # one per certificate; the plain group has its own


def test_command_line_files_win_and_stations_share_a_context(pki: Pki, tmp_path: Path) -> None:
    path = template(tmp_path, 'stations:\n  - id: "X-{n}"\n    count: 3\n    cert: "nowhere/{id}.pem"\n')
    configs = expand(load_template(path), "wss://h/ocpp", ca_file=str(pki.ca.pem),
                     cert=str(pki.directory / "CP-1.pem"), key=str(pki.directory / "CP-1.key"))  # fmt: skip
    assert {c.cert_file for c in configs} == {str(pki.directory / "CP-1.pem")}
    assert len({id(c.ssl_context) for c in configs}) == 1
    insecure = expand(load_template(path), "wss://h/ocpp", cert=str(pki.directory / "CP-1.pem"),
                      key=str(pki.directory / "CP-1.key"), insecure=True)  # fmt: skip
    assert insecure[0].ssl_context is not None and insecure[0].ssl_context.verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ('stations:\n  - cert: "{d}/{{id}}.pem"\n', {}, r"station SIM-00001: client certificate: no such file"),
        ('stations:\n  - key: "{d}/CP-1.key"\n', {}, r"field 'stations\.0\.key': needs 'cert'"),
        ("stations:\n  - id: A\n", {"key": "{d}/CP-1.key"}, r"--key needs --cert"),
        ("stations:\n  - id: CP-1\n", {"cert": "{d}/CP-1.pem", "key": "{d}/TLS-1.key"}, r"does not match"),
        ("stations:\n  - id: A\n", {"ca_file": "{d}/CP-1.key"}, r"station A: CA file: no PEM certificate"),
    ],
)
def test_unusable_tls_files_are_template_errors(
    pki: Pki, tmp_path: Path, text: str, kwargs: dict[str, str], message: str
) -> None:
    d = pki.directory
    path = template(tmp_path, text.format(d=d))
    with pytest.raises(TemplateError, match=message):
        expand(load_template(path), "wss://h/ocpp", **{k: v.format(d=d) for k, v in kwargs.items()})


def test_bad_file_pattern_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"field 'stations\.0\.cert'"):
        load_template(template(tmp_path, 'stations:\n  - cert: "{station}.pem"\n'))


async def test_station_presents_its_client_certificate(pki: Pki) -> None:
    """Against a CSMS (the ocpp package on websockets) that requires client certificates from our CA."""
    csms = OcppCsms()
    await csms.start(ssl=server_context(str(pki.server.cert), str(pki.server.key), str(pki.ca.pem)))
    try:
        url = f"wss://127.0.0.1:{csms.port}/ocpp"
        config = fast_config(
            "TLS-1",
            url,
            OcppVersion.V201,
            ca_file=str(pki.ca.pem),
            cert_file=str(pki.directory / "TLS-1.pem"),
            key_file=str(pki.directory / "TLS-1.key"),
        )
        async with Station(config) as st:  # fmt: skip
            await st.wait_booted(10)
            assert st.settings["security_profile"] == 3
        # Without the certificate the handshake fails and the station keeps retrying.
        async with Station(fast_config("TLS-2", url, OcppVersion.V201, ca_file=str(pki.ca.pem))) as st:
            with pytest.raises(TimeoutError):
                await st.wait_booted(2)
            assert st.settings["security_profile"] == 0
    finally:
        await csms.stop()
