"""Browser fixtures: Debian's Chromium driven by Playwright (its own browser download can't work here)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.csms_process import CsmsProcess, run_csms

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
USER, PASSWORD = "operator", "charge-it-now"


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):  # CI must never silently skip the browser tests
        pytest.fail(f"{CHROMIUM} is missing under CI: run .ci/install-browser.sh")
    pytest.skip(f"{CHROMIUM} not installed (and CI is not set): run .ci/install-browser.sh to enable browser tests")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    _require_browser()
    with run_csms(tmp_path_factory.mktemp("web")) as s:
        s.cli("users", "add", USER, "--password", PASSWORD, "--role", "admin")
        yield s


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    _require_browser()
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()
