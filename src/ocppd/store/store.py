"""``Store``: lifecycle, group-commit writes, pooled reads, fire-and-forget frame logging."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from alembic import command
from sqlalchemy import URL, Connection, Engine, text

from . import repo
from .engine import create_store_engine, normalize_url
from .migration import alembic_config
from .types import utcnow
from .writer import DEFAULT_LOG_BUFFER, DEFAULT_MAX_BATCH, GroupCommitWriter, WriterStats

T = TypeVar("T")
P = ParamSpec("P")

# Serialises concurrent `migrate()` calls from several cluster nodes sharing one PostgreSQL.
_PG_MIGRATE_LOCK_KEY = 0x6F637070  # "ocpp"
_DIRECTIONS = frozenset({"in", "out"})


class Store:
    """Persistence entry point. See docs/dev/store-spec.md.

    ``write`` and ``read`` return futures created at call time, so writes are queued in call order
    even if the caller awaits them later.
    """

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        read_workers: int = 4,
        max_batch: int = DEFAULT_MAX_BATCH,
        log_buffer: int = DEFAULT_LOG_BUFFER,
        busy_timeout_ms: int = 10_000,
        echo: bool = False,
    ) -> None:
        self._url = normalize_url(url)
        self._write_engine = create_store_engine(self._url, writer=True, busy_timeout_ms=busy_timeout_ms, echo=echo)
        self._read_engine = create_store_engine(
            self._url, writer=False, pool_size=read_workers, busy_timeout_ms=busy_timeout_ms, echo=echo
        )
        self._writer = GroupCommitWriter(self._write_engine, max_batch=max_batch, log_buffer=log_buffer)
        self._readers = ThreadPoolExecutor(max_workers=read_workers, thread_name_prefix="ocppd-store-read")
        self._closed = False

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> URL:
        return self._url

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._write_engine.dialect.name

    @property
    def engine(self) -> Engine:
        """The read-pool engine (for tooling; application code should use ``read``/``write``)."""
        return self._read_engine

    def on_commit(self, hook: Callable[[float, int], None] | None) -> None:
        """Call ``hook(seconds, ops)`` after every successful group commit (on the writer thread)."""
        self._writer.on_commit = hook

    @property
    def stats(self) -> WriterStats:
        return self._writer.stats

    @property
    def commit_count(self) -> int:
        """Number of group commits so far (batches, not ops)."""
        return self._writer.stats.commits

    @property
    def log_dropped(self) -> int:
        return self._writer.stats.log_dropped

    # ------------------------------------------------------------------ lifecycle

    def migrate(self, revision: str = "head") -> None:
        """``alembic upgrade <revision>`` with the migrations shipped in the package (blocking)."""
        with self._write_engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATE_LOCK_KEY})
            command.upgrade(alembic_config(self._url, conn), revision)
            conn.commit()

    def current_revision(self) -> str | None:
        """The database's Alembic revision (None if never migrated)."""
        from alembic.migration import MigrationContext

        with self._read_engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    async def start(self) -> None:
        """Start the writer thread (opens its connection; raises if the database is unreachable)."""
        if self._closed:
            raise RuntimeError("store is closed")
        await asyncio.get_running_loop().run_in_executor(None, self._writer.start)

    async def close(self) -> None:
        """Flush all queued writes and log frames, stop the writer, release connections."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._writer.stop)
        await loop.run_in_executor(None, functools.partial(self._readers.shutdown, wait=True))
        self._write_engine.dispose()
        self._read_engine.dispose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ data access

    def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[T]:
        """Queue ``fn(conn, *args, **kwargs)`` for the writer; resolves after its batch committed."""
        return self._writer.submit(fn, args, kwargs)

    def write_rows(
        self, fn: Callable[[Connection, list[dict[str, Any]]], Any], rows: list[dict[str, Any]]
    ) -> asyncio.Future[None]:
        """Queue rows for ``fn(conn, rows)``, called once per batch with the rows of every ``write_rows``
        naming the same ``fn`` (one executemany for all stations); resolves after the commit."""
        return self._writer.submit_rows(fn, rows)

    def read(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[T]:
        """Run ``fn(conn, *args, **kwargs)`` on a pooled read connection in a worker thread."""
        if self._closed:
            raise RuntimeError("store is closed")
        return asyncio.get_running_loop().run_in_executor(self._readers, self._run_read, fn, args, kwargs)

    def _run_read(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        with self._read_engine.connect() as conn:  # leaving the block rolls back: reads never write
            return fn(conn, *args, **kwargs)

    async def flush(self) -> None:
        """Wait until everything queued so far (writes and log frames) is committed."""
        await self.write(_noop)

    def log_frame(
        self,
        station_id: str,
        direction: str,
        message_type: int,
        message_id: str | None,
        action: str | None,
        frame_text: str,
    ) -> None:
        """Queue one raw OCPP frame for the message log (never blocks, never raises on overload)."""
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")
        # A tuple in repo.LOG_COLUMNS order; ids clipped to the column widths and odd text escaped so
        # one odd frame can't make the whole log batch fail.
        frame, frame_bytes = repo.log_frame_columns(frame_text)
        self._writer.log(
            (station_id, direction, int(message_type), _clip(message_id), _clip(action), frame, utcnow(), frame_bytes)
        )

    async def prune_message_log(self, older_than: datetime) -> int:
        """Delete logged frames older than ``older_than``; returns how many."""
        return await self.write(repo.prune_message_log, older_than)


def _noop(conn: Connection) -> None:
    return None


def _clip(text: str | None) -> str | None:
    """A message id or action cut to its column, as printable text (they come from the peer)."""
    if not text:
        return text
    return repo.log_frame_columns(text[:64])[0][:64]
