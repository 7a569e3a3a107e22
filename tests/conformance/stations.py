"""Charging stations for the conformance tests: the ``ocpp`` PyPI package over ``websockets``.

They play what the OCA test tool plays. Every CSMS-initiated request is recorded and answered from
``answers`` (the action's call_result keyword arguments), so a test can say "answer ReserveNow with
Occupied" and then check exactly what the CSMS sent.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from tests.csms_process import CsmsProcess
from tests.waiting import eventually  # noqa: F401  (re-exported to the tests of this folder)

T = TypeVar("T")
_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids):03d}-{datetime.now(UTC).strftime('%H%M%S%f')}"


def ts(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Recorder:
    received: list[tuple[str, dict[str, Any]]]
    answers: dict[str, dict[str, Any]]

    def got(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.received.append((action, payload))
        return self.answers.get(action, {})

    def requests(self, action: str) -> list[dict[str, Any]]:
        return [p for a, p in self.received if a == action]


class Station16(Cp16, Recorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received = []
        self.answers = {}

    async def boot(self) -> None:
        boot = await self.call(c16.BootNotification(charge_point_vendor="OCA", charge_point_model="Tool16"))
        assert boot.status == "Accepted"
        for connector in (0, 1, 2):
            await self.status(connector, "Available")

    async def status(self, connector: int, status: str, error_code: str = "NoError") -> None:
        await self.call(c16.StatusNotification(connector_id=connector, error_code=error_code, status=status))

    async def call_authorize(self, id_tag: str) -> str:
        return (await self.call_authorize_info(id_tag))["status"]  # type: ignore[no-any-return]

    async def call_authorize_info(self, id_tag: str) -> dict[str, Any]:
        answer = await self.call(c16.Authorize(id_tag=id_tag))
        return answer.id_tag_info  # type: ignore[no-any-return]

    async def start_tx(self, id_tag: str, connector: int = 1, meter_start: int = 1000, **kw: Any) -> Any:
        return await self.call(
            c16.StartTransaction(connector_id=connector, id_tag=id_tag, meter_start=meter_start,
                                 timestamp=kw.pop("timestamp", ts()), **kw)
        )  # fmt: skip

    async def meter(self, transaction_id: int, wh: float, connector: int = 1) -> None:
        sampled = [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
        await self.call(
            c16.MeterValues(connector_id=connector, transaction_id=transaction_id,
                            meter_value=[{"timestamp": ts(), "sampled_value": sampled}])
        )  # fmt: skip

    async def stop_tx(self, transaction_id: int, meter_stop: int, **kw: Any) -> Any:
        return await self.call(
            c16.StopTransaction(transaction_id=transaction_id, meter_stop=meter_stop,
                                timestamp=kw.pop("timestamp", ts()), **kw)
        )  # fmt: skip

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, **p: Any) -> r16.RemoteStopTransaction:
        return r16.RemoteStopTransaction(**{"status": "Accepted", **self.got("RemoteStopTransaction", p)})

    @on("ReserveNow")
    async def on_reserve_now(self, **p: Any) -> r16.ReserveNow:
        return r16.ReserveNow(**{"status": "Accepted", **self.got("ReserveNow", p)})

    @on("CancelReservation")
    async def on_cancel_reservation(self, **p: Any) -> r16.CancelReservation:
        return r16.CancelReservation(**{"status": "Accepted", **self.got("CancelReservation", p)})

    @on("SendLocalList")
    async def on_send_local_list(self, **p: Any) -> r16.SendLocalList:
        return r16.SendLocalList(**{"status": "Accepted", **self.got("SendLocalList", p)})

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **p: Any) -> r16.GetLocalListVersion:
        return r16.GetLocalListVersion(**{"list_version": 0, **self.got("GetLocalListVersion", p)})

    @on("GetConfiguration")
    async def on_get_configuration(self, **p: Any) -> r16.GetConfiguration:
        return r16.GetConfiguration(**{"configuration_key": [], **self.got("GetConfiguration", p)})

    @on("ClearCache")
    async def on_clear_cache(self, **p: Any) -> r16.ClearCache:
        return r16.ClearCache(**{"status": "Accepted", **self.got("ClearCache", p)})

    @on("ChangeAvailability")
    async def on_change_availability(self, **p: Any) -> r16.ChangeAvailability:
        return r16.ChangeAvailability(**{"status": "Accepted", **self.got("ChangeAvailability", p)})


class Station201(Cp201, Recorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received = []
        self.answers = {}
        self.seq: dict[str, int] = {}

    async def boot(self, reason: str = "PowerUp") -> None:
        boot = await self.call(
            c201.BootNotification(charging_station={"model": "Tool201", "vendor_name": "OCA"}, reason=reason)
        )
        assert boot.status == "Accepted"
        for evse in (1, 2):
            await self.status(evse, "Available")

    async def status(self, evse: int, status: str) -> None:
        await self.call(c201.StatusNotification(timestamp=ts(), connector_status=status, evse_id=evse, connector_id=1))

    async def reservation_status(self, reservation_id: int, status: str) -> None:
        await self.call(c201.ReservationStatusUpdate(reservation_id=reservation_id, reservation_update_status=status))

    async def authorize(self, id_token: str, token_type: str = "Central") -> dict[str, Any]:
        answer = await self.call(c201.Authorize(id_token={"id_token": id_token, "type": token_type}))
        return answer.id_token_info  # type: ignore[no-any-return]

    async def event(
        self,
        event_type: str,
        tx_id: str,
        trigger: str,
        *,
        evse: int | None = 1,
        token: str | None = None,
        token_type: str = "Central",
        wh: float | None = None,
        seq_no: int | None = None,
        info: dict[str, Any] | None = None,
        at: float = 0.0,
        **kw: Any,
    ) -> Any:
        """A TransactionEvent; seqNo counts per transaction from 0 unless given."""
        if seq_no is None:
            seq_no = self.seq.get(tx_id, -1) + 1
        self.seq[tx_id] = max(seq_no, self.seq.get(tx_id, -1))
        args: dict[str, Any] = {"transaction_info": {"transaction_id": tx_id, **(info or {})}}
        if evse is not None:
            args["evse"] = {"id": evse, "connector_id": 1}
        if token is not None:
            args["id_token"] = {"id_token": token, "type": token_type}
        if wh is not None:
            context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}.get(event_type, "Sample.Periodic")
            args["meter_value"] = [{"timestamp": ts(at), "sampled_value": [
                {"value": wh, "measurand": "Energy.Active.Import.Register", "context": context,
                 "unit_of_measure": {"unit": "Wh"}}]}]  # fmt: skip
        return await self.call(
            c201.TransactionEvent(event_type=event_type, timestamp=kw.pop("timestamp", ts(at)), trigger_reason=trigger,
                                  seq_no=seq_no, **args, **kw)
        )  # fmt: skip

    @on("GetTransactionStatus")
    async def on_get_transaction_status(self, **p: Any) -> r201.GetTransactionStatus:
        return r201.GetTransactionStatus(**{"messages_in_queue": False, **self.got("GetTransactionStatus", p)})

    @on("RequestStopTransaction")
    async def on_request_stop(self, **p: Any) -> r201.RequestStopTransaction:
        return r201.RequestStopTransaction(**{"status": "Accepted", **self.got("RequestStopTransaction", p)})

    @on("ReserveNow")
    async def on_reserve_now(self, **p: Any) -> r201.ReserveNow:
        return r201.ReserveNow(**{"status": "Accepted", **self.got("ReserveNow", p)})

    @on("CancelReservation")
    async def on_cancel_reservation(self, **p: Any) -> r201.CancelReservation:
        return r201.CancelReservation(**{"status": "Accepted", **self.got("CancelReservation", p)})

    @on("SendLocalList")
    async def on_send_local_list(self, **p: Any) -> r201.SendLocalList:
        return r201.SendLocalList(**{"status": "Accepted", **self.got("SendLocalList", p)})

    @on("ClearCache")
    async def on_clear_cache(self, **p: Any) -> r201.ClearCache:
        return r201.ClearCache(**{"status": "Accepted", **self.got("ClearCache", p)})

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **p: Any) -> r201.GetLocalListVersion:
        return r201.GetLocalListVersion(**{"version_number": 0, **self.got("GetLocalListVersion", p)})


@asynccontextmanager
async def connect(server: CsmsProcess, identity: str, cls: type[T]) -> AsyncIterator[T]:
    version = "ocpp1.6" if issubclass(cls, Cp16) else "ocpp2.0.1"
    async with websockets.connect(f"{server.ws_url}/{identity}", subprotocols=[version]) as ws:
        cp = cls(identity, ws)  # type: ignore[call-arg]
        task = asyncio.create_task(cp.start())  # type: ignore[attr-defined]
        try:
            yield cp
        finally:
            task.cancel()


async def transactions(api: httpx.AsyncClient, station_id: str) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/transactions", params={"station": station_id})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def events(api: httpx.AsyncClient, station_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/stations/{station_id}/notifications", params={"limit": 200})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def add_tokens(server: CsmsProcess, *tokens: str, group: str | None = None, token_type: str | None = None) -> None:
    args = ["tokens", "add", *tokens]
    if group:
        args += ["--group", group]
    if token_type:
        args += ["--type", token_type]
    server.cli(*args)
