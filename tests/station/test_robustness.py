"""Bad CSMS behaviour, boot retries, security profile 1, TLS, clock-aligned values."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.smart.schedule import parse_time
from ocppd.station.station import Station
from tests.station.conftest import fast_config, until
from tests.station.csms import OcppCsms


@pytest.mark.parametrize("version", [OcppVersion.V16, OcppVersion.V201], ids=lambda v: v.label)
async def test_invalid_and_unknown_requests_get_spec_errors(csms: OcppCsms, version: OcppVersion) -> None:
    ident = f"BAD{version.label}"
    v16 = version is OcppVersion.V16
    async with Station(fast_config(ident, csms.url, version)) as st:
        await st.wait_booted(5)
        await csms.wait_connected(ident)
        await csms.send_raw(ident, json.dumps([2, "b1", "Reset", {"type": "Sideways"}]))
        assert (await csms.reply_to(ident, "b1"))[2] == "PropertyConstraintViolation"
        await csms.send_raw(ident, json.dumps([2, "b2", "Reset", {}]))
        assert (await csms.reply_to(ident, "b2"))[2] == ("OccurenceConstraintViolation" if v16
                                                        else "OccurrenceConstraintViolation")  # fmt: skip
        await csms.send_raw(ident, json.dumps([2, "b3", "MakeCoffee", {}]))
        assert (await csms.reply_to(ident, "b3"))[2] == "NotImplemented"
        await csms.send_raw(ident, json.dumps([2, "b4", "GetConfiguration" if not v16 else "GetVariables", {}]))
        assert (await csms.reply_to(ident, "b4"))[2] == "NotImplemented"  # the other version's action
        await csms.send_raw(ident, "this is not json")
        await csms.send_raw(ident, json.dumps([2, "b5", "Reset", {"type": "Soft" if v16 else "Immediate"},
                                               "extra"]))  # fmt: skip
        # ... and it carries on as if nothing happened
        heartbeats = len(csms.messages(ident, "Heartbeat"))
        await csms.wait_for(ident, "Heartbeat", count=heartbeats + 1)
        assert st.online
    assert csms.errors == []


async def test_csms_that_never_answers(csms: OcppCsms) -> None:
    ident = "SILENT"
    csms.silent = {"StatusNotification", "StartTransaction"}
    config = fast_config(ident, csms.url, OcppVersion.V16, call_timeout=0.3,
                         settings={"tx_message_attempts": 2, "tx_message_retry_interval": 0})  # fmt: skip
    async with Station(config) as st:
        await st.wait_booted(5)
        st.plug_in(1)
        await st.start_transaction(1, "T")
        # the unanswered StartTransaction is retried, then given up; the station keeps working
        await until(lambda: len(csms.messages(ident, "StartTransaction")) == 2)
        await until(lambda: st.counters["dropped"] >= 1)
        heartbeats = len(csms.messages(ident, "Heartbeat"))
        await csms.wait_for(ident, "Heartbeat", count=heartbeats + 1)
        assert st.counters["errors"] >= 3  # two StartTransaction timeouts and status notifications


async def test_boot_pending_then_rejected_then_accepted(csms: OcppCsms) -> None:
    ident = "PENDING"
    csms.boot_statuses = ["Pending", "Rejected"]
    csms.heartbeat = 7
    async with Station(fast_config(ident, csms.url, OcppVersion.V16)) as st:
        await st.wait_booted(10)
        assert [a for a in csms.actions(ident) if a == "BootNotification"] == ["BootNotification"] * 3
        assert st.settings["heartbeat_interval"] == 7  # the interval from the accepting answer


async def test_basic_auth(csms: OcppCsms) -> None:
    csms.password = "s3cret-password-16chars"
    good = fast_config("AUTH1", csms.url, OcppVersion.V201, password="s3cret-password-16chars")
    bad = fast_config("AUTH2", csms.url, OcppVersion.V201, password="wrong-password-16chars")
    async with Station(good) as st_good, Station(bad) as st_bad:
        await st_good.wait_booted(5)
        await until(lambda: st_bad.counters["reconnects"] == 0 and "AUTH2" not in csms.cps)
        assert not st_bad.online
    assert csms.messages("AUTH2") == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls_with_ca_file(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)  # fmt: skip
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    csms = OcppCsms()
    await csms.start(ssl=server_ctx)
    try:
        client_ctx = ssl.create_default_context(cafile=str(cert))
        url = f"wss://127.0.0.1:{csms.port}/ocpp"
        async with Station(fast_config("TLS1", url, OcppVersion.V21, ssl_context=client_ctx)) as st:
            await st.wait_booted(5)
    finally:
        await csms.stop()


async def test_clock_aligned_values_are_aligned_to_midnight(csms: OcppCsms) -> None:
    ident = "ALIGNED"
    async with Station(fast_config(ident, csms.url, OcppVersion.V16, settings={"aligned_interval": 2})) as st:
        await st.wait_booted(5)
        await csms.wait_for(ident, "MeterValues", count=2)
    for mv in csms.messages(ident, "MeterValues"):
        value = mv["meterValue"][0]
        assert value["sampledValue"][0]["context"] == "Sample.Clock"
        assert parse_time(value["timestamp"]) % 2 == 0  # multiples of the interval since 00:00 UTC
