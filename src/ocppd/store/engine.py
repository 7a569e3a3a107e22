"""URL handling and engine construction (SQLite via sqlite3, PostgreSQL via psycopg 3)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.pool import NullPool

DEFAULT_DATA_DIR = "data"
_PG_DRIVERS = {"postgresql", "postgres", "postgresql+psycopg"}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}


def default_url() -> URL:
    """``sqlite:///<$OCPPD_DATA_DIR or ./data>/ocppd.db``."""
    data_dir = Path(os.environ.get("OCPPD_DATA_DIR", DEFAULT_DATA_DIR))
    return URL.create("sqlite", database=str(data_dir / "ocppd.db"))


def normalize_url(url: str | URL | None) -> URL:
    """Validate the URL and pin the driver: ``postgresql://`` becomes ``postgresql+psycopg://``."""
    if url is None:
        return default_url()
    u = make_url(url)
    if u.drivername in _PG_DRIVERS:
        return u.set(drivername="postgresql+psycopg")
    if u.drivername in _SQLITE_DRIVERS:
        if not u.database or u.database == ":memory:" or u.query.get("mode") == "memory":
            # Writer and readers use separate connections, which would each see a different empty DB.
            raise ValueError("in-memory SQLite is not supported by Store; use a file path")
        return u.set(drivername="sqlite")
    raise ValueError(f"unsupported database URL {u.drivername!r}: use sqlite:/// or postgresql+psycopg://")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def json_dumps(obj: Any) -> str:
    # orjson also handles datetimes (RFC 3339), which OCPP payload dicts commonly carry.
    return orjson.dumps(obj, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


def create_store_engine(
    url: URL,
    *,
    writer: bool,
    pool_size: int = 4,
    busy_timeout_ms: int = 10_000,
    echo: bool = False,
) -> Engine:
    """Engine for the single writer connection (``writer=True``) or the read pool."""
    kwargs: dict[str, Any] = {
        "echo": echo,
        "json_serializer": json_dumps,
        "json_deserializer": orjson.loads,
    }
    if writer:
        # The writer keeps one connection for its lifetime and replaces it after failures itself.
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=url.drivername != "sqlite")

    if url.drivername == "sqlite":
        assert url.database is not None
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        engine = create_engine(url, **kwargs)
        _setup_sqlite(engine, writer=writer, busy_timeout_ms=busy_timeout_ms)
        return engine

    kwargs["connect_args"] = {"application_name": "ocppd-writer" if writer else "ocppd"}
    return create_engine(url, **kwargs)


def _setup_sqlite(engine: Engine, *, writer: bool, busy_timeout_ms: int) -> None:
    # The sqlite3 module's legacy transaction handling breaks SAVEPOINT (used per write op) and
    # doesn't BEGIN before SELECT; take over BEGIN ourselves (SQLAlchemy's documented recipe).
    begin_sql = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged write must survive power loss; group commit amortises the fsync.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so a batch never fails half-way on lock upgrade.
        conn.exec_driver_sql(begin_sql)
