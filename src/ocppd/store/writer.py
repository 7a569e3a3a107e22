"""Group-commit writer: one thread, one connection, one COMMIT per batch of queued operations."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine

from .repo import insert_log_rows

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 512
DEFAULT_LOG_BUFFER = 50_000
# A server may drop a connection that sat idle (restart, idle timeout, failover). Ping it after
# this long so one stale socket can't fail a whole batch of acknowledged-to-be writes.
IDLE_PING_S = 30.0


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters since start (a snapshot; see ``Store.stats``)."""

    commits: int = 0  # successful batch COMMITs
    ops: int = 0  # ops that succeeded (committed)
    failed_ops: int = 0  # ops whose fn raised (rolled back to their savepoint)
    failed_batches: int = 0  # batches lost to a BEGIN/COMMIT/connection error
    max_batch: int = 0  # largest number of ops in one commit
    log_rows: int = 0  # message-log rows committed
    log_dropped: int = 0  # message-log rows dropped (buffer overflow or insert failure)


class _Op:
    """One queued write. A *bulk* op (``rows`` not None) contributes rows to one ``fn(conn, rows)`` call
    shared by every bulk op of the batch with the same ``fn`` (one executemany instead of many)."""

    __slots__ = ("args", "fn", "future", "kwargs", "loop", "rows")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.future = future
        self.loop = loop
        self.rows: list[Any] | None = None


class _Retry(Exception):
    """An op failed in the optimistic pass: redo the batch with one savepoint per op."""


# (op, ok, value-or-exception)
_Result = tuple[_Op, bool, Any]


def _settle(results: list[_Result]) -> None:
    """Runs on the op's event loop."""
    for op, ok, value in results:
        fut = op.future
        if fut.done():  # cancelled by the caller meanwhile
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


class GroupCommitWriter:
    """Executes queued ``fn(conn, *args)`` ops in batches on a dedicated thread.

    Each op runs in its own SAVEPOINT inside the batch transaction, so a failing op only fails its
    own future. Futures are resolved only after the batch COMMIT succeeded.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        log_buffer: int = DEFAULT_LOG_BUFFER,
        name: str = "ocppd-store-writer",
        on_commit: Callable[[float, int], None] | None = None,
    ) -> None:
        if max_batch < 1 or log_buffer < 1:
            raise ValueError("max_batch and log_buffer must be >= 1")
        self._engine = engine
        self._max_batch = max_batch
        self._name = name
        self._cond = threading.Condition()
        self._ops: deque[_Op] = deque()
        # Bounded: when the writer falls behind, the oldest rows fall off instead of blocking the loop.
        self._logs: deque[tuple[Any, ...]] = deque(maxlen=log_buffer)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._last_used = 0.0
        self._stats = WriterStats()
        # (seconds from BEGIN to the end of COMMIT, ops in the batch), called on the writer thread
        self.on_commit = on_commit

    # ------------------------------------------------------------------ called from any thread

    @property
    def stats(self) -> WriterStats:
        with self._cond:
            return self._stats

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stopping

    def start(self) -> None:
        """Open the writer connection (raising if the database is unreachable) and start the thread."""
        if self._thread is not None:
            return
        self._conn = self._engine.connect()
        self._last_used = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> asyncio.Future[Any]:
        return self._enqueue(fn, args, kwargs, None)

    def submit_rows(self, fn: Callable[..., Any], rows: list[Any]) -> asyncio.Future[Any]:
        return self._enqueue(fn, (), {}, rows)

    def _enqueue(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], rows: list[Any] | None
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        op = _Op(fn, args, kwargs, fut, loop)
        op.rows = rows
        with self._cond:
            if self._thread is None or self._stopping:
                raise RuntimeError("store writer is not running (call start(); not after close())")
            self._ops.append(op)
            self._cond.notify()
        return fut

    def log(self, row: tuple[Any, ...]) -> None:
        with self._cond:
            if self._stopping:
                self._stats = replace(self._stats, log_dropped=self._stats.log_dropped + 1)
                return
            if len(self._logs) == self._logs.maxlen:
                self._stats = replace(self._stats, log_dropped=self._stats.log_dropped + 1)
            self._logs.append(row)
            self._cond.notify()

    def stop(self) -> None:
        """Drain everything queued, then stop the thread (blocking)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._ops and not self._logs and not self._stopping:
                        self._cond.wait()
                    if not self._ops and not self._logs:
                        return  # stopping and fully drained
                    n = min(len(self._ops), self._max_batch)
                    batch = [self._ops.popleft() for _ in range(n)]
                    logs = list(self._logs)
                    self._logs.clear()
                self._execute(batch, logs)
        finally:
            self._close_conn()
            # Only reachable with ops left if the loop died unexpectedly: never leave awaiters hanging.
            with self._cond:
                self._stopping = True
                orphans = list(self._ops)
                self._ops.clear()
            self._dispatch([(op, False, RuntimeError("store writer stopped")) for op in orphans])

    def _execute(self, batch: list[_Op], logs: list[tuple[Any, ...]]) -> None:
        results: list[_Result] = []
        ok_ops = failed_ops = log_rows = log_dropped = 0
        batch = [op for op in batch if not op.future.cancelled()]  # nobody awaits these: skip the work
        started = time.perf_counter()
        try:
            conn = self._connection()
            # Optimistic first: no savepoints, bulk rows merged. Almost every batch succeeds this way,
            # at a fraction of the statements. If an op raises, the whole attempt rolls back and the
            # batch runs again with one savepoint per op, so that only the failing op fails.
            try:
                with conn.begin():
                    log_rows, log_dropped = self._write_logs(conn, logs)
                    results = self._run_merged(conn, batch)
                    ok_ops = len(results)
            except _Retry:
                results = []
                with conn.begin():
                    log_rows, log_dropped = self._write_logs(conn, logs)
                    for op in batch:
                        sp = conn.begin_nested()
                        try:
                            value = op.fn(conn, op.rows) if op.rows is not None else op.fn(conn, *op.args, **op.kwargs)
                            sp.commit()
                        except Exception as exc:
                            if sp.is_active:
                                sp.rollback()
                            results.append((op, False, exc))
                            failed_ops += 1
                        else:
                            results.append((op, True, value))
                            ok_ops += 1
        except BaseException as exc:
            # BEGIN/COMMIT or the connection failed: nothing in this batch is durable.
            log.exception("store writer: batch of %d ops failed", len(batch))
            self._discard_conn()
            results = [(op, False, exc) for op in batch]
            with self._cond:
                s = self._stats
                self._stats = replace(
                    s,
                    failed_ops=s.failed_ops + len(batch),
                    failed_batches=s.failed_batches + 1,
                    log_dropped=s.log_dropped + len(logs),
                )
        else:
            if self.on_commit is not None:
                try:
                    self.on_commit(time.perf_counter() - started, len(batch))
                except Exception:
                    log.exception("store writer: on_commit hook failed")
            with self._cond:
                s = self._stats
                self._stats = replace(
                    s,
                    commits=s.commits + 1,
                    ops=s.ops + ok_ops,
                    failed_ops=s.failed_ops + failed_ops,
                    max_batch=max(s.max_batch, len(batch)),
                    log_rows=s.log_rows + log_rows,
                    log_dropped=s.log_dropped + log_dropped,
                )
        self._dispatch(results)

    def _write_logs(self, conn: Connection, logs: list[tuple[Any, ...]]) -> tuple[int, int]:
        """(rows written, rows dropped). One executemany; if that fails, row by row, so that a row the
        database refuses costs only itself, never the other stations' rows of the batch."""
        if not logs:
            return 0, 0
        if self._insert_logs(conn, logs, quiet=True):
            return len(logs), 0
        written = sum(self._insert_logs(conn, [row]) for row in logs)
        return written, len(logs) - written

    @staticmethod
    def _run_merged(conn: Connection, batch: list[_Op]) -> list[_Result]:
        results: list[_Result] = []
        bulk: dict[Callable[..., Any], list[Any]] = {}
        for op in batch:
            if op.rows is not None:
                bulk.setdefault(op.fn, []).extend(op.rows)
                results.append((op, True, None))
                continue
            try:
                results.append((op, True, op.fn(conn, *op.args, **op.kwargs)))
            except Exception as exc:
                raise _Retry from exc
        for fn, rows in bulk.items():
            try:
                fn(conn, rows)
            except Exception as exc:
                raise _Retry from exc
        return results

    def _insert_logs(self, conn: Connection, logs: list[tuple[Any, ...]], *, quiet: bool = False) -> bool:
        # Own savepoint: a bad log row must never cost the batch's real writes.
        sp = conn.begin_nested()
        try:
            insert_log_rows(conn, logs)
            sp.commit()
            return True
        except Exception as exc:
            if not quiet:
                log.error("store writer: dropping a message-log row of %s (%s)", logs[0][0], exc)
            if sp.is_active:
                sp.rollback()
            return False

    def _dispatch(self, results: list[_Result]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Result]] = {}
        for r in results:
            by_loop.setdefault(r[0].loop, []).append(r)
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, items)
            except RuntimeError:  # loop closed: nobody left to notify
                pass

    def _connection(self) -> Connection:
        now = time.monotonic()
        if (
            self._conn is not None
            and now - self._last_used > IDLE_PING_S
            and self._engine.dialect.name != "sqlite"  # a local file can't go stale
        ):
            try:
                self._conn.exec_driver_sql("SELECT 1")
                self._conn.rollback()
            except Exception:
                log.info("store writer: idle connection is dead, reconnecting")
                self._discard_conn()
        if self._conn is None:
            self._conn = self._engine.connect()
        self._last_used = now
        return self._conn

    def _discard_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:
                log.debug("store writer: error discarding connection", exc_info=True)

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("store writer: error closing connection", exc_info=True)
