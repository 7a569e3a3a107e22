"""Commands for offline stations: queued on request (with an expiry), delivered in order when the
station is back and accepted, listed and cancellable.

Queueing is opt-in per call: without it an offline station is an error (API 409), as an operator
who presses "Reset" expects either a reset now or a clear "not connected". A queued command is
stored as its domain verb (name + fields), so it is encoded for the version the station speaks when
it is delivered. Delivery starts after the first message of a connection whose registration is
Accepted (a BootNotification answered Accepted, or any message of a station that reconnected without
booting); one command at a time, oldest first. A command the station could not be reached for goes
back to the queue; one it answered (or refused, or did not answer in time) is finished with that
outcome; one past its expiry is marked expired and never sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ocppd import metrics
from ocppd.csms.outbound import (
    NotExpressible,
    OutboundError,
    Sent,
    StationOffline,
    from_jsonable,
    jsonable,
)
from ocppd.csms.verbs import VERBS_BY_NAME, Verb
from ocppd.store import Store, queue_repo
from ocppd.store.queue_repo import QueuedCommandRow

log = logging.getLogger(__name__)


class SendFn(Protocol):
    """``Csms.send``: ``by`` is who queued the command."""

    def __call__(self, station_id: str, verb: Verb[Any], *, by: str | None = None) -> Awaitable[Sent[Any]]: ...


class CommandQueue:
    def __init__(self, store: Store, send: SendFn) -> None:
        self.store = store
        self._send = send
        self._running: dict[str, asyncio.Task[None]] = {}
        # Stations that may have queued commands: a connection of any other costs no store read.
        self._waiting: set[str] = set()

    async def start(self) -> None:
        failed = await self.store.write(queue_repo.interrupted)
        if failed:
            log.warning("%d queued commands were being sent when the server stopped: marked failed", failed)
        self._waiting = set(await self.store.read(queue_repo.stations_with_queued))

    async def enqueue(
        self, station_id: str, verb: Verb[Any], expires_in: timedelta, created_by: str | None = None
    ) -> QueuedCommandRow:
        if expires_in <= timedelta(0):
            raise ValueError("the queue expiry must be positive")
        expires_at = datetime.now(UTC) + expires_in
        row = await self.store.write(queue_repo.enqueue, station_id, verb.name, jsonable(verb), expires_at, created_by)
        self._waiting.add(station_id)
        metrics.QUEUED_COMMANDS.labels("queued").inc()
        log.info("%s %s queued as #%d until %s", station_id, verb.name, row.id, expires_at.isoformat())
        return row

    async def cancel(self, pk: int, station_id: str | None = None) -> tuple[bool, str] | None:
        return await self.store.write(queue_repo.cancel, pk, station_id)

    async def listed(
        self, station_id: str | None = None, statuses: tuple[str, ...] | None = None
    ) -> list[QueuedCommandRow]:
        return await self.store.read(queue_repo.listed, station_id, statuses)

    def deliver_soon(self, station_id: str) -> None:
        """Start delivering the station's queued commands (once; a running delivery carries on)."""
        if station_id not in self._waiting:
            return
        task = self._running.get(station_id)
        if task is not None and not task.done():
            return
        self._running[station_id] = asyncio.get_running_loop().create_task(self._deliver(station_id))

    async def _deliver(self, station_id: str) -> None:
        try:
            rows = await self.store.read(queue_repo.listed, station_id, (queue_repo.QUEUED,))
            for row in rows:
                if not await self._deliver_one(row):
                    return
            # The queue is empty unless something was added while delivering (enqueue adds it back).
            if not await self.store.read(queue_repo.listed, station_id, (queue_repo.QUEUED,), 1):
                self._waiting.discard(station_id)
        except Exception:
            log.exception("%s: delivering queued commands failed", station_id)
        finally:
            self._running.pop(station_id, None)

    async def _deliver_one(self, row: QueuedCommandRow) -> bool:
        """Send one queued command; False when the station went away (stop, keep the rest queued)."""
        if row.expires_at <= datetime.now(UTC):
            await self.store.write(queue_repo.finish, row.id, queue_repo.EXPIRED)
            metrics.QUEUED_COMMANDS.labels("expired").inc()
            log.info("%s queued #%d %s expired unsent", row.station_id, row.id, row.verb)
            return True
        if not await self.store.write(queue_repo.claim, row.id):
            return True  # cancelled meanwhile
        try:
            verb = from_jsonable(VERBS_BY_NAME[row.verb], row.body)
            sent = await self._send(row.station_id, verb, by=row.created_by)
        except StationOffline:
            await self.store.write(queue_repo.release, row.id)
            return False
        except (OutboundError, NotExpressible, KeyError, TypeError, ValueError) as exc:
            await self.store.write(queue_repo.finish, row.id, queue_repo.FAILED, None, str(exc) or type(exc).__name__)
            metrics.QUEUED_COMMANDS.labels("failed").inc()
            log.info("%s queued #%d %s failed: %s", row.station_id, row.id, row.verb, exc)
            return True
        result = jsonable(sent.result)
        result["calls"] = [{"action": e.action, "request": e.request, "response": e.response} for e in sent.exchanges]
        await self.store.write(queue_repo.finish, row.id, queue_repo.DELIVERED, result)
        metrics.QUEUED_COMMANDS.labels("delivered").inc()
        log.info("%s queued #%d %s delivered", row.station_id, row.id, row.verb)
        return True


def queued_dict(row: QueuedCommandRow) -> dict[str, Any]:
    """A queued command for the API and the CLI."""
    return {
        "id": row.id,
        "station_id": row.station_id,
        "command": row.verb,
        "body": row.body,
        "status": row.status,
        "created_at": _iso(row.created_at),
        "expires_at": _iso(row.expires_at),
        "created_by": row.created_by,
        "finished_at": _iso(row.finished_at),
        "result": row.result,
        "error": row.error,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
