"""One real ``ocppd serve`` per test module and backend (SQLite and PostgreSQL), and an admin API client."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.csms_process import CsmsProcess, run_csms
from tests.pg import pg_db_factory, pg_server_url  # noqa: F401  (re-exported fixtures)
from tests.waiting import eventually

T = TypeVar("T")
_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids):03d}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def csms(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    url = None
    if request.param == "postgresql":
        factory: Callable[[str], str] = request.getfixturevalue("pg_db_factory")
        url = factory("ocppd_verbs")
    tmp = Path(tmp_path_factory.mktemp("verbs"))
    extra: dict[str, str] = {}
    config = getattr(request.module, "CSMS_CONFIG", None)  # a module's own ocppd.toml
    if config:
        (tmp / "ocppd.toml").write_text(config)
        extra["OCPPD_CONFIG"] = str(tmp / "ocppd.toml")
    with run_csms(tmp, database_url=url, extra_env=extra) as server:
        yield server


@pytest.fixture
async def api(csms: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {csms.admin_token}"}
    async with httpx.AsyncClient(base_url=csms.http_url, headers=headers, timeout=60) as client:
        yield client


async def until(predicate: Callable[[], bool], what: str, deadline: float = 30.0) -> None:
    """Wait until ``predicate()`` holds (something a station recorded)."""

    async def probe() -> bool:
        return predicate()

    await eventually(probe, what, deadline)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


async def command(api: httpx.AsyncClient, sid: str, name: str, body: dict[str, Any], status: int = 200) -> Any:
    return ok(await api.post(f"/api/v1/stations/{sid}/commands/{name}", json=body), status)
