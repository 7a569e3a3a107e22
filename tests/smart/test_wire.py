"""Charging profiles between domain and wire: both versions' shapes, read back, checked before sending."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ocppd.csms import verbs as v
from ocppd.csms.outbound import Target
from ocppd.csms.service import outbound_adapters
from ocppd.csms.smart.wire import problems, profile_fields, sent_profile
from ocppd.protocol.validation import schemas
from ocppd.protocol.versions import OcppVersion
from ocppd.smart.schedule import ActiveTx, Profile, ProfileStore

T0 = 1_700_000_000.0
START = datetime.fromtimestamp(T0, UTC)


def request(profile: v.ChargingProfile, evse: int, fam: str) -> dict[str, Any]:
    """The SetChargingProfile request the verb's adapter builds for the version family."""
    version = OcppVersion.V16 if fam == "1.6" else OcppVersion.V201
    plan = outbound_adapters(version).plan(v.SetChargingProfile(profile, evse), Target("CS", version))
    return plan.calls[0].payload


@pytest.mark.parametrize(("fam", "version"), [("1.6", OcppVersion.V16), ("2.x", OcppVersion.V201)])
def test_payload_is_valid_and_reads_back(fam: str, version: OcppVersion) -> None:
    profile_in = v.ChargingProfile(
        id=900001,
        periods=(v.SchedulePeriod(0, 16.0), v.SchedulePeriod(600, 10.0, 1)),
        stack_level=6,
        purpose="tx",
        kind="Absolute",
        unit="A",
        start_at=START,
        duration_s=900,
        transaction_id="42",
    )
    sent = request(profile_in, 1, fam)
    schemas(version).validate("SetChargingProfile", sent)
    evse, profile = sent_profile(sent)
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
    profile = v.ChargingProfile(
        id=1,
        periods=(v.SchedulePeriod(0, 16.0),),
        purpose="tx",
        kind="Absolute",
        unit="A",
        start_at=START,
        transaction_id="t",
    )
    sent = request(profile, 1, "2.x")
    mutate(sent["chargingProfile"])
    found = problems(1, sent["chargingProfile"], "2.x")
    assert any(words in p for p in found), found


def test_station_wide_rules() -> None:
    station_max = v.ChargingProfile(
        id=1, periods=(v.SchedulePeriod(0, 32.0),), purpose="station_max", kind="Absolute", unit="A", start_at=START
    )
    assert any("EVSE 0" in p for p in problems(2, request(station_max, 2, "2.x")["chargingProfile"], "2.x"))
    tx = v.ChargingProfile(
        id=1,
        periods=(v.SchedulePeriod(0, 32.0),),
        stack_level=9,
        purpose="tx",
        kind="Absolute",
        unit="A",
        start_at=START,
        transaction_id="1",
    )
    found = problems(0, request(tx, 0, "1.6")["csChargingProfiles"], "1.6", max_stack_level=8, units=("W",))
    assert any("needs an EVSE" in p for p in found) and any("stackLevel" in p for p in found)
    assert any("chargingRateUnit" in p for p in found)
