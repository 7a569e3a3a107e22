from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.csms_process import CsmsProcess, run_csms
from tests.pg import pg_db_factory, pg_server_url  # noqa: F401  (re-exported fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None (the embedded SQLite default) or a fresh PostgreSQL database; also for tests that start
    ``ocppd serve`` themselves (several times on the same data, to restart it)."""
    if request.param == "postgresql":
        factory: Callable[[str], str] = request.getfixturevalue("pg_db_factory")
        return factory("ocppd_it")
    return None


@pytest.fixture
def csms(database_url: str | None, tmp_path: Path) -> Iterator[CsmsProcess]:
    """A real ``ocppd serve`` process on the embedded SQLite default, and on PostgreSQL."""
    with run_csms(tmp_path, database_url=database_url) as server:
        yield server
