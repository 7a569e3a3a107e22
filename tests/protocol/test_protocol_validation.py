"""Error codes per version, schema-violation -> error-kind mapping, the multipleOf trap, relaxations."""

from __future__ import annotations

import copy

import pytest

from ocppd.protocol import (
    CallError,
    CompatProfile,
    ErrorKind,
    OcppError,
    OcppVersion,
    Relaxation,
    schemas,
)
from ocppd.protocol.compat import STRICT
from ocppd.protocol.errors import V2X_ERROR_CODES, V16_ERROR_CODES, kind_from_wire, wire_code
from ocppd.protocol.validation import INTEGER_MAX, INTEGER_MIN

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
ALL = [V16, V201, V21]

J16_CODES = {
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
    "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
    "TypeConstraintViolation", "GenericError",
}  # fmt: skip
J2X_CODES = {
    "FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported", "NotImplemented",
    "NotSupported", "OccurrenceConstraintViolation", "PropertyConstraintViolation", "ProtocolError",
    "RpcFrameworkError", "SecurityError", "TypeConstraintViolation",
}  # fmt: skip


# ------------------------------------------------------------------ error codes
def test_16_wire_codes_are_exactly_the_j16_list():
    assert {wire_code(kind, V16) for kind in ErrorKind} == J16_CODES
    assert V16_ERROR_CODES == J16_CODES


@pytest.mark.parametrize("version", [V201, V21])
def test_2x_wire_codes(version):
    assert {wire_code(kind, version) for kind in ErrorKind} == J2X_CODES
    assert J2X_CODES <= V2X_ERROR_CODES


def test_spelling_per_version():
    occurrence = ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION
    assert wire_code(occurrence, V16) == "OccurenceConstraintViolation"  # misspelt in 1.6, on purpose
    assert wire_code(occurrence, V201) == wire_code(occurrence, V21) == "OccurrenceConstraintViolation"
    assert wire_code(ErrorKind.FORMAT_VIOLATION, V16) == "FormationViolation"
    assert wire_code(ErrorKind.FORMAT_VIOLATION, V201) == "FormatViolation"


def test_2x_only_kinds_fall_back_to_16_codes():
    assert wire_code(ErrorKind.RPC_FRAMEWORK_ERROR, V16) in J16_CODES
    assert wire_code(ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED, V16) in J16_CODES


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("OccurenceConstraintViolation", ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION),
        ("OccurrenceConstraintViolation", ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION),
        ("FormationViolation", ErrorKind.FORMAT_VIOLATION),
        ("FormatViolation", ErrorKind.FORMAT_VIOLATION),
        ("RpcFrameworkError", ErrorKind.RPC_FRAMEWORK_ERROR),
        ("MessageTypeNotSupported", ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED),
        ("NotImplemented", ErrorKind.NOT_IMPLEMENTED),
        ("GenericError", ErrorKind.GENERIC_ERROR),
    ],
)
def test_kind_from_wire_accepts_both_spellings(code, kind):
    assert kind_from_wire(code) is kind


@pytest.mark.parametrize("version", ALL)
def test_every_wire_code_maps_back(version):
    for kind in ErrorKind:
        back = kind_from_wire(wire_code(kind, version))
        assert back is not None
        if version is not V16:
            assert back is kind


def test_unknown_wire_code():
    assert kind_from_wire("NoSuchCode") is None
    assert kind_from_wire("occurrenceconstraintviolation") is None
    error = CallError("m", "VendorSpecificCode", "boom").to_exception()
    assert error.kind is ErrorKind.GENERIC_ERROR and error.code == "VendorSpecificCode"


@pytest.mark.parametrize("version", ALL)
def test_callerror_from_exception_uses_version_spelling(version):
    error = OcppError(ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION, "x" * 400, {"path": "a"})
    frame = CallError.from_exception("m-1", error, version)
    assert frame.error_code == wire_code(ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION, version)
    assert len(frame.description) == 255 and frame.details == {"path": "a"}
    assert frame.to_exception().kind is ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION


def test_ocpp_error_details_must_be_an_object():
    assert OcppError(ErrorKind.GENERIC_ERROR, "", ["x"]).details == {}  # type: ignore[arg-type]
    assert str(OcppError(ErrorKind.NOT_SUPPORTED)) == "NotSupported"


# ------------------------------------------------------------------ schema violations -> kinds
BOOT_16 = {"chargePointVendor": "Vendor", "chargePointModel": "Model"}
BOOT_2X = {"reason": "PowerUp", "chargingStation": {"model": "Model", "vendorName": "Vendor"}}


def boot(version: OcppVersion) -> dict:
    return copy.deepcopy(BOOT_16 if version is V16 else BOOT_2X)


def violation(version: OcppVersion, action: str, payload: dict, *, response: bool = False) -> OcppError:
    with pytest.raises(OcppError) as info:
        schemas(version).validate(action, payload, response=response)
    return info.value


def _holder(version: OcppVersion, payload: dict) -> tuple[dict, str]:
    """(the object holding the vendor field, its name) in a BootNotification request."""
    if version is V16:
        return payload, "chargePointVendor"
    return payload["chargingStation"], "vendorName"


@pytest.mark.parametrize("version", ALL)
def test_valid_boot_notification(version):
    assert schemas(version).validate("BootNotification", boot(version)) == ()


@pytest.mark.parametrize("version", ALL)
def test_missing_field_is_occurrence_violation(version):
    payload = boot(version)
    holder, name = _holder(version, payload)
    del holder[name]
    error = violation(version, "BootNotification", payload)
    assert error.kind is ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION
    wire = CallError.from_exception("m", error, version).error_code
    assert wire == ("OccurenceConstraintViolation" if version is V16 else "OccurrenceConstraintViolation")


@pytest.mark.parametrize("version", ALL)
def test_wrong_type_is_type_violation(version):
    payload = boot(version)
    holder, name = _holder(version, payload)
    holder[name] = 42
    error = violation(version, "BootNotification", payload)
    assert error.kind is ErrorKind.TYPE_CONSTRAINT_VIOLATION
    assert name in error.details["path"]


@pytest.mark.parametrize("version", ALL)
def test_overlong_string_is_property_violation(version):
    payload = boot(version)
    holder, name = _holder(version, payload)
    holder[name] = "V" * 51
    assert violation(version, "BootNotification", payload).kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION


@pytest.mark.parametrize("version", ALL)
def test_bad_enum_is_property_violation(version):
    response = {"status": "Maybe", "currentTime": "2024-01-01T00:00:00Z", "interval": 60}
    error = violation(version, "BootNotification", response, response=True)
    assert error.kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION


@pytest.mark.parametrize("version", ALL)
def test_bad_date_time_is_property_violation(version):
    response = {"status": "Accepted", "currentTime": "yesterday", "interval": 60}
    error = violation(version, "BootNotification", response, response=True)
    assert error.kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION


@pytest.mark.parametrize(
    ("version", "code"), [(V16, "FormationViolation"), (V201, "FormatViolation"), (V21, "FormatViolation")]
)
def test_additional_property_is_format_violation(version, code):
    payload = {**boot(version), "surprise": True}
    error = violation(version, "BootNotification", payload)
    assert error.kind is ErrorKind.FORMAT_VIOLATION
    assert CallError.from_exception("m", error, version).error_code == code


@pytest.mark.parametrize("version", ALL)
def test_too_few_items_is_occurrence_violation(version):
    payload = {"connectorId": 1, "meterValue": []} if version is V16 else {"evseId": 1, "meterValue": []}
    assert violation(version, "MeterValues", payload).kind is ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION


def test_below_minimum_is_property_violation():
    error = violation(V21, "CancelReservation", {"reservationId": -1})
    assert error.kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION


@pytest.mark.parametrize("version", ALL)
def test_unknown_action_has_no_schema(version):
    assert violation(version, "NoSuchAction", {}).kind is ErrorKind.NOT_IMPLEMENTED
    assert not schemas(version).has("NoSuchAction")
    assert schemas(version).has("BootNotification")


def test_schema_sets_are_cached_and_complete():
    assert schemas(V16) is schemas(V16)
    assert len(schemas(V16).actions()) == 39  # 28 core + 11 security whitepaper messages
    assert {"TransactionEvent", "NotifyReport"} <= schemas(V201).actions()
    assert {"NotifyPeriodicEventStream", "BatterySwap"} <= schemas(V21).actions()
    assert "TransactionEvent" not in schemas(V16).actions()


# ------------------------------------------------------------------ 1.6 multipleOf 0.1
def charging_profile(limit: float) -> dict:
    return {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A", "minChargingRate": 6.1,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            },
        },
    }  # fmt: skip


@pytest.mark.parametrize("limit", [21.4, 16.0, 0.1, 0.3, 32.7, 1e3, 7.7, 13])
def test_multiple_of_point_one_accepts_one_decimal(limit):
    # 21.4 / 0.1 == 213.99999999999997 in binary floating point; a naive validator rejects it.
    assert schemas(V16).validate("SetChargingProfile", charging_profile(limit)) == ()


@pytest.mark.parametrize("limit", [4.11, 21.45, 0.01])
def test_multiple_of_point_one_rejects_two_decimals(limit):
    error = violation(V16, "SetChargingProfile", charging_profile(limit))
    assert error.kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION


def test_multiple_of_in_remote_start_and_composite_schedule():
    profile = charging_profile(21.4)["csChargingProfiles"]
    profile["chargingProfilePurpose"] = "TxProfile"
    assert schemas(V16).validate("RemoteStartTransaction", {"idTag": "T", "chargingProfile": profile}) == ()
    response = {"status": "Accepted", "chargingSchedule": profile["chargingSchedule"]}
    assert schemas(V16).validate("GetCompositeSchedule", response, response=True) == ()


# ------------------------------------------------------------------ relaxations
def meter_values(measurand: str = "Energy.Active.Import.Register", timestamp: str = "2024-01-01T00:00:00Z"):
    return {
        "connectorId": 1,
        "meterValue": [{"timestamp": timestamp, "sampledValue": [{"value": "1", "measurand": measurand}]}],
    }


def test_strict_profile():
    assert STRICT.strict and CompatProfile().strict
    assert not CompatProfile.parse(["lenient_datetime"]).strict


def test_truncate_long_strings_cuts_in_place():
    profile = CompatProfile.parse(["truncate_long_strings"])
    payload = {"chargePointVendor": "V" * 30, "chargePointModel": "M" * 25, "chargePointSerialNumber": "S" * 40}
    fired = schemas(V16).validate("BootNotification", payload, profile=profile)
    assert fired == (Relaxation.TRUNCATE_LONG_STRINGS,)
    assert payload == {"chargePointVendor": "V" * 20, "chargePointModel": "M" * 20,
                       "chargePointSerialNumber": "S" * 25}  # fmt: skip
    assert schemas(V16).validate("BootNotification", payload) == ()


def test_truncate_nested_2x():
    profile = CompatProfile.parse(["truncate_long_strings"])
    payload = {"reason": "PowerUp", "chargingStation": {"model": "M" * 30, "vendorName": "V" * 60}}
    assert schemas(V201).validate("BootNotification", payload, profile=profile) == (Relaxation.TRUNCATE_LONG_STRINGS,)
    assert payload["chargingStation"] == {"model": "M" * 20, "vendorName": "V" * 50}


def test_truncate_does_not_cover_other_violations():
    profile = CompatProfile.parse(["truncate_long_strings"])
    payload = {"chargePointVendor": "V" * 30}
    with pytest.raises(OcppError) as info:
        schemas(V16).validate("BootNotification", payload, profile=profile)
    assert info.value.kind is ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION


def test_unknown_enum_value():
    payload = meter_values(measurand="Vendor.Invented")
    with pytest.raises(OcppError):
        schemas(V16).validate("MeterValues", payload)
    profile = CompatProfile.parse(["accept_unknown_enum_values"])
    assert schemas(V16).validate("MeterValues", payload, profile=profile) == (Relaxation.UNKNOWN_ENUM_VALUES,)


def test_unknown_enum_relaxation_does_not_accept_wrong_type():
    payload = meter_values()
    payload["meterValue"][0]["sampledValue"][0]["measurand"] = 7
    profile = CompatProfile.parse(["accept_unknown_enum_values"])
    with pytest.raises(OcppError) as info:
        schemas(V16).validate("MeterValues", payload, profile=profile)
    assert info.value.kind is ErrorKind.TYPE_CONSTRAINT_VIOLATION


@pytest.mark.parametrize("timestamp", ["2024-01-01T00:00:00", "2024-01-01 00:00:00", "01/01/2024"])
def test_lenient_datetime(timestamp):
    payload = meter_values(timestamp=timestamp)
    assert violation(V16, "MeterValues", payload).kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION
    profile = CompatProfile.parse(["lenient_datetime"])
    assert schemas(V16).validate("MeterValues", payload, profile=profile) == (Relaxation.LENIENT_DATETIME,)


def test_lenient_datetime_does_not_relax_other_formats():
    payload = {"location": "not a uri", "retrieveDate": "2024-01-01T00:00:00Z"}
    profile = CompatProfile.parse(["lenient_datetime"])
    with pytest.raises(OcppError) as info:
        schemas(V16).validate("UpdateFirmware", payload, profile=profile)
    assert info.value.kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION


def test_several_relaxations_fire_together_once_each():
    payload = meter_values(measurand="Vendor.Invented", timestamp="2024-01-01T00:00:00")
    payload["meterValue"].append(copy.deepcopy(payload["meterValue"][0]))
    profile = CompatProfile.parse(["accept_unknown_enum_values", "lenient_datetime"])
    fired = schemas(V16).validate("MeterValues", payload, profile=profile)
    assert sorted(fired) == sorted([Relaxation.UNKNOWN_ENUM_VALUES, Relaxation.LENIENT_DATETIME])


def test_skip_validation_for_one_action():
    profile = CompatProfile.parse(["skip_validation:MeterValues"])
    assert profile.skip_actions == {"MeterValues"}
    assert Relaxation.SKIP_VALIDATION in profile.relaxations
    assert schemas(V16).validate("MeterValues", {"garbage": True}, profile=profile) == (Relaxation.SKIP_VALIDATION,)
    assert schemas(V16).validate("MeterValues", meter_values(), profile=profile) == ()  # valid: nothing fired
    with pytest.raises(OcppError):
        schemas(V16).validate("StatusNotification", {"garbage": True}, profile=profile)


def test_relaxations_apply_to_responses_too():
    profile = CompatProfile.parse(["lenient_datetime"])
    response = {"status": "Accepted", "currentTime": "2024-01-01T00:00:00", "interval": 60}
    assert schemas(V16).validate("BootNotification", response, response=True, profile=profile) == (
        Relaxation.LENIENT_DATETIME,
    )


def test_compat_profile_parse_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown relaxation 'truncate'"):
        CompatProfile.parse(["lenient_datetime", "truncate"])
    assert CompatProfile.parse([]) == STRICT
    profile = CompatProfile.parse(("skip_validation:A", "skip_validation:B:C"))
    assert profile.skip_actions == {"A", "B:C"}


def integer_request(version: OcppVersion, value: int) -> tuple[str, dict]:
    if version is V16:
        return "StatusNotification", {"connectorId": value, "errorCode": "NoError", "status": "Available"}
    return "ClearDisplayMessage", {"id": value}


@pytest.mark.parametrize("version", list(OcppVersion))
@pytest.mark.parametrize("value", [INTEGER_MAX + 1, INTEGER_MIN - 1, 2**64, 2**70])
def test_integers_beyond_32_bits_are_property_violations(version, value):
    assert violation(version, *integer_request(version, value)).kind is ErrorKind.PROPERTY_CONSTRAINT_VIOLATION


@pytest.mark.parametrize("version", list(OcppVersion))
@pytest.mark.parametrize("value", [INTEGER_MAX, INTEGER_MIN + 2**31])
def test_integers_within_32_bits_pass(version, value):
    assert schemas(version).validate(*integer_request(version, value)) == ()


def test_payload_too_deep_for_the_validator_is_a_format_violation():
    payload: dict = {"vendorId": "x"}
    inner = payload
    for _ in range(400):
        inner["data"] = {}
        inner = inner["data"]
    assert violation(V16, "DataTransfer", payload).kind is ErrorKind.FORMAT_VIOLATION
