"""The version-neutral station model, sans-I/O: connectors, meters, transactions, local auth state.

Statuses use the 1.6 vocabulary (the richer one); the 2.x adapter folds Preparing/Charging/
Suspended*/Finishing into ``Occupied``. A connector's status is *derived* from its state, so it can
never disagree with it; the station sends a StatusNotification whenever the derived value changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ocppd.smart.schedule import ActiveTx, ProfileStore

AVAILABLE = "Available"
PREPARING = "Preparing"
CHARGING = "Charging"
SUSPENDED_EV = "SuspendedEV"
SUSPENDED_EVSE = "SuspendedEVSE"
FINISHING = "Finishing"
RESERVED = "Reserved"
UNAVAILABLE = "Unavailable"
FAULTED = "Faulted"

STATUS_2X = {
    AVAILABLE: "Available", PREPARING: "Occupied", CHARGING: "Occupied", SUSPENDED_EV: "Occupied",
    SUSPENDED_EVSE: "Occupied", FINISHING: "Occupied", RESERVED: "Reserved", UNAVAILABLE: "Unavailable",
    FAULTED: "Faulted",
}  # fmt: skip
CHARGING_STATE_2X = {CHARGING: "Charging", SUSPENDED_EV: "SuspendedEV", SUSPENDED_EVSE: "SuspendedEVSE"}

VOLTAGE = 230.0


def register_shows(wh: float) -> float:
    """What an energy register shows: what it has counted, cut to its 0.1 Wh digit (never rounded up: a
    later whole-Wh meterStop must not read lower than an earlier sample)."""
    return math.floor(wh * 10) / 10


def default_id_tags(count: int = 50) -> list[str]:
    """The simulator's cards: 4-byte RFID UIDs as 8 hex digits (04A10001..04A10050), valid as idTag in
    1.6 and as ISO14443 idToken in 2.0.1/2.1 (8 or 14 hex digits). ``ocppd tokens add $(seq -f 04A1%04g 1 50)``."""
    return [f"04A1{i:04d}" for i in range(1, count + 1)]


def id_token_type(id_tag: str) -> str:
    """The 2.x idToken type a card number can have: an RFID UID (4 or 7 bytes in hex) is ISO14443,
    anything else is a Central token (a CSMS checks that the value fits the type)."""
    is_uid = len(id_tag) in (8, 14) and all(ch in "0123456789abcdefABCDEF" for ch in id_tag)
    return "ISO14443" if is_uid else "Central"


@dataclass(slots=True)
class Transaction:
    ref: str  # station-local reference; the 2.x transactionId; 1.6 maps it to the CSMS's id
    id_tag: str
    start: float
    meter_start_wh: float
    id: str | None = None  # the id the CSMS knows it by (1.6: once StartTransaction is answered)
    seq_no: int = 0  # 2.x TransactionEvent seqNo
    remote_start_id: int | None = None
    reservation_id: int | None = None
    next_sample: float = 0.0
    energy_wh: float = 0.0  # delivered in this transaction
    authorized: bool = True
    stop_reason: str | None = None
    token_type: str = ""  # 2.x idToken type; "" until set: id_token_type(id_tag)
    charging_state: str | None = None  # 2.x: last reported chargingState
    limit: dict[str, Any] | None = None  # 2.1 TransactionLimitType in force (maxCost/maxEnergy/maxTime/maxSoC)

    def __post_init__(self) -> None:
        if not self.token_type:
            self.token_type = id_token_type(self.id_tag)

    def next_seq(self) -> int:
        seq = self.seq_no
        self.seq_no += 1
        return seq


@dataclass(slots=True)
class Reservation:
    id: int
    id_tag: str
    expiry: float
    parent_id_tag: str | None = None


@dataclass(slots=True)
class EV:
    """The car on the cable: how fast it can take energy and how much it wants.

    It charges on ``phases`` phases (1: a single-phase car, also on a three-phase station), takes at
    most ``max_power_w`` (a car that draws less than allowed simply has a low one), pauses when it
    is offered less than ``min_current_a`` per phase, and tapers above ``taper_soc`` percent state of
    charge, down to a tenth of its maximum when full. An ``iso15118`` car (2.0.1 and 2.1 stations)
    tells the CSMS its charging needs when its transaction starts (NotifyEVChargingNeeds: energy,
    current range, and its departure ``departure_s`` seconds after the start if it knows it) and
    answers every TxProfile with its own schedule within it (NotifyEVChargingSchedule).
    """

    max_power_w: float = 11000.0
    need_wh: float = 30000.0
    capacity_wh: float = 60000.0
    soc_start: float = 40.0
    phases: int = 3
    min_current_a: float = 6.0
    taper_soc: float = 80.0
    iso15118: bool = False
    departure_s: float | None = None

    def soc(self, energy_wh: float) -> float:
        return min(100.0, self.soc_start + 100.0 * energy_wh / self.capacity_wh)

    def max_current_a(self, energy_wh: float) -> float:
        """What the car takes per phase at this state of charge, when nothing limits it."""
        amps = self.max_power_w / (VOLTAGE * self.phases)
        soc = self.soc(energy_wh)
        if soc > self.taper_soc:
            amps *= max(0.1, (100.0 - soc) / max(1e-9, 100.0 - self.taper_soc))
        return amps


@dataclass(slots=True)
class Connector:
    number: int  # 1.6 connectorId: 1..N across the station
    evse_id: int  # 2.x EVSE id
    connector_id: int  # 2.x connector id within its EVSE
    max_power_w: float
    connector_type: str = "cType2"
    phases: int = 3
    energy_wh: float = 0.0  # the meter's energy register: only ever grows
    power_w: float = 0.0
    last_update: float = 0.0
    plugged: bool = False
    operative: bool = True
    pending_inoperative: bool = False
    faulted: bool = False
    error_code: str = "NoError"
    finishing: bool = False  # a transaction ended, the cable is still in
    preparing: bool = False  # authorised, waiting for the cable
    ev: EV | None = None
    tx: Transaction | None = None
    reservation: Reservation | None = None
    reported_status: str | None = None
    limit_w: float | None = None  # the composite limit the charger applies (after its delay)
    current_a: float = 0.0  # per phase, on each of the car's phases
    delay_s: float = 0.0  # a new composite limit takes effect this long after it is installed
    _target_w: float | None = None  # the composite limit the profiles give now
    _pending: tuple[float, float | None] | None = None  # (takes effect at, limit) while delayed

    @property
    def status(self) -> str:
        if self.faulted:
            return FAULTED
        tx = self.tx
        if tx is not None:
            if self.ev is not None and tx.energy_wh >= self.ev.need_wh - 1e-6:
                return SUSPENDED_EV
            if self.limit_w is not None and self.limit_w <= 0:
                return SUSPENDED_EVSE
            if (
                self.ev is not None
                and self.limit_w is not None
                and self.plugged
                and self.current_a <= 0
                and (tx.energy_wh < self.ev.need_wh - 1e-6)
            ):
                return SUSPENDED_EVSE  # offered less than the car's minimum current
            return CHARGING if self.plugged else SUSPENDED_EV
        if not self.operative:
            return UNAVAILABLE
        if self.plugged:
            return FINISHING if self.finishing else PREPARING
        if self.preparing:
            return PREPARING
        if self.reservation is not None:
            return RESERVED
        return AVAILABLE

    def evse_key(self, family: str) -> int:
        """What charging profiles are installed against: the connector in 1.6, the EVSE in 2.x."""
        return self.number if family == "1.6" else self.evse_id

    def active_tx(self) -> ActiveTx | None:
        if self.tx is None:
            return None
        return ActiveTx(self.tx.id or self.tx.ref, self.tx.start)

    def demand_w(self) -> float:
        """What would flow without any charging profile."""
        return self._flow(None)[1]

    def _flow(self, limit_w: float | None) -> tuple[float, float]:
        """(current per phase, power) the car draws under ``limit_w`` (None: no profile)."""
        ev = self.ev
        if self.tx is None or not self.plugged or ev is None or self.faulted:
            return 0.0, 0.0
        if self.tx.energy_wh >= ev.need_wh:
            return 0.0, 0.0
        phases = max(1, min(ev.phases, self.phases))
        amps = min(ev.max_current_a(self.tx.energy_wh), self.max_power_w / (VOLTAGE * self.phases))
        if limit_w is not None:
            # a charging profile is a limit per phase of the station: the car gets it on each of its phases
            offered = max(limit_w, 0.0) / (VOLTAGE * self.phases)
            if offered < ev.min_current_a - 1e-9:
                return 0.0, 0.0  # below its minimum a car pauses
            amps = min(amps, offered)
        return amps, amps * VOLTAGE * phases

    def _applied(self, target: float | None, t: float) -> float | None:
        """The limit in force at ``t`` when the composite limit is ``target`` (the charger's delay)."""
        if target != self._target_w:
            self._target_w = target
            if self.delay_s <= 0 or self.last_update == 0.0:
                self._pending = None
                self.limit_w = target
            else:
                self._pending = (t + self.delay_s, target)
        if self._pending is not None and t >= self._pending[0] - 1e-9:
            self.limit_w = self._pending[1]
            self._pending = None
        return self.limit_w

    @property
    def pending_at(self) -> float | None:
        """When a delayed limit change takes effect."""
        return self._pending[0] if self._pending is not None else None

    def advance(self, now: float, profiles: ProfileStore, family: str) -> None:
        """Integrate delivered energy up to ``now``, following the composite limit piecewise.

        The limit is re-evaluated at every profile breakpoint (and when a delayed change lands) inside
        the interval, so energy is exact even when the meter is read rarely.
        """
        t = self.last_update or now
        evse = self.evse_key(family)
        atx = self.active_tx()
        has_profiles = bool(profiles.profiles)
        while t < now:
            target = profiles.limit_w(evse, t, atx) if has_profiles else None
            limit = self._applied(target, t)
            end = now
            if has_profiles:
                nxt = profiles.next_change(evse, t, atx)
                if nxt is not None and nxt < end:
                    end = nxt
            if self._pending is not None and self._pending[0] < end:
                end = max(self._pending[0], t + 1e-6)
            _, power = self._flow(limit)
            energy = power * (end - t) / 3600.0
            if self.tx is not None and self.ev is not None and energy > 0:
                energy = min(energy, max(self.ev.need_wh - self.tx.energy_wh, 0.0))
                self.tx.energy_wh += energy
            self.energy_wh += energy
            t = end
        self._applied(profiles.limit_w(evse, now, atx) if has_profiles else None, now)
        self.last_update = now
        self.current_a, self.power_w = self._flow(self.limit_w)

    def phase_currents(self) -> list[float]:
        """Current on the station's L1, L2, L3: the car loads its first ``phases`` phases."""
        phases = max(1, min(self.ev.phases if self.ev else 3, self.phases))
        return [round(self.current_a, 2) if i < phases else 0.0 for i in range(3)]

    def sample(self, measurands: list[str]) -> list[dict[str, Any]]:
        """Sampled values (version-neutral fields shared by 1.6 and 2.x) for ``measurands``."""
        out: list[dict[str, Any]] = []
        for m in measurands:
            if m == "Energy.Active.Import.Register":
                out.append({"measurand": m, "value": register_shows(self.energy_wh), "unit": "Wh"})
            elif m == "Power.Active.Import":
                out.append({"measurand": m, "value": round(self.power_w, 1), "unit": "W"})
            elif m == "Current.Import":
                for phase, amps in zip(("L1", "L2", "L3"), self.phase_currents()[: self.phases], strict=False):
                    out.append({"measurand": m, "value": amps, "unit": "A", "phase": phase})
            elif m == "Voltage":
                out.append({"measurand": m, "value": VOLTAGE, "unit": "V"})
            elif m == "Power.Offered":
                offered = self.max_power_w if self.limit_w is None else min(self.max_power_w, self.limit_w)
                out.append({"measurand": m, "value": round(offered, 1), "unit": "W"})
            elif m == "Current.Offered":
                offered = self.max_power_w if self.limit_w is None else min(self.max_power_w, self.limit_w)
                out.append({"measurand": m, "value": round(offered / (VOLTAGE * self.phases), 2), "unit": "A"})
            elif m == "SoC" and self.ev is not None and self.tx is not None:
                out.append({"measurand": m, "value": math.floor(self.ev.soc(self.tx.energy_wh)), "unit": "Percent"})
            elif m == "Frequency":
                out.append({"measurand": m, "value": 50.0})
            elif m == "Temperature":
                out.append({"measurand": m, "value": 25.0, "unit": "Celsius"})
        return out


@dataclass(slots=True)
class LocalAuth:
    """The local authorisation list and the authorisation cache (1.6 §3.5, 2.0.1 C13/C14)."""

    version: int = 0
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)  # idTag -> idTagInfo/idTokenInfo
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    def update(self, update_type: str, version: int, items: list[tuple[str, dict[str, Any] | None]],
               max_entries: int) -> str:  # fmt: skip
        """Apply a SendLocalList; the status string is the same in every version."""
        if update_type == "Full":
            entries = {tag: info for tag, info in items if info is not None}
        else:
            if version <= self.version:
                return "VersionMismatch"
            entries = dict(self.entries)
            for tag, info in items:
                if info is None:
                    entries.pop(tag, None)
                else:
                    entries[tag] = info
        if len(entries) > max_entries:
            return "Failed"
        self.entries = entries
        self.version = version
        return "Accepted"

    def lookup(self, id_tag: str, use_cache: bool) -> dict[str, Any] | None:
        info = self.entries.get(id_tag)
        if info is None and use_cache:
            info = self.cache.get(id_tag)
        return info
