"""One owner for the balancer: two ``ocppd serve`` processes on one database, only the holder of the
balancer lease balances; when it stops, the other takes over (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.csms_process import CsmsProcess, run_csms, stop
from tests.integration.test_smart_charging import TREE, until

ENV = {"OCPPD_SMART__INTERVAL_S": "1", "OCPPD_SMART__DEBOUNCE_S": "0.05"}


def owner(server: CsmsProcess) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    return httpx.get(f"{server.http_url}/api/v1/smart", headers=headers, timeout=10).json()["owner"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_only_the_lease_holder_balances_and_the_other_takes_over(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = None
    if backend == "postgresql":
        factory: Callable[[str], str] = request.getfixturevalue("pg_db_factory")
        url = factory("ocppd_lease")
    else:
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    with run_csms(tmp_path / "a", database_url=url, extra_env=ENV) as first:
        headers = {"Authorization": f"Bearer {first.admin_token}"}
        assert httpx.put(f"{first.http_url}/api/v1/limit-tree", json=TREE, headers=headers).status_code == 200
        await until(lambda: owner(first)["owns"], "the first node owns the balancing")
        with run_csms(tmp_path / "b", database_url=url, extra_env=ENV) as second:
            a, b = owner(first), await until(lambda: owner(second)["holder"] and owner(second), "the second node")
            assert a["owns"] and a["holder"] == a["node"]
            assert not b["owns"] and b["holder"] == a["node"] != b["node"]
            metrics = httpx.get(f"{second.http_url}/metrics", timeout=10).text
            assert "ocppd_balancer_owner 0.0" in metrics
            stop(first)  # a clean stop gives the lease up: the second node takes over at its next run
            taken = await until(lambda: owner(second)["owns"] and owner(second), "the second node takes over")
            assert taken["holder"] == b["node"]
