"""Baseline (b), the status quo: a minimal CSMS on the ``ocpp`` PyPI package over ``websockets``.

It answers BootNotification (Accepted), StatusNotification, Heartbeat, StartTransaction,
MeterValues (1.6) and TransactionEvent (2.0.1) the way the package's documentation shows, with the
package's own JSON-schema validation on (its default). It stores NOTHING: the figures are the
package's framing + validation + routing cost alone, so the comparison flatters it (ocppd also
commits every message and every frame to the database before answering).

    python -m bench.baselines.ocpp_csms --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
from datetime import UTC, datetime

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call_result as r16
from ocpp.v16.enums import Action as A16
from ocpp.v16.enums import AuthorizationStatus, RegistrationStatus
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call_result as r201
from ocpp.v201.enums import Action as A201
from ocpp.v201.enums import RegistrationStatusEnumType


def now() -> str:
    return datetime.now(UTC).isoformat()


class V16(Cp16):
    _tx = 0

    @on(A16.boot_notification)
    async def boot(self, **kw):
        return r16.BootNotification(current_time=now(), interval=300, status=RegistrationStatus.accepted)

    @on(A16.heartbeat)
    async def heartbeat(self, **kw):
        return r16.Heartbeat(current_time=now())

    @on(A16.status_notification)
    async def status(self, **kw):
        return r16.StatusNotification()

    @on(A16.start_transaction)
    async def start_tx(self, **kw):
        V16._tx += 1
        return r16.StartTransaction(transaction_id=V16._tx, id_tag_info={"status": AuthorizationStatus.accepted})

    @on(A16.meter_values)
    async def meter_values(self, **kw):
        return r16.MeterValues()


class V201(Cp201):
    @on(A201.boot_notification)
    async def boot(self, **kw):
        return r201.BootNotification(current_time=now(), interval=300, status=RegistrationStatusEnumType.accepted)

    @on(A201.heartbeat)
    async def heartbeat(self, **kw):
        return r201.Heartbeat(current_time=now())

    @on(A201.status_notification)
    async def status(self, **kw):
        return r201.StatusNotification()

    @on(A201.transaction_event)
    async def transaction_event(self, **kw):
        return r201.TransactionEvent()


async def handler(ws) -> None:
    station = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
    cls = V16 if ws.subprotocol == "ocpp1.6" else V201
    try:
        await cls(station, ws).start()
    except websockets.ConnectionClosed:
        pass


async def main(port: int) -> None:
    async with websockets.serve(
        handler,
        "127.0.0.1",
        port,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],
        ping_interval=None,
        backlog=4096,
        max_queue=64,
    ):
        await asyncio.Future()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=9000)
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    asyncio.run(main(a.port))
