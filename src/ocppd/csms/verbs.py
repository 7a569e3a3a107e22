"""Every CSMS-initiated operation as a version-neutral verb, with its result in domain terms.

A verb says *what* the CSMS wants done; the adapters in ``adapters/v16_out.py`` and
``adapters/v2x_out.py`` say how each OCPP version expresses it. Send one with
``await csms.send(station_id, verb)`` (see ``outbound.py`` and docs/architecture.md, "Outbound side").

Statuses are kept as the station said them (``Accepted``, ``Rejected``, ``Scheduled``, ``Unlocked``,
...): the enumerations are shared by the versions closely enough that renaming them would lose
information. ``accepted`` tells whether the station agreed to do it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from ocppd.csms.limits import TxLimit
from ocppd.csms.outbound import Verb

# --------------------------------------------------------------------------- results

_AGREED = frozenset({"Accepted", "Scheduled", "Unlocked", "RebootRequired", "AcceptedCanceled"})


@dataclass(frozen=True, slots=True)
class Status:
    """The station's answer to a request that it accepts or refuses."""

    status: str
    reason: str | None = None  # 2.x statusInfo.reasonCode (and additionalInfo after a colon)

    @property
    def accepted(self) -> bool:
        return self.status in _AGREED


@dataclass(frozen=True, slots=True)
class VariableRef:
    """A device-model variable (2.x) or a configuration key (1.6: ``variable`` is the key)."""

    component: str = ""
    variable: str = ""
    instance: str | None = None  # the variable's instance, e.g. ItemsPerMessage[GetVariables]
    evse_id: int | None = None
    connector_id: int | None = None
    attribute: str | None = None  # Actual (default), Target, MinSet, MaxSet
    component_instance: str | None = None


@dataclass(frozen=True, slots=True)
class VariableValue:
    ref: VariableRef
    status: str  # Accepted, Rejected, UnknownComponent, UnknownVariable, NotSupportedAttributeType
    value: str | None = None
    readonly: bool = False


@dataclass(frozen=True, slots=True)
class VariableSet:
    ref: VariableRef
    status: str  # Accepted, Rejected, RebootRequired, NotSupported (1.6), UnknownComponent, ... (2.x)
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Variables:
    values: list[VariableValue]


@dataclass(frozen=True, slots=True)
class VariablesSet:
    results: list[VariableSet]

    @property
    def accepted(self) -> bool:
        return all(r.status in _AGREED for r in self.results)


@dataclass(frozen=True, slots=True)
class ConfigurationRead:
    """1.6: the keys and values; 2.x: the full report was requested (it arrives as NotifyReport)."""

    values: list[VariableValue]
    unknown_keys: list[str] = field(default_factory=list)
    report_request_id: int | None = None
    report_status: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteStarted:
    status: str
    remote_start_id: int | None = None
    transaction_id: str | None = None  # 2.x: when the station already had a transaction
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_s: int
    limit: float
    phases: int | None = None
    operation_mode: str | None = None  # 2.1 operationMode (e.g. ChargingOnly, Idle): the station applies it


@dataclass(frozen=True, slots=True)
class CompositeScheduleResult:
    status: str
    evse_id: int | None = None
    start: str | None = None
    unit: str | None = None
    duration_s: int | None = None
    periods: list[SchedulePeriod] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LogRequested:
    status: str  # 1.6 GetDiagnostics: Accepted when a file name came back, otherwise NoLogs
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class DataTransferred:
    status: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class LocalListVersion:
    version: int


@dataclass(frozen=True, slots=True)
class TransactionStatus:
    ongoing: bool | None
    messages_in_queue: bool


# --------------------------------------------------------------------------- remote control (F)


@dataclass(frozen=True, slots=True)
class RemoteStart(Verb[RemoteStarted]):
    name: ClassVar[str] = "remote-start"
    id_token: str
    id_token_type: str = "ISO14443"  # 2.x IdTokenType; 1.6 has only the tag
    evse_id: int | None = None  # 2.x EVSE / 1.6 connector; None: the station picks
    charging_profile: dict[str, Any] | None = None  # version-specific payload, passed through
    remote_start_id: int | None = None  # 2.x; allocated when None
    group_id_token: str | None = None  # 2.x groupIdToken
    # 2.1 only: given in the answer to the transaction's first event (RequestStartTransaction has no limit)
    limit: TxLimit | None = None


@dataclass(frozen=True, slots=True)
class RemoteStop(Verb[Status]):
    name: ClassVar[str] = "remote-stop"
    transaction_id: str  # the station's id (1.6: an integer in text form)


@dataclass(frozen=True, slots=True)
class Reset(Verb[Status]):
    name: ClassVar[str] = "reset"
    # on_idle: 1.6 Soft / 2.x OnIdle; immediate: Hard / Immediate; immediate_and_resume: 2.1 only
    kind: Literal["on_idle", "immediate", "immediate_and_resume"] = "on_idle"
    evse_id: int | None = None  # 2.x only: one EVSE


@dataclass(frozen=True, slots=True)
class UnlockConnector(Verb[Status]):
    name: ClassVar[str] = "unlock"
    connector_id: int = 1
    evse_id: int | None = None  # 2.x (1.6: the connector, defaults to connector_id)


@dataclass(frozen=True, slots=True)
class TriggerMessage(Verb[Status]):
    name: ClassVar[str] = "trigger-message"
    message: str  # BootNotification, Heartbeat, StatusNotification, MeterValues, ...
    evse_id: int | None = None  # 1.6: connector
    connector_id: int | None = None  # 2.x only
    custom_trigger: str | None = None  # 2.1, with message CustomTrigger: the station-specific trigger


# --------------------------------------------------------------------------- availability (G)


@dataclass(frozen=True, slots=True)
class ChangeAvailability(Verb[Status]):
    name: ClassVar[str] = "change-availability"
    operative: bool
    evse_id: int | None = None  # None / 0: the whole station
    connector_id: int | None = None  # 2.x only


# --------------------------------------------------------------------------- provisioning (B)


@dataclass(frozen=True, slots=True)
class GetVariables(Verb[Variables]):
    """2.x GetVariables / 1.6 GetConfiguration of the keys; split per the station's limits."""

    name: ClassVar[str] = "get-variables"
    refs: tuple[VariableRef, ...]


@dataclass(frozen=True, slots=True)
class VariableSetting:
    ref: VariableRef
    value: str


@dataclass(frozen=True, slots=True)
class SetVariables(Verb[VariablesSet]):
    """2.x SetVariables / 1.6 one ChangeConfiguration per key; split per the station's limits."""

    name: ClassVar[str] = "set-variables"
    settings: tuple[VariableSetting, ...]


@dataclass(frozen=True, slots=True)
class ReadConfiguration(Verb[ConfigurationRead]):
    """1.6 GetConfiguration (empty: every key); 2.x: a FullInventory base report (keys not allowed)."""

    name: ClassVar[str] = "get-configuration"
    keys: tuple[str, ...] = ()
    request_id: int | None = None  # 2.x report request id; allocated when None


@dataclass(frozen=True, slots=True)
class GetBaseReport(Verb[Status]):
    name: ClassVar[str] = "get-base-report"
    report_base: Literal["ConfigurationInventory", "FullInventory", "SummaryInventory"] = "FullInventory"
    request_id: int | None = None  # allocated when None


@dataclass(frozen=True, slots=True)
class GetReport(Verb[Status]):
    """2.x custom report; the NotifyReport parts are stored as the station's configuration. Requests
    for more component/variables than ``DeviceDataCtrlr.ItemsPerMessage[GetReport]`` are split, each
    part with its own request id (``request_id``, ``request_id + 1``, ...); the result is the first
    status that is not Accepted (``EmptyResultSet`` included), or Accepted."""

    name: ClassVar[str] = "get-report"
    refs: tuple[VariableRef, ...] = ()  # componentVariable; a ref without variable names the component
    criteria: tuple[Literal["Active", "Available", "Enabled", "Problem"], ...] = ()
    request_id: int | None = None


@dataclass(frozen=True, slots=True)
class MonitorCleared:
    id: int
    status: str  # Accepted, Rejected, NotFound


@dataclass(frozen=True, slots=True)
class MonitorsCleared:
    results: list[MonitorCleared]


@dataclass(frozen=True, slots=True)
class ClearVariableMonitoring(Verb[MonitorsCleared]):
    """2.x; split per ``MonitoringCtrlr.ItemsPerMessage[ClearVariableMonitoring]``, which is read from
    the station first when not known yet (OCA N_18)."""

    name: ClassVar[str] = "clear-monitoring"
    ids: tuple[int, ...]


MonitorType = Literal[
    "UpperThreshold",
    "LowerThreshold",
    "Delta",
    "Periodic",
    "PeriodicClockAligned",
    "TargetDelta",  # OCPP 2.1 only, like the next
    "TargetDeltaRelative",
]


@dataclass(frozen=True, slots=True)
class MonitorSetting:
    """One variable monitor: ``value`` is the threshold, the delta, or the period in seconds."""

    ref: VariableRef
    type: MonitorType
    value: float
    severity: int = 8  # 0 Danger ... 9 Debug
    transaction: bool = False  # only while a transaction runs
    id: int | None = None  # replace this monitor; None: the station gives a new id


@dataclass(frozen=True, slots=True)
class MonitorSet:
    ref: VariableRef
    type: str
    severity: int
    status: str  # Accepted, UnknownComponent, UnknownVariable, UnsupportedMonitorType, Rejected, Duplicate
    id: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class MonitorsSet:
    results: list[MonitorSet]

    @property
    def accepted(self) -> bool:
        return all(r.status == "Accepted" for r in self.results)


@dataclass(frozen=True, slots=True)
class SetVariableMonitoring(Verb[MonitorsSet]):
    """2.x; split per ``MonitoringCtrlr.ItemsPerMessage[SetVariableMonitoring]``. The accepted monitors
    are kept per station with their id (docs/device-management.md)."""

    name: ClassVar[str] = "set-monitoring"
    monitors: tuple[MonitorSetting, ...]


@dataclass(frozen=True, slots=True)
class SetMonitoringBase(Verb[Status]):
    """2.x: which preconfigured monitors are active; HardWiredOnly also removes the custom ones."""

    name: ClassVar[str] = "set-monitoring-base"
    base: Literal["All", "FactoryDefault", "HardWiredOnly"]


@dataclass(frozen=True, slots=True)
class SetMonitoringLevel(Verb[Status]):
    """2.x: the station reports events of monitors with this severity or worse (lower) only."""

    name: ClassVar[str] = "set-monitoring-level"
    severity: int


@dataclass(frozen=True, slots=True)
class MonitoringReportRequested:
    status: str  # Accepted, Rejected, NotSupported, EmptyResultSet
    request_id: int
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


@dataclass(frozen=True, slots=True)
class GetMonitoringReport(Verb[MonitoringReportRequested]):
    """2.x; the NotifyMonitoringReport parts are kept as the station's monitors. Without criteria and
    variables it is the whole list: monitors ocppd knew that the station no longer reports are removed."""

    name: ClassVar[str] = "get-monitoring-report"
    refs: tuple[VariableRef, ...] = ()  # a ref without variable names the component
    criteria: tuple[Literal["ThresholdMonitoring", "DeltaMonitoring", "PeriodicMonitoring"], ...] = ()
    request_id: int | None = None


@dataclass(frozen=True, slots=True)
class DataTransfer(Verb[DataTransferred]):
    name: ClassVar[str] = "data-transfer"
    vendor_id: str
    message_id: str | None = None
    data: Any = None


# --------------------------------------------------------------------------- smart charging (K)


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    id: int
    periods: tuple[SchedulePeriod, ...]
    stack_level: int = 0
    purpose: Literal["station_max", "tx_default", "tx"] = "tx_default"
    kind: Literal["Absolute", "Recurring", "Relative"] = "Relative"
    recurrency: Literal["Daily", "Weekly"] | None = None
    unit: Literal["W", "A"] = "W"
    start_at: datetime | None = None
    duration_s: int | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None  # required for purpose "tx"
    # OCPP 2.1 only (K_100, K_102, K_106): limits the station itself keeps to
    max_offline_duration_s: int | None = None  # the profile holds this long while offline ...
    invalid_after_offline_duration: bool | None = None  # ... and is dropped after it if True
    limit_at_soc: tuple[int, float] | None = None  # (soc %, limit): from that state of charge on
    randomized_delay_s: int | None = None  # the station starts each period up to this much later
    use_local_time: bool | None = None  # the schedule's times are the station's local time

    def v21_fields(self) -> list[str]:
        """The 2.1-only fields this profile uses (none: any 2.x or 1.6 station can take it)."""
        named = {"max_offline_duration_s": self.max_offline_duration_s, "limit_at_soc": self.limit_at_soc,
                 "invalid_after_offline_duration": self.invalid_after_offline_duration,
                 "randomized_delay_s": self.randomized_delay_s, "use_local_time": self.use_local_time}  # fmt: skip
        used = [name for name, value in named.items() if value is not None]
        return used + (["operation_mode"] if any(p.operation_mode for p in self.periods) else [])


@dataclass(frozen=True, slots=True)
class SetChargingProfile(Verb[Status]):
    name: ClassVar[str] = "set-charging-profile"
    profile: ChargingProfile
    evse_id: int = 0  # 0: the whole station


@dataclass(frozen=True, slots=True)
class ClearChargingProfile(Verb[Status]):
    name: ClassVar[str] = "clear-charging-profile"
    profile_id: int | None = None
    evse_id: int | None = None
    purpose: Literal["station_max", "tx_default", "tx"] | None = None
    stack_level: int | None = None


@dataclass(frozen=True, slots=True)
class GetCompositeSchedule(Verb[CompositeScheduleResult]):
    name: ClassVar[str] = "composite-schedule"
    evse_id: int = 0
    duration_s: int = 3600
    unit: Literal["W", "A"] | None = None


@dataclass(frozen=True, slots=True)
class ProfilesRequested:
    status: str  # Accepted (a ReportChargingProfiles follows) | NoProfiles
    request_id: int


@dataclass(frozen=True, slots=True)
class GetChargingProfiles(Verb[ProfilesRequested]):
    """2.x only: the station reports its installed profiles with ReportChargingProfiles (K09)."""

    name: ClassVar[str] = "get-charging-profiles"
    request_id: int | None = None  # default: a fresh one
    evse_id: int | None = None
    purpose: Literal["station_max", "tx_default", "tx"] | None = None
    stack_level: int | None = None
    sources: tuple[str, ...] = ("CSO",)  # chargingLimitSource: CSO (set by a CSMS), EMS, SO, Other
    profile_ids: tuple[int, ...] = ()  # chargingProfileId: only these profiles


# --------------------------------------------------------------------------- firmware and logs (L, N)


@dataclass(frozen=True, slots=True)
class UpdateFirmware(Verb[Status]):
    name: ClassVar[str] = "update-firmware"
    location: str
    retrieve_at: datetime | None = None  # None: now
    retries: int | None = None
    retry_interval_s: int | None = None
    signing_certificate: str | None = None  # 2.x
    signature: str | None = None  # 2.x
    install_at: datetime | None = None  # 2.x
    request_id: int | None = None  # 2.x; allocated when None


@dataclass(frozen=True, slots=True)
class GetLog(Verb[LogRequested]):
    name: ClassVar[str] = "get-log"
    location: str
    log_type: Literal["DiagnosticsLog", "SecurityLog"] = "DiagnosticsLog"
    since: datetime | None = None
    until: datetime | None = None
    retries: int | None = None
    retry_interval_s: int | None = None
    request_id: int | None = None  # 2.x; allocated when None


# --------------------------------------------------------------------------- security (A, M; 1.6 security extension)

CertificateUse = Literal["ChargingStationCertificate", "V2GCertificate", "Combined"]


@dataclass(frozen=True, slots=True)
class RequestCertificate(Verb[Status]):
    """Ask the station for a fresh CSR (renewal): 2.x TriggerMessage Sign*Certificate, 1.6
    ExtendedTriggerMessage SignChargePointCertificate (connectorId omitted, TC_074)."""

    name: ClassVar[str] = "request-certificate"
    certificate_type: CertificateUse = "ChargingStationCertificate"  # Combined: 2.x SignCombinedCertificate


@dataclass(frozen=True, slots=True)
class CertificateSigned(Verb[Status]):
    """Deliver a signed certificate chain (PEM, leaf first) for the station's CSR."""

    name: ClassVar[str] = "certificate-signed"
    chain: str
    certificate_type: CertificateUse = "ChargingStationCertificate"  # Combined: certificateType omitted (2.x)
    request_id: int | None = None  # 2.1: echoes SignCertificate.requestId


@dataclass(frozen=True, slots=True)
class SetBasicAuthPassword(Verb[Status]):
    """A new HTTP Basic password: 2.x SetVariables SecurityCtrlr.BasicAuthPassword, 1.6 ChangeConfiguration
    AuthorizationKey, hex-encoded per the 1.6 security whitepaper unless ``hex_encoded`` is False."""

    name: ClassVar[str] = "set-basic-auth-password"
    password: str
    hex_encoded: bool = True  # 1.6 only


@dataclass(frozen=True, slots=True)
class SetSecurityProfile(Verb[Status]):
    """Move the station to another security profile: 1.6 ChangeConfiguration SecurityProfile; 2.x
    SetNetworkProfile into ``slot`` (then :class:`UseNetworkProfile` and a reset make it current)."""

    name: ClassVar[str] = "set-security-profile"
    profile: int
    csms_url: str  # 2.x ocppCsmsUrl
    slot: int = 1  # 2.x configurationSlot
    message_timeout_s: int = 30  # 2.x
    interface: str = "Wired0"  # 2.x ocppInterface
    identity: str | None = None  # 2.1: the Basic-auth user name the station connects with (TC_B_100)
    basic_auth_password: str | None = None  # 2.1: and its new password


@dataclass(frozen=True, slots=True)
class UseNetworkProfile(Verb[Status]):
    """2.x: put ``slot`` first in OCPPCommCtrlr.NetworkConfigurationPriority (after SetSecurityProfile)."""

    name: ClassVar[str] = "use-network-profile"
    priority: tuple[int, ...] = (1,)


@dataclass(frozen=True, slots=True)
class CertificateHash:
    """OCPP CertificateHashDataType, kept exactly as the station reported it (TC_076 deletes with it)."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    @classmethod
    def from_ocpp(cls, data: dict[str, Any]) -> CertificateHash:
        return cls(data["hashAlgorithm"], data["issuerNameHash"], data["issuerKeyHash"], data["serialNumber"])

    def ocpp(self) -> dict[str, str]:
        return {"hashAlgorithm": self.hash_algorithm, "issuerNameHash": self.issuer_name_hash,
                "issuerKeyHash": self.issuer_key_hash, "serialNumber": self.serial_number}  # fmt: skip


@dataclass(frozen=True, slots=True)
class InstalledCertificate:
    certificate_type: str  # 2.x GetCertificateIdUseEnum names; 1.6 CentralSystemRootCertificate = CSMSRootCertificate
    hash: CertificateHash
    children: tuple[CertificateHash, ...] = ()  # V2GCertificateChain: the sub-CAs


@dataclass(frozen=True, slots=True)
class InstalledCertificates:
    status: str  # Accepted | NotFound
    certificates: list[InstalledCertificate]

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


# CSMSRootCertificate, ManufacturerRootCertificate (1.6 too), V2GRootCertificate, MORootCertificate (2.x),
# OEMRootCertificate (2.1)
InstallUse = Literal[
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
    "OEMRootCertificate",
]


@dataclass(frozen=True, slots=True)
class InstallCertificate(Verb[Status]):
    name: ClassVar[str] = "install-certificate"
    certificate_type: InstallUse
    certificate: str  # PEM


@dataclass(frozen=True, slots=True)
class DeleteCertificate(Verb[Status]):
    name: ClassVar[str] = "delete-certificate"
    hash: CertificateHash


@dataclass(frozen=True, slots=True)
class GetInstalledCertificateIds(Verb[InstalledCertificates]):
    """The station's trust store; 1.6 asks one type per message (a request per type, merged)."""

    name: ClassVar[str] = "get-installed-certificate-ids"
    certificate_types: tuple[str, ...] = ()  # () = every type (1.6: both of its types)


# --------------------------------------------------------------------------- authorization (C, D)


@dataclass(frozen=True, slots=True)
class ClearCache(Verb[Status]):
    name: ClassVar[str] = "clear-cache"


@dataclass(frozen=True, slots=True)
class LocalListEntry:
    id_token: str
    type: str = "ISO14443"  # 2.x IdTokenType
    status: str | None = "Accepted"  # None: remove the entry (differential update)
    expiry: datetime | None = None
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class SendLocalList(Verb[Status]):
    """The list (or the differential update) as the CSMS wants it on the station. A list longer than
    the station takes in one message (1.6 ``SendLocalListMaxLength``, 2.x
    ``LocalAuthListCtrlr.ItemsPerMessage`` / ``BytesPerMessage``) goes out in parts: the first with
    ``update_type``, the rest as differential updates of the same version; the result is the first
    refusal, or Accepted. The total capacity (``LocalAuthListMaxLength``, ``...Entries``) is the
    caller's to respect."""

    name: ClassVar[str] = "send-local-list"
    version: int
    update_type: Literal["Full", "Differential"] = "Full"
    entries: tuple[LocalListEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class GetLocalListVersion(Verb[LocalListVersion]):
    name: ClassVar[str] = "local-list-version"


# --------------------------------------------------------------------------- reservations (H)


@dataclass(frozen=True, slots=True)
class ReserveNow(Verb[Status]):
    name: ClassVar[str] = "reserve"
    reservation_id: int
    id_token: str
    expires_at: datetime
    id_token_type: str = "ISO14443"
    evse_id: int | None = None  # 1.6: connector (None/0 = any); 2.x: EVSE (None = any)
    group_id_token: str | None = None
    connector_type: str | None = None  # 2.x only


@dataclass(frozen=True, slots=True)
class CancelReservation(Verb[Status]):
    name: ClassVar[str] = "cancel-reservation"
    reservation_id: int


# --------------------------------------------------------------------------- transactions (E)


@dataclass(frozen=True, slots=True)
class GetTransactionStatus(Verb[TransactionStatus]):
    """2.x only: is the transaction still running, and are its messages still queued?"""

    name: ClassVar[str] = "transaction-status"
    transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class CostUpdate(Verb[None]):
    """2.x CostUpdated: the running total cost of a transaction, shown to the driver (OCA I_01)."""

    name: ClassVar[str] = "cost-update"
    transaction_id: str
    total_cost: str  # incl. VAT, in the tariff's currency (a decimal in text form: exact)


# --------------------------------------------------------------------------- display messages (O), customer info (N)

MessagePriority = Literal["AlwaysFront", "InFront", "NormalCycle"]
# 2.1 adds Suspended and Discharging
MessageState = Literal["Charging", "Faulted", "Idle", "Unavailable", "Suspended", "Discharging"]


MESSAGE_EXTRA_MAX = 4  # 2.1 MessageInfoType.messageExtra: the message in up to four other languages


@dataclass(frozen=True, slots=True)
class DisplayMessage:
    """A message to show on the station (2.x MessageInfoType); the same id replaces one set before."""

    id: int
    content: str
    priority: MessagePriority = "NormalCycle"
    format: Literal["ASCII", "HTML", "URI", "UTF8"] = "UTF8"
    language: str | None = None
    state: MessageState | None = None  # None: shown in every state
    start_at: datetime | None = None
    end_at: datetime | None = None
    transaction_id: str | None = None  # shown only during this transaction
    translations: tuple[tuple[str, str], ...] = ()  # (language, content): the same message in other languages
    driver_languages: tuple[str, ...] = ()  # the transaction's driver's (filled by the domain, not by a caller)


@dataclass(frozen=True, slots=True)
class SetDisplayMessage(Verb[Status]):
    """2.x only. Status: Accepted, Rejected, NotSupportedMessageFormat, NotSupportedPriority,
    NotSupportedState, UnknownTransaction (2.1: LanguageNotSupported)."""

    name: ClassVar[str] = "set-display-message"
    message: DisplayMessage


@dataclass(frozen=True, slots=True)
class RequestStarted:
    """A request whose data follows in notifications carrying ``request_id``."""

    status: str  # Accepted | Unknown (GetDisplayMessages) | Rejected | Invalid (CustomerInformation)
    request_id: int
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


@dataclass(frozen=True, slots=True)
class GetDisplayMessages(Verb[RequestStarted]):
    """2.x only: the station reports the matching messages with NotifyDisplayMessages (Unknown: none)."""

    name: ClassVar[str] = "get-display-messages"
    ids: tuple[int, ...] = ()
    priority: MessagePriority | None = None
    state: MessageState | None = None
    request_id: int | None = None  # allocated when None


@dataclass(frozen=True, slots=True)
class ClearDisplayMessage(Verb[Status]):
    """2.x only. Status: Accepted, Unknown (2.1: Rejected)."""

    name: ClassVar[str] = "clear-display-message"
    message_id: int


@dataclass(frozen=True, slots=True)
class CustomerInformation(Verb[RequestStarted]):
    """2.x only: report and/or clear what the station keeps about one customer, named by exactly one
    of id token, customer identifier or customer certificate; the report arrives as
    NotifyCustomerInformation parts."""

    name: ClassVar[str] = "customer-information"
    report: bool = True
    clear: bool = False
    id_token: str | None = None
    id_token_type: str = "ISO14443"
    customer_identifier: str | None = None
    customer_certificate: CertificateHash | None = None
    request_id: int | None = None  # allocated when None


# --------------------------------------------------------------------------- tariff and cost (I, OCPP 2.1)


@dataclass(frozen=True, slots=True)
class TariffAssignment:
    """One tariff a 2.1 station reports it holds (GetTariffs)."""

    tariff_id: str
    kind: str  # DefaultTariff, DriverTariff
    evse_ids: tuple[int, ...] = ()
    valid_from: str | None = None
    id_tokens: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TariffsHeld:
    status: str  # Accepted, Rejected, NoTariff
    assignments: list[TariffAssignment]
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status in ("Accepted", "NoTariff")


@dataclass(frozen=True, slots=True)
class TariffCleared:
    tariff_id: str | None  # None: the station found no tariff (NoTariff)
    status: str  # Accepted, Rejected, NoTariff
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TariffsCleared:
    results: list[TariffCleared]

    @property
    def accepted(self) -> bool:
        return all(r.status in ("Accepted", "NoTariff") for r in self.results)


@dataclass(frozen=True, slots=True)
class SetDefaultTariff(Verb[Status]):
    """2.1 SetDefaultTariff: the tariff (a 2.1 TariffType, csms/billing/ocpp21.py) for an EVSE (0: all)."""

    name: ClassVar[str] = "set-default-tariff"
    evse_id: int
    tariff: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GetTariffs(Verb[TariffsHeld]):
    """2.1 GetTariffs: what the station holds at an EVSE (0: all)."""

    name: ClassVar[str] = "get-tariffs"
    evse_id: int = 0


@dataclass(frozen=True, slots=True)
class ClearTariffs(Verb[TariffsCleared]):
    """2.1 ClearTariffs: these tariffs (empty: all), at one EVSE (None: everywhere)."""

    name: ClassVar[str] = "clear-tariffs"
    tariff_ids: tuple[str, ...] = ()
    evse_id: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeTransactionTariff(Verb[Status]):
    """2.1 ChangeTransactionTariff: price a running transaction by another tariff from now on."""

    name: ClassVar[str] = "change-transaction-tariff"
    transaction_id: str
    tariff: dict[str, Any]


ALL_VERBS: tuple[type[Verb[Any]], ...] = (
    RemoteStart,
    RemoteStop,
    Reset,
    UnlockConnector,
    TriggerMessage,
    ChangeAvailability,
    GetVariables,
    SetVariables,
    ReadConfiguration,
    GetBaseReport,
    GetReport,
    ClearVariableMonitoring,
    SetVariableMonitoring,
    SetMonitoringBase,
    SetMonitoringLevel,
    GetMonitoringReport,
    DataTransfer,
    SetChargingProfile,
    ClearChargingProfile,
    GetCompositeSchedule,
    GetChargingProfiles,
    UpdateFirmware,
    GetLog,
    ClearCache,
    SendLocalList,
    GetLocalListVersion,
    ReserveNow,
    CancelReservation,
    GetTransactionStatus,
    RequestCertificate,
    CertificateSigned,
    SetBasicAuthPassword,
    SetSecurityProfile,
    UseNetworkProfile,
    InstallCertificate,
    DeleteCertificate,
    GetInstalledCertificateIds,
    CostUpdate,
    SetDisplayMessage,
    GetDisplayMessages,
    ClearDisplayMessage,
    CustomerInformation,
    SetDefaultTariff,
    GetTariffs,
    ClearTariffs,
    ChangeTransactionTariff,
)
VERBS_BY_NAME: dict[str, type[Verb[Any]]] = {v.name: v for v in ALL_VERBS}
