"""What the message log holds when an answer goes out (docs/performance.md, "Method"): the request's row
is committed no later than the change it caused, so before the answer; the answer's own row follows in
the next group commit (making it wait for its own commit cost 20-30% CPU per message, measured)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from sqlalchemy import text

from ocppd.protocol import OcppVersion
from ocppd.rpc import Session
from ocppd.store import Store

from .test_writer import add_token


class LoggingObserver:
    """What the CSMS's observer does with frames (csms/service.py)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def on_frame(self, session: Session, direction: str, text: str, message_type: Any, message_id: Any,
                 action: Any) -> None:  # fmt: skip
        self.store.log_frame(session.identity, direction, message_type or 0, message_id, action, text)

    def on_relaxation(self, *args: Any) -> None: ...
    def on_call_done(self, *args: Any) -> None: ...
    def on_inbound_done(self, *args: Any) -> None: ...


def committed_directions(store: Store, message_id: str) -> list[str]:
    with store.engine.connect() as conn:  # a separate connection: sees only what is committed
        rows = conn.execute(
            text("SELECT direction FROM message_log WHERE message_id = :m ORDER BY id"), {"m": message_id}
        )
        return [r[0] for r in rows]


async def test_the_request_row_is_committed_before_the_answer_and_the_answer_row_after(store: Store) -> None:
    async def status(s: Session, payload: dict[str, Any]) -> dict[str, Any]:
        await store.write(add_token, "STORED")  # the change the answer acknowledges
        return {}

    at_send: list[list[str]] = []

    def send(frame: str) -> None:
        at_send.append(committed_directions(store, orjson.loads(frame)[1]))

    session = Session(identity="CP", version=OcppVersion.V16, send=send, handlers={"StatusNotification": status},
                      observer=LoggingObserver(store))  # fmt: skip
    session.receive(
        b'[2, "m1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}]'
    )
    async with asyncio.timeout(10):
        while not at_send:
            await asyncio.sleep(0.01)
    # Durable with the change: the request. The answer's row is queued just before sending, and may or
    # may not have been committed by the time this looks.
    assert at_send[0][:1] == ["in"]
    await store.flush()
    assert committed_directions(store, "m1") == ["in", "out"]
