"""Unit tests for the version-neutral pieces of the CSMS domain that need no server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ocppd.config import load_settings
from ocppd.csms.adapters import v2x, v16
from ocppd.csms.authorization import verdict_for
from ocppd.csms.metering import parse_time, power_w, readings_v2x, readings_v16, register_wh
from ocppd.csms.provisioning import check_password, hash_password, parse_basic_auth
from ocppd.csms.reporting import report_rows
from ocppd.protocol.actions import station_initiated
from ocppd.protocol.compat import Relaxation
from ocppd.protocol.versions import OcppVersion


def test_v16_samples_default_to_the_energy_register_and_convert_kwh() -> None:
    readings = readings_v16([{"timestamp": "2026-01-01T10:00:00Z", "sampledValue": [
        {"value": "12.5", "unit": "kWh"},
        {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
        {"value": "230", "measurand": "Voltage", "unit": "V", "phase": "L1"},
        {"value": "not-a-number"},
    ]}])  # fmt: skip
    assert register_wh(readings) == 12_500
    assert power_w(readings) == pytest.approx(7_400)
    [reading] = readings
    assert [s[0] for s in reading.samples] == ["Energy.Active.Import.Register", "Power.Active.Import", "Voltage"]
    assert reading.samples[0][2:4] == ("Wh", 12_500)


def test_v2x_samples_apply_the_multiplier_and_sum_phases_for_power() -> None:
    readings = readings_v2x([{"timestamp": "2026-01-01T10:00:00+01:00", "sampledValue": [
        {"value": 3.2, "unitOfMeasure": {"unit": "kWh", "multiplier": 1}},
        {"value": 1000, "measurand": "Power.Active.Import", "phase": "L1"},
        {"value": 1500, "measurand": "Power.Active.Import", "phase": "L2"},
    ]}])  # fmt: skip
    assert register_wh(readings) == pytest.approx(32_000)
    assert power_w(readings) == 2_500
    assert readings[0].timestamp == datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("poison", ["NaN", "nan", "Infinity", "-inf", "1e400", "-1e400"])
def test_v16_values_that_are_no_number_are_ignored(poison: str) -> None:
    readings = readings_v16([{"timestamp": "2026-01-01T10:00:00Z", "sampledValue": [
        {"value": poison}, {"value": poison, "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "230", "measurand": "Voltage", "unit": "V"},
    ]}])  # fmt: skip
    assert register_wh(readings) is None and power_w(readings) is None
    assert [s[0] for r in readings for s in r.samples] == ["Voltage"]


@pytest.mark.parametrize(
    "sample",
    [
        {"value": 1e308, "unitOfMeasure": {"unit": "kWh"}},
        {"value": 5, "unitOfMeasure": {"unit": "Wh", "multiplier": 400}},
    ],
)
def test_v2x_values_beyond_a_float_once_scaled_are_ignored(sample: dict) -> None:
    readings = readings_v2x([{"timestamp": "2026-01-01T10:00:00Z", "sampledValue": [sample]}])
    assert readings == [] and register_wh(readings) is None


def test_time_without_offset_is_taken_as_utc() -> None:
    assert parse_time("2026-01-01T10:00:00") == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


@dataclass
class Token:
    status: str
    expiry: datetime | None = None
    group_id: str | None = None


def test_token_verdicts() -> None:
    now = datetime.now(UTC)
    assert verdict_for(None).status == "Unknown"  # 2.x says Unknown; 1.6 has only Invalid
    assert verdict_for(None).id_tag_info() == {"status": "Invalid"}
    assert verdict_for(Token("Blocked")).status == "Blocked"
    assert verdict_for(Token("Accepted", now - timedelta(days=1))).status == "Expired"
    ok = verdict_for(Token("Accepted", now + timedelta(days=1), "FLEET"))
    assert ok.status == "Accepted"
    assert ok.id_tag_info()["parentIdTag"] == "FLEET"
    assert ok.id_token_info()["groupIdToken"] == {"idToken": "FLEET", "type": "Central"}
    assert ok.id_tag_info()["expiryDate"].endswith("Z")


def test_basic_auth_splits_on_the_known_identity() -> None:
    import base64

    header = "Basic " + base64.b64encode(b"CP:1:pass:word").decode()
    assert parse_basic_auth(header, "CP:1") == "pass:word"
    assert parse_basic_auth(header, "CP") == "1:pass:word"
    assert parse_basic_auth("Bearer x", "CP") is None
    assert parse_basic_auth("Basic !!!", "CP") is None
    stored = hash_password("0123456789abcdef")
    assert check_password(stored, "0123456789abcdef") and not check_password(stored, "wrong")


@pytest.mark.parametrize("version", [OcppVersion.V201, OcppVersion.V21], ids=lambda v: v.label)
def test_every_2x_station_message_has_a_deliberate_answer(version: OcppVersion) -> None:
    handled = {"BootNotification", "Heartbeat", "StatusNotification", "Authorize", "TransactionEvent"}
    handled |= {"MeterValues", "NotifyReport", "DataTransfer", "SignCertificate", "VatNumberValidation"}
    handled |= {"GetCertificateStatus", "Get15118EVCertificate", "GetCertificateChainStatus"}  # security block
    handled |= {"SecurityEventNotification"}
    handled |= {"ReservationStatusUpdate"}  # reservations block
    handled |= {"ReportChargingProfiles", "NotifyChargingLimit", "ClearedChargingLimit"}  # smart charging
    known = handled | set(v2x.RECORDED) | set(v2x.REFUSED) | set(v2x.NOT_SUPPORTED)
    assert station_initiated(version) <= known
    # nothing that is not built is answered "Accepted"
    for answers in v2x.REFUSED.values():
        assert all(a["status"] != "Accepted" for a in answers.values())
    assert v2x.REFUSED["NotifyEVChargingNeeds"]["*"]["status"] == "Rejected"


def test_every_16_station_message_has_a_deliberate_answer() -> None:
    handled = {"BootNotification", "Heartbeat", "StatusNotification", "Authorize", "StartTransaction"}
    handled |= {"StopTransaction", "MeterValues", "DataTransfer", "SignCertificate", "SecurityEventNotification"}
    assert station_initiated(OcppVersion.V16) <= handled | set(v16.RECORDED)


def test_report_rows_qualify_component_instances_and_evses() -> None:
    rows = report_rows([{"component": {"name": "Connector", "evse": {"id": 1, "connectorId": 2}},
                         "variable": {"name": "Available", "instance": "x"},
                         "variableAttribute": [{"value": "true", "mutability": "ReadOnly"}]}])  # fmt: skip
    assert rows == [("Connector@evse1.2", "Available[x]", "Actual", "true", True)]


def test_settings_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "ocppd.toml"
    path.write_text(
        '[ocpp]\nport = 9100\nunknown_stations = "pending"\n'
        '[[ocpp.compat]]\nvendor = "ACME"\nrelaxations = ["truncate_long_strings"]\n'
    )
    settings = load_settings(path, env={"OCPPD_OCPP__PORT": "9200", "OCPPD_HTTP__PUBLIC_METRICS": "false"})
    assert settings.ocpp.port == 9200 and settings.ocpp.unknown_stations == "pending"
    assert settings.http.public_metrics is False
    assert settings.compat_profile("CP", "ACME", "any").relaxations == {Relaxation.TRUNCATE_LONG_STRINGS}
    assert settings.compat_profile("CP", "Other", None).strict


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OCPPD_OCPP__UNKNOWN_STATIONS": "maybe"}, "unknown_stations"),
        ({"OCPPD_OCPP__PORT": "nine"}, "ocpp.port"),
        ({"OCPPD_OCPP__VERSIONS": "ocpp9"}, "ocpp9"),
        ({"OCPPD_NOPE__PORT": "1"}, "nope"),
        ({"OCPPD_HTTP__NOPE": "1"}, "nope"),
    ],
)
def test_bad_settings_name_the_field(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings(None, env=env)


def test_other_ocppd_variables_are_not_settings() -> None:
    settings = load_settings(None, env={"OCPPD_DIR": "x", "OCPPD_DATADIR": "y", "OCPPD_USER_PASSWORD": "z"})
    assert settings.warnings == [
        "OCPPD_DATADIR is not an ocppd setting and is ignored (did you mean OCPPD_DATA_DIR?)",
        "OCPPD_DIR is not an ocppd setting and is ignored",
    ]


def test_bad_relaxation_in_the_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "ocppd.toml"
    path.write_text('[[ocpp.compat]]\nstation = "CP"\nrelaxations = ["frobnicate"]\n')
    with pytest.raises(ValueError, match="frobnicate"):
        load_settings(path, env={})
