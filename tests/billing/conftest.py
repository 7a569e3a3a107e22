"""Fixtures of the billing tests: a migrated database of each backend for a module (the report totals)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ocppd.store import Store
from tests.pg import pg_db_factory, pg_server_url  # noqa: F401  (re-exported fixtures)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def report_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a fresh, migrated database (SQLite, then PostgreSQL) shared by one module's tests."""
    if request.param == "postgresql":
        factory: Callable[[str], str] = request.getfixturevalue("pg_db_factory")
        url = factory("ocppd_billing")
    else:
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('billing-db')) / 'ocppd.db'}"
    Store(url).migrate()
    return url
