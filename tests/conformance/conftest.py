"""One real ``ocppd serve`` per module and backend (SQLite, PostgreSQL); stations from the ``ocpp`` package.

The server runs with a short ``transactions.abandoned_after`` (the grace a rebooted station has to
continue its transactions) and a 2.0.1 master-pass group, so those rules can be watched in seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.csms_process import CsmsProcess, run_csms
from tests.pg import pg_db_factory, pg_server_url  # noqa: F401  (re-exported fixtures)

GRACE_S = 3.0
MASTER_PASS_GROUP = "MASTERPASS"
SERVER_ENV = {
    "OCPPD_TRANSACTIONS__ABANDONED_AFTER": str(GRACE_S),
    "OCPPD_TRANSACTIONS__MASTER_PASS_GROUP": MASTER_PASS_GROUP,
    "OCPPD_OCPP__CALL_TIMEOUT": "10",
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def csms(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    url = None
    if request.param == "postgresql":
        factory: Callable[[str], str] = request.getfixturevalue("pg_db_factory")
        url = factory("ocppd_oca")
    tmp: Path = tmp_path_factory.mktemp(f"oca-{request.param}")
    with run_csms(tmp, database_url=url, extra_env=SERVER_ENV) as server:
        yield server


@pytest.fixture
async def api(csms: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {csms.admin_token}"}
    async with httpx.AsyncClient(base_url=csms.http_url, headers=headers, timeout=60) as client:
        yield client
