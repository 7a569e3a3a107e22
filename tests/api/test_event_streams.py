"""Server-Sent Event streams leave nothing behind when their clients go away (issue 8, item 5)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import bearer, eventually
from tests.api.stations import connected
from tests.csms_process import CsmsProcess, run_csms

GC_OFTEN = Path(__file__).resolve().parents[1] / "gc_often"
LEAK_LINES = ("Task was destroyed but it is pending", "cannot reuse already awaited coroutine")


@pytest.fixture(scope="module")
def gc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CsmsProcess, Path]]:
    tmp = tmp_path_factory.mktemp("sse")
    marks = tmp / "gc-marks"
    path = os.pathsep.join(p for p in (str(GC_OFTEN), os.environ.get("PYTHONPATH", "")) if p)
    with run_csms(tmp, extra_env={"PYTHONPATH": path, "TEST_GC_MARKS_FILE": str(marks)}) as server:
        yield server, marks


async def _open_streams(client: httpx.AsyncClient) -> float:
    body = (await client.get("/metrics")).text
    found = re.search(r"^ocppd_api_event_streams (\S+)$", body, re.M)
    return float(found.group(1)) if found else -1.0


def _collections(marks: Path) -> int:
    return len(marks.read_text().splitlines()) if marks.exists() else 0


async def test_closed_event_streams_leave_no_pending_tasks(gc_server: tuple[CsmsProcess, Path]) -> None:
    server, marks = gc_server
    headers = bearer(server.admin_token)
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as client:
        async with connected(server.ws_url, "SSE-1", "1.6"):
            for params in ({}, {"station": "SSE-1"}, {"types": "status.,meter."}) * 3:
                async with client.stream("GET", "/api/v1/events", params=params) as stream:
                    async for chunk in stream.aiter_bytes():
                        if b"connected" in chunk:
                            break
            # Events after the clients left reach nobody but must not wake anything left over either.
            async with connected(server.ws_url, "SSE-2", "2.0.1"):
                pass

        async def all_closed() -> bool:
            return await _open_streams(client) == 0.0

        await eventually(all_closed, "the server to see every event stream closed")
        seen = _collections(marks)

        async def collected_twice() -> bool:
            return _collections(marks) >= seen + 2

        await eventually(collected_twice, "two garbage collections in the server after the streams closed")
        await asyncio.sleep(0)
    leaks = [line for line in server.log().splitlines() if any(text in line for text in LEAK_LINES)]
    assert leaks == [], "\n".join(leaks[:5])
