"""Charging profiles between domain and wire: both versions' shapes, read back, checked before sending."""

from __future__ import annotations

import pytest

from ocppd.csms.smart.wire import ProfileSpec, payload, problems, profile_fields, sent_profile
from ocppd.protocol.validation import schemas
from ocppd.protocol.versions import OcppVersion
from ocppd.smart.schedule import ActiveTx, Profile, ProfileStore

T0 = 1_700_000_000.0


@pytest.mark.parametrize(("fam", "version"), [("1.6", OcppVersion.V16), ("2.x", OcppVersion.V201)])
def test_payload_is_valid_and_reads_back(fam: str, version: OcppVersion) -> None:
    spec = ProfileSpec(
        id=900001,
        purpose="tx",
        stack_level=6,
        periods=((0, 16.0, None), (600, 10.0, 1)),
        evse=1,
        start=T0,
        duration=900,
        transaction_id="42",
    )
    request = payload(spec, fam)
    schemas(version).validate("SetChargingProfile", request)
    evse, profile = sent_profile(request)
    assert evse == 1
    f = profile_fields(profile)
    assert (f["profile_id"], f["purpose"], f["stack_level"], f["unit"], f["transaction_id"]) == (
        900001,
        "tx",
        6,
        "A",
        "42",
    )
    assert problems(evse, profile, fam) == []
    # the composite the CSMS computes from it is the one the simulator enforces (one implementation)
    store = ProfileStore()
    store.install(Profile.from_ocpp(profile, evse, T0))
    # the 1-phase period counts one phase (10 A on one phase is 3.3 A on each of three); after the
    # 900 s lease the profile no longer applies and the station's own 32 A maximum is back
    assert store.composite(1, T0, 1200, "A", ActiveTx("42", T0), 32 * 230 * 3) == [
        {"startPeriod": 0, "limit": 16.0},
        {"startPeriod": 600, "limit": 3.3},
        {"startPeriod": 900, "limit": 32.0},
    ]


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda p: p.update(stackLevel=-1), "stackLevel"),
        (lambda p: p["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(startPeriod=5), "starts at 0"),
        (
            lambda p: p["chargingSchedule"][0]["chargingSchedulePeriod"].append({"startPeriod": 0, "limit": 3}),
            "increase",
        ),
        (lambda p: p["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(limit=-2), "negative"),
        (lambda p: p.pop("transactionId"), "transactionId"),
        (lambda p: p.update(chargingProfileKind="Recurring"), "recurrencyKind"),
        (lambda p: p.update(validFrom="2026-01-02T00:00:00Z", validTo="2026-01-01T00:00:00Z"), "validTo"),
        (lambda p: p.update(chargingProfilePurpose="ChargingStationExternalConstraints"), "External"),
    ],
)
def test_problems_a_station_would_refuse(mutate, words: str) -> None:
    spec = ProfileSpec(
        id=1, purpose="tx", stack_level=0, periods=((0, 16.0, None),), evse=1, start=T0, transaction_id="t"
    )
    request = payload(spec, "2.x")
    mutate(request["chargingProfile"])
    found = problems(1, request["chargingProfile"], "2.x")
    assert any(words in p for p in found), found


def test_station_wide_rules() -> None:
    spec = ProfileSpec(id=1, purpose="max", stack_level=0, periods=((0, 32.0, None),), evse=2, start=T0)
    assert any("EVSE 0" in p for p in problems(2, payload(spec, "2.x")["chargingProfile"], "2.x"))
    tx = ProfileSpec(
        id=1, purpose="tx", stack_level=9, periods=((0, 32.0, None),), evse=0, start=T0, transaction_id="1"
    )
    found = problems(0, payload(tx, "1.6")["csChargingProfiles"], "1.6", max_stack_level=8, units=("W",))
    assert any("needs an EVSE" in p for p in found) and any("stackLevel" in p for p in found)
    assert any("chargingRateUnit" in p for p in found)
