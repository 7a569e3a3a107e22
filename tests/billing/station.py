"""A 2.0.1 station built on the `ocpp` package that replays a metered session with chosen timestamps
and keeps what the CSMS sends about cost (CostUpdated, totalCost, personalMessage)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201


class CostStation(ChargePoint):
    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection, response_timeout=30)
        self.seq = itertools.count()
        self.cost_updates: list[dict[str, Any]] = []
        self.answers: list[Any] = []
        # (component, evse id or None, variable) -> value, answered to GetVariables (e.g. the meter key)
        self.device_model: dict[tuple[str, int | None, str], str] = {}

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        results = []
        for item in get_variable_data:
            component, variable = item["component"], item["variable"]
            key = (component["name"], (component.get("evse") or {}).get("id"), variable["name"])
            value = self.device_model.get(key)
            results.append(
                {"attribute_status": "Accepted" if value is not None else "UnknownVariable",
                 "component": component, "variable": variable, **({"attribute_value": value} if value else {})}
            )  # fmt: skip
        return r201.GetVariables(get_variable_result=results)

    @on("CostUpdated")
    async def on_cost_updated(self, total_cost: float, transaction_id: str, **kw: Any) -> Any:
        self.cost_updates.append({"total_cost": total_cost, "transaction_id": transaction_id})
        return r201.CostUpdated()

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **kw: Any) -> Any:
        # on a site of the limit tree the balancer sends limits; this station does no smart charging
        return r201.SetChargingProfile(status="Rejected")

    async def boot(self) -> None:
        await self.call(
            c201.BootNotification(charging_station={"model": "Cost 201", "vendor_name": "ACME"}, reason="PowerUp"),
            suppress=False,
        )

    async def event(
        self,
        event_type: str,
        transaction_id: str,
        timestamp: str,
        *,
        energy_wh: float | None = None,
        charging_state: str | None = None,
        id_token: str | None = None,
        trigger: str = "MeterValuePeriodic",
        signed: dict[str, Any] | None = None,
        stopped_reason: str | None = None,
    ) -> Any:
        info: dict[str, Any] = {"transaction_id": transaction_id}
        if charging_state:
            info["charging_state"] = charging_state
        if stopped_reason:
            info["stopped_reason"] = stopped_reason
        kwargs: dict[str, Any] = {}
        if energy_wh is not None:
            context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}.get(event_type, "Sample.Periodic")
            sample: dict[str, Any] = {
                "value": energy_wh,
                "measurand": "Energy.Active.Import.Register",
                "context": context,
            }
            if signed:
                sample["signed_meter_value"] = signed
            kwargs["meter_value"] = [{"timestamp": timestamp, "sampled_value": [sample]}]
        if id_token:
            kwargs["id_token"] = {"id_token": id_token, "type": "ISO14443"}
        if event_type == "Started":
            kwargs["evse"] = {"id": 1, "connector_id": 1}
        answer = await self.call(
            c201.TransactionEvent(
                event_type=event_type,
                timestamp=timestamp,
                trigger_reason=trigger
                if event_type == "Updated"
                else ("Authorized" if event_type == "Started" else "EVDeparted"),
                seq_no=next(self.seq),
                transaction_info=info,
                **kwargs,
            ),
            suppress=False,
        )
        self.answers.append(answer)
        return answer


@asynccontextmanager
async def cost_station(ws_url: str, station_id: str) -> AsyncIterator[CostStation]:
    async with websockets.connect(f"{ws_url}/{station_id}", subprotocols=["ocpp2.0.1"]) as ws:
        station = CostStation(station_id, ws)
        runner = asyncio.create_task(station.start())
        try:
            await station.boot()
            yield station
        finally:
            runner.cancel()


def prune_message_log(server: Any) -> int:
    """Prune the running server's message log now, with the function its housekeeping runs (that runs
    at most hourly, so a test cannot wait for it); returns the frames deleted."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine

    from ocppd.store import repo

    url = server.env.get("OCPPD_DATABASE_URL") or f"sqlite:///{server.data_dir / 'ocppd.db'}"
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return repo.prune_message_log(conn, datetime.now(UTC))
    finally:
        engine.dispose()


async def prune_when_logged(server: Any, api: Any, station_id: str, frames: int) -> None:
    """Wait until the station's ``frames`` frames are in the message log (it is written behind the
    answers), then prune it and see it empty."""
    from tests.api.conftest import eventually, ok

    async def logged() -> bool:
        return len(ok(await api.get(f"/api/v1/stations/{station_id}/messages", params={"limit": 1000}))) >= frames

    await eventually(logged, f"{frames} frames of {station_id} in the message log")
    assert prune_message_log(server) >= frames
    assert ok(await api.get(f"/api/v1/stations/{station_id}/messages")) == []
