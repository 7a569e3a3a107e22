"""Files the simulated station moves: a real log file PUT to the location the CSMS gave, a firmware
image downloaded (streamed, its SHA-256 and size checked against what the server announced)."""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
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


FIRMWARE_MAGIC = b"OCPPD-SIM-FIRMWARE "


def firmware_image(version: str, size: int = 4096) -> bytes:
    """An image the simulator can install: a first line naming the version it boots with afterwards,
    then filler up to ``size`` bytes (real stations read the version from the image the same way)."""
    head = FIRMWARE_MAGIC + version.encode() + b"\n"
    filler = hashlib.sha256(head).digest() * (max(0, size - len(head)) // 32 + 1)
    return head + filler[: max(0, size - len(head))]


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A firmware image fetched over HTTP(S): its SHA-256 and size, whether they match what the server
    announced (``Repr-Digest`` / ``Content-Length``; True when it announced nothing), and the version
    named in the image's first line (None: not a simulator image, the version stays)."""

    sha256: bytes
    size: int
    intact: bool
    version: str | None


async def download(location: str, timeout: float = 60.0) -> Downloaded | bool | None:
    """Fetch a firmware image from an HTTP(S) ``location``, streamed (never held in memory): a
    :class:`Downloaded` when it arrived, False when refused or unreachable, None for a location the
    simulator cannot fetch (FTP...: only acted)."""
    if not location.startswith(("http://", "https://")):
        return None
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client, client.stream("GET", location) as response:
            if response.status_code >= 300:
                log.warning("firmware download from %s refused: HTTP %d", location, response.status_code)
                return False
            announced = _announced_sha256(response.headers.get("repr-digest", ""))
            async for chunk in response.aiter_bytes():
                if len(head) < 200:
                    head += chunk[: 200 - len(head)]
                digest.update(chunk)
                size += len(chunk)
    except httpx.HTTPError as exc:  # a body shorter than its Content-Length ends up here too
        log.warning("firmware download from %s failed: %r", location, exc)
        return False
    sha256 = digest.digest()
    intact = announced is None or announced == sha256
    version = None
    if head.startswith(FIRMWARE_MAGIC):
        version = head[len(FIRMWARE_MAGIC) :].split(b"\n", 1)[0].decode(errors="replace").strip()[:50] or None
    return Downloaded(sha256, size, intact, version)


def _announced_sha256(header: str) -> bytes | None:
    """The sha-256 of an RFC 9530 ``Repr-Digest: sha-256=:<base64>:`` header, if there is one."""
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name.strip().lower() == "sha-256" and value.startswith(":") and value.endswith(":"):
            try:
                return base64.b64decode(value[1:-1])
            except ValueError:
                return b""  # a malformed digest matches nothing
    return None


def signature_valid(sha256: bytes, signature_b64: str, certificate_pem: str) -> bool:
    """Whether ``signature_b64`` is the signing certificate's key signing the image (SHA-256): RSA
    PKCS#1 v1.5 or ECDSA, as OCPP signed firmware uses."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    try:
        key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
        signature = base64.b64decode(signature_b64)
        prehashed = utils.Prehashed(hashes.SHA256())
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, sha256, padding.PKCS1v15(), prehashed)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, sha256, ec.ECDSA(prehashed))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
