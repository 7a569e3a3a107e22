"""Charging stations for the API and browser tests: the `ocpp` PyPI package over `websockets`.

Each answers every CSMS-initiated message the typed endpoints send (the package validates incoming
payloads against the official schemas, so an accepted command is also a schema-valid one). A remote
start runs a real session: StartTransaction / TransactionEvent, periodic meter values with power and
energy, and a stop on request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

POWER_W = 7400.0
WH_PER_TICK = 50.0  # energy per meter value: simulated time runs fast so sessions show real kWh


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Recorder:
    """Remembers every CSMS-initiated action received, for assertions."""

    received: list[tuple[str, dict[str, Any]]]

    def record(self, action: str, **kwargs: Any) -> None:
        self.received.append((action, kwargs))

    def actions(self) -> list[str]:
        return [a for a, _ in self.received]


class Station16(Cp16, Recorder):
    def __init__(self, station_id: str, connection: Any, meter_interval: float = 1.0) -> None:
        super().__init__(station_id, connection)
        self.received = []
        self.meter_interval = meter_interval
        self.transaction_id: int | None = None
        self.energy_wh = 1000.0
        self._charging: asyncio.Task[None] | None = None

    async def boot(self) -> None:
        await self.call(
            c16.BootNotification(charge_point_model="Wallbox 16", charge_point_vendor="ACME", firmware_version="1.0.0")
        )
        await self.status(1, "Available")

    async def status(self, connector: int, status: str) -> None:
        await self.call(
            c16.StatusNotification(connector_id=connector, error_code="NoError", status=status, timestamp=now())
        )

    async def _session(self, id_tag: str, connector: int) -> None:
        await self.status(connector, "Preparing")
        result = await self.call(
            c16.StartTransaction(
                connector_id=connector, id_tag=id_tag, meter_start=int(self.energy_wh), timestamp=now()
            )
        )
        self.transaction_id = result.transaction_id
        await self.status(connector, "Charging")
        while True:
            self.energy_wh += WH_PER_TICK
            await self.call(
                c16.MeterValues(
                    connector_id=connector,
                    transaction_id=self.transaction_id,
                    meter_value=[
                        {
                            "timestamp": now(),
                            "sampled_value": [
                                {
                                    "value": f"{self.energy_wh:.1f}",
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                },
                                {"value": f"{POWER_W:.0f}", "measurand": "Power.Active.Import", "unit": "W"},
                            ],
                        }
                    ],
                )
            )
            await asyncio.sleep(self.meter_interval)

    async def stop_session(self, reason: str = "Remote") -> None:
        if self._charging is not None:
            self._charging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._charging
            self._charging = None
        if self.transaction_id is not None:
            tx, self.transaction_id = self.transaction_id, None
            await self.call(
                c16.StopTransaction(meter_stop=int(self.energy_wh), timestamp=now(), transaction_id=tx, reason=reason)
            )
            await self.status(1, "Finishing")
            await self.status(1, "Available")

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag: str, connector_id: int = 1, **kw: Any) -> Any:
        self.record("RemoteStartTransaction", id_tag=id_tag, connector_id=connector_id, **kw)
        self._charging = asyncio.create_task(self._session(id_tag, connector_id))
        return r16.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int, **kw: Any) -> Any:
        self.record("RemoteStopTransaction", transaction_id=transaction_id)
        known = transaction_id == self.transaction_id
        if known:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.stop_session()))
        return r16.RemoteStopTransaction(status="Accepted" if known else "Rejected")

    @on("Reset")
    async def on_reset(self, **kw: Any) -> Any:
        self.record("Reset", **kw)
        return r16.Reset(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock(self, **kw: Any) -> Any:
        self.record("UnlockConnector", **kw)
        return r16.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    async def on_availability(self, **kw: Any) -> Any:
        self.record("ChangeAvailability", **kw)
        return r16.ChangeAvailability(status="Accepted")

    @on("GetConfiguration")
    async def on_get_configuration(self, key: list[str] | None = None, **kw: Any) -> Any:
        self.record("GetConfiguration", key=key)
        config = {"HeartbeatInterval": "60", "MeterValueSampleInterval": "10", "NumberOfConnectors": "1"}
        wanted = key or list(config)
        return r16.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": k == "NumberOfConnectors", "value": config[k]} for k in wanted if k in config
            ],
            unknown_key=[k for k in wanted if k not in config] or None,
        )

    @on("ChangeConfiguration")
    async def on_change_configuration(self, **kw: Any) -> Any:
        self.record("ChangeConfiguration", **kw)
        return r16.ChangeConfiguration(status="Accepted")

    @on("TriggerMessage")
    async def on_trigger(self, **kw: Any) -> Any:
        self.record("TriggerMessage", **kw)
        return r16.TriggerMessage(status="Accepted")

    @on("SetChargingProfile")
    async def on_set_profile(self, **kw: Any) -> Any:
        self.record("SetChargingProfile", **kw)
        return r16.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    async def on_clear_profile(self, **kw: Any) -> Any:
        self.record("ClearChargingProfile", **kw)
        return r16.ClearChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")
    async def on_composite(self, **kw: Any) -> Any:
        self.record("GetCompositeSchedule", **kw)
        return r16.GetCompositeSchedule(status="Accepted", connector_id=kw.get("connector_id"))

    @on("UpdateFirmware")
    async def on_firmware(self, **kw: Any) -> Any:
        self.record("UpdateFirmware", **kw)
        return r16.UpdateFirmware()

    @on("GetDiagnostics")
    async def on_diagnostics(self, **kw: Any) -> Any:
        self.record("GetDiagnostics", **kw)
        return r16.GetDiagnostics(file_name="diag.log")

    @on("ReserveNow")
    async def on_reserve(self, **kw: Any) -> Any:
        self.record("ReserveNow", **kw)
        return r16.ReserveNow(status="Accepted")

    @on("CancelReservation")
    async def on_cancel(self, **kw: Any) -> Any:
        self.record("CancelReservation", **kw)
        return r16.CancelReservation(status="Accepted")

    @on("SendLocalList")
    async def on_local_list(self, **kw: Any) -> Any:
        self.record("SendLocalList", **kw)
        return r16.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    async def on_local_list_version(self, **kw: Any) -> Any:
        self.record("GetLocalListVersion", **kw)
        return r16.GetLocalListVersion(list_version=3)

    @on("ClearCache")
    async def on_clear_cache(self, **kw: Any) -> Any:
        self.record("ClearCache", **kw)
        return r16.ClearCache(status="Accepted")

    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id: str, **kw: Any) -> Any:
        self.record("DataTransfer", vendor_id=vendor_id, **kw)
        if vendor_id == "slow":  # never answers in time: lets tests see the 504
            await asyncio.sleep(3600)
        return r16.DataTransfer(status="Accepted", data="pong")


class Station201(Cp201, Recorder):
    _seq = itertools.count()

    def __init__(self, station_id: str, connection: Any, meter_interval: float = 1.0) -> None:
        super().__init__(station_id, connection)
        self.received = []
        self.meter_interval = meter_interval
        self.transaction_id: str | None = None
        self.energy_wh = 5000.0
        self._charging: asyncio.Task[None] | None = None

    async def boot(self) -> None:
        await self.call(
            c201.BootNotification(charging_station={"model": "Wallbox 2", "vendor_name": "ACME"}, reason="PowerUp")
        )
        await self.status("Available")

    async def status(self, status: str) -> None:
        await self.call(c201.StatusNotification(timestamp=now(), connector_status=status, evse_id=1, connector_id=1))

    def _meter(self) -> list[dict[str, Any]]:
        return [
            {
                "timestamp": now(),
                "sampled_value": [
                    {
                        "value": round(self.energy_wh, 1),
                        "measurand": "Energy.Active.Import.Register",
                        "unit_of_measure": {"unit": "Wh"},
                    },
                    {"value": POWER_W, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}},
                ],
            }
        ]

    async def _event(self, event_type: str, trigger: str, **extra: Any) -> None:
        assert self.transaction_id is not None
        info = {"transaction_id": self.transaction_id, **extra.pop("info", {})}
        await self.call(
            c201.TransactionEvent(
                event_type=event_type,
                timestamp=now(),
                trigger_reason=trigger,
                seq_no=next(self._seq),
                transaction_info=info,
                meter_value=self._meter(),
                **extra,
            )
        )

    async def _session(self, id_token: dict[str, Any], remote_start_id: int) -> None:
        self.transaction_id = f"tx-{remote_start_id}"
        await self.status("Occupied")
        await self._event(
            "Started",
            "RemoteStart",
            id_token=id_token,
            evse={"id": 1, "connector_id": 1},
            info={"remote_start_id": remote_start_id, "charging_state": "Charging"},
        )
        while True:
            await asyncio.sleep(self.meter_interval)
            self.energy_wh += WH_PER_TICK
            await self._event("Updated", "MeterValuePeriodic", info={"charging_state": "Charging"})

    async def stop_session(self) -> None:
        if self._charging is not None:
            self._charging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._charging
            self._charging = None
        if self.transaction_id is not None:
            await self._event("Ended", "RemoteStop", info={"stopped_reason": "Remote", "charging_state": "Idle"})
            self.transaction_id = None
            await self.status("Available")

    @on("RequestStartTransaction")
    async def on_request_start(self, id_token: dict[str, Any], remote_start_id: int, **kw: Any) -> Any:
        self.record("RequestStartTransaction", id_token=id_token, remote_start_id=remote_start_id, **kw)
        self._charging = asyncio.create_task(self._session(id_token, remote_start_id))
        return r201.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    async def on_request_stop(self, transaction_id: str, **kw: Any) -> Any:
        self.record("RequestStopTransaction", transaction_id=transaction_id)
        known = transaction_id == self.transaction_id
        if known:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.stop_session()))
        return r201.RequestStopTransaction(status="Accepted" if known else "Rejected")

    @on("Reset")
    async def on_reset(self, **kw: Any) -> Any:
        self.record("Reset", **kw)
        return r201.Reset(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock(self, **kw: Any) -> Any:
        self.record("UnlockConnector", **kw)
        return r201.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    async def on_availability(self, **kw: Any) -> Any:
        self.record("ChangeAvailability", **kw)
        return r201.ChangeAvailability(status="Accepted")

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        self.record("GetVariables", get_variable_data=get_variable_data)
        return r201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "component": d["component"],
                    "variable": d["variable"],
                    "attribute_value": "42",
                }
                for d in get_variable_data
            ]
        )

    @on("SetVariables")
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        self.record("SetVariables", set_variable_data=set_variable_data)
        return r201.SetVariables(
            set_variable_result=[
                {"attribute_status": "Accepted", "component": d["component"], "variable": d["variable"]}
                for d in set_variable_data
            ]
        )

    @on("GetBaseReport")
    async def on_base_report(self, **kw: Any) -> Any:
        self.record("GetBaseReport", **kw)
        return r201.GetBaseReport(status="Accepted")

    @on("TriggerMessage")
    async def on_trigger(self, **kw: Any) -> Any:
        self.record("TriggerMessage", **kw)
        return r201.TriggerMessage(status="Accepted")

    @on("SetChargingProfile")
    async def on_set_profile(self, **kw: Any) -> Any:
        self.record("SetChargingProfile", **kw)
        return r201.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    async def on_clear_profile(self, **kw: Any) -> Any:
        self.record("ClearChargingProfile", **kw)
        return r201.ClearChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")
    async def on_composite(self, **kw: Any) -> Any:
        self.record("GetCompositeSchedule", **kw)
        return r201.GetCompositeSchedule(status="Accepted")

    @on("UpdateFirmware")
    async def on_firmware(self, **kw: Any) -> Any:
        self.record("UpdateFirmware", **kw)
        return r201.UpdateFirmware(status="Accepted")

    @on("GetLog")
    async def on_get_log(self, **kw: Any) -> Any:
        self.record("GetLog", **kw)
        return r201.GetLog(status="Accepted", filename="station.log")

    @on("ReserveNow")
    async def on_reserve(self, **kw: Any) -> Any:
        self.record("ReserveNow", **kw)
        return r201.ReserveNow(status="Accepted")

    @on("CancelReservation")
    async def on_cancel(self, **kw: Any) -> Any:
        self.record("CancelReservation", **kw)
        return r201.CancelReservation(status="Accepted")

    @on("SendLocalList")
    async def on_local_list(self, **kw: Any) -> Any:
        self.record("SendLocalList", **kw)
        return r201.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    async def on_local_list_version(self, **kw: Any) -> Any:
        self.record("GetLocalListVersion", **kw)
        return r201.GetLocalListVersion(version_number=3)

    @on("ClearCache")
    async def on_clear_cache(self, **kw: Any) -> Any:
        self.record("ClearCache", **kw)
        return r201.ClearCache(status="Accepted")

    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id: str, **kw: Any) -> Any:
        self.record("DataTransfer", vendor_id=vendor_id, **kw)
        return r201.DataTransfer(status="Accepted", data={"pong": True})


@contextlib.asynccontextmanager
async def connected(
    ws_url: str, station_id: str, version: str = "1.6", meter_interval: float = 1.0
) -> AsyncIterator[Station16 | Station201]:
    """A booted station connected to the CSMS; disconnects (ending any session task) on exit."""
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    cls: type[Station16] | type[Station201] = Station16 if version == "1.6" else Station201
    async with websockets.connect(f"{ws_url}/{station_id}", subprotocols=[subprotocol]) as ws:
        station = cls(station_id, ws, meter_interval)
        runner = asyncio.create_task(station.start())
        try:
            await station.boot()
            yield station
        finally:
            if station._charging is not None:
                station._charging.cancel()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
