"""Response models of the REST API: what the OpenAPI document promises and FastAPI checks every
answer against. Times are ISO 8601 UTC strings, energy in Wh, power in W.

``extra="allow"``: a field a handler adds before its model learns of it still reaches the client
(and the schema says objects may carry more), instead of vanishing silently.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

# A transaction's row id in a path: the stores keep 64-bit ids, a larger number is a 400 naming it
# (the database driver would fail on it: a 500)
TRANSACTION_PK_MAX = 2**63 - 1
TransactionPk = Annotated[int, Path(ge=1, le=TRANSACTION_PK_MAX, description="The transaction's id (`id` in its list)")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Health(_Model):
    status: str = Field(description="ok while the server runs")
    connected_stations: int


class Me(_Model):
    name: str
    role: str = Field(description="admin or read-only")
    via: str = Field(description="token or session")


class Overview(_Model):
    stations: int
    connected: int
    charging: int
    faulted: int
    by_status: dict[str, int] = Field(description="Stations per summary status (Offline for those not connected)")
    active_transactions: int
    power_w: float
    unregistered_connected: list[str] = Field(description="Connected but not (yet) in the stations table")


class Connector(_Model):
    evse_id: int
    connector_id: int
    status: str = Field(
        description="What the operator should see: the last reported status, the transaction's charging state "
        "for 2.x Occupied, Offline while the station is not connected"
    )
    connector_status: str = Field(description="The status the station last reported")
    error_code: str | None
    info: str | None
    timestamp: str | None = Field(description="When the station reported it")
    transaction_id: str | None


class Station(_Model):
    station_id: str
    connected: bool
    connected_since: str | None
    status: str = Field(description="One-word summary: Offline, Faulted, Charging, ..., Available")
    ocpp_version: str | None
    registration: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    security_profile: int | None
    credentials: Literal["password", "certificate", "none"] = Field(
        description="How the station proves its identity; none: anyone who knows its id may connect as it"
    )
    last_boot_at: str | None
    last_seen_at: str | None = Field(description="Last message of any kind from the station")
    last_heartbeat_at: str | None
    created_at: str | None
    connectors: list[Connector]
    active_transactions: int
    power_w: float


class Transaction(_Model):
    id: int = Field(description="The CSMS's key (the 1.6 transactionId)")
    transaction_id: str | None = Field(description="As the station knows it (2.x transactionId)")
    station_id: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    started_at: str | None
    stopped_at: str | None
    active: bool
    meter_start_wh: float | None
    meter_stop_wh: float | None
    energy_wh: float | None = Field(description="Delivered energy; for a running transaction the energy so far")
    stop_reason: str | None
    charging_state: str | None
    ocpp_version: str | None
    remote_start_id: int | None
    reservation_id: int | None = None
    offline: bool = Field(False, description="2.x: an event of it was queued by the station while offline")
    trigger_reason: str | None = Field(None, description="2.x: of its latest event")
    closed_by: str | None = Field(
        None, description="Who closed it when the station did not: csms (abandoned, superseded) or operator:<name>"
    )
    close_reason: str | None = None
    flagged: bool = Field(False, description="Closed by the CSMS or an operator, or odd meter readings: check it")
    deauthorized_at: str | None = Field(None, description="When the CSMS acted on its token being blocked")
    stale: str | None = Field(None, description="Why an open transaction may not be live any more (None: looks live)")


class MeterSample(_Model):
    id: int
    transaction_id: int | None
    station_id: str
    evse_id: int
    connector_id: int
    timestamp: str | None
    measurand: str
    phase: str | None
    unit: str | None
    value: float
    context: str | None
    location: str | None


class TxEvent(_Model):
    seq_no: int
    event_type: str
    recorded_at: str | None
    payload: dict[str, Any] | None


class TransactionDetail(Transaction):
    meter_samples: list[MeterSample]
    events: list[TxEvent] = Field(description="2.x TransactionEvents in seqNo order")
    cost: dict[str, Any] | None = Field(
        None,
        description="The price with its breakdown (docs/billing.md); running: the cost so far (cost.running true); "
        "null: no tariff applies",
    )


class Notification(_Model):
    id: int
    kind: str
    timestamp: str | None
    payload: dict[str, Any] | None


class ConfigValue(_Model):
    component: str | None = Field(description="2.x component; null for a 1.6 configuration key")
    variable: str
    attribute: str
    value: str | None
    readonly: bool
    updated_at: str | None


class Evse(_Model):
    evse_id: int
    connectors: list[Connector]


class StationDetail(Station):
    evses: list[Evse]
    boot_info: dict[str, Any] | None
    transactions: list[Transaction] = Field(description="Active transactions")
    configuration: list[ConfigValue]
    notifications: list[Notification] = Field(description="The 20 most recent")
    energy_wh: dict[int, float] = Field(description="Energy register (Wh) per EVSE from the live view")


class Token(_Model):
    id_token: str
    type: str | None
    status: str = Field(description="Effective status: Expired once an Accepted token is past its expiry")
    stored_status: str
    expiry: str | None
    group_id: str | None
    concurrent_tx: bool | None = Field(
        None, description="May it be in several live transactions at once (None: as its group, else the default)"
    )
    language1: str | None = Field(None, description="The driver's preferred language (RFC 5646)")
    language2: str | None = Field(None, description="The driver's second language")
    created_at: str | None
    updated_at: str | None


class Message(_Model):
    id: int
    station_id: str
    direction: str = Field(description="in (from the station) or out")
    message_type: int = Field(description="2 CALL, 3 CALLRESULT, 4 CALLERROR (0: not parseable)")
    message_id: str | None
    action: str | None
    frame: str
    logged_at: str | None


class PowerPoint(_Model):
    at: str | None
    power_w: float | None
    source: str = Field(description="live (in memory) or stored (bucketed readings)")


class StationPower(_Model):
    station_id: str
    power_w: float
    window_s: int
    bucket_s: int
    history_until: str | None
    series: list[PowerPoint]


class TxPowerPoint(_Model):
    at: str | None
    power_w: float | None
    energy_wh: float | None


class TransactionPower(_Model):
    id: int
    transaction_id: str | None
    station_id: str
    started_at: str | None
    stopped_at: str | None
    active: bool
    meter_start_wh: float | None
    energy_wh: float | None
    max_power_w: float | None
    series: list[TxPowerPoint]


class IssuedCertificate(_Model):
    serial: str
    station_id: str | None
    certificate_type: str | None
    subject: str | None
    issuer: str | None
    not_before: str | None
    not_after: str | None
    status: str | None
    status_info: str | None
    issued_at: str | None
    revoked_at: str | None
    revocation_reason: str | None


class OperationStatus(_Model):
    status: str = Field(description="The station's answer, e.g. Accepted, Rejected")
    reason: str | None


class SecurityProfileSet(_Model):
    station_id: str
    security_profile: int | None


class Revoked(_Model):
    serial: str
    revoked: bool
    reason: str
