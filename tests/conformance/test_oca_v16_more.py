"""OCA OCPP 1.6 CSMS cases not covered elsewhere (remote start time-out, unlock during a session,
firmware, diagnostics and security log, smart charging, DataTransfer, subprotocol negotiation),
against ``ocppd serve`` with the ``ocpp`` package playing the test tool's charge point; SQLite and
PostgreSQL (one server per module and backend: conftest.py). Operator actions go through the REST API.
docs/conformance-v16.md maps all 77 cases to their tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import after, on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16

from tests.conformance.stations import Station16, connect, eventually, new_id, transactions, ts
from tests.csms_process import CsmsProcess


class Tool16(Station16):
    """The 1.6 charge point of the test tool, with the answers of the cases in this file."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.triggered: list[tuple[str, Any]] = []  # (message sent after a TriggerMessage, the CSMS's answer)

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **p: Any) -> r16.RemoteStartTransaction:
        return r16.RemoteStartTransaction(**{"status": "Accepted", **self.got("RemoteStartTransaction", p)})

    @on("UnlockConnector")
    async def on_unlock(self, **p: Any) -> r16.UnlockConnector:
        return r16.UnlockConnector(**{"status": "Unlocked", **self.got("UnlockConnector", p)})

    @on("UpdateFirmware")
    async def on_update_firmware(self, **p: Any) -> r16.UpdateFirmware:
        self.got("UpdateFirmware", p)
        return r16.UpdateFirmware()

    @on("SignedUpdateFirmware")
    async def on_signed_update_firmware(self, **p: Any) -> r16.SignedUpdateFirmware:
        return r16.SignedUpdateFirmware(**{"status": "Accepted", **self.got("SignedUpdateFirmware", p)})

    @on("GetDiagnostics")
    async def on_get_diagnostics(self, **p: Any) -> r16.GetDiagnostics:
        return r16.GetDiagnostics(**{"file_name": "diagnostics.log", **self.got("GetDiagnostics", p)})

    @on("GetLog")
    async def on_get_log(self, **p: Any) -> r16.GetLog:
        return r16.GetLog(**{"status": "Accepted", "filename": "security.log", **self.got("GetLog", p)})

    @on("ChangeConfiguration")
    async def on_change_configuration(self, **p: Any) -> r16.ChangeConfiguration:
        return r16.ChangeConfiguration(**{"status": "Accepted", **self.got("ChangeConfiguration", p)})

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **p: Any) -> r16.SetChargingProfile:
        return r16.SetChargingProfile(**{"status": "Accepted", **self.got("SetChargingProfile", p)})

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **p: Any) -> r16.ClearChargingProfile:
        return r16.ClearChargingProfile(**{"status": "Accepted", **self.got("ClearChargingProfile", p)})

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(self, **p: Any) -> r16.GetCompositeSchedule:
        return r16.GetCompositeSchedule(**{"status": "Accepted", **self.got("GetCompositeSchedule", p)})

    @on("TriggerMessage")
    async def on_trigger_message(self, **p: Any) -> r16.TriggerMessage:
        return r16.TriggerMessage(**{"status": "Accepted", **self.got("TriggerMessage", p)})

    @after("TriggerMessage")
    async def send_triggered(self, requested_message: str, connector_id: int | None = None) -> None:
        """Send what was asked for, as the tool does once it has accepted the trigger."""
        if self.answers.get("TriggerMessage", {}).get("status", "Accepted") != "Accepted":
            return
        sampled = [{"value": "1234", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
        message = {
            "MeterValues": lambda: c16.MeterValues(connector_id=connector_id or 0,
                                                   meter_value=[{"timestamp": ts(), "sampled_value": sampled}]),
            "Heartbeat": c16.Heartbeat,
            "StatusNotification": lambda: c16.StatusNotification(connector_id=connector_id or 0,
                                                                 error_code="NoError", status="Available"),
            "DiagnosticsStatusNotification": lambda: c16.DiagnosticsStatusNotification(status="Idle"),
            "FirmwareStatusNotification": lambda: c16.FirmwareStatusNotification(status="Idle"),
        }[requested_message]()  # fmt: skip
        self.triggered.append((requested_message, await self.call(message)))

    async def firmware_status(self, status: str) -> None:
        await self.call(c16.FirmwareStatusNotification(status=status))

    async def diagnostics_status(self, status: str) -> None:
        await self.call(c16.DiagnosticsStatusNotification(status=status))


def iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


async def add_token(api: httpx.AsyncClient, token: str) -> None:
    """Through the API (the CLI's process start costs seconds on a busy machine)."""
    response = await api.post("/api/v1/tokens", json={"id_token": token})
    assert response.status_code == 201, response.text


async def command(api: httpx.AsyncClient, station: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(f"/api/v1/stations/{station}/commands/{name}", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def notification_kinds(api: httpx.AsyncClient, station: str) -> list[str]:
    response = await api.get(f"/api/v1/stations/{station}/notifications", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [n["kind"] for n in response.json()]


# ------------------------------------------------------------------------- 3.1 boot, 3.7 configuration


async def test_tc_001_cold_boot_charge_point(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T001")
    async with connect(csms, station, Tool16) as cp:
        boot = await cp.call(c16.BootNotification(charge_point_vendor="OCA", charge_point_model="Tool16"))
        assert boot.status == "Accepted" and boot.interval > 0 and boot.current_time
        for connector in (0, 1, 2):
            await cp.status(connector, "Available")
        for _ in range(2):  # a Heartbeat every interval
            assert (await cp.call(c16.Heartbeat())).current_time
        # cross-cutting finding 2: the tool expects no CSMS call the scenario did not ask for
        assert cp.received == []
        detail = (await api.get(f"/api/v1/stations/{station}")).json()
        statuses = {c["connector_id"]: c["status"] for c in detail["connectors"]}
        assert statuses == {0: "Available", 1: "Available", 2: "Available"}


async def test_tc_021_change_configuration_and_nothing_unsolicited_after(
    csms: CsmsProcess, api: httpx.AsyncClient
) -> None:
    station = new_id("T021")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        answer = await command(api, station, "change-configuration", {"key": "MeterValueSampleInterval", "value": "60"})
        assert answer["request"] == {"key": "MeterValueSampleInterval", "value": "60"} and answer["result"]["accepted"]
        await cp.call(c16.Heartbeat())  # give the CSMS a moment in which it could send something
        assert [action for action, _ in cp.received] == ["ChangeConfiguration"]  # no GetConfiguration after it


# ------------------------------------------------------------------------- 3.17 reservation (refusals)


async def reserve(api: httpx.AsyncClient, station: str, token: str, connector: int) -> dict[str, Any]:
    expires = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    response = await api.post("/api/v1/reservations", json={"station_id": station, "id_token": token,
                                                            "expires_at": expires, "evse_id": connector})  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_tc_048_2_reservation_occupied(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T0482")
    await add_token(api, "TC0482")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        await cp.status(1, "Preparing")  # the connector is occupied first
        cp.answers["ReserveNow"] = {"status": "Occupied"}
        made = await reserve(api, station, "TC0482", 1)
        [sent] = cp.requests("ReserveNow")
        assert sent["connector_id"] == 1 and sent["id_tag"] == "TC0482"
        assert made["status"] == "Occupied"
    live = (await api.get("/api/v1/reservations", params={"station": station, "live": "true"})).json()
    assert live == []


async def test_tc_048_3_reservation_unavailable(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T0483")
    await add_token(api, "TC0483")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        answer = await command(api, station, "change-availability", {"operative": False, "evse_id": 1})
        assert answer["result"]["accepted"]
        assert cp.requests("ChangeAvailability") == [{"connector_id": 1, "type": "Inoperative"}]
        await cp.status(1, "Unavailable")
        cp.answers["ReserveNow"] = {"status": "Unavailable"}
        made = await reserve(api, station, "TC0483", 1)
        assert cp.requests("ReserveNow")[0]["connector_id"] == 1 and made["status"] == "Unavailable"
    live = (await api.get("/api/v1/reservations", params={"station": station, "live": "true"})).json()
    assert live == []


async def test_tc_052_cancel_reservation_rejected(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T052")
    await add_token(api, "TC052")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        made = await reserve(api, station, "TC052", 1)
        await cp.status(1, "Reserved")
        live_id = cp.requests("ReserveNow")[0]["reservation_id"]
        cp.answers["CancelReservation"] = {"status": "Rejected"}
        # a reservationId other than the live one: sent as asked (cross-cutting finding 5)
        answer = await command(api, station, "cancel-reservation", {"reservation_id": live_id + 1000})
        assert cp.requests("CancelReservation") == [{"reservation_id": live_id + 1000}]
        assert answer["result"]["status"] == "Rejected"
    live = (await api.get("/api/v1/reservations", params={"station": station, "live": "true"})).json()
    assert [r["id"] for r in live] == [made["id"]]


# ------------------------------------------------------------------------- 3.4 remote actions


async def test_tc_011_2_remote_start_time_out(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T16")
    await add_token(api, "TC0112")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        answer = await command(api, station, "remote-start", {"id_token": "TC0112", "evse_id": 1})
        assert answer["request"] == {"connectorId": 1, "idTag": "TC0112"} and answer["result"]["accepted"]
        assert await cp.call_authorize("TC0112") == "Accepted"
        await cp.status(1, "Preparing")
        await cp.status(1, "Available")  # ConnectionTimeOut passed: no StartTransaction comes
        heartbeat = await cp.call(c16.Heartbeat())  # the station is still served normally
        assert heartbeat.current_time
        detail = (await api.get(f"/api/v1/stations/{station}")).json()
        assert [c["status"] for c in detail["connectors"] if c["connector_id"] == 1] == ["Available"]
    assert await transactions(api, station) == []


# ------------------------------------------------------------------------- 3.10 unlocking


async def test_tc_018_1_unlock_connector_with_charging_session(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T16")
    await add_token(api, "TC0181")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        await cp.status(1, "Preparing")
        started = await cp.start_tx("TC0181", meter_start=0)
        assert started.id_tag_info["status"] == "Accepted"
        await cp.status(1, "Charging")
        answer = await command(api, station, "unlock", {"connector_id": 1})
        assert cp.requests("UnlockConnector") == [{"connector_id": 1}] and answer["result"]["status"] == "Unlocked"
        await cp.status(1, "Finishing")
        stopped = await cp.stop_tx(started.transaction_id, 1500, reason="UnlockCommand", id_tag="TC0181")
        assert stopped.id_tag_info["status"] == "Accepted"
        await cp.status(1, "Available")
    [row] = await transactions(api, station)
    assert row["transaction_id"] == str(started.transaction_id)
    assert not row["active"] and row["stop_reason"] == "UnlockCommand" and row["meter_stop_wh"] == 1500


# ------------------------------------------------------------------------- 3.15 firmware


async def hosted_update(api: httpx.AsyncClient, station: str) -> dict[str, Any]:
    image = (await api.put(f"/api/v1/firmware/{station}.bin", content=b"\x7fFW" * 1000)).json()
    response = await api.post(f"/api/v1/stations/{station}/firmware-update",
                              json={"image_id": image["id"], "retries": 3, "retry_interval_s": 30})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def job_status(api: httpx.AsyncClient, station: str) -> str:
    [job] = (await api.get("/api/v1/firmware-jobs", params={"station_id": station})).json()
    return job["status"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("case", "outcome"), [("044_1", "Installed"), ("044_3", "InstallationFailed")])
async def test_tc_044_1_tc_044_3_firmware_download_and_install(
    csms: CsmsProcess, api: httpx.AsyncClient, case: str, outcome: str
) -> None:
    station = new_id(f"T{case}")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        await hosted_update(api, station)
        [sent] = cp.requests("UpdateFirmware")
        assert sent["retries"] == 3 and sent["retry_interval"] == 30 and sent["retrieve_date"]
        async with httpx.AsyncClient(timeout=30) as http:  # the station really downloads from the location
            image = await http.get(sent["location"])
        assert image.status_code == 200 and image.content == b"\x7fFW" * 1000
        await cp.firmware_status("Downloading")
        await cp.firmware_status("Downloaded")
        for connector in (1, 2):
            await cp.status(connector, "Unavailable")
        await cp.firmware_status("Installing")
    async with connect(csms, station, Tool16) as cp:  # the reboot into the new firmware
        await cp.boot()  # Boot Accepted, then Available for every connector and connector 0
        await cp.firmware_status(outcome)
    assert await job_status(api, station) == outcome
    assert (await notification_kinds(api, station)).count("FirmwareStatusNotification") == 4


async def test_tc_044_2_firmware_download_failed(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T0442")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        await hosted_update(api, station)
        assert cp.requests("UpdateFirmware")
        await cp.firmware_status("Downloading")
        await cp.firmware_status("DownloadFailed")
        assert await job_status(api, station) == "DownloadFailed"


async def test_tc_081_secure_firmware_update_invalid_signature(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T081")
    certificate = (await api.get("/ca/firmware-signing.pem")).text
    invalid = "aW52YWxpZCBzaWduYXR1cmU="  # the configured invalid signature: sent as given, the station judges
    location = f"{csms.http_url}/firmware/T081.bin"
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        answer = await command(api, station, "update-firmware", {
            "location": location, "signature": invalid, "signing_certificate": certificate, "retries": 1})  # fmt: skip
        assert answer["action"] == "SignedUpdateFirmware" and answer["result"]["accepted"]
        [sent] = cp.requests("SignedUpdateFirmware")
        assert sent["firmware"]["signature"] == invalid and sent["firmware"]["location"] == location
        assert sent["firmware"]["signing_certificate"] == certificate and sent["retries"] == 1
        for status in ("Downloading", "Downloaded", "InvalidSignature"):
            answered = await cp.call(c16.SignedFirmwareStatusNotification(status=status, request_id=sent["request_id"]))
            assert answered is not None
    kinds = await notification_kinds(api, station)
    assert kinds.count("SignedFirmwareStatusNotification") == 3


# ------------------------------------------------------------------------- 3.16 diagnostics, 3.21 security log


async def upload_job(api: httpx.AsyncClient, station: str, job_id: int) -> dict[str, Any]:
    [job] = [j for j in (await api.get("/api/v1/logs", params={"station_id": station})).json() if j["id"] == job_id]
    return job  # type: ignore[no-any-return]


async def upload(location: str, content: bytes) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.put(location, content=content)).status_code == 201


async def test_tc_045_1_get_diagnostics(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T0451")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        since = datetime.now(UTC) - timedelta(hours=2)
        job = (await api.post(f"/api/v1/stations/{station}/logs",
                              json={"log_type": "DiagnosticsLog", "since": since.isoformat()})).json()  # fmt: skip
        assert job["status"] == "Accepted" and job["filename"] == "diagnostics.log"
        [sent] = cp.requests("GetDiagnostics")
        assert sent["location"].startswith(csms.http_url) and sent["start_time"]
        await cp.diagnostics_status("Uploading")
        await upload(sent["location"], b"diagnostics of the tool\n")
        await cp.diagnostics_status("Uploaded")
    done = await upload_job(api, station, job["id"])
    assert done["status"] == "Uploaded" and done["uploaded_at"] and done["size"] == 24


async def test_tc_045_2_get_diagnostics_upload_failed(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T0452")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        job = (await api.post(f"/api/v1/stations/{station}/logs", json={"log_type": "DiagnosticsLog"})).json()
        assert cp.requests("GetDiagnostics")
        await cp.diagnostics_status("Uploading")
        await cp.diagnostics_status("UploadFailed")
    done = await upload_job(api, station, job["id"])
    assert done["status"] == "UploadFailed" and done["uploaded_at"] is None


async def test_tc_079_get_security_log(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T079")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        response = await api.post(f"/api/v1/stations/{station}/logs", json={"log_type": "SecurityLog"})
        assert response.status_code == 200, response.text
        job = response.json()
        [sent] = cp.requests("GetLog")
        assert sent["log_type"] == "SecurityLog" and sent["request_id"] == job["request_id"]
        assert sent["log"]["remote_location"].startswith(csms.http_url)
        assert job["status"] == "Accepted" and job["filename"] == "security.log"
        await cp.call(c16.LogStatusNotification(status="Uploading", request_id=sent["request_id"]))
        await upload(sent["log"]["remote_location"], b"security events\n")
        await cp.call(c16.LogStatusNotification(status="Uploaded", request_id=sent["request_id"]))
    done = await upload_job(api, station, job["id"])
    assert done["status"] == "Uploaded" and done["uploaded_at"] and done["log_type"] == "SecurityLog"
    assert (await notification_kinds(api, station)).count("LogStatusNotification") == 2


# ------------------------------------------------------------------------- 3.18 remote trigger


async def test_tc_054_trigger_message(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T054")
    asked = [("MeterValues", 1), ("Heartbeat", None), ("StatusNotification", 1),
             ("DiagnosticsStatusNotification", None), ("FirmwareStatusNotification", None)]  # fmt: skip
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        for message, connector in asked:
            body = {"message": message, **({"evse_id": connector} if connector else {})}
            answer = await command(api, station, "trigger-message", body)
            assert answer["request"] == {
                "requestedMessage": message,
                **({"connectorId": connector} if connector else {}),
            }
            assert answer["result"]["accepted"], message

        async def all_answered() -> bool:
            return len(cp.triggered) == len(asked)

        await eventually(all_answered, "every triggered message answered")
    assert [m for m, _ in cp.triggered] == [m for m, _ in asked]
    heartbeat = dict(cp.triggered)["Heartbeat"]
    assert heartbeat.current_time  # each answer is the message's own confirmation


# ------------------------------------------------------------------------- 3.19 smart charging


async def test_tc_056_central_smart_charging_tx_default_profile(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T056")
    now = datetime.now(UTC).replace(microsecond=0)
    profile = {"id": 56, "stack_level": 1, "purpose": "tx_default", "kind": "Absolute", "unit": "A",
               "periods": [{"start_s": 0, "limit": 6.0, "phases": 3}], "start_at": iso(now), "duration_s": 600,
               "valid_from": iso(now), "valid_to": iso(now + timedelta(hours=1))}  # fmt: skip
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        answer = await command(api, station, "set-charging-profile", {"evse_id": 1, "profile": profile})
        assert answer["result"]["accepted"]
        [sent] = cp.requests("SetChargingProfile")
    assert sent["connector_id"] == 1
    p = sent["cs_charging_profiles"]
    assert p["charging_profile_purpose"] == "TxDefaultProfile" and p["charging_profile_kind"] == "Absolute"
    assert p["stack_level"] == 1 and p["valid_from"] and p["valid_to"] and "transaction_id" not in p
    schedule = p["charging_schedule"]
    assert schedule["charging_rate_unit"] == "A" and schedule["duration"] == 600 and schedule["start_schedule"]
    assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 6.0, "number_phases": 3}]


async def test_tc_057_central_smart_charging_tx_profile(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T057")
    await add_token(api, "TC057")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        await cp.status(1, "Preparing")
        started = await cp.start_tx("TC057", meter_start=0)
        await cp.status(1, "Charging")
        periods = [{"start_s": 0, "limit": 10.0}]
        profile = {"id": 57, "purpose": "tx", "kind": "Relative", "unit": "A", "periods": periods,
                   "transaction_id": str(started.transaction_id)}  # fmt: skip
        answer = await command(api, station, "set-charging-profile", {"evse_id": 1, "profile": profile})
        assert answer["result"]["accepted"]
        [sent] = cp.requests("SetChargingProfile")
    assert sent["connector_id"] == 1
    assert sent["cs_charging_profiles"]["charging_profile_purpose"] == "TxProfile"
    assert sent["cs_charging_profiles"]["transaction_id"] == started.transaction_id


async def test_tc_059_remote_start_transaction_with_charging_profile(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T059")
    await add_token(api, "TC059")
    schedule = {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}
    profile = {"chargingProfileId": 59, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
               "chargingProfileKind": "Relative", "chargingSchedule": schedule}  # fmt: skip
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        answer = await command(api, station, "remote-start",
                               {"id_token": "TC059", "evse_id": 1, "charging_profile": profile})  # fmt: skip
        assert answer["result"]["accepted"]
        [sent] = cp.requests("RemoteStartTransaction")
        assert sent["id_tag"] == "TC059" and sent["connector_id"] == 1
        sent_profile = sent["charging_profile"]
        assert sent_profile["charging_profile_purpose"] == "TxProfile"
        assert sent_profile["charging_profile_kind"] == "Relative" and "transaction_id" not in sent_profile
        assert sent_profile["charging_schedule"]["charging_schedule_period"][0]["start_period"] == 0
        assert await cp.call_authorize("TC059") == "Accepted"
        await cp.status(1, "Preparing")
        started = await cp.start_tx("TC059", meter_start=0)
        assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
        await cp.status(1, "Charging")
    [row] = await transactions(api, station)
    assert row["active"] and row["id_token"] == "TC059"


async def test_tc_066_get_composite_schedule(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T066")
    start = iso(datetime.now(UTC).replace(microsecond=0))
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        cp.answers["GetCompositeSchedule"] = {
            "connector_id": 1, "schedule_start": start,
            "charging_schedule": {"charging_rate_unit": "A", "duration": 300, "start_schedule": start,
                                  "charging_schedule_period": [{"start_period": 0, "limit": 6.0}]}}  # fmt: skip
        answer = await command(api, station, "composite-schedule", {"evse_id": 1, "duration_s": 300, "unit": "A"})
        assert cp.requests("GetCompositeSchedule") == [{"connector_id": 1, "duration": 300, "charging_rate_unit": "A"}]
    result = answer["result"]
    assert result["status"] == "Accepted" and result["evse_id"] == 1 and result["unit"] == "A"
    assert [(p["start_s"], p["limit"]) for p in result["periods"]] == [(0, 6.0)]


async def test_tc_067_clear_charging_profile(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T067")
    base = 2
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        for n in range(3):
            profile = {"id": 670 + n, "stack_level": base + n, "purpose": "tx_default", "kind": "Relative",
                       "unit": "A", "periods": [{"start_s": 0, "limit": 6.0 + n}]}  # fmt: skip
            answer = await command(api, station, "set-charging-profile", {"evse_id": 1, "profile": profile})
            assert answer["result"]["accepted"]
        assert [p["cs_charging_profiles"]["stack_level"] for p in cp.requests("SetChargingProfile")] == [2, 3, 4]
        for body in ({"profile_id": 670}, {"evse_id": 1, "purpose": "tx_default", "stack_level": base + 1}, {}):
            assert (await command(api, station, "clear-charging-profile", body))["result"]["accepted"]
    assert cp.requests("ClearChargingProfile") == [
        {"id": 670},  # by id: every other field omitted
        {"connector_id": 1, "charging_profile_purpose": "TxDefaultProfile", "stack_level": base + 1},
        {},  # clear all: every field omitted
    ]


# ------------------------------------------------------------------------- 3.20 data transfer


async def test_tc_064_data_transfer_to_a_central_system(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T064")
    async with connect(csms, station, Tool16) as cp:
        await cp.boot()
        answer = await cp.call(c16.DataTransfer(vendor_id="org.unknown.oca-tool", message_id="TestMessage", data="x"))
        assert answer.status in ("Rejected", "UnknownMessageId", "UnknownVendorId")
    assert "DataTransfer" in await notification_kinds(api, station)


# ------------------------------------------------------------------------- 3.21 websocket subprotocol


async def test_tc_088_websocket_subprotocol_negotiation(csms: CsmsProcess, api: httpx.AsyncClient) -> None:
    station = new_id("T088")
    # Only an unknown subprotocol: the CSMS rejects the connection and does not upgrade.
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{csms.ws_url}/{station}", subprotocols=["ocpp0.1"]):
            pass
    assert refused.value.response.status_code == 400
    async with websockets.connect(f"{csms.ws_url}/{station}", subprotocols=["ocpp0.1", "ocpp1.6"]) as ws:
        assert ws.subprotocol == "ocpp1.6"
        cp = Tool16(station, ws)
        task = asyncio.create_task(cp.start())
        try:
            await cp.boot()
        finally:
            task.cancel()

    async def known() -> bool:
        return (await api.get(f"/api/v1/stations/{station}")).json().get("ocpp_version") == "1.6"

    await eventually(known, "the station booted over ocpp1.6")
