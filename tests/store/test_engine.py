"""URL handling, SQLite connection settings and UTC datetime handling."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from ocppd.store import Store, repo
from ocppd.store.engine import default_url, normalize_url


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u:p%40ss@h:5433/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x/ocppd.db", "sqlite"),
        ("sqlite+pysqlite:///x/ocppd.db", "sqlite"),
    ],
)
def test_normalize_url(given: str, driver: str) -> None:
    url = normalize_url(given)
    assert url.drivername == driver
    if driver.startswith("postgresql"):
        assert url.database == "db"


@pytest.mark.parametrize("bad", ["sqlite://", "sqlite:///:memory:", "mysql://u@h/db", "postgresql+psycopg2://u@h/d"])
def test_normalize_url_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_url(bad)


def test_default_url_uses_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OCPPD_DATA_DIR", str(tmp_path / "d"))
    assert normalize_url(None).database == str(tmp_path / "d" / "ocppd.db")
    monkeypatch.delenv("OCPPD_DATA_DIR")
    assert default_url().database == str(Path("data") / "ocppd.db")


async def test_sqlite_connection_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'ocppd.db'}"  # parent directory is created
    store = Store(url)
    store.migrate()
    await store.start()
    try:

        def pragmas(conn: Connection) -> tuple[str, int, int, int]:
            return (
                conn.execute(text("PRAGMA journal_mode")).scalar_one(),
                conn.execute(text("PRAGMA synchronous")).scalar_one(),
                conn.execute(text("PRAGMA foreign_keys")).scalar_one(),
                conn.execute(text("PRAGMA busy_timeout")).scalar_one(),
            )

        expected = ("wal", 2, 1, 10_000)  # synchronous 2 == FULL
        assert await store.read(pragmas) == expected
        assert await store.write(pragmas) == expected
        assert store.dialect == "sqlite"
    finally:
        await store.close()


async def test_datetimes_are_utc_aware(store: Store) -> None:
    plus2 = datetime(2024, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2024, 6, 1, 12, 30)  # OCPP timestamps are UTC: naive means UTC
    await store.write(repo.upsert_token, "A", None, "Accepted", plus2)
    await store.write(repo.upsert_token, "B", None, "Accepted", naive)
    a = await store.read(repo.get_token, "A")
    b = await store.read(repo.get_token, "B")
    assert a is not None and b is not None and a.expiry is not None and b.expiry is not None
    assert a.expiry == datetime(2024, 6, 1, 12, 0, tzinfo=UTC) and a.expiry.tzinfo is UTC
    assert b.expiry == datetime(2024, 6, 1, 12, 30, tzinfo=UTC) and b.expiry.tzinfo is UTC
    assert a.created_at.tzinfo is UTC
    # Range filters compare instants correctly across offsets.
    await store.write(repo.record_event, "CP1", "k", plus2, None)
    since = datetime(2024, 6, 1, 13, 59, tzinfo=timezone(timedelta(hours=2)))  # 11:59Z
    assert len(await store.read(repo.list_events, "CP1")) == 1
    pk, _ = await store.write(repo.start_transaction, "CP1", None, 1, 1, "T", plus2, 0.0, "1.6", "k")
    assert [t.id for t in await store.read(repo.list_transactions, since=since)] == [pk]
    assert await store.read(repo.list_transactions, since=plus2 + timedelta(microseconds=1)) == []


async def test_datetime_bind_rejects_non_datetimes(store: Store) -> None:
    with pytest.raises(Exception, match="expected datetime"):
        await store.write(repo.upsert_token, "A", None, "Accepted", "2024-01-01")  # type: ignore[arg-type]


async def test_read_pool_runs_concurrently(store: Store) -> None:
    await store.write(repo.upsert_station, "CP1")
    rows = await asyncio.gather(*(store.read(repo.get_station, "CP1") for _ in range(32)))
    assert all(r is not None and r.station_id == "CP1" for r in rows)
