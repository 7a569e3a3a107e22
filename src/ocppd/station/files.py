"""Files the simulated station uploads: a real log file PUT to the location the CSMS gave."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

import httpx

log = logging.getLogger("ocppd.station.files")


def log_text(identity: str, kind: str) -> bytes:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [f"{now} {identity} {kind}: simulated station log", f"{now} {identity} boot ok, connectors idle"]
    return ("\n".join(lines) + "\n").encode()


async def upload(location: str, filename: str, body: bytes, timeout: float = 30.0) -> bool | None:
    """PUT ``body`` to an HTTP(S) ``location``: True when taken, False when refused or unreachable,
    None for a location the simulator cannot upload to (FTP...: the upload is only acted)."""
    if not location.startswith(("http://", "https://")):
        return None
    url = f"{location.rstrip('/')}/{filename}"
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.put(url, content=body)
    except httpx.HTTPError as exc:
        log.warning("log upload to %s failed: %r", location, exc)
        return False
    if response.status_code >= 300:
        log.warning("log upload to %s refused: HTTP %d", location, response.status_code)
        return False
    return True


async def download(location: str, timeout: float = 60.0) -> str | bool | None:
    """Fetch a firmware image from an HTTP(S) ``location``, streamed: its SHA-256 hex when it arrived,
    False when refused or unreachable, None for a location the simulator cannot fetch (only acted)."""
    if not location.startswith(("http://", "https://")):
        return None
    digest = hashlib.sha256()
    try:
        async with httpx.AsyncClient(timeout=timeout) as client, client.stream("GET", location) as response:
            if response.status_code >= 300:
                log.warning("firmware download from %s refused: HTTP %d", location, response.status_code)
                return False
            async for chunk in response.aiter_bytes():
                digest.update(chunk)
    except httpx.HTTPError as exc:
        log.warning("firmware download from %s failed: %r", location, exc)
        return False
    return digest.hexdigest()
