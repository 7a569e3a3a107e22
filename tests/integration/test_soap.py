"""OCPP-S 1.2, 1.5 and 1.6 against a real ``ocppd serve``, on SQLite and PostgreSQL.

The station is zeep driven by the official WSDLs (tests/soap_peers.py); the Charge Point service that
ocppd calls back is zeep's binding behind a stdlib HTTP server. Raw probes check what a broken or
hostile client gets, and the field variations (WS-Addressing 2004/08, From as bare text, an empty
host, headers in no namespace) are sent as hand-written envelopes.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.csms_process import CsmsProcess, run_csms
from tests.soap_peers import ChargePointPeer, ZeepStation, serve_charge_point

VERSIONS = ["1.2", "1.5", "1.6"]
NS = {"1.2": "2010/08", "1.5": "2012/06", "1.6": "2015/10"}


@pytest.fixture(params=["sqlite", "postgresql"])
def csms(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CsmsProcess]:
    url = None
    if request.param == "postgresql":
        factory: Callable[[str], str] = request.getfixturevalue("pg_db_factory")
        url = factory("ocppd_soap")
    with run_csms(tmp_path, database_url=url, extra_env={"OCPPD_SOAP__READ_TIMEOUT": "2"}) as server:
        yield server


def soap_url(server: CsmsProcess) -> str:
    return f"{server.http_url}/ocpp/soap"


def api(server: CsmsProcess) -> httpx.Client:
    return httpx.Client(base_url=server.http_url, headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=60)


def at(offset_s: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=offset_s)


def meter_values(version: str, wh: int) -> dict[str, Any]:
    """One reading in each version's own shape."""
    if version == "1.2":
        return {"values": [{"timestamp": at(), "value": wh}]}
    samples = [("Energy.Active.Import.Register", "Wh", str(wh)), ("Power.Active.Import", "W", "7000")]
    if version == "1.5":
        values = [{"_value_1": v, "measurand": m, "unit": u} for m, u, v in samples]
        return {"values": [{"timestamp": at(), "value": values}]}
    return {
        "meterValue": [
            {"timestamp": at(), "sampledValue": [{"value": v, "measurand": m, "unit": u} for m, u, v in samples]}
        ]
    }


def charge_point_handlers(version: str) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    accepted: Callable[[dict[str, Any]], dict[str, Any]] = lambda _: {"status": "Accepted"}  # noqa: E731
    handlers = {
        "RemoteStartTransaction": accepted,
        "RemoteStopTransaction": accepted,
        "ChangeConfiguration": accepted,
        "Reset": accepted,
        "ChangeAvailability": accepted,
        "ClearCache": accepted,
        "UnlockConnector": (lambda _: {"status": "Unlocked"}) if version == "1.6" else accepted,
    }
    if version != "1.2":
        handlers |= {
            "ReserveNow": accepted,
            "CancelReservation": accepted,
            "SendLocalList": accepted,
            "GetLocalListVersion": lambda _: {"listVersion": 3},
            "GetConfiguration": lambda _: {
                "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]
            },
        }
    if version == "1.6":
        handlers |= {"SetChargingProfile": accepted, "TriggerMessage": accepted}
    return handlers


def run_session(server: CsmsProcess, version: str, identity: str, from_address: str | None) -> dict[str, Any]:
    """Boot, heartbeat, status, authorize, start, meter values, stop; returns the transaction id."""
    station = ZeepStation(version, soap_url(server), identity, from_address)
    boot = station.call("BootNotification", chargePointVendor="ACME", chargePointModel=f"S{version}")
    assert boot["status"] == "Accepted"
    assert boot["interval" if version == "1.6" else "heartbeatInterval"] == 60
    assert station.call("Heartbeat")["currentTime"] is not None
    status: dict[str, Any] = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    station.call("StatusNotification", **status)
    assert station.call("Authorize", idTag="SOAP-TAG")["idTagInfo"]["status"] == "Accepted"
    assert station.call("Authorize", idTag="NOBODY")["idTagInfo"]["status"] == "Invalid"
    start = station.call("StartTransaction", connectorId=1, idTag="SOAP-TAG", timestamp=at(-60), meterStart=1000)
    assert start["idTagInfo"]["status"] == "Accepted" and start["transactionId"] > 0
    tx = start["transactionId"]
    station.call("StatusNotification", **{**status, "status": "Occupied" if version != "1.6" else "Charging"})
    for wh in (2000, 3000):
        station.call(
            "MeterValues",
            connectorId=1,
            **({} if version == "1.2" else {"transactionId": tx}),
            **meter_values(version, wh),
        )
    stop: dict[str, Any] = {"transactionId": tx, "idTag": "SOAP-TAG", "timestamp": at(), "meterStop": 4500}
    if version == "1.5":
        stop["transactionData"] = [meter_values(version, 4500)]
    assert station.call("StopTransaction", **stop)["idTagInfo"]["status"] == "Accepted"
    return {"transaction_id": tx, "station": station}


@pytest.mark.parametrize("version", VERSIONS)
def test_soap_station_full_session_and_csms_initiated(csms: CsmsProcess, version: str) -> None:
    csms.cli("tokens", "add", "SOAP-TAG")
    identity = f"SOAP-{version}"
    peer = ChargePointPeer(version, charge_point_handlers(version))
    with serve_charge_point(peer), api(csms) as client:
        tx = run_session(csms, version, identity, peer.url)["transaction_id"]

        [row] = json.loads(csms.cli("transactions", "list", "--station", identity, "--json").stdout)
        assert row["transaction_id"] == str(tx)
        assert row["meter_start_wh"] == 1000 and row["meter_stop_wh"] == 4500 and row["energy_wh"] == 3500
        # the readings belong to the transaction (1.2 names none: the connector's running one)
        samples = client.get(f"/api/v1/transactions/{row['id']}").json()["meter_samples"]
        energy = [m for m in samples if m.get("measurand", "").startswith("Energy.Active.Import")]
        assert len(energy) >= 2, samples
        station = client.get(f"/api/v1/stations/{identity}").json()
        assert station["ocpp_version"] == f"{version}S"

        def call(action: str, payload: dict[str, Any], expect: int = 200) -> dict[str, Any]:
            response = client.post(f"/api/v1/stations/{identity}/call/{action}", json=payload)
            assert response.status_code == expect, response.text
            return response.json()

        assert call("RemoteStartTransaction", {"idTag": "SOAP-TAG", "connectorId": 1}) == {"status": "Accepted"}
        assert call("RemoteStopTransaction", {"transactionId": tx}) == {"status": "Accepted"}
        assert call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}) == {"status": "Accepted"}
        assert call("Reset", {"type": "Soft"}) == {"status": "Accepted"}
        assert call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) == {"status": "Accepted"}
        assert call("UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}  # 1.2/1.5 "Accepted"
        expected = [
            "RemoteStartTransaction",
            "RemoteStopTransaction",
            "ChangeConfiguration",
            "Reset",
            "ChangeAvailability",
            "UnlockConnector",
        ]
        if version != "1.2":
            expiry = at(3600).isoformat()
            reserve = {"connectorId": 1, "expiryDate": expiry, "idTag": "SOAP-TAG", "reservationId": 7}
            assert call("ReserveNow", reserve) == {"status": "Accepted"}
            assert call("CancelReservation", {"reservationId": 7}) == {"status": "Accepted"}
            local = {
                "listVersion": 3,
                "updateType": "Full",
                "localAuthorizationList": [{"idTag": "SOAP-TAG", "idTagInfo": {"status": "Accepted"}}],
            }
            assert call("SendLocalList", local) == {"status": "Accepted"}
            assert call("GetLocalListVersion", {}) == {"listVersion": 3}
            keys = call("GetConfiguration", {"key": ["HeartbeatInterval"]})["configurationKey"]
            assert keys == [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]
            expected += ["ReserveNow", "CancelReservation", "SendLocalList", "GetLocalListVersion", "GetConfiguration"]
            # 1.5's spelling on the wire, 1.6's in the API
            sent = next(body for op, _, body in peer.received if op == "SendLocalList")
            assert ("localAuthorisationList" if version == "1.5" else "localAuthorizationList") in sent
        else:
            call(
                "ReserveNow",
                {"connectorId": 1, "expiryDate": at(60).isoformat(), "idTag": "X", "reservationId": 1},
                expect=400,
            )
        if version == "1.6":
            profile = {
                "connectorId": 1,
                "csChargingProfiles": {
                    "chargingProfileId": 1,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Absolute",
                    "chargingSchedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5}],
                    },
                },
            }
            assert call("SetChargingProfile", profile) == {"status": "Accepted"}
            assert call("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}) == {
                "status": "Accepted"
            }
            expected += ["SetChargingProfile", "TriggerMessage"]
            sent = next(body for op, _, body in peer.received if op == "SetChargingProfile")
            assert float(sent["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]) == 16.5
        else:
            refused = client.post(
                f"/api/v1/stations/{identity}/call/RemoteStartTransaction",
                json={
                    "idTag": "SOAP-TAG",
                    "chargingProfile": {
                        "chargingProfileId": 1,
                        "stackLevel": 0,
                        "chargingProfilePurpose": "TxProfile",
                        "chargingProfileKind": "Relative",
                        "chargingSchedule": {
                            "chargingRateUnit": "A",
                            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}],
                        },
                    },
                },
            )
            assert refused.status_code >= 400 and "1.6" in refused.text
        # The domain verbs (api/commands -> csms.send -> the 1.6 outbound adapter -> the dialect)
        verb = client.post(f"/api/v1/stations/{identity}/commands/reset", json={"type": "hard"})
        assert verb.status_code == 200 and verb.json()["response"] == {"status": "Accepted"}, verb.text
        expected.append("Reset")
        reserve = {"id_token": "SOAP-TAG", "expires_at": at(600).isoformat(), "evse_id": 1, "reservation_id": 9}
        reserved = client.post(f"/api/v1/stations/{identity}/commands/reserve", json=reserve)
        if version == "1.2":  # no reservations in 1.2: refused before anything is sent
            assert reserved.status_code == 400 and "ReserveNow does not exist in OCPP 1.2S" in reserved.text
        else:
            assert reserved.status_code == 200, reserved.text
            expected.append("ReserveNow")
        assert peer.operations() == expected
        assert {identity_seen for _, identity_seen, _ in peer.received} == {identity}

        # The message log holds the XML, both directions.
        frames = client.get(f"/api/v1/stations/{identity}/messages", params={"limit": 200}).json()
        texts = [f["frame"] for f in (frames["items"] if isinstance(frames, dict) else frames)]
        assert any("bootNotificationRequest" in t for t in texts)
        assert any("resetRequest" in t for t in texts) and any("resetResponse" in t for t in texts)


def post(server: CsmsProcess, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(soap_url(server), content=body, headers={"Content-Type": "application/soap+xml", **headers})


def envelope(version: str, header: str, body: str, wsa: str = "http://www.w3.org/2005/08/addressing") -> bytes:
    return (
        f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="{wsa}" '
        f'xmlns:o="urn://Ocpp/Cs/{NS[version]}/"><s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>'
    ).encode()


HEARTBEAT = "<o:heartbeatRequest/>"


def fault(response: httpx.Response) -> tuple[str, str]:
    text = response.text
    assert "<s:Fault>" in text, text
    subcode = text.split("<s:Subcode><s:Value>")[1].split("<")[0] if "<s:Subcode>" in text else ""
    return text.split("<s:Code><s:Value>")[1].split("<")[0], subcode.split(":")[-1]


def test_raw_probes(csms: CsmsProcess) -> None:
    ident = "<o:chargeBoxIdentity>PROBE-1</o:chargeBoxIdentity><a:Action>/Heartbeat</a:Action>"
    ok = post(csms, envelope("1.6", ident, HEARTBEAT))
    assert ok.status_code == 200 and "heartbeatResponse" in ok.text

    malformed = post(csms, b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body>")
    assert malformed.status_code == 400 and fault(malformed) == ("s:Sender", "ProtocolError")

    unknown = post(csms, envelope("1.6", ident.replace("/Heartbeat", "/SelfDestruct"), "<o:selfDestructRequest/>"))
    assert unknown.status_code == 500 and fault(unknown) == ("s:Receiver", "NotSupported")

    anonymous = post(csms, envelope("1.6", "<a:Action>/Heartbeat</a:Action>", HEARTBEAT))
    assert anonymous.status_code == 400 and fault(anonymous) == ("s:Sender", "ProtocolError")
    assert "chargeBoxIdentity" in anonymous.text

    zipped = post(csms, gzip.compress(envelope("1.5", ident, HEARTBEAT)), **{"Content-Encoding": "gzip"})
    assert zipped.status_code == 200 and "heartbeatResponse" in zipped.text

    doctype = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + envelope(
        "1.6", ident, "<o:heartbeatRequest>&e;</o:heartbeatRequest>"
    )
    refused = post(csms, doctype)
    assert refused.status_code == 400 and "DOCTYPE" in refused.text and "root:" not in refused.text

    soap11 = b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>'
    assert post(csms, soap11).status_code == 400
    assert httpx.get(soap_url(csms)).status_code == 405
    wsdl = httpx.get(soap_url(csms), params={"wsdl": "1.5"})
    assert wsdl.status_code == 200 and 'targetNamespace="urn://Ocpp/Cs/2012/06/"' in wsdl.text
    assert "urn://Ocpp/Cs/2015/10/" in httpx.get(soap_url(csms) + "?wsdl").text
    assert httpx.get(soap_url(csms), params={"wsdl": "1.7"}).status_code == 404
    too_big = post(csms, envelope("1.6", ident, HEARTBEAT) + b" " * (1024 * 1024 + 1))
    assert too_big.status_code == 400 and "larger than" in too_big.text

    # A strictly validated request: StatusNotification without its errorCode.
    missing = envelope(
        "1.6",
        ident.replace("/Heartbeat", "/StatusNotification"),
        "<o:statusNotificationRequest><o:connectorId>1</o:connectorId><o:status>Available</o:status>"
        "</o:statusNotificationRequest>",
    )
    invalid = post(csms, missing)
    assert invalid.status_code == 400 and "errorCode" in invalid.text

    # A slow client: the body never completes; ocppd answers 408 after soap.read_timeout (2 s here).
    host, port = "127.0.0.1", csms.http_port
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(
            b"POST /ocpp/soap HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\n"
            b"Content-Length: 1000\r\n\r\n<s:Envelope"
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_basic_auth_per_station(csms: CsmsProcess) -> None:
    csms.cli("stations", "add", "SOAP-SECURE", "--password", "correct-horse-battery")
    body = envelope("1.6", "<o:chargeBoxIdentity>SOAP-SECURE</o:chargeBoxIdentity>", HEARTBEAT)
    deadline = time.monotonic() + 30  # the server re-reads its station directory every few seconds
    while (refused := post(csms, body)).status_code != 401 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert refused.status_code == 401 and fault(refused) == ("s:Sender", "SecurityError")
    assert refused.headers["www-authenticate"].startswith("Basic")
    ok = httpx.post(soap_url(csms), content=body, auth=("SOAP-SECURE", "correct-horse-battery"))
    assert ok.status_code == 200, ok.text


def test_field_variations_and_unreachable_station(csms: CsmsProcess) -> None:
    peer = ChargePointPeer("1.6", charge_point_handlers("1.6"))
    with serve_charge_point(peer), api(csms) as client:
        port = peer.url.split(":")[2].split("/")[0]
        # WS-Addressing 2004/08, headers without a namespace, chargeBoxIdentity in another case, no
        # MessageID, From as bare text with an empty host: ocppd calls back the peer's own address.
        header = (
            "<ChargeBoxIdentity>FIELD-1</ChargeBoxIdentity><a:Action>/BootNotification</a:Action>"
            f"<a:From>http://:{port}/ChargePointService</a:From>"
        )
        boot = (
            "<o:bootNotificationRequest><o:chargePointVendor>Old</o:chargePointVendor>"
            "<o:chargePointModel>Box</o:chargePointModel></o:bootNotificationRequest>"
        )
        answer = post(csms, envelope("1.6", header, boot, wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"))
        assert answer.status_code == 200 and "Accepted" in answer.text
        assert "http://schemas.xmlsoap.org/ws/2004/08/addressing" in answer.text  # answered in its own namespace
        reset = client.post("/api/v1/stations/FIELD-1/call/Reset", json={"type": "Hard"})
        assert reset.status_code == 200 and reset.json() == {"status": "Accepted"}
        assert peer.operations() == ["Reset"]
        record = client.get("/api/v1/stations/FIELD-1").json()
        soap = record.get("soap") or {}
        assert soap.get("endpoint") == f"http://127.0.0.1:{port}/ChargePointService", record
        accepted = " ".join(soap["accepted"])
        assert "2004/08" in accepted and "no MessageID" in accepted and "bare text" in accepted

        # No From at all: the station is listed, and a command says it cannot be reached.
        post(csms, envelope("1.5", "<o:chargeBoxIdentity>NOFROM-1</o:chargeBoxIdentity>", HEARTBEAT))
        unreachable = client.post("/api/v1/stations/NOFROM-1/call/Reset", json={"type": "Hard"})
        assert unreachable.status_code == 409 and "cannot be reached" in unreachable.text
        deadline = time.monotonic() + 30  # the endpoint record is written in the background
        while (listed := client.get("/api/v1/stations/NOFROM-1")).status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listed.json()["soap"]["reachable"] is False, listed.text
