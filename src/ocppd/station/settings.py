"""A station's settings, one store seen two ways: 1.6 configuration keys and the 2.x device model.

Every setting the station's behaviour depends on has one canonical name and one typed value;
``HeartbeatInterval`` (1.6) and ``OCPPCommCtrlr.HeartbeatInterval`` (2.x) both read and write
``heartbeat_interval``. Sans-I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

MEASURANDS = frozenset(
    {
        "Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC",
        "Current.Offered", "Power.Offered", "Frequency", "Temperature",
    }
)  # fmt: skip

# kind: int | bool | str | csl (comma-separated measurands)
_DEFAULTS: dict[str, tuple[str, Any]] = {
    "heartbeat_interval": ("int", 300),
    "connection_timeout": ("int", 60),
    "meter_sample_interval": ("int", 60),
    "sampled_measurands": ("csl", "Energy.Active.Import.Register,Power.Active.Import,Current.Import,SoC"),
    "sampled_enabled": ("bool", True),
    "aligned_interval": ("int", 900),
    "aligned_measurands": ("csl", "Energy.Active.Import.Register"),
    "aligned_enabled": ("bool", True),
    "stop_tx_sampled": ("csl", "Energy.Active.Import.Register"),
    "stop_tx_aligned": ("csl", "Energy.Active.Import.Register"),
    "tx_started_measurands": ("csl", "Energy.Active.Import.Register"),
    "authorize_remote": ("bool", True),
    "local_authorize_offline": ("bool", True),
    "local_pre_authorize": ("bool", False),
    "offline_tx_unknown": ("bool", False),
    "auth_enabled": ("bool", True),
    "auth_cache_enabled": ("bool", True),
    "local_list_enabled": ("bool", True),
    "local_list_max": ("int", 1000),
    "send_local_list_max": ("int", 100),
    "local_list_entries": ("int", 0),
    "number_of_connectors": ("int", 1),
    "supported_profiles": (
        "str",
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
    ),
    "get_config_max_keys": ("int", 100),
    "items_per_message": ("int", 100),
    "bytes_per_message": ("int", 65000),
    "max_stack_level": ("int", 8),
    "rate_units": ("str", "Current,Power"),
    "max_periods": ("int", 24),
    "max_profiles": ("int", 32),
    "smart_enabled": ("bool", True),
    "accept_tx_profiles": ("bool", True),  # False: a charger model that refuses TxProfiles
    "profile_delay_s": ("int", 0),  # a new charging limit takes effect this long after it arrives
    "reservation_enabled": ("bool", True),
    "reserve_connector_zero": ("bool", False),
    "reset_retries": ("int", 3),
    "tx_message_attempts": ("int", 3),
    "tx_message_retry_interval": ("int", 60),
    "stop_tx_on_ev_disconnect": ("bool", True),
    "unlock_on_ev_disconnect": ("bool", True),
    "stop_tx_on_invalid_id": ("bool", True),
    "ws_ping_interval": ("int", 0),
    "minimum_status_duration": ("int", 0),
    "light_intensity": ("int", 100),
    "blink_repeat": ("int", 3),
    "phase_rotation": ("str", "0.RST"),
    "authorization_key": ("str", ""),
    "security_profile": ("int", 0),
    "message_timeout": ("int", 30),
    "offline_threshold": ("int", 60),
    "retry_backoff_min": ("int", 3),
    "retry_backoff_random": ("int", 10),
    "retry_backoff_repeat": ("int", 6),
    "network_priority": ("str", "0"),
    "vendor": ("str", ""),
    "model": ("str", ""),
    "serial": ("str", ""),
    "firmware": ("str", ""),
    "availability": ("str", "Available"),
    "time_source": ("str", "Heartbeat"),
    "tx_start_point": ("str", "PowerPathClosed"),
    "tx_stop_point": ("str", "EVConnected"),
    "organization": ("str", "ocppd"),
    "display_messages": ("int", 0),
    # display messages (2.x O): what this display can show; a message outside it is refused
    "display_available": ("bool", True),
    "display_priorities": ("str", "AlwaysFront,InFront,NormalCycle"),
    "display_formats": ("str", "ASCII,UTF8,URI"),  # no HTML renderer
    "display_capacity": ("int", 10),
}


@dataclass(frozen=True, slots=True)
class Key16:
    canonical: str
    readonly: bool = False
    writeonly: bool = False


# The 1.6 configuration keys (OCPP 1.6 §9 plus the security whitepaper's), standard names.
KEYS_16: dict[str, Key16] = {
    "AllowOfflineTxForUnknownId": Key16("offline_tx_unknown"),
    "AuthorizationCacheEnabled": Key16("auth_cache_enabled"),
    "AuthorizeRemoteTxRequests": Key16("authorize_remote"),
    "BlinkRepeat": Key16("blink_repeat"),
    "ClockAlignedDataInterval": Key16("aligned_interval"),
    "ConnectionTimeOut": Key16("connection_timeout"),
    "ConnectorPhaseRotation": Key16("phase_rotation"),
    "GetConfigurationMaxKeys": Key16("get_config_max_keys", readonly=True),
    "HeartbeatInterval": Key16("heartbeat_interval"),
    "LightIntensity": Key16("light_intensity"),
    "LocalAuthorizeOffline": Key16("local_authorize_offline"),
    "LocalPreAuthorize": Key16("local_pre_authorize"),
    "MeterValuesAlignedData": Key16("aligned_measurands"),
    "MeterValuesSampledData": Key16("sampled_measurands"),
    "MeterValueSampleInterval": Key16("meter_sample_interval"),
    "MinimumStatusDuration": Key16("minimum_status_duration"),
    "NumberOfConnectors": Key16("number_of_connectors", readonly=True),
    "ResetRetries": Key16("reset_retries"),
    "StopTransactionOnEVSideDisconnect": Key16("stop_tx_on_ev_disconnect"),
    "StopTransactionOnInvalidId": Key16("stop_tx_on_invalid_id"),
    "StopTxnAlignedData": Key16("stop_tx_aligned"),
    "StopTxnSampledData": Key16("stop_tx_sampled"),
    "SupportedFeatureProfiles": Key16("supported_profiles", readonly=True),
    "TransactionMessageAttempts": Key16("tx_message_attempts"),
    "TransactionMessageRetryInterval": Key16("tx_message_retry_interval"),
    "UnlockConnectorOnEVSideDisconnect": Key16("unlock_on_ev_disconnect"),
    "WebSocketPingInterval": Key16("ws_ping_interval"),
    "LocalAuthListEnabled": Key16("local_list_enabled"),
    "LocalAuthListMaxLength": Key16("local_list_max", readonly=True),
    "SendLocalListMaxLength": Key16("send_local_list_max", readonly=True),
    "ReserveConnectorZeroSupported": Key16("reserve_connector_zero", readonly=True),
    "ChargeProfileMaxStackLevel": Key16("max_stack_level", readonly=True),
    "ChargingScheduleAllowedChargingRateUnit": Key16("rate_units", readonly=True),
    "ChargingScheduleMaxPeriods": Key16("max_periods", readonly=True),
    "MaxChargingProfilesInstalled": Key16("max_profiles", readonly=True),
    "AuthorizationKey": Key16("authorization_key", writeonly=True),
    "SecurityProfile": Key16("security_profile", readonly=True),
}


@dataclass(frozen=True, slots=True)
class Var2x:
    canonical: str
    mutability: str = "ReadWrite"  # ReadOnly | ReadWrite | WriteOnly
    unit: str | None = None
    # variableCharacteristics beyond the data type the setting's kind gives
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: str | None = None
    data_type: str | None = None  # e.g. SequenceList, OptionList (default: from the setting's kind)
    reboot: bool = False  # a new value takes effect at the next reboot: SetVariables answers RebootRequired

    def refusal(self, value: Any) -> str | None:
        """Why the typed ``value`` is outside the declared limits / values list (reasonCode), or None."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.min_limit is not None and value < self.min_limit:
                return "ValueTooLow"
            if self.max_limit is not None and value > self.max_limit:
                return "ValueTooHigh"
        elif isinstance(value, str):
            if self.values_list is not None:
                allowed = self.values_list.split(",")
                members = value.split(",") if self.data_type in ("SequenceList", "MemberList") else [value]
                if any(m.strip() not in allowed for m in members if m.strip()):
                    return "InvalidValue"
            elif self.max_limit is not None and len(value) > self.max_limit:
                return "ValueTooLong"
        return None


# The 2.0.1/2.1 device model: (component, variable, variable instance) -> setting (Part 2, appendix).
VARS_2X: dict[tuple[str, str, str | None], Var2x] = {
    ("OCPPCommCtrlr", "HeartbeatInterval", None): Var2x("heartbeat_interval", unit="s", min_limit=1, max_limit=86400),
    ("OCPPCommCtrlr", "MessageTimeout", "Default"): Var2x("message_timeout", unit="s", min_limit=1, max_limit=600),
    ("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"): Var2x("tx_message_attempts"),
    ("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"): Var2x("tx_message_retry_interval", unit="s"),
    ("OCPPCommCtrlr", "ResetRetries", None): Var2x("reset_retries"),
    ("OCPPCommCtrlr", "OfflineThreshold", None): Var2x("offline_threshold", unit="s", max_limit=86400),
    ("OCPPCommCtrlr", "RetryBackOffWaitMinimum", None): Var2x("retry_backoff_min", unit="s"),
    ("OCPPCommCtrlr", "RetryBackOffRandomRange", None): Var2x("retry_backoff_random", unit="s"),
    ("OCPPCommCtrlr", "RetryBackOffRepeatTimes", None): Var2x("retry_backoff_repeat"),
    ("OCPPCommCtrlr", "WebSocketPingInterval", None): Var2x("ws_ping_interval", unit="s", max_limit=3600, reboot=True),
    ("OCPPCommCtrlr", "NetworkConfigurationPriority", None): Var2x("network_priority"),
    ("SampledDataCtrlr", "Enabled", None): Var2x("sampled_enabled"),
    ("SampledDataCtrlr", "TxUpdatedInterval", None): Var2x("meter_sample_interval", unit="s", max_limit=3600),
    ("SampledDataCtrlr", "TxUpdatedMeasurands", None): Var2x("sampled_measurands"),
    ("SampledDataCtrlr", "TxEndedMeasurands", None): Var2x("stop_tx_sampled"),
    ("SampledDataCtrlr", "TxStartedMeasurands", None): Var2x("tx_started_measurands"),
    ("AlignedDataCtrlr", "Enabled", None): Var2x("aligned_enabled"),
    ("AlignedDataCtrlr", "Interval", None): Var2x("aligned_interval", unit="s", max_limit=86400),
    ("AlignedDataCtrlr", "Measurands", None): Var2x("aligned_measurands"),
    ("AlignedDataCtrlr", "TxEndedMeasurands", None): Var2x("stop_tx_aligned"),
    ("AuthCtrlr", "Enabled", None): Var2x("auth_enabled"),
    ("AuthCtrlr", "AuthorizeRemoteStart", None): Var2x("authorize_remote"),
    ("AuthCtrlr", "LocalAuthorizeOffline", None): Var2x("local_authorize_offline"),
    ("AuthCtrlr", "LocalPreAuthorize", None): Var2x("local_pre_authorize"),
    ("AuthCtrlr", "OfflineTxForUnknownIdEnabled", None): Var2x("offline_tx_unknown"),
    ("AuthCacheCtrlr", "Enabled", None): Var2x("auth_cache_enabled"),
    ("LocalAuthListCtrlr", "Enabled", None): Var2x("local_list_enabled"),
    ("LocalAuthListCtrlr", "Entries", None): Var2x("local_list_entries", "ReadOnly"),
    ("LocalAuthListCtrlr", "ItemsPerMessage", None): Var2x("send_local_list_max", "ReadOnly"),
    ("LocalAuthListCtrlr", "BytesPerMessage", None): Var2x("bytes_per_message", "ReadOnly"),
    ("TxCtrlr", "EVConnectionTimeOut", None): Var2x("connection_timeout", unit="s"),
    ("TxCtrlr", "StopTxOnEVSideDisconnect", None): Var2x("stop_tx_on_ev_disconnect"),
    ("TxCtrlr", "StopTxOnInvalidId", None): Var2x("stop_tx_on_invalid_id"),
    ("TxCtrlr", "TxStartPoint", None): Var2x("tx_start_point", "ReadOnly"),
    ("TxCtrlr", "TxStopPoint", None): Var2x("tx_stop_point", "ReadOnly"),
    ("SmartChargingCtrlr", "Enabled", None): Var2x("smart_enabled"),
    ("SmartChargingCtrlr", "ProfileStackLevel", None): Var2x("max_stack_level", "ReadOnly"),
    ("SmartChargingCtrlr", "RateUnit", None): Var2x("rate_units", "ReadOnly"),
    ("SmartChargingCtrlr", "PeriodsPerSchedule", None): Var2x("max_periods", "ReadOnly"),
    ("SmartChargingCtrlr", "Entries", "ChargingProfiles"): Var2x("max_profiles", "ReadOnly"),
    ("ReservationCtrlr", "Enabled", None): Var2x("reservation_enabled"),
    ("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"): Var2x("items_per_message", "ReadOnly"),
    ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"): Var2x("items_per_message", "ReadOnly"),
    ("DeviceDataCtrlr", "ItemsPerMessage", "SetVariables"): Var2x("items_per_message", "ReadOnly"),
    ("DeviceDataCtrlr", "BytesPerMessage", "GetReport"): Var2x("bytes_per_message", "ReadOnly"),
    ("SecurityCtrlr", "SecurityProfile", None): Var2x("security_profile", "ReadOnly"),
    ("SecurityCtrlr", "BasicAuthPassword", None): Var2x("authorization_key", "WriteOnly"),
    ("SecurityCtrlr", "OrganizationName", None): Var2x("organization", max_limit=50),
    ("ClockCtrlr", "TimeSource", None): Var2x(
        "time_source",
        data_type="SequenceList",
        values_list="Heartbeat,NTP,GPS,RealTimeClock,MobileNetwork,RadioTimeTransmitter",
    ),
    ("ChargingStation", "Model", None): Var2x("model", "ReadOnly"),
    ("ChargingStation", "VendorName", None): Var2x("vendor", "ReadOnly"),
    ("ChargingStation", "SerialNumber", None): Var2x("serial", "ReadOnly"),
    ("ChargingStation", "AvailabilityState", None): Var2x("availability", "ReadOnly"),
    ("FirmwareCtrlr", "FirmwareVersion", None): Var2x("firmware", "ReadOnly"),
    ("DisplayMessageCtrlr", "DisplayMessages", None): Var2x("display_messages", "ReadOnly"),
    ("DisplayMessageCtrlr", "Available", None): Var2x("display_available", "ReadOnly"),
    ("DisplayMessageCtrlr", "SupportedPriorities", None): Var2x(
        "display_priorities", "ReadOnly", values_list="AlwaysFront,InFront,NormalCycle", data_type="MemberList"
    ),
    ("DisplayMessageCtrlr", "SupportedFormats", None): Var2x(
        "display_formats", "ReadOnly", values_list="ASCII,HTML,URI,UTF8", data_type="MemberList"
    ),
}

_DATA_TYPE = {"int": "integer", "bool": "boolean", "str": "string", "csl": "MemberList"}


def rate_units(value: Any) -> tuple[str, ...]:
    """The charging rate units a station takes, ``A`` and/or ``W``, from either notation
    (1.6 ``Current,Power``, 2.x ``A,W``)."""
    items = {x.strip().lower() for x in str(value).split(",")}
    return tuple(u for u, names in (("A", {"a", "current"}), ("W", {"w", "power"})) if items & names)


def _render(kind: str, value: Any) -> str:
    if kind == "bool":
        return "true" if value else "false"
    return str(value)


class Settings:
    """The typed values; ``parse`` checks a string the CSMS sent before it is stored."""

    def __init__(self, overrides: dict[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = {name: default for name, (_, default) in _DEFAULTS.items()}
        # Custom keys the user set in a template (vendor keys): stored as strings, read-write.
        self.custom16: dict[str, str] = {}
        self.listeners: list[Callable[[str], None]] = []
        for name, value in (overrides or {}).items():
            self.force(name, value)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def force(self, name: str, value: Any) -> None:
        """Set without the readonly check (the station itself, templates)."""
        if name not in _DEFAULTS:
            raise KeyError(f"unknown setting {name!r}")
        kind = _DEFAULTS[name][0]
        self._values[name] = self.parse(name, value) if isinstance(value, str) and kind != "str" else value
        for listener in self.listeners:
            listener(name)

    @staticmethod
    def parse(name: str, text: str) -> Any:
        """The typed value of ``text``; ValueError if it is not acceptable."""
        kind = _DEFAULTS[name][0]
        if kind == "int":
            value = int(text.strip())
            if value < 0:
                raise ValueError("negative")
            return value
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise ValueError("not a boolean")
            return lowered == "true"
        if kind == "csl":
            items = [m.strip() for m in text.split(",") if m.strip()]
            unknown = [m for m in items if m not in MEASURANDS]
            if unknown:
                raise ValueError(f"unsupported measurand {unknown[0]}")
            return ",".join(items)
        return text

    def render(self, name: str) -> str:
        return _render(_DEFAULTS[name][0], self._values[name])

    def render_2x(self, name: str) -> str:
        """A value in the 2.x device model's notation (SmartChargingCtrlr.RateUnit is ``A,W``)."""
        if name == "rate_units":
            return ",".join(rate_units(self._values[name]))
        return self.render(name)

    def rate_units(self) -> tuple[str, ...]:
        return rate_units(self._values["rate_units"])

    def measurands(self, name: str) -> list[str]:
        return [m for m in str(self._values[name]).split(",") if m]

    def data_type(self, name: str, spec: Var2x | None = None) -> str:
        return (spec.data_type if spec is not None and spec.data_type else None) or _DATA_TYPE[_DEFAULTS[name][0]]

    # ------------------------------------------------------------------ 1.6 view
    def get_configuration(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """GetConfiguration: (configurationKey, unknownKey)."""
        wanted = keys if keys else list(KEYS_16) + list(self.custom16)
        known, unknown = [], []
        for key in wanted:
            spec = KEYS_16.get(key)
            if spec is not None:
                entry: dict[str, Any] = {"key": key, "readonly": spec.readonly}
                if not spec.writeonly:  # the AuthorizationKey is never read back (security whitepaper)
                    entry["value"] = self.render(spec.canonical)[:500]
                known.append(entry)
            elif key in self.custom16:
                known.append({"key": key, "readonly": False, "value": self.custom16[key]})
            else:
                unknown.append(key)
        return known, unknown

    def change_configuration(self, key: str, value: str) -> tuple[str, str | None]:
        """ChangeConfiguration: (status, canonical name changed or None)."""
        spec = KEYS_16.get(key)
        if spec is None:
            if key in self.custom16:
                self.custom16[key] = value
                return "Accepted", None
            return "NotSupported", None
        if spec.readonly:
            return "Rejected", None
        try:
            self.force(spec.canonical, self.parse(spec.canonical, value))
        except ValueError:
            return "Rejected", None
        return "Accepted", spec.canonical

    # ------------------------------------------------------------------ 2.x view
    def variable(self, component: str, variable: str, instance: str | None) -> Var2x | None:
        return VARS_2X.get((component, variable, instance))

    def components(self) -> set[str]:
        return {c for c, _, _ in VARS_2X}

    def report_entries(self) -> Iterator[tuple[str, str, str | None, Var2x]]:
        for (component, variable, instance), spec in VARS_2X.items():
            yield component, variable, instance, spec
