"""An OCPP 2.0 (2018) station built on the ``ocpp`` package's last ``v20`` module (0.26.0).

Run as a separate process with that release first on ``PYTHONPATH`` (it cannot be installed beside
the current ``ocpp``): ``python ocpp20_station.py WS_URL IDENTITY``. It runs a whole charging session,
prints one JSON line per answer it got, then answers the CSMS's Reset and RequestStartTransaction
until it has had both (or 60 s passed), and prints those requests too.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timezone
from typing import Any

import ocpp.messages
import websockets
from jsonschema import Draft4Validator
from ocpp.routing import on
from ocpp.v20 import ChargePoint, call, call_result

_published_validator = ocpp.messages.get_validator


def _pointer_refs(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_pointer_refs(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _pointer_refs(value) for key, value in schema.items()}
    if isinstance(out.get("$ref"), str) and out["$ref"].startswith("#definitions/"):
        out["$ref"] = "#/" + out["$ref"][1:]
    return out


def _validator(*args: Any, **kwargs: Any) -> Draft4Validator:
    """The published 2.0 schemas write "#definitions/X"; jsonschema >= 4.18 (here) insists on the
    JSON pointer "#/definitions/X" that the 0.26 release's older jsonschema let pass."""
    return Draft4Validator(_pointer_refs(_published_validator(*args, **kwargs).schema))


ocpp.messages.get_validator = _validator


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")  # noqa: UP017


def emit(kind: str, value: Any) -> None:
    print(json.dumps({"kind": kind, "value": value}, default=str), flush=True)


class Station20(ChargePoint):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: asyncio.Queue[str] = asyncio.Queue()

    @on("Reset")
    async def on_reset(self, type: str, **_: Any) -> call_result.ResetPayload:
        emit("Reset", {"type": type})
        await self.asked.put("Reset")
        return call_result.ResetPayload(status="Accepted")

    @on("RequestStartTransaction")
    async def on_start(self, id_token: dict[str, Any], remote_start_id: int, **kw: Any) -> Any:
        emit("RequestStartTransaction", {"idToken": id_token, "remoteStartId": remote_start_id, **kw})
        await self.asked.put("RequestStartTransaction")
        return call_result.RequestStartTransactionPayload(status="Accepted")


async def main(url: str, identity: str) -> None:
    async with websockets.connect(f"{url}/{identity}", subprotocols=["ocpp2.0"]) as ws:
        emit("subprotocol", ws.subprotocol)
        cp = Station20(identity, ws)
        runner = asyncio.create_task(cp.start())
        boot = await cp.call(
            call.BootNotificationPayload(
                charging_station={"model": "Twenty", "vendor_name": "ACME2018", "firmware_version": "2.0.0"},
                reason="PowerUp",
            )
        )
        emit("BootNotification", {"status": boot.status, "interval": boot.interval})
        beat = await cp.call(call.HeartbeatPayload())
        emit("Heartbeat", beat.current_time)
        await cp.call(call.StatusNotificationPayload(now(), "Available", 1, 1))
        auth = await cp.call(call.AuthorizePayload(id_token={"id_token": "04A0B020", "type": "ISO14443"}))
        emit("Authorize", auth.id_token_info)
        token = {"id_token": "04A0B020", "type": "ISO14443"}
        energy = [
            {
                "timestamp": now(),
                "sampled_value": [{"value": 1000.0, "measurand": "Energy.Active.Import.Register"}],
            }
        ]
        started = await cp.call(
            call.TransactionEventPayload(
                event_type="Started", timestamp=now(), trigger_reason="Authorized", seq_no=0,
                transaction_data={"id": "TX-2018-1", "charging_state": "Charging"},
                evse={"id": 1, "connector_id": 1}, id_token=token, meter_value=energy,
            )
        )  # fmt: skip
        emit("TransactionEvent.Started", started.id_token_info)
        energy[0]["sampled_value"][0]["value"] = 2500.0
        await cp.call(
            call.TransactionEventPayload(
                event_type="Updated", timestamp=now(), trigger_reason="MeterValuePeriodic", seq_no=1,
                transaction_data={"id": "TX-2018-1"}, meter_value=energy,
            )
        )  # fmt: skip
        energy[0]["sampled_value"][0]["value"] = 4000.0
        ended = await cp.call(
            call.TransactionEventPayload(
                event_type="Ended", timestamp=now(), trigger_reason="StopAuthorized", seq_no=2,
                transaction_data={"id": "TX-2018-1", "stopped_reason": "Local"}, meter_value=energy,
            )
        )  # fmt: skip
        emit("TransactionEvent.Ended", ended.id_token_info)
        emit("ready", True)
        wanted = {"Reset", "RequestStartTransaction"}
        try:
            while wanted:
                wanted.discard(await asyncio.wait_for(cp.asked.get(), 60))
        finally:
            runner.cancel()
        emit("done", True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
