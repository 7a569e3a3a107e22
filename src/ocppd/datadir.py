"""The data directory's lock: one ``ocppd serve`` per data directory, and how commands find it.

``ocppd serve`` holds an exclusive ``flock`` on ``<data_dir>/serve.lock`` for as long as it runs
(the kernel releases it when the process ends, even on ``kill -9``, so a stale file never blocks a
start). The file says which process holds it and where its API listens, so the admin CLI can tell a
running server about changes it made in the database (credentials take effect before the command
returns) and ``ocppd call`` finds the API.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK_FILE = "serve.lock"


class DataDirBusy(RuntimeError):
    """Another ``ocppd serve`` holds the data directory."""


@dataclass(frozen=True, slots=True)
class RunningServer:
    pid: int | None
    api_url: str | None  # None when the server runs without HTTP


def _describe(info: RunningServer | None) -> str:
    if info is None or info.pid is None:
        return "another ocppd serve"
    return f"ocppd serve (pid {info.pid}{', API ' + info.api_url if info.api_url else ''})"


def _read(path: Path) -> RunningServer | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return None
    return RunningServer(data.get("pid"), data.get("api_url"))


class DataDirLock:
    """Held by ``ocppd serve`` from before it opens the database until it exits."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise DataDirBusy(
                f"{_describe(_read(self.path))} already uses the data directory {self.path.parent.resolve()}; "
                "stop it first, or give this one another data_dir"
            ) from None
        self._fd = fd
        self.publish(None)

    def publish(self, api_url: str | None) -> None:
        """Record who holds the lock and where its API is (read by :func:`running_server`)."""
        assert self._fd is not None
        text = json.dumps({"pid": os.getpid(), "api_url": api_url}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text, 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def running_server(data_dir: Path) -> RunningServer | None:
    """The ``ocppd serve`` that holds ``data_dir``, or None when none runs there."""
    path = data_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read(path) or RunningServer(None, None)  # held: a server runs
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
