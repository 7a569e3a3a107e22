"""The durable side of a fleet: transaction-message queues and station state, in one SQLite file.

Transaction messages must survive a restart of the simulator (1.6 §4.10/§3.16, 2.0.1 E04/E12), so
each one is written before it is sent and deleted once the CSMS has answered. Each station keeps
its queue in memory too (the working copy); SQLite is written through, and commits are batched a
few times a second because thousands of stations each committing per message would be the
bottleneck. A crash can lose the last ~0.2 s of messages; a clean exit loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("ocppd.station.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    station TEXT NOT NULL,
    action TEXT NOT NULL,
    payload BLOB NOT NULL,
    tx_ref TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_station ON queue (station, seq);
CREATE TABLE IF NOT EXISTS txmap (station TEXT, tx_ref TEXT, real_id TEXT, PRIMARY KEY (station, tx_ref));
CREATE TABLE IF NOT EXISTS state (station TEXT PRIMARY KEY, data BLOB NOT NULL);
"""

COMMIT_DELAY = 0.2


@dataclass(slots=True)
class QueuedMessage:
    seq: int
    action: str
    payload: dict[str, Any]
    tx_ref: str | None  # the station-local transaction reference (1.6: patched to the CSMS's id)
    attempts: int = 0


class Store:
    """One SQLite file (or ``:memory:``) shared by every station of a fleet."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute("BEGIN")
        self._commit_handle: asyncio.TimerHandle | None = None

    # -------------------------------------------------------------- queue
    def load_queue(self, station: str) -> deque[QueuedMessage]:
        rows = self._db.execute(
            "SELECT seq, action, payload, tx_ref, attempts FROM queue WHERE station=? ORDER BY seq",
            (station,),
        ).fetchall()
        return deque(QueuedMessage(s, a, orjson.loads(p), t, n) for s, a, p, t, n in rows)

    def push(self, station: str, action: str, payload: dict[str, Any], tx_ref: str | None) -> QueuedMessage:
        cur = self._db.execute(
            "INSERT INTO queue (station, action, payload, tx_ref) VALUES (?, ?, ?, ?)",
            (station, action, orjson.dumps(payload), tx_ref),
        )
        self._dirty()
        return QueuedMessage(int(cur.lastrowid or 0), action, payload, tx_ref)

    def pop(self, seq: int) -> None:
        self._db.execute("DELETE FROM queue WHERE seq=?", (seq,))
        self._dirty()

    def set_attempts(self, seq: int, attempts: int) -> None:
        self._db.execute("UPDATE queue SET attempts=? WHERE seq=?", (attempts, seq))
        self._dirty()

    # -------------------------------------------------------------- 1.6 transaction ids
    def map_tx(self, station: str, tx_ref: str, real_id: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO txmap VALUES (?, ?, ?)", (station, tx_ref, real_id))
        self._dirty()

    def tx_map(self, station: str) -> dict[str, str]:
        rows = self._db.execute("SELECT tx_ref, real_id FROM txmap WHERE station=?", (station,))
        return dict(rows.fetchall())

    # -------------------------------------------------------------- station state
    def save_state(self, station: str, data: dict[str, Any]) -> None:
        self._db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (station, orjson.dumps(data)))
        self._dirty()

    def load_state(self, station: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT data FROM state WHERE station=?", (station,)).fetchone()
        return orjson.loads(row[0]) if row else None

    # -------------------------------------------------------------- commits
    def _dirty(self) -> None:
        if self._commit_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.commit()
            return
        self._commit_handle = loop.call_later(COMMIT_DELAY, self.commit)

    def commit(self) -> None:
        self._commit_handle = None
        try:
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
        except sqlite3.Error as exc:  # keep simulating; the next commit tries again
            log.warning("queue store commit failed: %s", exc)

    def close(self) -> None:
        if self._commit_handle is not None:
            self._commit_handle.cancel()
        self.commit()
        self._db.execute("COMMIT")
        self._db.close()
