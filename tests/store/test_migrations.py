"""Alembic migrations shipped in the package: apply, idempotence, down/up, parity with schema.py."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from ocppd.store import Store
from ocppd.store.engine import normalize_url
from ocppd.store.migration import alembic_config, target_metadata

SCRIPTS = ScriptDirectory.from_config(alembic_config())
HEAD = SCRIPTS.get_current_head()
ALL_TABLES = {t.name for md in target_metadata() for t in md.sorted_tables}


def _tables(url: str) -> set[str]:
    engine = create_engine(normalize_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_single_linear_history() -> None:
    assert len(SCRIPTS.get_heads()) == 1
    assert [s.revision for s in SCRIPTS.walk_revisions()][-1] == "0001"


def test_migrate_creates_every_table(fresh_db_url: str) -> None:
    assert _tables(fresh_db_url) == set()
    store = Store(fresh_db_url)
    assert store.current_revision() is None
    store.migrate()
    assert store.current_revision() == HEAD
    assert _tables(fresh_db_url) == ALL_TABLES | {"alembic_version"}
    store.engine.dispose()


def test_migrate_is_idempotent(fresh_db_url: str) -> None:
    store = Store(fresh_db_url)
    store.migrate()
    store.migrate()
    assert store.current_revision() == HEAD
    store.engine.dispose()


def test_migrations_match_schema(fresh_db_url: str) -> None:
    """schema.py and the migration chain must describe the same database (no autogenerate diff)."""
    Store(fresh_db_url).migrate()
    engine = create_engine(normalize_url(fresh_db_url))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, target_metadata())  # type: ignore[arg-type]
    finally:
        engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_back(fresh_db_url: str) -> None:
    store = Store(fresh_db_url)
    store.migrate()
    engine = create_engine(normalize_url(fresh_db_url))
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(connection=conn), "base")
    finally:
        engine.dispose()
    assert _tables(fresh_db_url) == {"alembic_version"}
    store.migrate()
    assert store.current_revision() == HEAD
    store.engine.dispose()


def test_offline_sql_renders(backend: str, capsys: object) -> None:
    """`alembic upgrade --sql` works without a database (useful for DBAs reviewing DDL)."""
    url = "sqlite:///unused.db" if backend == "sqlite" else "postgresql://u@h/db"
    cfg = alembic_config(normalize_url(url))
    command.upgrade(cfg, "head", sql=True)
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "CREATE TABLE transactions" in out
    assert "CREATE TABLE message_log" in out
