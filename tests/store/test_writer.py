"""Group-commit writer: batching, per-op isolation, durability ordering, close/flush, frame log.

Determinism without timing: a ``Gate`` op parks the writer thread inside a batch while the test
queues work behind it, so batch boundaries are known exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from ocppd.store import Store, repo
from ocppd.store.schema import tokens

from .conftest import Gate

MakeStore = Callable[..., Awaitable[Store]]


def add_token(conn: Connection, id_token: str) -> str:
    conn.execute(
        insert(tokens).values(id_token=id_token, status="Accepted", created_at=func.now(), updated_at=func.now())
    )
    return id_token


def count_tokens(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(tokens)).scalar_one())


async def hold_writer(store: Store, gate: Gate) -> asyncio.Future[str]:
    """Queue the gate op and wait until the writer thread is parked inside it."""
    fut = store.write(gate.op)
    await asyncio.to_thread(gate.entered.wait)
    return fut


async def test_concurrent_writes_are_group_committed(store: Store) -> None:
    before = store.commit_count
    results = await asyncio.gather(*(store.write(add_token, f"T{i}") for i in range(200)))
    assert results == [f"T{i}" for i in range(200)]
    commits = store.commit_count - before
    assert 1 <= commits < 200
    assert store.stats.max_batch > 1
    assert await store.read(count_tokens) == 200


async def test_queued_writes_commit_in_one_batch(store: Store, gate: Gate) -> None:
    held = await hold_writer(store, gate)
    before = store.commit_count
    futs = [store.write(add_token, f"T{i}") for i in range(200)]
    gate.release.set()
    assert await held == "gate"
    assert await asyncio.gather(*futs) == [f"T{i}" for i in range(200)]
    assert store.commit_count - before == 2  # the gate's batch + exactly one for all 200
    assert store.stats.max_batch == 200
    assert store.stats.ops >= 201


async def test_batch_cap(make_store: MakeStore, gate: Gate) -> None:
    store = await make_store(max_batch=50)
    held = await hold_writer(store, gate)
    before = store.commit_count
    futs = [store.write(add_token, f"T{i}") for i in range(120)]
    gate.release.set()
    await held
    await asyncio.gather(*futs)
    assert store.commit_count - before == 4  # gate, 50, 50, 20
    assert store.stats.max_batch == 50


async def test_failing_op_does_not_poison_its_batch(store: Store, gate: Gate) -> None:
    def insert_then_raise(conn: Connection) -> None:
        add_token(conn, "ROLLED_BACK")
        raise ValueError("boom")

    await store.write(add_token, "DUP")
    held = await hold_writer(store, gate)
    before = store.stats
    ok1 = store.write(add_token, "OK1")
    bad = store.write(insert_then_raise)
    dup = store.write(add_token, "DUP")  # a real SQL error (aborts the tx on PostgreSQL without a savepoint)
    ok2 = store.write(add_token, "OK2")
    gate.release.set()
    await held
    assert await ok1 == "OK1"
    assert await ok2 == "OK2"
    with pytest.raises(ValueError, match="boom"):
        await bad
    with pytest.raises(IntegrityError):
        await dup
    after = store.stats
    assert after.commits - before.commits == 2  # the gate's batch + one batch for all four
    assert after.failed_ops - before.failed_ops == 2
    assert after.failed_batches == 0
    ids = {t.id_token for t in await store.read(repo.list_tokens)}
    assert ids == {"DUP", "OK1", "OK2"}  # ROLLED_BACK went away with its savepoint


async def test_write_is_visible_to_reads_once_resolved(store: Store) -> None:
    async def one(i: int) -> bool:
        await store.write(add_token, f"T{i}")
        return await store.read(repo.get_token, f"T{i}") is not None

    assert all(await asyncio.gather(*(one(i) for i in range(50))))


async def test_writes_apply_in_call_order(store: Store) -> None:
    futs = [store.write(repo.upsert_token, "T", None, f"S{i}") for i in range(100)]
    await asyncio.gather(*futs)
    tok = await store.read(repo.get_token, "T")
    assert tok is not None and tok.status == "S99"


async def test_cancelled_before_execution_is_skipped(store: Store, gate: Gate) -> None:
    held = await hold_writer(store, gate)
    doomed = store.write(add_token, "CANCELLED")
    doomed.cancel()
    gate.release.set()
    await held
    await store.flush()
    assert await store.read(repo.get_token, "CANCELLED") is None


async def test_close_flushes_pending_writes_and_logs(db_url: str) -> None:
    store = Store(db_url)
    await store.start()
    futs = [store.write(add_token, f"T{i}") for i in range(100)]
    for i in range(100):
        store.log_frame("CP1", "in", 2, f"m{i}", "Heartbeat", "[]")
    await store.close()
    assert all(f.done() and not f.cancelled() and f.exception() is None for f in futs)
    await store.close()  # idempotent
    with pytest.raises(RuntimeError):
        store.write(add_token, "late")
    with pytest.raises(RuntimeError):
        store.read(count_tokens)

    async with Store(db_url) as reopened:
        assert await reopened.read(count_tokens) == 100
        assert len(await reopened.read(repo.message_log, "CP1", limit=1000)) == 100


async def test_write_requires_start(db_url: str) -> None:
    store = Store(db_url)
    with pytest.raises(RuntimeError, match="not running"):
        store.write(add_token, "x")
    assert await store.read(count_tokens) == 0  # reads work without the writer
    await store.close()


async def test_log_buffer_drops_oldest_instead_of_blocking(make_store: MakeStore, gate: Gate) -> None:
    store = await make_store(log_buffer=10)
    held = await hold_writer(store, gate)
    for i in range(25):
        store.log_frame("CP1", "out", 3, f"m{i:02d}", None, f'[3,"m{i:02d}",{{}}]')
    assert store.log_dropped == 15
    gate.release.set()
    await held
    await store.flush()
    rows = await store.read(repo.message_log, "CP1", limit=100)
    assert sorted(r.message_id for r in rows) == [f"m{i:02d}" for i in range(15, 25)]
    assert store.stats.log_rows == 10


async def test_log_frames_ride_along_with_write_batches(store: Store, gate: Gate) -> None:
    held = await hold_writer(store, gate)
    before = store.commit_count
    for i in range(300):
        store.log_frame(f"CP{i % 3}", "in", 2, f"m{i}", "MeterValues", "[2]")
    fut = store.write(add_token, "T")
    gate.release.set()
    await held
    await fut
    assert store.commit_count - before == 2  # 300 log rows (executemany) + the write in one batch
    assert store.stats.log_rows == 300
    assert len(await store.read(repo.message_log, limit=1000)) == 300


async def test_bad_log_rows_never_cost_real_writes(store: Store, gate: Gate) -> None:
    held = await hold_writer(store, gate)
    store.log_frame(None, "in", 2, "m", "Heartbeat", "[]")  # type: ignore[arg-type]  # station_id NOT NULL
    fut = store.write(add_token, "KEPT")
    gate.release.set()
    await held
    assert await fut == "KEPT"
    assert store.log_dropped == 1
    assert await store.read(repo.message_log) == []


async def test_a_bad_log_row_costs_only_itself(store: Store, gate: Gate) -> None:
    held = await hold_writer(store, gate)
    store.log_frame("CP1", "in", 2, "a", "Heartbeat", '[2,"a","Heartbeat",{}]')
    store.log_frame(None, "in", 2, "m", "Heartbeat", "[]")  # type: ignore[arg-type]  # station_id NOT NULL
    store.log_frame("CP2", "in", 2, "b", "Heartbeat", '[2,"b","Heartbeat",{}]')
    gate.release.set()
    await held
    await store.flush()
    assert sorted(r.station_id for r in await store.read(repo.message_log)) == ["CP1", "CP2"]
    assert store.log_dropped == 1


# A raw NUL (PostgreSQL text refuses it) and bytes that are not UTF-8 (what the session hands on as
# lone surrogates): each is kept exactly, and the other stations' rows of the batch stay too.
ODD_FRAMES = {
    "nul": '[2,"x1","Heartbeat",{}]\x00',
    "not-utf8": b'[2,"x2","Heartbeat",{"a":"\xff\xfe"}]'.decode("utf-8", "surrogateescape"),
    "nul-in-id": '[2,"x3","Heartbeat",{}]',
}


@pytest.mark.parametrize("kind", list(ODD_FRAMES))
async def test_odd_frames_are_logged_exactly_with_their_batch(store: Store, gate: Gate, kind: str) -> None:
    frame = ODD_FRAMES[kind]
    held = await hold_writer(store, gate)
    store.log_frame("OTHER-1", "in", 2, "a", "Heartbeat", '[2,"a","Heartbeat",{}]')
    store.log_frame("ODD", "in", 0, "x\x00y" if kind == "nul-in-id" else None, None, frame)
    store.log_frame("OTHER-2", "in", 2, "b", "Heartbeat", '[2,"b","Heartbeat",{}]')
    gate.release.set()
    await held
    await store.flush()
    rows = {r.station_id: r for r in await store.read(repo.message_log)}
    assert set(rows) == {"OTHER-1", "ODD", "OTHER-2"}
    assert store.log_dropped == 0
    odd = rows["ODD"]
    exact = frame.encode("utf-8", "surrogateescape")
    if kind == "nul-in-id":
        assert odd.frame == frame and odd.frame_bytes is None and odd.message_id == "x\\x00y"
    else:
        assert odd.frame_bytes == exact and "\x00" not in odd.frame
        assert odd.frame.startswith('[2,"x')
    assert rows["OTHER-1"].frame_bytes is None


@pytest.mark.parametrize("backend", ["postgresql"])  # needs a server-side way to kill the connection
async def test_writer_recovers_from_lost_connection(store: Store, gate: Gate) -> None:
    def kill_own_backend(conn: Connection) -> None:
        conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    held = await hold_writer(store, gate)
    killer = store.write(kill_own_backend)
    bystander = store.write(add_token, "LOST")
    gate.release.set()
    await held
    # The connection died mid-batch: nothing in the batch is durable, so every op must fail.
    with pytest.raises(Exception):  # noqa: B017 - driver-specific OperationalError flavour
        await killer
    with pytest.raises(Exception):  # noqa: B017
        await bystander
    assert store.stats.failed_batches == 1
    # The writer reconnects and carries on.
    assert await store.write(add_token, "AFTER") == "AFTER"
    assert {t.id_token for t in await store.read(repo.list_tokens)} == {"AFTER"}


async def test_results_resolve_only_after_commit(store: Store, gate: Gate) -> None:
    held = await hold_writer(store, gate)
    early = store.write(add_token, "EARLY")
    second = Gate()
    tail = store.write(second.op)  # same batch as EARLY, parks the writer before COMMIT
    try:
        gate.release.set()
        await held
        await asyncio.to_thread(second.entered.wait)  # EARLY has executed; its batch is still open
        await asyncio.sleep(0)
        assert not early.done()
        assert await store.read(repo.get_token, "EARLY") is None  # not committed, so not visible
    finally:
        second.release.set()
    assert await early == "EARLY"
    assert await tail == "gate"
    assert await store.read(repo.get_token, "EARLY") is not None


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_stale_idle_connection_is_replaced_before_a_batch(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import ocppd.store.writer as writer_mod

    await store.write(add_token, "BEFORE")

    def kill_writer_backend(conn: Connection) -> int:
        # timeout => wait until the backend has really exited (PostgreSQL 14+).
        return len(
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity "
                    "WHERE application_name = 'ocppd-writer' AND datname = current_database()"
                )
            ).all()
        )

    assert await store.read(kill_writer_backend) == 1
    monkeypatch.setattr(writer_mod, "IDLE_PING_S", -1.0)  # treat the connection as idle: ping it
    assert await store.write(add_token, "AFTER") == "AFTER"
    assert store.stats.failed_batches == 0
    assert {t.id_token for t in await store.read(repo.list_tokens)} == {"BEFORE", "AFTER"}
