"""Which side initiates each OCPP action, per version.

The CSMS answers a station-initiated action it does not handle with ``NotSupported`` and an action
it has never heard of with ``NotImplemented``; the tables here make that distinction possible and
tell the API which messages it may send to a station.
"""

from __future__ import annotations

from ocppd.protocol.versions import OcppVersion

_V16_FROM_STATION = frozenset(
    {
        "Authorize",
        "BootNotification",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        # Security whitepaper extension (edition 3)
        "LogStatusNotification",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
    }
)
_V16_FROM_CSMS = frozenset(
    {
        "CancelReservation",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "ClearChargingProfile",
        "DataTransfer",
        "GetCompositeSchedule",
        "GetConfiguration",
        "GetDiagnostics",
        "GetLocalListVersion",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "TriggerMessage",
        "UnlockConnector",
        "UpdateFirmware",
        "CertificateSigned",
        "DeleteCertificate",
        "ExtendedTriggerMessage",
        "GetInstalledCertificateIds",
        "GetLog",
        "InstallCertificate",
        "SignedUpdateFirmware",
    }
)
_V201_FROM_STATION = frozenset(
    {
        "Authorize",
        "BootNotification",
        "ClearedChargingLimit",
        "DataTransfer",
        "FirmwareStatusNotification",
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
        "NotifyChargingLimit",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule",
        "NotifyEvent",
        "NotifyMonitoringReport",
        "NotifyReport",
        "PublishFirmwareStatusNotification",
        "ReportChargingProfiles",
        "ReservationStatusUpdate",
        "SecurityEventNotification",
        "SignCertificate",
        "StatusNotification",
        "TransactionEvent",
    }
)
_V201_FROM_CSMS = frozenset(
    {
        "CancelReservation",
        "CertificateSigned",
        "ChangeAvailability",
        "ClearCache",
        "ClearChargingProfile",
        "ClearDisplayMessage",
        "ClearVariableMonitoring",
        "CostUpdated",
        "CustomerInformation",
        "DataTransfer",
        "DeleteCertificate",
        "GetBaseReport",
        "GetChargingProfiles",
        "GetCompositeSchedule",
        "GetDisplayMessages",
        "GetInstalledCertificateIds",
        "GetLocalListVersion",
        "GetLog",
        "GetMonitoringReport",
        "GetReport",
        "GetTransactionStatus",
        "GetVariables",
        "InstallCertificate",
        "PublishFirmware",
        "RequestStartTransaction",
        "RequestStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "SetDisplayMessage",
        "SetMonitoringBase",
        "SetMonitoringLevel",
        "SetNetworkProfile",
        "SetVariableMonitoring",
        "SetVariables",
        "TriggerMessage",
        "UnlockConnector",
        "UnpublishFirmware",
        "UpdateFirmware",
    }
)
_V21_FROM_STATION = _V201_FROM_STATION | {
    "BatterySwap",
    "ClosePeriodicEventStream",
    "GetCertificateChainStatus",
    "NotifyDERAlarm",
    "NotifyDERStartStop",
    "NotifyPeriodicEventStream",
    "NotifyPriorityCharging",
    "NotifySettlement",
    "OpenPeriodicEventStream",
    "PullDynamicScheduleUpdate",
    "ReportDERControl",
    "VatNumberValidation",
}
_V21_FROM_CSMS = _V201_FROM_CSMS | {
    "AFRRSignal",
    "AdjustPeriodicEventStream",
    "ChangeTransactionTariff",
    "ClearDERControl",
    "ClearTariffs",
    "GetDERControl",
    "GetPeriodicEventStream",
    "GetTariffs",
    "NotifyAllowedEnergyTransfer",
    "NotifyWebPaymentStarted",
    "RequestBatterySwap",
    "SetDERControl",
    "SetDefaultTariff",
    "UpdateDynamicSchedule",
    "UsePriorityCharging",
}

# 2.0 (2018) has every 2.0.1 action; its three 2.0-only ISO 15118 actions (NotifyCentralChargingNeeds,
# Renegotiate15118Schedule, Update15118EVCertificate) are not handled and answer NotSupported.
_FROM_STATION = {
    OcppVersion.V16: _V16_FROM_STATION,
    OcppVersion.V20: _V201_FROM_STATION,
    OcppVersion.V201: _V201_FROM_STATION,
    OcppVersion.V21: frozenset(_V21_FROM_STATION),
}
_FROM_CSMS = {
    OcppVersion.V16: _V16_FROM_CSMS,
    OcppVersion.V20: _V201_FROM_CSMS,
    OcppVersion.V201: _V201_FROM_CSMS,
    OcppVersion.V21: frozenset(_V21_FROM_CSMS),
}


def station_initiated(version: OcppVersion) -> frozenset[str]:
    """Actions a charging station sends to the CSMS in ``version``."""
    return _FROM_STATION[version]


def csms_initiated(version: OcppVersion) -> frozenset[str]:
    """Actions a CSMS sends to a charging station in ``version``."""
    return _FROM_CSMS[version]


def known_actions(version: OcppVersion) -> frozenset[str]:
    return _FROM_STATION[version] | _FROM_CSMS[version]
