"""In-process event bus: the domain publishes, the API stream, webhooks and the cluster subscribe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("ocppd.events")


class EventBus:
    """Fan-out of domain events to bounded subscriber queues; a slow subscriber loses events, never blocks."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._queue_size = queue_size
        self.dropped = 0

    @property
    def active(self) -> bool:
        """Whether anyone listens (lets publishers skip building events nobody reads)."""
        return bool(self._subscribers)

    def publish(self, event_type: str, station_id: str | None = None, **data: Any) -> None:
        if not self._subscribers:
            return
        event = {"type": event_type, "station_id": station_id, "at": datetime.now(UTC).isoformat(), **data}
        for queue in self._subscribers:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.dropped += 1

    @contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
