"""Connector and EVSE status: current state and history (1.6 connector 0 is the whole station)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocppd.csms.events import EventBus
from ocppd.store import Store, repo, tx_repo


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
        def op(conn: Any) -> None:
            # Kept all the same (nothing a station says is dropped), but a connector it never declared
            # (1.6 NumberOfConnectors, 2.x device model Connector components) is recorded as such.
            declared = tx_repo.declared_connectors(conn, station_id)
            if declared is not None and connector_id > 0 and (evse_id, connector_id) not in declared:
                payload = {"evse_id": evse_id, "connector_id": connector_id, "status": status}
                repo.record_event(conn, station_id, "UndeclaredConnector", timestamp, payload)
            repo.record_status(conn, station_id, evse_id, connector_id, status, error_code, info, timestamp, extra)

        await self.store.write(op)
        self.events.publish(
            "status.changed",
            station_id,
            evse_id=evse_id,
            connector_id=connector_id,
            status=status,
            error_code=error_code,
        )
