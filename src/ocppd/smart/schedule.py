"""Smart charging, sans-I/O: stored charging profiles and the composite limit they impose.

Profiles arrive in 1.6 or 2.x shape and are normalised into :class:`Profile`; everything after that
is version-neutral. Times are POSIX seconds (UTC). The composite limit at an instant follows
1.6 §3.13.2 / 2.0.1 K08: within each purpose the highest valid stackLevel wins, a TxProfile
overrides a TxDefaultProfile, and the result is capped by the station-wide maximum profile.
Limits are kept in watts internally; amperes convert with ``voltage * phases``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX = "max"  # ChargePointMaxProfile (1.6) / ChargingStationMaxProfile (2.x)
TX_DEFAULT = "txdefault"
TX = "tx"
EXTERNAL = "external"  # ChargingStationExternalConstraints (2.x): may be reported, never set by the CSMS

_PURPOSE_IN = {
    "ChargePointMaxProfile": MAX,
    "ChargingStationMaxProfile": MAX,
    "TxDefaultProfile": TX_DEFAULT,
    "TxProfile": TX,
    "ChargingStationExternalConstraints": EXTERNAL,
}
_PURPOSE_OUT_16 = {MAX: "ChargePointMaxProfile", TX_DEFAULT: "TxDefaultProfile", TX: "TxProfile"}
_PURPOSE_OUT_2X = {
    MAX: "ChargingStationMaxProfile", TX_DEFAULT: "TxDefaultProfile", TX: "TxProfile",
    EXTERNAL: "ChargingStationExternalConstraints",
}  # fmt: skip

DAY = 86400.0
WEEK = 7 * DAY


def parse_time(value: str | None) -> float | None:
    """An OCPP dateTime (RFC 3339) as POSIX seconds; naive values are taken as UTC."""
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def format_time(ts: float) -> str:
    """POSIX seconds as the ``...Z`` dateTime OCPP peers expect (millisecond precision)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def purpose_name(purpose: str, family: str) -> str:
    return (_PURPOSE_OUT_16 if family == "1.6" else _PURPOSE_OUT_2X)[purpose]


@dataclass(slots=True)
class Period:
    start: float  # seconds from the schedule start
    limit: float | None  # in the schedule's unit; None (2.1 setpoint-only periods) means no limit
    phases: int | None = None


@dataclass(slots=True)
class Profile:
    """One installed charging profile, normalised."""

    id: int
    stack_level: int
    purpose: str
    kind: str  # Absolute | Recurring | Relative | Dynamic
    unit: str  # "W" | "A"
    periods: list[Period]
    evse: int = 0  # 0: the whole station (or every EVSE, for TxDefault)
    recurrency: str | None = None  # Daily | Weekly
    start: float | None = None  # startSchedule
    duration: float | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    transaction_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # as received, for GetChargingProfiles

    @classmethod
    def from_ocpp(cls, data: dict[str, Any], evse: int, received: float) -> Profile:
        """Normalise a 1.6 ``csChargingProfiles`` or a 2.x ``chargingProfile``.

        A schedule without ``startSchedule`` (other than a Relative one) starts when it is received.
        """
        schedule = data["chargingSchedule"]
        if isinstance(schedule, list):  # 2.x: one to three schedules; the first one governs here
            schedule = schedule[0]
        tx = data.get("transactionId")
        return cls(
            id=int(data["chargingProfileId"] if "chargingProfileId" in data else data["id"]),
            stack_level=int(data["stackLevel"]),
            purpose=_PURPOSE_IN[data["chargingProfilePurpose"]],
            kind=data["chargingProfileKind"],
            unit=schedule["chargingRateUnit"],
            periods=sorted(
                (
                    Period(float(p["startPeriod"]), p.get("limit"), p.get("numberPhases"))
                    for p in schedule["chargingSchedulePeriod"]
                ),
                key=lambda p: p.start,
            ),
            evse=evse,
            recurrency=data.get("recurrencyKind"),
            start=parse_time(schedule.get("startSchedule"))
            or (None if data["chargingProfileKind"] == "Relative" else received),
            duration=schedule.get("duration"),
            valid_from=parse_time(data.get("validFrom")),
            valid_to=parse_time(data.get("validTo")),
            transaction_id=None if tx is None else str(tx),
            raw=data,
        )

    def _origin(self, t: float, tx_start: float | None) -> float | None:
        """When the schedule (the occurrence covering ``t``) starts, or None if it does not apply."""
        if self.kind == "Relative":
            return tx_start if tx_start is not None else None
        base = self.start if self.start is not None else 0.0
        if self.kind == "Recurring":
            step = WEEK if self.recurrency == "Weekly" else DAY
            if t < base:
                return None
            return base + math.floor((t - base) / step) * step
        return base

    def limit_w(self, t: float, tx_start: float | None, voltage: float, default_phases: int) -> float | None:
        """This profile's limit in watts at ``t``; None where it does not apply."""
        if self.valid_from is not None and t < self.valid_from:
            return None
        if self.valid_to is not None and t >= self.valid_to:
            return None
        origin = self._origin(t, tx_start)
        if origin is None:
            return None
        offset = t - origin
        if offset < 0 or (self.duration is not None and offset >= self.duration):
            return None
        chosen: Period | None = None
        for period in self.periods:
            if period.start <= offset:
                chosen = period
            else:
                break
        if chosen is None or chosen.limit is None:
            return None
        if self.unit == "A":
            return float(chosen.limit) * voltage * (chosen.phases or default_phases)
        return float(chosen.limit)

    def breakpoints(self, start: float, end: float, tx_start: float | None) -> Iterable[float]:
        """Instants in [start, end) where this profile's limit may change."""
        for edge in (self.valid_from, self.valid_to):
            if edge is not None:
                yield edge
        if self.kind == "Relative":
            origins = [tx_start] if tx_start is not None else []
        elif self.kind == "Recurring":
            step = WEEK if self.recurrency == "Weekly" else DAY
            base = self.start if self.start is not None else 0.0
            first = base + max(0, math.floor((start - base) / step)) * step
            origins = []
            o = first
            while o < end and len(origins) < 1000:
                origins.append(o)
                o += step
        else:
            origins = [self.start if self.start is not None else 0.0]
        for origin in origins:
            for period in self.periods:
                yield origin + period.start
            if self.duration is not None:
                yield origin + self.duration


@dataclass(slots=True)
class ActiveTx:
    """What the limit computation needs to know about the transaction on an EVSE."""

    transaction_id: str | None
    start: float


class ProfileStore:
    """The charging profiles installed on one station."""

    def __init__(self, voltage: float = 230.0, phases: int = 3, max_stack_level: int = 8) -> None:
        self.voltage = voltage
        self.phases = phases
        self.max_stack_level = max_stack_level
        self.profiles: list[Profile] = []

    def install(self, profile: Profile) -> None:
        """Add or replace: same id, or same purpose+stackLevel+EVSE, replaces (1.6 §5.16, K01.FR.05)."""
        self.profiles = [
            p
            for p in self.profiles
            if p.id != profile.id
            and not (p.purpose == profile.purpose and p.stack_level == profile.stack_level and p.evse == profile.evse)
        ]
        self.profiles.append(profile)

    def clear(
        self,
        *,
        profile_id: int | None = None,
        evse: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> int:
        """Remove matching profiles; return how many went."""

        def matches(p: Profile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return (
                (evse is None or p.evse == evse)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        before = len(self.profiles)
        self.profiles = [p for p in self.profiles if not matches(p)]
        return before - len(self.profiles)

    def clear_tx_profiles(self, evse: int) -> None:
        """TxProfiles end with their transaction (1.6 §3.13.4, K01.FR.05)."""
        self.profiles = [p for p in self.profiles if not (p.purpose == TX and p.evse == evse)]

    def _relevant(self, evse: int, tx: ActiveTx | None) -> list[Profile]:
        out = []
        for p in self.profiles:
            if (
                p.purpose == MAX
                or p.purpose == EXTERNAL
                or (p.purpose == TX_DEFAULT and p.evse in (0, evse))
                or (
                    p.purpose == TX
                    and p.evse == evse
                    and tx is not None
                    and (p.transaction_id is None or p.transaction_id == tx.transaction_id)
                )
            ):
                out.append(p)
        return out

    def limit_w(self, evse: int, t: float, tx: ActiveTx | None) -> float | None:
        """The composite limit in watts for ``evse`` at ``t``; None means unlimited."""
        return self._limit(self._relevant(evse, tx), evse, t, tx)

    def _limit(self, profiles: Sequence[Profile], evse: int, t: float, tx: ActiveTx | None) -> float | None:
        tx_start = tx.start if tx is not None else None
        best: dict[str, tuple[int, float]] = {}
        # An EVSE-specific TxDefault beats the station-wide one at the same level (K01.FR.52).
        for p in profiles:
            limit = p.limit_w(t, tx_start, self.voltage, self.phases)
            if limit is None:
                continue
            key = p.purpose
            rank = p.stack_level * 2 + (1 if p.evse == evse and p.purpose == TX_DEFAULT else 0)
            if key not in best or rank > best[key][0]:
                best[key] = (rank, limit)
        tx_limit = best.get(TX, best.get(TX_DEFAULT, (0, None)))[1]
        caps = [x for x in (tx_limit, best.get(MAX, (0, None))[1], best.get(EXTERNAL, (0, None))[1])
                if x is not None]  # fmt: skip
        return min(caps) if caps else None

    def next_change(self, evse: int, after: float, tx: ActiveTx | None, horizon: float = DAY) -> float | None:
        """The next instant after ``after`` where the composite limit may change."""
        tx_start = tx.start if tx is not None else None
        points = [
            b
            for p in self._relevant(evse, tx)
            for b in p.breakpoints(after, after + horizon, tx_start)
            if after < b < after + horizon
        ]
        return min(points) if points else None

    def composite(
        self, evse: int, start: float, duration: float, unit: str, tx: ActiveTx | None, max_power_w: float
    ) -> list[dict[str, Any]]:
        """The composite schedule as OCPP ``chargingSchedulePeriod`` entries (K08, 1.6 §5.7)."""
        profiles = self._relevant(evse, tx)
        tx_start = tx.start if tx is not None else None
        end = start + duration
        points = {start}
        for p in profiles:
            points.update(b for b in p.breakpoints(start, end, tx_start) if start < b < end)
        periods: list[dict[str, Any]] = []
        last: float | None = -1.0
        for t in sorted(points):
            limit = self._limit(profiles, evse, t, tx)
            watts = max_power_w if limit is None else min(limit, max_power_w)
            value = watts if unit == "W" else watts / (self.voltage * self.phases)
            value = round(value, 1)
            if value == last:
                continue
            offset = int(t - start)
            if periods and periods[-1]["startPeriod"] == offset:
                # Two breakpoints within the same second (e.g. a profile installed just after the
                # schedule's truncated start): the later one wins; startPeriods must strictly increase.
                periods[-1]["limit"] = value
                if len(periods) > 1 and periods[-2]["limit"] == value:
                    periods.pop()
            else:
                periods.append({"startPeriod": offset, "limit": value})
            last = periods[-1]["limit"]
        return periods
