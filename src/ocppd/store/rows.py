"""Typed, immutable row objects returned by the repository functions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple, Self

from sqlalchemy import Row


class _RowMixin:
    __slots__ = ()

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        """Build from a SQLAlchemy row whose column names match the dataclass fields."""
        m = row._mapping
        return cls(**{f.name: m[f.name] for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class StationRow(_RowMixin):
    station_id: str
    ocpp_version: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    registration_status: str | None
    boot_info: dict[str, Any] | None
    enabled: bool
    security_profile: int | None
    auth_password_hash: str | None
    attrs: dict[str, Any] | None
    last_boot_at: datetime | None
    last_seen_at: datetime | None
    last_heartbeat_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ConnectorStatusRow(_RowMixin):
    station_id: str
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    timestamp: datetime
    extra: dict[str, Any] | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StatusHistoryRow(_RowMixin):
    id: int
    station_id: str
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    timestamp: datetime
    extra: dict[str, Any] | None
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRow(_RowMixin):
    id_token: str
    token_type: str | None
    status: str
    expiry: datetime | None
    group_id: str | None
    concurrent_tx: bool | None
    created_at: datetime
    updated_at: datetime
    language1: str | None = None  # the driver's preferred languages (RFC 5646)
    language2: str | None = None

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(x for x in (self.language1, self.language2) if x)

    def effective_status(self, now: datetime) -> str:
        """What an Authorize would answer for the token itself: an Accepted token past its expiry is Expired."""
        expired = self.expiry is not None and self.expiry <= now
        return "Expired" if expired and self.status == "Accepted" else self.status


@dataclass(frozen=True, slots=True)
class TxRow(_RowMixin):
    id: int  # the transaction pk (== 1.6 transactionId)
    station_id: str
    transaction_uid: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    started_at: datetime
    stopped_at: datetime | None
    meter_start_wh: float | None
    meter_stop_wh: float | None
    energy_wh: float | None
    stop_reason: str | None
    stop_id_token: str | None
    ocpp_version: str | None
    dedupe_key: str
    charging_state: str | None
    remote_start_id: int | None
    reservation_id: int | None
    offline: bool
    trigger_reason: str | None
    closed_by: str | None
    close_reason: str | None
    flagged: bool
    deauthorized_at: datetime | None
    data: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.stopped_at is None


class Sample(NamedTuple):
    """One sampled value as passed to ``add_meter_values`` (plain 7-tuples are accepted too)."""

    timestamp: datetime
    measurand: str | None
    phase: str | None
    unit: str | None
    value: float
    context: str | None
    location: str | None


SampleValue = tuple[str, str, str | None, float, str, str]  # (measurand, phase, unit, value, context, location)

_ENERGY_REGISTER = "Energy.Active.Import.Register"
_POWER = "Power.Active.Import"


class Reading(NamedTuple):
    """Every sampled value a station reported for one timestamp: the unit of meter storage.

    ``energy_wh`` is the whole-meter energy register in Wh and ``power_w`` the total active import
    power in W (the sum of the phases when no total was sent), the two figures billing and the
    dashboard need without unpacking ``samples``.
    """

    timestamp: datetime
    context: str
    energy_wh: float | None
    power_w: float | None
    samples: tuple[SampleValue, ...]

    @classmethod
    def of(cls, timestamp: datetime, samples: Iterable[SampleValue]) -> Reading:
        unique = tuple(dict.fromkeys(samples))  # a value repeated within one reading counts once
        energy = power = phase_power = None
        for measurand, phase, unit, value, _, _ in unique:
            if measurand == _ENERGY_REGISTER and not phase:
                energy = value * 1000.0 if unit == "kWh" else value
            elif measurand == _POWER:
                watts = value * 1000.0 if unit == "kW" else value
                if phase:
                    phase_power = (phase_power or 0.0) + watts
                else:
                    power = watts
        context = unique[0][4] if unique else "Sample.Periodic"
        return cls(timestamp, context, energy, power if power is not None else phase_power, unique)


@dataclass(frozen=True, slots=True)
class MeterSampleRow(_RowMixin):
    id: int
    transaction_id: int | None
    station_id: str
    evse_id: int
    connector_id: int
    timestamp: datetime
    measurand: str
    phase: str | None
    unit: str | None
    value: float
    context: str
    location: str


@dataclass(frozen=True, slots=True)
class TxEventRow(_RowMixin):
    id: int
    station_id: str
    transaction_uid: str
    seq_no: int
    event_type: str
    payload: dict[str, Any] | None
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class EventRow(_RowMixin):
    id: int
    station_id: str | None
    kind: str
    timestamp: datetime
    payload: dict[str, Any] | None
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class VariableRow(_RowMixin):
    station_id: str
    component: str
    variable: str
    attribute: str
    value: str | None
    readonly: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessageLogRow(_RowMixin):
    id: int
    station_id: str
    direction: str
    message_type: int
    message_id: str | None
    action: str | None
    frame: str
    logged_at: datetime
    frame_bytes: bytes | None = None  # the exact frame, when ``frame`` had to escape it
