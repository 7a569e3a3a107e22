"""Start ``ocppd serve`` as a real process for integration tests (loopback only, free ports)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

# A deadline, not a timing check: start-up takes 2-3 s on a quiet machine but 30 s and more when the
# machine is shared by several test runs (seen at load 14); a server that never gets healthy still fails.
STARTUP_DEADLINE_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CsmsProcess:
    ocpp_port: int
    http_port: int
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    @property
    def http_url(self) -> str:
        scheme = "https" if self.env.get("OCPPD_HTTP__TLS_CERT") else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run an ``ocppd`` admin command against this server's configuration."""
        return subprocess.run(
            [sys.executable, "-m", "ocppd.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def stop(server: CsmsProcess) -> None:
    """Terminate the server (SIGTERM, SIGKILL if it hangs) and wait for it."""
    terminate(server.process)


def terminate(process: subprocess.Popen[bytes], how: signal.Signals = signal.SIGTERM, grace_s: float = 15) -> None:
    """``how`` (SIGTERM), SIGKILL if the process hangs for ``grace_s``; wait for it either way."""
    if process.poll() is None:
        process.send_signal(how)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serve(
    data_dir: Path,
    ocpp_port: int,
    http_port: int,
    log_path: Path,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[CsmsProcess]:
    """``ocppd serve`` on ``data_dir`` and the given loopback ports, healthy on entry, stopped on exit."""
    env = {
        **os.environ,
        "OCPPD_DATA_DIR": str(data_dir),
        "OCPPD_OCPP__HOST": "127.0.0.1",
        "OCPPD_OCPP__PORT": str(ocpp_port),
        "OCPPD_HTTP__HOST": "127.0.0.1",
        "OCPPD_HTTP__PORT": str(http_port),
        "OCPPD_OCPP__HEARTBEAT_INTERVAL": "60",
        "COLUMNS": "100000",  # `ocppd log` prints through rich: no wrapping of long frames
        **(extra_env or {}),
    }
    if database_url:
        env["OCPPD_DATABASE_URL"] = database_url
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "ocppd.cli", "serve"], env=env, stdout=log, stderr=log)
    server = CsmsProcess(ocpp_port, http_port, data_dir, env, process, log_path)
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"ocppd serve exited with {process.returncode}:\n{server.log()}")
            try:
                # Readiness only (an HTTPS server's CA is the test's business): the certificate is not checked.
                if httpx.get(f"{server.http_url}/health", timeout=1, verify=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"ocppd serve did not become healthy:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        stop(server)


@contextmanager
def run_csms(
    tmp_path: Path, database_url: str | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[CsmsProcess]:
    """``ocppd serve`` on free ports with its data in ``tmp_path``. A free port can be taken by another
    test process between ``free_port()`` and the server's bind (the suite runs on several workers): the
    server then exits at once with "cannot listen", and it is started again on other ports."""
    for attempt in range(3):
        stack = ExitStack()
        try:
            ports = free_port(), free_port()
            log = tmp_path / "ocppd-serve.log"
            server = stack.enter_context(serve(tmp_path / "ocppd-data", *ports, log, database_url, extra_env))
        except RuntimeError as exc:
            if "cannot listen" in str(exc) and attempt < 2:
                continue
            raise
        with stack:
            yield server
        return
