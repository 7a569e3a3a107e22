"""Throw-away PostgreSQL databases for tests (shared helper; reuse it from any test folder).

Fixtures (all session-scoped, all need a reachable server):

* ``pg_server_url`` -- URL of the server's maintenance database (for admin statements).
* ``pg_db_factory`` -- ``make(prefix="ocppd_test") -> str``: creates a fresh, empty, uniquely named
  database with ``CREATE DATABASE`` and returns its ``postgresql+psycopg://`` URL. Every database
  it made is dropped (``WITH (FORCE)``) at the end of the session.
* ``pg_url`` -- one fresh database for the whole session (made by ``pg_db_factory``). Tests sharing
  it should clean up after themselves, e.g. with ``truncate_all(url)`` from this module.

Server: ``$OCPPD_TEST_PG_URL`` if set (any libpq URL, e.g. ``postgresql://me@db:5432/postgres``),
else ``postgres@127.0.0.1:5432/test`` then ``root@127.0.0.1:5432/test`` (trust auth).
If no server is reachable the dependent tests are SKIPPED -- unless ``$CI`` is set (to anything
but "", "0", "false", "no"), in which case they FAIL: CI must never silently lose PostgreSQL coverage.

Usage from another test folder (it must be a package, i.e. contain an ``__init__.py``, so that
pytest puts the repository root on ``sys.path`` and ``tests`` is importable)::

    # tests/<yours>/conftest.py
    from tests.pg import pg_db_factory, pg_server_url, pg_url  # noqa: F401  (re-export fixtures)

    def test_something(pg_url): ...          # or: url = pg_db_factory("mytest")
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url

DEFAULT_CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
)
CONNECT_TIMEOUT_S = 3

__all__ = ["pg_db_factory", "pg_server_url", "pg_url", "psycopg_dsn", "truncate_all"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def psycopg_dsn(url: str) -> str:
    """libpq DSN for a SQLAlchemy-style URL (drops the ``+psycopg`` driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlalchemy_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _find_server() -> tuple[str | None, list[str]]:
    env = os.environ.get("OCPPD_TEST_PG_URL")
    candidates = (env,) if env else DEFAULT_CANDIDATES
    errors: list[str] = []
    for url in candidates:
        try:
            with psycopg.connect(psycopg_dsn(url), connect_timeout=CONNECT_TIMEOUT_S, autocommit=True) as c:
                c.execute("SELECT 1")
            return url, errors
        except psycopg.Error as exc:
            errors.append(f"{make_url(url).render_as_string()}: {str(exc).strip().splitlines()[0]}")
    return None, errors


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url, errors = _find_server()
    if url is None:
        reason = "PostgreSQL unreachable (" + "; ".join(errors) + ")"
        if _in_ci():
            pytest.fail(f"{reason}; CI is set, so PostgreSQL tests must not be skipped", pytrace=False)
        pytest.skip(f"{reason}; set OCPPD_TEST_PG_URL to point at a server")
    return url


@pytest.fixture(scope="session")
def pg_db_factory(pg_server_url: str) -> Iterator[Callable[..., str]]:
    admin_dsn = psycopg_dsn(pg_server_url)
    created: list[str] = []

    def make(prefix: str = "ocppd_test") -> str:
        name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}".lower()
        with psycopg.connect(admin_dsn, autocommit=True) as c:  # CREATE DATABASE can't run in a tx
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return _sqlalchemy_url(make_url(pg_server_url).set(database=name).render_as_string(hide_password=False))

    yield make

    with psycopg.connect(admin_dsn, autocommit=True) as c:
        for name in created:
            # FORCE (PG 13+) terminates connections a test may have leaked.
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_url(pg_db_factory: Callable[..., str]) -> str:
    return pg_db_factory()


def truncate_all(url: str, keep: tuple[str, ...] = ("alembic_version",)) -> None:
    """Empty every table in the ``public`` schema (except ``keep``) and reset identity sequences."""
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as c:
        rows = c.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND NOT (tablename = ANY(%s))",
            [list(keep)],
        ).fetchall()
        if rows:
            tables = sql.SQL(", ").join(sql.Identifier(r[0]) for r in rows)
            c.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))
