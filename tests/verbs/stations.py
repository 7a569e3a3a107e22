"""Stations for the outbound-side conformance tests, built on the `ocpp` PyPI package.

Unlike tests/api/stations.py (which answers every command with a fixed reply), these keep a real
configuration (1.6) or device model (2.0.1) and behave like a station would: a triggered message is
sent after the TriggerMessage answer, a reset is followed by a new boot, a request with more items than
the station's ``ItemsPerMessage`` / ``GetConfigurationMaxKeys`` is refused, a GetBaseReport is followed
by NotifyReport parts. Every CSMS-initiated message is recorded in ``received``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.exceptions import OccurrenceConstraintViolationError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Recorder:
    received: list[tuple[str, dict[str, Any]]]
    boots: list[Any]

    def record(self, action: str, **kwargs: Any) -> None:
        self.received.append((action, kwargs))

    def actions(self) -> list[str]:
        return [a for a, _ in self.received]

    def last(self, action: str) -> dict[str, Any]:
        return next(kw for a, kw in reversed(self.received) if a == action)

    def all(self, action: str) -> list[dict[str, Any]]:
        return [kw for a, kw in self.received if a == action]

    def _later(self, coro: Awaitable[Any]) -> None:
        """Send a station message after the current answer went out (the ``after`` hooks)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    _tasks: set[asyncio.Future[Any]]


# ----------------------------------------------------------------------------------------- 1.6


class Station16(Cp16, Recorder):
    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection, response_timeout=30)
        self.received = []
        self.boots = []
        self._tasks = set()
        self.config: dict[str, str] = {
            "HeartbeatInterval": "60",
            "MeterValueSampleInterval": "10",
            "NumberOfConnectors": "1",
            "GetConfigurationMaxKeys": "2",
            "SupportedFeatureProfiles": "Core,RemoteTrigger,LocalAuthListManagement",
        }
        self.readonly = {"NumberOfConnectors", "GetConfigurationMaxKeys", "SupportedFeatureProfiles"}
        self.transaction_id: int | None = None
        self.unlock_status = "Unlocked"  # NotSupported: a fixed cable (TC_017_2); UnlockFailed (TC_030)

    async def boot(self) -> Any:
        answer = await self.call(
            c16.BootNotification(charge_point_model="Verbs 16", charge_point_vendor="ACME"), suppress=False
        )
        self.boots.append(answer)
        return answer

    async def status(self, connector: int, status: str, suppress: bool = False) -> Any:
        return await self.call(
            c16.StatusNotification(connector_id=connector, error_code="NoError", status=status, timestamp=now()),
            suppress=suppress,
        )

    # -- configuration
    @on("GetConfiguration")
    async def on_get_configuration(self, key: list[str] | None = None, **kw: Any) -> Any:
        self.record("GetConfiguration", key=key)
        if key and len(key) > int(self.config["GetConfigurationMaxKeys"]):
            raise OccurrenceConstraintViolationError(description="more keys than GetConfigurationMaxKeys")
        wanted = key or list(self.config)
        return r16.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": k in self.readonly, "value": self.config[k]} for k in wanted if k in self.config
            ],
            unknown_key=[k for k in wanted if k not in self.config] or None,
        )

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key: str, value: str, **kw: Any) -> Any:
        self.record("ChangeConfiguration", key=key, value=value)
        if key not in self.config:
            return r16.ChangeConfiguration(status="NotSupported")
        if key in self.readonly or (value.lstrip("-").isdigit() and int(value) < 0):
            return r16.ChangeConfiguration(status="Rejected")
        self.config[key] = value
        return r16.ChangeConfiguration(status="Accepted")

    # -- remote control
    @on("TriggerMessage")
    async def on_trigger(self, requested_message: str, connector_id: int | None = None, **kw: Any) -> Any:
        self.record("TriggerMessage", requested_message=requested_message, connector_id=connector_id)
        if connector_id is not None and connector_id > int(self.config["NumberOfConnectors"]):
            return r16.TriggerMessage(status="Rejected")
        if requested_message not in ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues"):
            return r16.TriggerMessage(status="NotImplemented")
        return r16.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def after_trigger(self, requested_message: str, connector_id: int | None = None, **kw: Any) -> None:
        if connector_id is not None and connector_id > int(self.config["NumberOfConnectors"]):
            return
        sends: dict[str, Callable[[], Awaitable[Any]]] = {
            "BootNotification": self.boot,
            "Heartbeat": lambda: self.call(c16.Heartbeat(), suppress=False),
            "StatusNotification": lambda: self.status(connector_id or 1, "Available"),
            "MeterValues": lambda: self.call(
                c16.MeterValues(
                    connector_id=connector_id or 1,
                    meter_value=[{"timestamp": now(), "sampledValue": [{"value": "1000", "context": "Trigger"}]}],
                ),
                suppress=False,
            ),
        }
        if requested_message in sends:
            self._later(sends[requested_message]())

    @on("Reset")
    async def on_reset(self, type: str, **kw: Any) -> Any:
        self.record("Reset", type=type)
        return r16.Reset(status="Accepted")

    @after("Reset")
    async def after_reset(self, **kw: Any) -> None:
        self._later(self._reboot())

    async def _reboot(self) -> None:
        await self.boot()
        await self.status(0, "Available")
        await self.status(1, "Available")

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag: str, connector_id: int | None = None, **kw: Any) -> Any:
        self.record("RemoteStartTransaction", id_tag=id_tag, connector_id=connector_id, **kw)
        if id_tag == "REFUSE-ME" or self.transaction_id is not None:
            return r16.RemoteStartTransaction(status="Rejected")
        return r16.RemoteStartTransaction(status="Accepted")

    @after("RemoteStartTransaction")
    async def after_remote_start(self, id_tag: str, connector_id: int | None = None, **kw: Any) -> None:
        if id_tag != "REFUSE-ME" and self.transaction_id is None:
            self._later(self._start(id_tag, connector_id or 1))

    async def _start(self, id_tag: str, connector: int) -> None:
        self.transaction_id = -1  # starting: refuse a second remote start meanwhile
        await self.status(connector, "Preparing")
        await self.call(c16.Authorize(id_tag=id_tag), suppress=False)
        answer = await self.call(
            c16.StartTransaction(connector_id=connector, id_tag=id_tag, meter_start=1000, timestamp=now()),
            suppress=False,
        )
        self.transaction_id = answer.transaction_id
        await self.status(connector, "Charging")

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int, **kw: Any) -> Any:
        self.record("RemoteStopTransaction", transaction_id=transaction_id)
        known = transaction_id == self.transaction_id
        return r16.RemoteStopTransaction(status="Accepted" if known else "Rejected")

    @after("RemoteStopTransaction")
    async def after_remote_stop(self, transaction_id: int, **kw: Any) -> None:
        if transaction_id == self.transaction_id:
            self._later(self._stop(transaction_id))

    async def _stop(self, transaction_id: int) -> None:
        await self.call(
            c16.StopTransaction(transaction_id=transaction_id, meter_stop=1500, timestamp=now(), reason="Remote"),
            suppress=False,
        )
        self.transaction_id = None
        await self.status(1, "Finishing")
        await self.status(1, "Available")

    @on("UnlockConnector")
    async def on_unlock(self, connector_id: int, **kw: Any) -> Any:
        self.record("UnlockConnector", connector_id=connector_id)
        ok = connector_id <= int(self.config["NumberOfConnectors"])
        return r16.UnlockConnector(status=self.unlock_status if ok else "NotSupported")

    @on("ChangeAvailability")
    async def on_availability(self, connector_id: int, type: str, **kw: Any) -> Any:
        self.record("ChangeAvailability", connector_id=connector_id, type=type)
        return r16.ChangeAvailability(status="Accepted")


# ----------------------------------------------------------------------------------------- 2.0.1

DEVICE_MODEL: dict[tuple[str, str], str] = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): "60",
    ("OCPPCommCtrlr", "OfflineThreshold"): "60",
    ("AuthCtrlr", "AuthorizeRemoteStart"): "true",
    ("SampledDataCtrlr", "TxUpdatedInterval"): "10",
    ("AlignedDataCtrlr", "Interval"): "0",
    ("DeviceDataCtrlr", "ItemsPerMessage[GetVariables]"): "4",
    ("DeviceDataCtrlr", "ItemsPerMessage[SetVariables]"): "4",
    ("DeviceDataCtrlr", "ItemsPerMessage[GetReport]"): "4",
    ("DeviceDataCtrlr", "BytesPerMessage[GetVariables]"): "10000",
    ("DeviceDataCtrlr", "BytesPerMessage[SetVariables]"): "10000",
    ("DeviceDataCtrlr", "BytesPerMessage[GetReport]"): "10000",
    ("MonitoringCtrlr", "ItemsPerMessage[ClearVariableMonitoring]"): "2",
}
_TRIGGERABLE_201 = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "LogStatusNotification",
    "FirmwareStatusNotification",
)
READONLY_201 = {(c, v) for (c, v) in DEVICE_MODEL if c in ("DeviceDataCtrlr", "MonitoringCtrlr")}


def _key(component: dict[str, Any], variable: dict[str, Any]) -> tuple[str, str]:
    name = variable["name"] + (f"[{variable['instance']}]" if variable.get("instance") else "")
    comp = component["name"] + (f"[{component['instance']}]" if component.get("instance") else "")
    return comp, name


def _split(key: tuple[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    comp, var = key
    variable: dict[str, Any] = {"name": var}
    if var.endswith("]"):
        name, _, instance = var[:-1].partition("[")
        variable = {"name": name, "instance": instance}
    return {"name": comp}, variable


class Station201(Cp201, Recorder):
    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection, response_timeout=30)
        self.received = []
        self.boots = []
        self._tasks = set()
        self.model = dict(DEVICE_MODEL)
        self.seq = itertools.count()
        self.transaction_id: str | None = None
        self.authorized: Any = None

    def limit(self, action: str) -> int:
        return int(self.model[("DeviceDataCtrlr", f"ItemsPerMessage[{action}]")])

    async def boot(self, reason: str = "PowerUp") -> Any:
        answer = await self.call(
            c201.BootNotification(charging_station={"model": "Verbs 201", "vendor_name": "ACME"}, reason=reason),
            suppress=False,
        )
        self.boots.append(answer)
        return answer

    async def status(self, status: str = "Available", suppress: bool = False) -> Any:
        return await self.call(
            c201.StatusNotification(timestamp=now(), connector_status=status, evse_id=1, connector_id=1),
            suppress=suppress,
        )

    async def notify_event(self) -> Any:
        return await self.call(
            c201.NotifyEvent(
                generated_at=now(),
                seq_no=0,
                event_data=[
                    {
                        "eventId": 1,
                        "timestamp": now(),
                        "trigger": "Delta",
                        "actualValue": "Available",
                        "eventNotificationType": "HardWiredNotification",
                        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                        "variable": {"name": "AvailabilityState"},
                    }
                ],
            ),
            suppress=False,
        )

    # -- device model
    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        self.record("GetVariables", get_variable_data=get_variable_data)
        if len(get_variable_data) > self.limit("GetVariables"):
            raise OccurrenceConstraintViolationError(description="more items than ItemsPerMessage[GetVariables]")
        results = []
        for d in get_variable_data:
            key = _key(d["component"], d["variable"])
            found = key in self.model
            results.append(
                {
                    "attribute_status": "Accepted" if found else "UnknownVariable",
                    "component": d["component"],
                    "variable": d["variable"],
                    **({"attribute_value": self.model[key]} if found else {}),
                }
            )
        return r201.GetVariables(get_variable_result=results)

    @on("SetVariables")
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        self.record("SetVariables", set_variable_data=set_variable_data)
        if len(set_variable_data) > self.limit("SetVariables"):
            raise OccurrenceConstraintViolationError(description="more items than ItemsPerMessage[SetVariables]")
        results = []
        for d in set_variable_data:
            key = _key(d["component"], d["variable"])
            if key not in self.model:
                status = "UnknownVariable"
            elif key in READONLY_201:
                status = "Rejected"
            else:
                self.model[key] = d["attribute_value"]
                status = "Accepted"
            results.append({"attribute_status": status, "component": d["component"], "variable": d["variable"]})
        return r201.SetVariables(set_variable_result=results)

    @on("GetBaseReport")
    async def on_base_report(self, request_id: int, report_base: str, **kw: Any) -> Any:
        self.record("GetBaseReport", request_id=request_id, report_base=report_base)
        return r201.GetBaseReport(status="Accepted")

    @after("GetBaseReport")
    async def after_base_report(self, request_id: int, **kw: Any) -> None:
        self._later(self._report(request_id))

    @on("GetReport")
    async def on_report(self, request_id: int, component_criteria: list[str] | None = None, **kw: Any) -> Any:
        self.record("GetReport", request_id=request_id, component_criteria=component_criteria, **kw)
        if component_criteria and "Problem" in component_criteria:
            return r201.GetReport(status="EmptyResultSet")  # nothing is in trouble here
        return r201.GetReport(status="Accepted")

    @after("GetReport")
    async def after_report(self, request_id: int, component_criteria: list[str] | None = None, **kw: Any) -> None:
        if not (component_criteria and "Problem" in component_criteria):
            wanted = {cv["component"]["name"] for cv in kw.get("component_variable") or []}
            self._later(self._report(request_id, wanted))

    @on("ClearVariableMonitoring")
    async def on_clear_monitoring(self, id: list[int], **kw: Any) -> Any:
        self.record("ClearVariableMonitoring", id=id)
        if len(id) > int(self.model[("MonitoringCtrlr", "ItemsPerMessage[ClearVariableMonitoring]")]):
            raise OccurrenceConstraintViolationError(description="more ids than ItemsPerMessage")
        return r201.ClearVariableMonitoring(
            clear_monitoring_result=[{"id": i, "status": "Accepted" if i <= 5 else "NotFound"} for i in id]
        )

    async def _report(self, request_id: int, components: set[str] | None = None) -> None:
        items = [(k, v) for k, v in self.model.items() if not components or k[0] in components]
        parts = [items[i : i + 4] for i in range(0, len(items), 4)]
        for n, part in enumerate(parts):
            data = []
            for key, value in part:
                component, variable = _split(key)
                mutability = "ReadOnly" if key in READONLY_201 else "ReadWrite"
                data.append(
                    {
                        "component": component,
                        "variable": variable,
                        "variableAttribute": [{"type": "Actual", "value": value, "mutability": mutability}],
                    }
                )
            await self.call(
                c201.NotifyReport(
                    request_id=request_id, generated_at=now(), seq_no=n, tbc=n < len(parts) - 1, report_data=data
                ),
                suppress=False,
            )

    # -- remote control
    @on("TriggerMessage")
    async def on_trigger(self, requested_message: str, evse: dict[str, Any] | None = None, **kw: Any) -> Any:
        self.record("TriggerMessage", requested_message=requested_message, evse=evse)
        if requested_message not in _TRIGGERABLE_201:
            return r201.TriggerMessage(status="NotImplemented")
        if evse is not None and evse.get("id", 1) > 1:
            return r201.TriggerMessage(status="Rejected")
        return r201.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def after_trigger(self, requested_message: str, evse: dict[str, Any] | None = None, **kw: Any) -> None:
        if evse is not None and evse.get("id", 1) > 1:
            return
        evse_id = (evse or {}).get("id", 1)
        sends: dict[str, Callable[[], Awaitable[Any]]] = {
            "BootNotification": lambda: self.boot("Triggered"),
            "Heartbeat": lambda: self.call(c201.Heartbeat(), suppress=False),
            "StatusNotification": self.status,
            "MeterValues": lambda: self.call(
                c201.MeterValues(
                    evse_id=evse_id,
                    meter_value=[{"timestamp": now(), "sampled_value": [{"value": 1234.0, "context": "Trigger"}]}],
                ),
                suppress=False,
            ),
            "LogStatusNotification": lambda: self.call(c201.LogStatusNotification(status="Idle"), suppress=False),
            "FirmwareStatusNotification": lambda: self.call(
                c201.FirmwareStatusNotification(status="Idle"), suppress=False
            ),
        }
        if requested_message in sends:
            self._later(sends[requested_message]())

    @on("Reset")
    async def on_reset(self, type: str, evse_id: int | None = None, **kw: Any) -> Any:
        self.record("Reset", type=type, evse_id=evse_id)
        # OnIdle with a transaction running: scheduled for when it ends (B_21, B_26)
        return r201.Reset(status="Scheduled" if type == "OnIdle" and self.transaction_id else "Accepted")

    @after("Reset")
    async def after_reset(self, type: str, evse_id: int | None = None, **kw: Any) -> None:
        self._later(self._reset(type, evse_id))

    async def _reset(self, type: str, evse_id: int | None) -> None:
        reason = "RemoteReset"
        if self.transaction_id is not None:
            if type == "OnIdle":  # the driver stops, then the reset happens (B_21)
                await self._event("Updated", "StopAuthorized")
                await self._event("Ended", "EVCommunicationLost", stopped_reason="EVDisconnected")
                reason = "ScheduledReset"
            else:  # B_22
                await self._event("Ended", "ResetCommand", stopped_reason="ImmediateReset")
            self.transaction_id = None
        if evse_id is None:
            await self.boot(reason)
            await self.status()

    @on("RequestStartTransaction")
    async def on_request_start(self, id_token: dict[str, Any], remote_start_id: int, **kw: Any) -> Any:
        self.record("RequestStartTransaction", id_token=id_token, remote_start_id=remote_start_id, **kw)
        if id_token["id_token"] == "REFUSE-ME" or self.transaction_id is not None:
            return r201.RequestStartTransaction(status="Rejected")
        return r201.RequestStartTransaction(status="Accepted")

    @after("RequestStartTransaction")
    async def after_request_start(self, id_token: dict[str, Any], remote_start_id: int, **kw: Any) -> None:
        if id_token["id_token"] != "REFUSE-ME" and self.transaction_id is None:
            self.transaction_id = f"TX-{self.id}"
            self._later(self._remote_start(id_token, remote_start_id))

    async def _remote_start(self, id_token: dict[str, Any], remote_start_id: int) -> None:
        if self.model[("AuthCtrlr", "AuthorizeRemoteStart")] == "true":  # F_02; false: F_03
            self.authorized = await self.call(c201.Authorize(id_token=id_token), suppress=False)
        await self._event("Started", "RemoteStart", id_token=id_token, remote_start_id=remote_start_id)

    async def _event(self, event_type: str, trigger: str, **extra: Any) -> None:
        info: dict[str, Any] = {"transaction_id": self.transaction_id}
        if "remote_start_id" in extra:
            info["remote_start_id"] = extra.pop("remote_start_id")
        if "stopped_reason" in extra:
            info["stopped_reason"] = extra.pop("stopped_reason")
        await self.call(
            c201.TransactionEvent(
                event_type=event_type,
                timestamp=now(),
                trigger_reason=trigger,
                seq_no=next(self.seq),
                transaction_info=info,
                evse={"id": 1, "connector_id": 1},
                meter_value=[{"timestamp": now(), "sampled_value": [{"value": 1000.0}]}],
                **extra,
            ),
            suppress=False,
        )

    @on("RequestStopTransaction")
    async def on_request_stop(self, transaction_id: str, **kw: Any) -> Any:
        self.record("RequestStopTransaction", transaction_id=transaction_id)
        return r201.RequestStopTransaction(status="Accepted" if transaction_id == self.transaction_id else "Rejected")

    @after("RequestStopTransaction")
    async def after_request_stop(self, transaction_id: str, **kw: Any) -> None:
        if transaction_id == self.transaction_id:
            self._later(self._end())

    async def _end(self) -> None:
        await self._event("Ended", "RemoteStop", stopped_reason="Remote")
        self.transaction_id = None

    @on("ChangeAvailability")
    async def on_availability(self, operational_status: str, evse: dict[str, Any] | None = None, **kw: Any) -> Any:
        self.record("ChangeAvailability", operational_status=operational_status, evse=evse)
        return r201.ChangeAvailability(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock(self, evse_id: int, connector_id: int, **kw: Any) -> Any:
        self.record("UnlockConnector", evse_id=evse_id, connector_id=connector_id)
        return r201.UnlockConnector(status="Unlocked" if evse_id == 1 else "UnknownConnector")


Station = Station16 | Station201


@contextlib.asynccontextmanager
async def connected(
    ws_url: str,
    station_id: str,
    version: str,
    boot: bool = True,
    settings: dict[Any, str] | None = None,
    station_class: type[Station16] | type[Station201] | None = None,
) -> AsyncIterator[Any]:
    """A connected station (booted unless ``boot`` is False); disconnects on exit. ``settings`` is the
    configuration (1.6) or device model (2.0.1) it kept from an earlier connection; ``station_class``
    a subclass that behaves differently."""
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    cls: type[Station16] | type[Station201] = station_class or (Station16 if version == "1.6" else Station201)
    async with websockets.connect(f"{ws_url}/{station_id}", subprotocols=[subprotocol]) as ws:
        station = cls(station_id, ws)
        if settings is not None:
            if isinstance(station, Station16):
                station.config = dict(settings)
            else:
                station.model = dict(settings)
        runner = asyncio.create_task(station.start())
        try:
            if boot:
                await station.boot()
            yield station
        finally:
            runner.cancel()
            for task in list(station._tasks):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
