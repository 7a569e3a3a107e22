"""Start ``ocppd local-controller`` as a real process for tests (loopback, free ports)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.csms_process import STARTUP_DEADLINE_S, free_port, terminate


@dataclass
class ControllerProcess:
    port: int
    metrics_port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metric(self, name: str, **labels: str) -> float:
        """One sample of the controller's /metrics (0 when it is not there yet)."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            m = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
            if m and (m.group(1) or "") == wanted:
                return float(m.group(2))
        return 0.0


def stop(controller: ControllerProcess) -> None:
    terminate(controller.process)


@contextmanager
def run_controller(tmp_path: Path, upstream: str, env: dict[str, str] | None = None) -> Iterator[ControllerProcess]:
    """``ocppd local-controller`` relaying to ``upstream``, ready (its metrics answer) on entry."""
    port, metrics_port = free_port(), free_port()
    full_env = {
        **os.environ,
        "OCPPD_DATA_DIR": str(tmp_path / "lc-data"),
        "OCPPD_LOCAL_CONTROLLER__HOST": "127.0.0.1",
        "OCPPD_LOCAL_CONTROLLER__PORT": str(port),
        "OCPPD_LOCAL_CONTROLLER__METRICS_PORT": str(metrics_port),
        "OCPPD_LOCAL_CONTROLLER__UPSTREAM_URL": upstream,
        "OCPPD_LOCAL_CONTROLLER__RECONNECT_MAX_S": "1",
        "OCPPD_SMART__INTERVAL_S": "2",
        "OCPPD_SMART__MIN_INTERVAL_S": "0",
        "OCPPD_SMART__DEBOUNCE_S": "0.05",
        **(env or {}),
    }
    log_path = tmp_path / f"local-controller-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ocppd.cli", "local-controller"], env=full_env, stdout=log, stderr=log
        )
    controller = ControllerProcess(port, metrics_port, process, log_path)
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while "local controller on" not in controller.log():
            if process.poll() is not None:
                raise RuntimeError(f"ocppd local-controller exited with {process.returncode}:\n{controller.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ocppd local-controller did not start:\n{controller.log()}")
            time.sleep(0.1)
        yield controller
    finally:
        stop(controller)
