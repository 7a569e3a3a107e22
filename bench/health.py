"""Waiting for a benchmark's own ``ocppd serve`` process to answer /health."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_healthy(proc: subprocess.Popen[bytes], http_port: int, log: Path, timeout: float = 30) -> None:
    """Return once /health answers 200; exit with the server's log if it died or never answered."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(log.read_text(errors="replace"))
        time.sleep(0.2)
