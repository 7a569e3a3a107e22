"""Connector and EVSE status: current state and history (1.6 connector 0 is the whole station)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocppd.csms.events import EventBus
from ocppd.store import Store, repo


class Availability:
    def __init__(self, store: Store, events: EventBus) -> None:
        self.store = store
        self.events = events

    async def status(
        self,
        station_id: str,
        evse_id: int,
        connector_id: int,
        status: str,
        error_code: str | None,
        info: str | None,
        timestamp: datetime,
        extra: dict[str, Any],
    ) -> None:
        await self.store.write(
            repo.record_status, station_id, evse_id, connector_id, status, error_code, info, timestamp, extra
        )
        self.events.publish(
            "status.changed",
            station_id,
            evse_id=evse_id,
            connector_id=connector_id,
            status=status,
            error_code=error_code,
        )
