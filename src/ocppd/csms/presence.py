"""When each station was last heard from: any message counts, not only boots and heartbeats.

Kept in memory on the message path (one dict assignment per inbound frame, no database write) and
written to ``stations.last_seen_at`` in one executemany for all stations that spoke since the last
flush (every few seconds, from the CSMS housekeeping, and at shutdown). Readers that want it exact
(the API, the dashboard) take the newer of the stored time and ``last_seen``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from ocppd.store import Store, repo


class Presence:
    def __init__(self) -> None:
        self._heard: dict[str, float] = {}  # station -> epoch seconds of its last inbound frame
        self._unsaved: set[str] = set()

    def heard(self, station_id: str) -> None:
        """A frame arrived from the station (the hot path: keep it this cheap)."""
        self._heard[station_id] = time.time()
        self._unsaved.add(station_id)

    def last_seen(self, station_id: str) -> datetime | None:
        at = self._heard.get(station_id)
        return None if at is None else datetime.fromtimestamp(at, UTC)

    def all_heard(self) -> dict[str, datetime]:
        """Every station heard since this process started, with the time of its last frame."""
        return {sid: datetime.fromtimestamp(at, UTC) for sid, at in self._heard.items()}

    def newest(self, station_id: str, stored: datetime | None) -> datetime | None:
        """The later of the stored last-seen time and what memory knows."""
        mine = self.last_seen(station_id)
        if mine is None or (stored is not None and stored >= mine):
            return stored
        return mine

    async def flush(self, store: Store) -> int:
        """Store the times of every station heard since the last flush; returns how many."""
        if not self._unsaved:
            return 0
        rows = [(sid, datetime.fromtimestamp(self._heard[sid], UTC)) for sid in self._unsaved if sid in self._heard]
        self._unsaved = set()
        await store.write(repo.record_last_seen, rows)
        return len(rows)
