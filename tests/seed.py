"""Fill a store with a large, plausible network fast (bulk inserts through ``Store.write``), for paging
tests and the dashboard benchmark (bench/dashboard.py): stations with connectors, id tokens,
transactions (most finished, one running on some stations, with readings), message-log frames.

    python -m tests.seed sqlite:///ocppd-data/ocppd.db --stations 10000 --transactions 1000000

Deterministic for given arguments. Station ids are ``<prefix>00001``..., tokens ``TAG000001``...
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, text

from ocppd.store import Store
from ocppd.store.repo import sqlite_timestamp

CHUNK = 20_000  # rows per write (one transaction each)
STATUSES = ["Available"] * 6 + ["Faulted", "Unavailable", "Preparing"]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@dataclass
class Seeded:
    stations: list[str]
    tokens: list[str]
    transactions: int
    running: dict[str, int]  # station -> pk of its running transaction
    messages: int
    seconds: float


def _chunks(rows: Iterator[tuple[Any, ...]], size: int = CHUNK) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _inserter(table: str, columns: Sequence[str], times: Sequence[int] = ()) -> Any:
    """``fn(conn, rows)`` inserting tuples in ``columns`` order with one driver-level executemany."""

    def insert(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        sqlite = conn.dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"
        if sqlite and times:
            rows = [
                tuple(sqlite_timestamp(v) if i in times and v is not None else v for i, v in enumerate(r)) for r in rows
            ]
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
        conn.exec_driver_sql(sql, rows)

    return insert


STATION_COLS = ("station_id", "ocpp_version", "vendor", "model", "registration_status", "enabled",
                "last_boot_at", "last_seen_at", "last_heartbeat_at", "created_at", "updated_at")  # fmt: skip
CONNECTOR_COLS = ("station_id", "evse_id", "connector_id", "status", "error_code", "timestamp", "updated_at")
TOKEN_COLS = ("id_token", "token_type", "status", "expiry", "group_id", "created_at", "updated_at")
TX_COLS = ("station_id", "transaction_uid", "evse_id", "connector_id", "id_token", "started_at", "stopped_at",
           "meter_start_wh", "meter_stop_wh", "energy_wh", "stop_reason", "ocpp_version", "dedupe_key", "created_at",
           "updated_at")  # fmt: skip
METER_COLS = ("transaction_id", "station_id", "evse_id", "connector_id", "timestamp", "context", "energy_wh",
              "power_w", "samples", "digest")  # fmt: skip
LOG_COLS = ("station_id", "direction", "message_type", "message_id", "action", "frame", "logged_at")


async def seed(
    store: Store,
    *,
    stations: int,
    transactions: int,
    tokens: int | None = None,
    messages: int = 0,
    running_share: float = 0.2,
    prefix: str = "CS",
    seed_value: int = 8,
) -> Seeded:
    """Insert the network; ``running_share`` of the stations have a transaction running on EVSE 1."""
    started = time.perf_counter()
    rnd = random.Random(seed_value)
    ids = [f"{prefix}{i:05d}" for i in range(1, stations + 1)]
    tags = [f"TAG{i:06d}" for i in range(1, (tokens if tokens is not None else max(10, stations // 5)) + 1)]

    def station_rows() -> Iterator[tuple[Any, ...]]:
        for i, sid in enumerate(ids):
            seen = NOW - timedelta(seconds=rnd.randrange(60, 86_400))
            version = "1.6" if i % 3 else "2.0.1"
            yield (sid, version, "ACME" if i % 2 else "Wallbox Co", f"Model {i % 7}", "accepted", True,
                   seen - timedelta(days=3), seen, seen, NOW - timedelta(days=400), seen)  # fmt: skip

    def connector_rows() -> Iterator[tuple[Any, ...]]:
        for sid in ids:
            for evse in (1, 2):
                at = NOW - timedelta(seconds=rnd.randrange(60, 86_400))
                yield (sid, evse, 1, rnd.choice(STATUSES), "NoError", at, at)

    def token_rows() -> Iterator[tuple[Any, ...]]:
        for i, tag in enumerate(tags):
            status = "Blocked" if i % 50 == 49 else "Accepted"
            expiry = NOW - timedelta(days=1) if i % 40 == 39 else None
            yield (tag, "ISO14443", status, expiry, f"GROUP{i % 10}", NOW - timedelta(days=200), NOW)

    running_stations = ids[: int(stations * running_share)]
    finished = max(0, transactions - len(running_stations))
    span_s = 365 * 86_400

    def tx_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(finished):
            sid = ids[n % len(ids)]
            start = NOW - timedelta(days=2) - timedelta(seconds=span_s * (finished - n) / max(finished, 1))
            energy = float(rnd.randrange(1_000, 60_000))
            meter = float(rnd.randrange(0, 5_000_000))
            stop = start + timedelta(minutes=rnd.randrange(5, 600))
            yield (sid, f"s{n}", 1 + n % 2, 1, rnd.choice(tags), start, stop, meter, meter + energy, energy,
                   "EVDisconnected", "1.6", f"seed-{n}", start, start)  # fmt: skip
        for k, sid in enumerate(running_stations):
            start = NOW - timedelta(minutes=30 + k % 240)
            yield (sid, f"r{k}", 1, 1, tags[k % len(tags)], start, None, 1000.0, None, None, None, "1.6",
                   f"seed-run-{k}", start, start)  # fmt: skip

    for rows in _chunks(station_rows()):
        await store.write(_inserter("stations", STATION_COLS, (6, 7, 8, 9, 10)), rows)
    for rows in _chunks(connector_rows()):
        await store.write(_inserter("connector_status", CONNECTOR_COLS, (5, 6)), rows)
    for rows in _chunks(token_rows()):
        await store.write(_inserter("tokens", TOKEN_COLS, (3, 5, 6)), rows)
    for rows in _chunks(tx_rows()):
        await store.write(_inserter("transactions", TX_COLS, (5, 6, 13, 14)), rows)

    def running_pks(conn: Connection) -> dict[str, int]:
        result = conn.execute(
            text("SELECT station_id, id FROM transactions WHERE dedupe_key LIKE :running"), {"running": "seed-run-%"}
        )
        return {r[0]: int(r[1]) for r in result}

    running = await store.read(running_pks)

    def meter_rows() -> Iterator[tuple[Any, ...]]:
        for sid, pk in running.items():
            for step in range(3):
                energy = 1000.0 + 250.0 * (step + 1)
                samples = orjson.dumps([["Energy.Active.Import.Register", "", "Wh", energy, "Sample.Periodic",
                                         "Outlet"]]).decode()  # fmt: skip
                at = NOW - timedelta(minutes=10 - step)
                yield (pk, sid, 1, 1, at, "Sample.Periodic", energy, 7400.0, samples, f"seed{pk}-{step}")

    for rows in _chunks(meter_rows()):
        await store.write(_inserter("meter_values", METER_COLS, (4,)), rows)

    def log_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(messages):
            sid = ids[n % len(ids)]
            at = NOW - timedelta(seconds=(messages - n) * 2)
            yield (sid, "in", 2, f"m{n}", "Heartbeat", f'[2,"m{n}","Heartbeat",{{}}]', at)

    for rows in _chunks(log_rows()):
        await store.write(_inserter("message_log", LOG_COLS, (6,)), rows)
    return Seeded(ids, tags, finished + len(running), running, messages, time.perf_counter() - started)


async def seed_url(url: str, **kwargs: Any) -> Seeded:
    """Migrate the database at ``url`` and seed it."""
    store = Store(url)
    store.migrate()
    async with store:
        return await seed(store, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="database URL, e.g. sqlite:///ocppd-data/ocppd.db")
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--tokens", type=int, default=None)
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    done = asyncio.run(
        seed_url(args.url, stations=args.stations, transactions=args.transactions, tokens=args.tokens,
                 messages=args.messages)
    )  # fmt: skip
    print(f"{len(done.stations)} stations, {len(done.tokens)} tokens, {done.transactions} transactions, "
          f"{done.messages} frames in {done.seconds:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
