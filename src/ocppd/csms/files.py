"""Files in the data directory that stations upload or download (logs, firmware): safe names, per-job
tokens, and streaming a body to disk so that only a complete file ever takes its place."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FileRefused(Exception):
    """The file is not taken or not served: ``status`` is the HTTP answer (403, 413, 400)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def safe_name(name: str | None, fallback: str) -> str:
    """A file name without any directory part, odd characters or a leading dot (path tricks refused)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).lstrip(".")[:200]
    return base or fallback


def new_token() -> tuple[str, str]:
    """A random URL token and the SHA-256 that is stored in its place."""
    token = secrets.token_urlsafe(24)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def save_stream(folder: Path, name: str, chunks: AsyncIterator[bytes], limit: int) -> tuple[int, str]:
    """Stream ``chunks`` to ``folder/name`` through a temporary file renamed when complete; returns
    (size, SHA-256 hex). Past ``limit`` bytes: FileRefused 413, and nothing replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{secrets.token_hex(8)}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        with open(temporary, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise FileRefused(413, f"the file is larger than the limit of {limit} bytes")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, folder / name)
    finally:
        temporary.unlink(missing_ok=True)
    return size, digest.hexdigest()
