"""Charging profiles on the wire, read back and checked (the verbs' adapters build them).

Pure functions. ``sent_profile`` reads any SetChargingProfile request (also one typed by an
operator through the generic call) back into (EVSE, profile dict); ``problems`` lists what a
station would have to refuse (OCPP 1.6 §5.16 / §7.8, 2.0.1 K01), so the domain can refuse it
first while the generic call can still send it (the OCA K test cases do).
"""

from __future__ import annotations

import itertools
from typing import Any

from ocppd.smart.schedule import EXTERNAL, MAX, TX, TX_DEFAULT, parse_time

PURPOSES = (MAX, TX_DEFAULT, TX)


def family(version_label: str) -> str:
    return "1.6" if version_label.startswith("1.") else "2.x"


def sent_profile(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(EVSE, the profile) of a 1.6 or 2.x SetChargingProfile request."""
    if "csChargingProfiles" in request:
        return int(request["connectorId"]), request["csChargingProfiles"]
    return int(request["evseId"]), request["chargingProfile"]


def profile_fields(profile: dict[str, Any]) -> dict[str, Any]:
    """The columns the store keeps of a 1.6 or 2.x profile."""
    schedule = profile["chargingSchedule"]
    if isinstance(schedule, list):
        schedule = schedule[0]
    tx = profile.get("transactionId")
    return {
        "profile_id": int(profile.get("chargingProfileId", profile.get("id", 0))),
        "purpose": _PURPOSE_IN.get(profile.get("chargingProfilePurpose", ""), "unknown"),
        "stack_level": int(profile.get("stackLevel", 0)),
        "kind": str(profile.get("chargingProfileKind", "")),
        "unit": str(schedule.get("chargingRateUnit", "")),
        "transaction_id": None if tx is None else str(tx),
        "valid_from": profile.get("validFrom"),
        "valid_to": profile.get("validTo"),
    }


_PURPOSE_IN = {
    "ChargePointMaxProfile": MAX,
    "ChargingStationMaxProfile": MAX,
    "TxDefaultProfile": TX_DEFAULT,
    "TxProfile": TX,
    "ChargingStationExternalConstraints": EXTERNAL,
}


def problems(
    evse: int,
    profile: dict[str, Any],
    fam: str,
    *,
    max_stack_level: int | None = None,
    units: tuple[str, ...] = ("A", "W"),
    evses: int | None = None,
) -> list[str]:
    """Why a station would have to refuse this profile; empty when it is acceptable."""
    out: list[str] = []
    f = profile_fields(profile)
    purpose, kind = f["purpose"], f["kind"]
    schedules = (
        profile["chargingSchedule"] if isinstance(profile["chargingSchedule"], list) else [profile["chargingSchedule"]]
    )
    if purpose not in PURPOSES:
        out.append("chargingProfilePurpose: the CSMS cannot set ChargingStationExternalConstraints")
    if f["stack_level"] < 0 or (max_stack_level is not None and f["stack_level"] > max_stack_level):
        out.append(f"stackLevel: {f['stack_level']} is outside 0..{max_stack_level}")
    if evse < 0 or (evses is not None and evse > evses):
        out.append(f"evseId: {evse} does not exist on this station")
    if purpose == MAX and evse != 0:
        out.append("a station maximum profile applies to the whole station (EVSE 0)")
    if purpose == TX and evse == 0:
        out.append("a TxProfile needs an EVSE (not 0)")
    if purpose == TX and fam == "2.x" and f["transaction_id"] is None:
        out.append("transactionId: a TxProfile needs the transaction it is for")
    if purpose != TX and f["transaction_id"] is not None:
        out.append("transactionId: only a TxProfile names a transaction")
    if kind == "Recurring" and not profile.get("recurrencyKind"):
        out.append("recurrencyKind: a Recurring profile needs Daily or Weekly")
    if kind != "Recurring" and profile.get("recurrencyKind"):
        out.append("recurrencyKind: only a Recurring profile recurs")
    if purpose == MAX and kind == "Relative" and fam == "2.x":
        out.append("chargingProfileKind: a station maximum profile cannot be Relative")
    frm, to = parse_time(f["valid_from"]), parse_time(f["valid_to"])
    if frm is not None and to is not None and to <= frm:
        out.append("validTo: must be after validFrom")
    for schedule in schedules:
        if kind == "Relative" and schedule.get("startSchedule"):
            out.append("startSchedule: a Relative profile starts with the transaction")
        if kind in ("Absolute", "Recurring") and not schedule.get("startSchedule") and fam == "2.x":
            out.append(f"startSchedule: an {kind} profile needs one")
        if schedule.get("chargingRateUnit") not in units:
            out.append(f"chargingRateUnit: this station takes {' or '.join(units)}")
        periods = schedule.get("chargingSchedulePeriod") or []
        if not periods:
            out.append("chargingSchedulePeriod: at least one period")
            continue
        if periods[0].get("startPeriod") != 0:
            out.append("chargingSchedulePeriod: the first period starts at 0")
        starts = [p.get("startPeriod", 0) for p in periods]
        if any(b <= a for a, b in itertools.pairwise(starts)):
            out.append("chargingSchedulePeriod: startPeriod must increase")
        for p in periods:
            limit = p.get("limit")
            if limit is not None and limit < 0:
                out.append(f"limit: {limit} is negative")
            phases = p.get("numberPhases")
            if phases is not None and phases not in (1, 2, 3):
                out.append(f"numberPhases: {phases} is not 1, 2 or 3")
    return out
