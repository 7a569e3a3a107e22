"""Fixtures for store tests: every test using ``db_url``/``store`` runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Connection

from ocppd.store import Store
from tests.pg import pg_db_factory, pg_server_url, pg_url, truncate_all  # noqa: F401

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_store_url(pg_url: str) -> str:  # noqa: F811
    """The session PostgreSQL database, migrated once."""
    Store(pg_url).migrate()
    return pg_url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A migrated, empty database of the requested backend."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ocppd.db'}"
        Store(url).migrate()
        return url
    url = request.getfixturevalue("pg_store_url")
    truncate_all(url)
    return url


@pytest.fixture
def fresh_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """An empty, never-migrated database of the requested backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return request.getfixturevalue("pg_db_factory")("ocppd_store_fresh")


@pytest.fixture
async def make_store(db_url: str) -> AsyncIterator[Callable[..., Awaitable[Store]]]:
    """``await make_store(**Store_kwargs)``: a started Store on ``db_url``, closed at teardown."""
    stores: list[Store] = []

    async def make(**kwargs: Any) -> Store:
        s = Store(db_url, **kwargs)
        stores.append(s)
        await s.start()
        return s

    yield make
    for s in stores:
        await s.close()


@pytest.fixture
async def store(make_store: Callable[..., Awaitable[Store]]) -> Store:
    return await make_store()


class Gate:
    """Blocks the writer thread inside an op so a test can queue work deterministically behind it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def op(self, conn: Connection) -> str:
        self.entered.set()
        self.release.wait()
        return "gate"


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.release.set()  # never leave a writer thread stuck if a test fails early
