"""Fixtures: one real ``ocppd serve`` per test module, API keys made with the CLI, HTTP clients."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from tests.csms_process import CsmsProcess, run_csms
from tests.waiting import eventually  # noqa: F401  (re-exported to the tests of this folder)

T = TypeVar("T")
_ids = itertools.count(1)


def create_key(server: CsmsProcess, role: str) -> str:
    out = server.cli("apikeys", "create", "--role", role, "--name", f"test-{role}").stdout
    return out.strip().splitlines()[-1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_station_id(prefix: str = "CS") -> str:
    return f"{prefix}-{next(_ids):03d}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("api")) as s:
        yield s


@pytest.fixture(scope="module")
def keys(server: CsmsProcess) -> dict[str, str]:
    return {"admin": create_key(server, "admin"), "read-only": create_key(server, "read-only")}


@pytest.fixture
async def api(server: CsmsProcess, keys: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(keys["admin"]), timeout=60) as client:
        yield client


@pytest.fixture
async def ro_api(server: CsmsProcess, keys: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(keys["read-only"]), timeout=60) as client:
        yield client


@pytest.fixture
async def anon(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=60) as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None
