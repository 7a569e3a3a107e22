from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.csms_process import CsmsProcess, run_csms
from tests.pg import pg_db_factory, pg_server_url  # noqa: F401  (re-exported fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def csms(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CsmsProcess]:
    """A real ``ocppd serve`` process on the embedded SQLite default, and on PostgreSQL."""
    url = None
    if request.param == "postgresql":
        factory: Callable[[str], str] = request.getfixturevalue("pg_db_factory")
        url = factory("ocppd_it")
    with run_csms(tmp_path, database_url=url) as server:
        yield server
