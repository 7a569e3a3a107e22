"""The CSMS process helpers for the end-to-end tests: fixed data dir and ports (so a test can stop
``ocppd serve`` and start a new process that takes over the same database and endpoints) and short
heartbeats."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests import csms_process
from tests.csms_process import CsmsProcess, free_port, stop

__all__ = ["CsmsProcess", "free_port", "serve", "stop"]


@contextmanager
def serve(
    data_dir: Path, ocpp_port: int, http_port: int, log_path: Path, extra_env: dict[str, str] | None = None
) -> Iterator[CsmsProcess]:
    with csms_process.serve(
        data_dir, ocpp_port, http_port, log_path, extra_env={"OCPPD_OCPP__HEARTBEAT_INTERVAL": "2", **(extra_env or {})}
    ) as server:
        yield server
