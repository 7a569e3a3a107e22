"""Alembic environment for ocppd.store (used programmatically by ``Store.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, make_url

from ocppd.store.engine import create_store_engine, normalize_url
from ocppd.store.migration import target_metadata

config = context.config


def _configure_opts(dialect_name: str) -> dict[str, object]:
    # render_as_batch: SQLite can't ALTER most things; batch mode recreates tables instead.
    return {"target_metadata": target_metadata(), "render_as_batch": dialect_name == "sqlite", "compare_type": True}


def run_migrations_offline() -> None:
    url = normalize_url(config.get_main_option("sqlalchemy.url"))
    context.configure(url=url, literal_binds=True, **_configure_opts(make_url(url).get_backend_name()))
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **_configure_opts(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_store_engine(normalize_url(config.get_main_option("sqlalchemy.url")), writer=True)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
