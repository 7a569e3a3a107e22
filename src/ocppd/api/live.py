"""Live view of the network fed by the event bus: current power per EVSE and a short power history.

Kept in memory because it is a view of "now" (the store keeps every sample for billing). After a
restart the series refills as meter values arrive; until it covers the chart's window,
``OperatorService.station_power`` fills the time before its first point from the stored readings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ocppd.csms.events import EventBus

log = logging.getLogger("ocppd.api.live")

HISTORY_POINTS = 720  # e.g. one hour at a 5 s meter interval


class LiveState:
    def __init__(self, events: EventBus, history: int = HISTORY_POINTS) -> None:
        self._events = events
        self._history = history
        self.power: dict[str, dict[int, float]] = {}  # station -> evse -> W
        self.energy: dict[str, dict[int, float]] = {}  # station -> evse -> register Wh
        self.series: dict[str, deque[tuple[str, float]]] = {}  # station -> (time, total W)
        self._tx_evse: dict[tuple[str, str], int] = {}  # (station, transaction) -> evse, to zero it at the end
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        with self._events.subscribe() as queue:
            while True:
                event = await queue.get()
                try:
                    self.apply(event)
                except Exception:  # one odd event must not stop the live view
                    log.exception("cannot apply event %s", event.get("type"))

    def apply(self, event: dict[str, Any]) -> None:
        kind, station = event["type"], event.get("station_id")
        if station is None:
            return
        if kind == "meter.values":
            evse = int(event.get("evse_id") or event.get("connector_id") or 0)
            tx = event.get("transaction_id")
            if tx is not None:
                self._tx_evse[(station, str(tx))] = evse
            if event.get("energy_wh") is not None:
                self.energy.setdefault(station, {})[evse] = float(event["energy_wh"])
            if event.get("power_w") is not None:
                self.power.setdefault(station, {})[evse] = float(event["power_w"])
                self._point(station, event.get("timestamp") or event["at"])
        elif kind == "transaction.started":
            self._point(station, event["at"])  # the rising edge of the chart starts from the power before
        elif kind == "transaction.ended":
            evse = self._tx_evse.pop((station, str(event.get("transaction_id"))), None)
            if evse is not None and evse in self.power.get(station, {}):
                self.power[station][evse] = 0.0
                self._point(station, event["at"])
        elif kind == "station.disconnected" and self.power.pop(station, None):
            self._point(station, event["at"])

    def _point(self, station: str, at: str) -> None:
        series = self.series.get(station)
        if series is None:
            series = self.series[station] = deque(maxlen=self._history)
        series.append((at, self.station_power(station)))

    def station_power(self, station: str) -> float:
        return outlets_total(self.power.get(station, {}))

    def total_power(self) -> float:
        return sum(outlets_total(p) for p in self.power.values())

    def history(self, station: str) -> list[dict[str, Any]]:
        return [{"at": at, "power_w": w} for at, w in self.series.get(station, ())]

    def points(self, station: str) -> list[tuple[datetime, float]]:
        """The series as ``(aware UTC time, total W)`` in the order the events came, with times made
        non-decreasing: meter points carry the station's reading time, the others the server's, and a
        station may deliver queued readings late. Sorting instead would move a point's total (which is
        the total when its event arrived) to the wrong place."""
        out: list[tuple[datetime, float]] = []
        for at, w in self.series.get(station, ()):
            try:
                t = datetime.fromisoformat(at)
            except (TypeError, ValueError):
                continue
            t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
            if out and t < out[-1][0]:
                t = out[-1][0]
            out.append((t, w))
        return out


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def outlets_total(by_evse: Mapping[int, float]) -> float:
    """A station's power from its per-EVSE figures. EVSE/connector 0 is the station's main meter,
    which already contains the outlets: it counts only when no outlet reported anything."""
    outlets = [w for evse, w in by_evse.items() if evse != 0]
    return sum(outlets) if outlets else by_evse.get(0, 0.0)
