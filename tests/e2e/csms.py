"""A variant of :func:`tests.csms_process.run_csms` with a fixed data dir and fixed ports, so a test
can stop ``ocppd serve`` and start a new process that takes over the same database and endpoints."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.csms_process import CsmsProcess, free_port

__all__ = ["CsmsProcess", "free_port", "serve", "stop"]


def stop(server: CsmsProcess) -> None:
    """Terminate the process (SIGTERM, SIGKILL if it hangs) and wait for it."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serve(
    data_dir: Path,
    ocpp_port: int,
    http_port: int,
    log_path: Path,
    extra_env: dict[str, str] | None = None,
) -> Iterator[CsmsProcess]:
    """``ocppd serve`` on ``data_dir`` and the given loopback ports; stopped when the block ends."""
    env = {
        **os.environ,
        "OCPPD_DATA_DIR": str(data_dir),
        "OCPPD_OCPP__HOST": "127.0.0.1",
        "OCPPD_OCPP__PORT": str(ocpp_port),
        "OCPPD_HTTP__HOST": "127.0.0.1",
        "OCPPD_HTTP__PORT": str(http_port),
        "OCPPD_OCPP__HEARTBEAT_INTERVAL": "2",
        "COLUMNS": "100000",  # `ocppd log` prints through rich: no wrapping of long frames
        **(extra_env or {}),
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "ocppd.cli", "serve"], env=env, stdout=log, stderr=log)
    server = CsmsProcess(ocpp_port, http_port, data_dir, env, process, log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"ocppd serve exited with {process.returncode}:\n{server.log()}")
            try:
                if httpx.get(f"{server.http_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"ocppd serve did not become healthy:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        stop(server)
