"""HTTP bodies of the typed command endpoints, each mapped onto one domain verb (``csms/verbs.py``).

Nothing here knows an OCPP version: the verb's adapters build the payloads. The generic endpoint
(``/call/{action}``) covers every other CSMS-initiated message verbatim.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from ocppd.api.choices import choice
from ocppd.csms import verbs
from ocppd.csms.limits import TxLimit, check_limit
from ocppd.csms.outbound import Verb, next_request_id


class Body(BaseModel):
    def verb(self) -> Verb[Any]:
        raise NotImplementedError


# --------------------------------------------------------------------------- bodies


class TransactionLimitIn(BaseModel):
    """An OCPP 2.1 TransactionLimitType (1.6 and 2.0.1 have none). Strict: a lax number takes true as 1."""

    max_cost: float | None = Field(None, gt=0, strict=True, description="In the tariff's currency, incl. VAT")
    max_energy: float | None = Field(None, gt=0, strict=True, description="Wh")
    max_time: int | None = Field(None, ge=1, strict=True, description="Seconds from the start of the transaction")
    max_soc: int | None = Field(None, ge=0, le=100, strict=True, description="Percent")

    @model_validator(mode="after")
    def one_at_least(self) -> TransactionLimitIn:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("give at least one of max_cost, max_energy, max_time, max_soc")
        return self

    def limit(self) -> TxLimit:
        return check_limit(**self.model_dump())


class RemoteStart(Body):
    id_token: str = Field(min_length=1, max_length=255, description="The id token to charge with.")
    id_token_type: str = Field("ISO14443", description="2.x IdTokenType: ISO14443, Central, eMAID, ...")
    evse_id: int | None = Field(None, ge=1, description="EVSE (2.x) or connector (1.6); omitted: station picks.")
    charging_profile: dict[str, Any] | None = Field(None, description="Raw version-specific charging profile.")
    remote_start_id: int | None = Field(
        None, ge=-(2**31), le=2**31 - 1, description="2.x remoteStartId (32-bit, as kept); generated when omitted."
    )
    limit: TransactionLimitIn | None = Field(
        None, description="2.1 only: the transaction's limit, given in the answer to its first TransactionEvent"
    )

    def verb(self) -> verbs.RemoteStart:
        return verbs.RemoteStart(
            self.id_token, self.id_token_type, self.evse_id, self.charging_profile, self.remote_start_id,
            limit=self.limit.limit() if self.limit else None,
        )  # fmt: skip


class RemoteStop(Body):
    transaction_id: str = Field(min_length=1, description="The station's transaction id (1.6: integer).")

    def verb(self) -> verbs.RemoteStop:
        return verbs.RemoteStop(self.transaction_id)


class Reset(Body):
    type: choice("soft", "hard", "on_idle", "immediate", "immediate_and_resume") = Field(
        "soft",
        description="soft/on_idle -> 1.6 Soft / 2.x OnIdle; hard/immediate -> Hard / Immediate; "
        "immediate_and_resume: 2.1 only",
    )
    evse_id: int | None = Field(None, ge=1, description="2.x only: reset one EVSE.")

    def verb(self) -> verbs.Reset:
        kind = {"soft": "on_idle", "hard": "immediate"}.get(self.type, self.type)
        return verbs.Reset(kind, self.evse_id)  # type: ignore[arg-type]


class Unlock(Body):
    evse_id: int | None = Field(None, ge=1, description="2.x EVSE (defaults to connector_id on 1.6).")
    connector_id: int = Field(1, ge=1)

    def verb(self) -> verbs.UnlockConnector:
        return verbs.UnlockConnector(self.connector_id, self.evse_id)


class Availability(Body):
    operative: bool
    evse_id: int | None = Field(None, ge=0, description="EVSE (2.x) / connector (1.6); omitted: whole station.")
    connector_id: int | None = Field(None, ge=1, description="2.x only: one connector of the EVSE.")

    def verb(self) -> verbs.ChangeAvailability:
        return verbs.ChangeAvailability(self.operative, self.evse_id, self.connector_id)


class GetConfiguration(Body):
    keys: list[str] = Field(default_factory=list, description="1.6 keys; empty: all (2.x: full base report).")

    def verb(self) -> verbs.ReadConfiguration:
        return verbs.ReadConfiguration(tuple(self.keys))


FORCE = Field(False, description="Send even a value the stored characteristics refuse (the station decides)")


class ChangeConfiguration(Body):
    key: str = Field(min_length=1)
    value: str
    component: str | None = Field(None, description="2.x component the key lives on (required on 2.x).")
    force: bool = FORCE

    def verb(self) -> verbs.SetVariables:
        ref = verbs.VariableRef(self.component or "", self.key)
        return verbs.SetVariables((verbs.VariableSetting(ref, self.value),))


class VariableRef(Body):
    component: str = Field(min_length=1, description="Component name; ignored by 1.6 stations.")
    variable: str = Field(min_length=1, description="Variable name (1.6: configuration key).")
    instance: str | None = Field(None, description="The variable's instance, e.g. GetVariables of ItemsPerMessage")
    component_instance: str | None = Field(None, description="The component's instance, where it has one")
    evse_id: int | None = None
    attribute: str | None = Field(None, description="Actual, Target, MinSet, MaxSet")

    def ref(self) -> verbs.VariableRef:
        return verbs.VariableRef(
            self.component, self.variable, self.instance, self.evse_id, None, self.attribute, self.component_instance
        )


class GetVariables(Body):
    variables: list[VariableRef] = Field(min_length=1)

    def verb(self) -> verbs.GetVariables:
        return verbs.GetVariables(tuple(r.ref() for r in self.variables))


class VariableValue(VariableRef):
    value: str


class SetVariables(Body):
    variables: list[VariableValue] = Field(min_length=1)
    force: bool = FORCE

    def verb(self) -> verbs.SetVariables:
        return verbs.SetVariables(tuple(verbs.VariableSetting(r.ref(), r.value) for r in self.variables))


class ReportRef(Body):
    component: str = Field(min_length=1)
    variable: str | None = Field(None, description="Omitted: every variable of the component")
    instance: str | None = Field(None, description="The variable's instance")
    component_instance: str | None = None
    evse_id: int | None = Field(None, ge=0)
    connector_id: int | None = Field(None, ge=0)

    def ref(self) -> verbs.VariableRef:
        return verbs.VariableRef(
            self.component,
            self.variable or "",
            self.instance,
            self.evse_id,
            self.connector_id,
            None,
            self.component_instance,
        )


class GetReport(Body):
    variables: list[ReportRef] = Field(default_factory=list, description="componentVariable (2.x only)")
    criteria: list[choice("Active", "Available", "Enabled", "Problem")] = Field(default_factory=list)

    def verb(self) -> verbs.GetReport:
        return verbs.GetReport(tuple(r.ref() for r in self.variables), tuple(self.criteria))


class ClearMonitoring(Body):
    ids: list[int] = Field(min_length=1, description="Monitor ids (2.x only)")

    def verb(self) -> verbs.ClearVariableMonitoring:
        return verbs.ClearVariableMonitoring(tuple(self.ids))


class MonitorBody(VariableRef):
    type: choice(
        "UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned", "TargetDelta",
        "TargetDeltaRelative",
    ) = Field(description="TargetDelta / TargetDeltaRelative: OCPP 2.1 only")  # fmt: skip
    value: float = Field(description="The threshold, the delta, or the period in seconds")
    severity: int = Field(8, ge=0, le=9, description="0 Danger ... 9 Debug")
    transaction: bool = Field(False, description="Only while a transaction runs")
    connector_id: int | None = Field(None, ge=0)
    id: int | None = Field(None, ge=0, description="Replace this monitor; omitted: the station gives an id")

    def setting(self) -> verbs.MonitorSetting:
        ref = verbs.VariableRef(self.component, self.variable, self.instance, self.evse_id, self.connector_id,
                                None, self.component_instance)  # fmt: skip
        return verbs.MonitorSetting(ref, self.type, self.value, self.severity, self.transaction, self.id)  # type: ignore[arg-type]


class SetMonitoring(Body):
    monitors: list[MonitorBody] = Field(min_length=1)

    def verb(self) -> verbs.SetVariableMonitoring:
        return verbs.SetVariableMonitoring(tuple(m.setting() for m in self.monitors))


class SetMonitoringBase(Body):
    base: choice("All", "FactoryDefault", "HardWiredOnly")

    def verb(self) -> verbs.SetMonitoringBase:
        return verbs.SetMonitoringBase(self.base)  # type: ignore[arg-type]


class SetMonitoringLevel(Body):
    severity: int = Field(ge=0, le=9, description="Report events of this severity or worse (lower) only")

    def verb(self) -> verbs.SetMonitoringLevel:
        return verbs.SetMonitoringLevel(self.severity)


class GetMonitoringReport(Body):
    variables: list[ReportRef] = Field(default_factory=list, description="componentVariable; empty: all")
    criteria: list[choice("ThresholdMonitoring", "DeltaMonitoring", "PeriodicMonitoring")] = Field(
        default_factory=list, description="Empty together with variables: the whole list (reconciled)"
    )

    def verb(self) -> verbs.GetMonitoringReport:
        return verbs.GetMonitoringReport(tuple(r.ref() for r in self.variables), tuple(self.criteria))  # type: ignore[arg-type]


class Trigger(Body):
    message: str = Field(description="e.g. BootNotification, Heartbeat, StatusNotification, MeterValues")
    evse_id: int | None = Field(None, ge=0)
    connector_id: int | None = Field(None, ge=1, description="2.x only.")
    custom_trigger: str | None = Field(
        None, min_length=1, max_length=50, description="2.1, with message CustomTrigger: what to trigger (TC_F_100)"
    )

    def verb(self) -> verbs.TriggerMessage:
        return verbs.TriggerMessage(self.message, self.evse_id, self.connector_id, self.custom_trigger)


class SchedulePeriod(Body):
    start_s: int = Field(0, ge=0, description="Seconds from the schedule start.")
    limit: float = Field(ge=0)
    phases: int | None = Field(None, ge=1, le=3)
    operation_mode: choice("Idle", "ChargingOnly") | None = Field(  # the modes that need no setpoint fields
        None, description="2.1 operationMode of the period (TC_K_101)"
    )


class LimitAtSoc(Body):
    soc: int = Field(ge=0, le=100)
    limit: float = Field(ge=0)


class ChargingProfileBody(Body):
    id: int = Field(ge=0)
    stack_level: int = Field(0, ge=0)
    purpose: choice("station_max", "tx_default", "tx") = "tx_default"
    kind: choice("Absolute", "Recurring", "Relative") = "Relative"
    recurrency: choice("Daily", "Weekly") | None = None
    unit: choice("W", "A") = "W"
    periods: list[SchedulePeriod] = Field(min_length=1)
    start_at: datetime | None = None
    duration_s: int | None = Field(None, ge=0)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = Field(None, description="Required for purpose 'tx'.")
    max_offline_duration_s: int | None = Field(None, ge=0, description="2.1: the profile holds this long offline")
    invalid_after_offline_duration: bool | None = Field(None, description="2.1: and is dropped after that if true")
    limit_at_soc: LimitAtSoc | None = Field(None, description="2.1: a limit from a state of charge on (TC_K_102)")
    randomized_delay_s: int | None = Field(None, ge=0, description="2.1: start periods up to this much later")
    use_local_time: bool | None = Field(None, description="2.1: the schedule is in the station's local time")

    def profile(self) -> verbs.ChargingProfile:
        return verbs.ChargingProfile(
            id=self.id,
            periods=tuple(verbs.SchedulePeriod(p.start_s, p.limit, p.phases, p.operation_mode) for p in self.periods),
            stack_level=self.stack_level,
            purpose=self.purpose,
            kind=self.kind,
            recurrency=self.recurrency,
            unit=self.unit,
            start_at=self.start_at,
            duration_s=self.duration_s,
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            transaction_id=self.transaction_id,
            max_offline_duration_s=self.max_offline_duration_s,
            invalid_after_offline_duration=self.invalid_after_offline_duration,
            limit_at_soc=(self.limit_at_soc.soc, self.limit_at_soc.limit) if self.limit_at_soc else None,
            randomized_delay_s=self.randomized_delay_s,
            use_local_time=self.use_local_time,
        )


class SetChargingProfile(Body):
    evse_id: int = Field(0, ge=0, description="EVSE (2.x) / connector (1.6); 0 = whole station.")
    profile: ChargingProfileBody

    def verb(self) -> verbs.SetChargingProfile:
        return verbs.SetChargingProfile(self.profile.profile(), self.evse_id)


class ClearChargingProfile(Body):
    profile_id: int | None = None
    evse_id: int | None = Field(None, ge=0)
    purpose: choice("station_max", "tx_default", "tx") | None = None
    stack_level: int | None = Field(None, ge=0)

    def verb(self) -> verbs.ClearChargingProfile:
        return verbs.ClearChargingProfile(self.profile_id, self.evse_id, self.purpose, self.stack_level)


class GetChargingProfiles(Body):
    """Only the criteria given are sent (the OCA cases K_29-K_36 check which are absent)."""

    evse_id: int | None = Field(None, ge=0, description="0: the station itself; omitted: every EVSE")
    purpose: choice("station_max", "tx_default", "tx") | None = None
    stack_level: int | None = Field(None, ge=0)
    sources: list[choice("EMS", "Other", "SO", "CSO")] = Field(
        default_factory=list, description="chargingLimitSource; empty: any"
    )
    profile_ids: list[int] = Field(default_factory=list, description="chargingProfileId; empty: any")

    def verb(self) -> verbs.GetChargingProfiles:
        return verbs.GetChargingProfiles(None, self.evse_id, self.purpose, self.stack_level,  # type: ignore[arg-type]
                                         tuple(self.sources), tuple(self.profile_ids))  # fmt: skip


class CompositeSchedule(Body):
    evse_id: int = Field(0, ge=0)
    duration_s: int = Field(3600, ge=1)
    unit: choice("W", "A") | None = None

    def verb(self) -> verbs.GetCompositeSchedule:
        return verbs.GetCompositeSchedule(self.evse_id, self.duration_s, self.unit)


class UpdateFirmware(Body):
    location: str = Field(min_length=1, description="URL of the firmware image.")
    retrieve_at: datetime | None = Field(None, description="Default: now.")
    retries: int | None = Field(None, ge=0)
    retry_interval_s: int | None = Field(None, ge=0)
    signing_certificate: str | None = None
    signature: str | None = None
    install_at: datetime | None = None

    def verb(self) -> verbs.UpdateFirmware:
        return verbs.UpdateFirmware(
            self.location,
            self.retrieve_at,
            self.retries,
            self.retry_interval_s,
            self.signing_certificate,
            self.signature,
            self.install_at,
        )


class GetLog(Body):
    location: str = Field(min_length=1, description="Upload URL for the diagnostics / log file.")
    log_type: choice("DiagnosticsLog", "SecurityLog") = "DiagnosticsLog"
    since: datetime | None = None
    until: datetime | None = None
    retries: int | None = Field(None, ge=0)
    retry_interval_s: int | None = Field(None, ge=0)

    def verb(self) -> verbs.GetLog:
        return verbs.GetLog(self.location, self.log_type, self.since, self.until, self.retries, self.retry_interval_s)


class Reserve(Body):
    id_token: str = Field(min_length=1)
    id_token_type: str = "ISO14443"
    expires_at: datetime
    evse_id: int | None = Field(None, ge=0, description="1.6: connector (0 = any); 2.x: EVSE (omitted = any).")
    reservation_id: int | None = None
    group_id_token: str | None = None

    def verb(self) -> verbs.ReserveNow:
        rid = self.reservation_id if self.reservation_id is not None else next_request_id()
        return verbs.ReserveNow(
            rid, self.id_token, self.expires_at, self.id_token_type, self.evse_id, self.group_id_token
        )


class CancelReservation(Body):
    reservation_id: int

    def verb(self) -> verbs.CancelReservation:
        return verbs.CancelReservation(self.reservation_id)


class LocalListEntry(Body):
    id_token: str
    type: str = "ISO14443"
    status: str | None = Field("Accepted", description="None removes the entry (differential updates).")
    expiry: datetime | None = None
    group_id: str | None = None

    def entry(self) -> verbs.LocalListEntry:
        return verbs.LocalListEntry(self.id_token, self.type, self.status, self.expiry, self.group_id)


class SendLocalList(Body):
    version: int = Field(ge=0, description="listVersion / versionNumber.")
    update_type: choice("Full", "Differential") = "Full"
    entries: list[LocalListEntry] | None = Field(None, description="Omitted: every token in the CSMS.")

    def verb(self) -> verbs.SendLocalList:
        return verbs.SendLocalList(self.version, self.update_type, tuple(e.entry() for e in self.entries or ()))


class DataTransfer(Body):
    vendor_id: str = Field(min_length=1)
    message_id: str | None = None
    data: Any = None

    def verb(self) -> verbs.DataTransfer:
        return verbs.DataTransfer(self.vendor_id, self.message_id, self.data)


class Empty(Body):
    pass


class ClearCache(Empty):
    def verb(self) -> verbs.ClearCache:
        return verbs.ClearCache()


class LocalListVersion(Empty):
    def verb(self) -> verbs.GetLocalListVersion:
        return verbs.GetLocalListVersion()


class TransactionStatus(Body):
    transaction_id: str | None = Field(None, description="Omitted: is anything queued at all (2.x only)")

    def verb(self) -> verbs.GetTransactionStatus:
        return verbs.GetTransactionStatus(self.transaction_id)


class DisplayMessage(Body):
    id: int = Field(ge=0, description="Message id; the same id replaces the station's message")
    content: str = Field(min_length=1, max_length=512)
    priority: choice("AlwaysFront", "InFront", "NormalCycle") = "NormalCycle"
    format: choice("ASCII", "HTML", "URI", "UTF8") = "UTF8"
    language: str | None = Field(None, max_length=8, description="RFC 5646 language code, e.g. en, nl-NL")
    state: choice("Charging", "Faulted", "Idle", "Unavailable", "Suspended", "Discharging") | None = Field(
        None, description="Show only in this station state (omitted: always); Suspended/Discharging: 2.1"
    )
    start_at: datetime | None = None
    end_at: datetime | None = None
    transaction_id: str | None = Field(None, max_length=36, description="Show only during this transaction")
    translations: dict[str, str] | None = Field(
        None,
        max_length=verbs.MESSAGE_EXTRA_MAX,
        description="The message in other languages (language -> content). With transaction_id, the text in the "
        "driver's language (the token's language1, then language2) is sent as the message; 2.1 stations get the "
        "others in messageExtra",
    )

    @field_validator("translations")
    @classmethod
    def _translations(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for language, content in (value or {}).items():
            if not 0 < len(language) <= 8:
                raise ValueError(f"translations: language {language!r} is 1 to 8 characters (RFC 5646)")
            if not 0 < len(content) <= 512:
                raise ValueError(f"translations: the {language} content is 1 to 512 characters")
        return value

    def verb(self) -> verbs.SetDisplayMessage:
        message = verbs.DisplayMessage(self.id, self.content, self.priority, self.format, self.language,
                                       self.state, self.start_at, self.end_at, self.transaction_id,
                                       tuple((self.translations or {}).items()))  # fmt: skip
        return verbs.SetDisplayMessage(message)


class GetDisplayMessages(Body):
    ids: list[int] = Field(default_factory=list, description="Only these message ids (empty: any)")
    priority: choice("AlwaysFront", "InFront", "NormalCycle") | None = None
    state: choice("Charging", "Faulted", "Idle", "Unavailable", "Suspended", "Discharging") | None = None

    def verb(self) -> verbs.GetDisplayMessages:
        return verbs.GetDisplayMessages(tuple(self.ids), self.priority, self.state)


class ClearDisplayMessage(Body):
    id: int = Field(ge=0, description="The message id to remove")

    def verb(self) -> verbs.ClearDisplayMessage:
        return verbs.ClearDisplayMessage(self.id)


class CertificateHashBody(Body):
    hash_algorithm: choice("SHA256", "SHA384", "SHA512")
    issuer_name_hash: str = Field(min_length=1, max_length=128)
    issuer_key_hash: str = Field(min_length=1, max_length=128)
    serial_number: str = Field(min_length=1, max_length=40)

    def hash(self) -> verbs.CertificateHash:
        return verbs.CertificateHash(self.hash_algorithm, self.issuer_name_hash, self.issuer_key_hash,
                                     self.serial_number)  # fmt: skip


class CustomerInformation(Body):
    report: bool = Field(True, description="Report what the station keeps about the customer")
    clear: bool = Field(False, description="Delete what the station keeps about the customer")
    id_token: str | None = Field(None, min_length=1, max_length=255, description="The customer's id token")
    id_token_type: str = "ISO14443"
    customer_identifier: str | None = Field(None, min_length=1, max_length=64)
    customer_certificate: CertificateHashBody | None = None

    def verb(self) -> verbs.CustomerInformation:
        certificate = self.customer_certificate.hash() if self.customer_certificate else None
        return verbs.CustomerInformation(self.report, self.clear, self.id_token, self.id_token_type,
                                         self.customer_identifier, certificate)  # fmt: skip


async def check_settings(s: Any, station_id: str, verb: verbs.SetVariables) -> None:
    """400 naming the variable when a value is outside what the station declared (csms/device_model.py)."""
    from ocppd.api.errors import ApiError
    from ocppd.csms.device_model import ValueRefused

    row = await s.station_row(station_id)
    try:
        await s.csms.device_model.check(station_id, verb.settings, (row.ocpp_version or "").startswith("1."))
    except ValueRefused as exc:
        raise ApiError(400, f"invalid input: {exc.name} {exc.reason}; nothing was sent", "value_refused",
                       {"variable": exc.name, "reason": exc.reason}) from None  # fmt: skip


# name -> (body model, admin summary); the names are the verbs' names.
COMMANDS: dict[str, tuple[type[Body], str]] = {
    "remote-start": (RemoteStart, "Start a transaction remotely (RemoteStart / RequestStart)"),
    "remote-stop": (RemoteStop, "Stop a transaction remotely (RemoteStop / RequestStop)"),
    "reset": (Reset, "Reset the station"),
    "unlock": (Unlock, "Unlock a connector"),
    "change-availability": (Availability, "Make the station or an EVSE (in)operative"),
    "get-configuration": (GetConfiguration, "Read configuration (1.6) / full report (2.x)"),
    "change-configuration": (ChangeConfiguration, "Change one configuration key"),
    "get-variables": (GetVariables, "Read device-model variables (1.6: configuration keys)"),
    "set-variables": (SetVariables, "Set device-model variables (1.6: configuration keys)"),
    "get-report": (GetReport, "Custom device-model report (2.x GetReport; stored as configuration)"),
    "clear-monitoring": (ClearMonitoring, "Remove variable monitors (2.x ClearVariableMonitoring)"),
    "set-monitoring": (SetMonitoring, "Set variable monitors (2.x SetVariableMonitoring; kept per station)"),
    "set-monitoring-base": (SetMonitoringBase, "Choose the preconfigured monitors (2.x SetMonitoringBase)"),
    "set-monitoring-level": (SetMonitoringLevel, "Report monitor events of this severity or worse (2.x)"),
    "get-monitoring-report": (GetMonitoringReport, "Ask for the station's monitors (2.x GetMonitoringReport)"),
    "trigger-message": (Trigger, "Ask the station to send a message now"),
    "set-charging-profile": (SetChargingProfile, "Install a charging profile"),
    "clear-charging-profile": (ClearChargingProfile, "Remove charging profiles"),
    "get-charging-profiles": (GetChargingProfiles, "Ask the station to report its charging profiles (2.x)"),
    "composite-schedule": (CompositeSchedule, "Get the composite charging schedule"),
    "update-firmware": (UpdateFirmware, "Install firmware from a URL"),
    "get-log": (GetLog, "Upload diagnostics / logs (GetDiagnostics / GetLog)"),
    "reserve": (Reserve, "Reserve an EVSE / connector for a token"),
    "cancel-reservation": (CancelReservation, "Cancel a reservation"),
    "send-local-list": (SendLocalList, "Send the local authorization list"),
    "data-transfer": (DataTransfer, "Vendor-specific DataTransfer"),
    "clear-cache": (ClearCache, "Clear the station's authorization cache"),
    "local-list-version": (LocalListVersion, "Ask for the local list version"),
    "transaction-status": (TransactionStatus, "Ask whether a transaction runs and its messages are queued (2.x)"),
    "set-display-message": (DisplayMessage, "Show a message on the station (2.x SetDisplayMessage)"),
    "get-display-messages": (GetDisplayMessages, "Ask the station for its display messages (2.x)"),
    "clear-display-message": (ClearDisplayMessage, "Remove a display message (2.x ClearDisplayMessage)"),
    "customer-information": (CustomerInformation, "Report / clear what the station keeps about a customer (2.x)"),
}
