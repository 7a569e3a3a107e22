"""Outgoing webhooks: every bus event POSTed as JSON to each ``settings.http.webhook_urls``.

Each URL has its own queue and worker, so a dead endpoint delays only itself. Deliveries are
retried with exponential backoff; the body is signed with HMAC-SHA256 over the raw bytes using
``settings.http.webhook_secret`` (header ``X-Ocppd-Signature: sha256=<hex>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import uuid
from typing import Any

import httpx
import orjson
from prometheus_client import Counter

from ocppd.csms.events import EventBus

log = logging.getLogger("ocppd.api.webhooks")

DELIVERIES = Counter("ocppd_webhook_deliveries_total", "Webhook deliveries by final result", ["result"])
QUEUE_SIZE = 10_000


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _retryable(status: int) -> bool:
    # A 4xx other than timeout/rate limit means the receiver refuses this payload: retrying won't help.
    return status >= 500 or status in (408, 425, 429)


class Webhooks:
    def __init__(
        self,
        events: EventBus,
        urls: list[str],
        secret: str,
        *,
        attempts: int = 6,
        first_delay: float = 1.0,
        max_delay: float = 60.0,
        timeout: float = 10.0,
    ) -> None:
        self._events = events
        self.urls = list(urls)
        self._secret = secret
        self._attempts = attempts
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._timeout = timeout
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        if not self.urls:
            return
        self._client = httpx.AsyncClient(timeout=self._timeout)
        for url in self.urls:
            queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
            self._queues[url] = queue
            self._tasks.append(asyncio.create_task(self._worker(url, queue)))
        self._tasks.append(asyncio.create_task(self._pump()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()

    async def _pump(self) -> None:
        with self._events.subscribe() as bus:
            while True:
                event = await bus.get()
                for url, queue in self._queues.items():
                    try:
                        queue.put_nowait(event)
                    except asyncio.QueueFull:
                        DELIVERIES.labels("dropped").inc()
                        log.warning("webhook queue for %s full: event dropped", url)

    async def _worker(self, url: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            event = await queue.get()
            await self.deliver(url, event)

    async def deliver(self, url: str, event: dict[str, Any]) -> bool:
        """POST one event, retrying with backoff; True if the receiver took it (2xx)."""
        assert self._client is not None
        delivery = str(uuid.uuid4())
        body = orjson.dumps({"id": delivery, **event})
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "ocppd-webhooks/1",
            "X-Ocppd-Event": str(event.get("type")),
            "X-Ocppd-Delivery": delivery,
        }
        if self._secret:
            headers["X-Ocppd-Signature"] = sign(self._secret, body)
        delay = self._first_delay
        for attempt in range(1, self._attempts + 1):
            headers["X-Ocppd-Attempt"] = str(attempt)
            try:
                response = await self._client.post(url, content=body, headers=headers)
                if 200 <= response.status_code < 300:
                    DELIVERIES.labels("ok").inc()
                    return True
                if not _retryable(response.status_code):
                    log.warning("webhook %s refused %s: HTTP %d", url, event.get("type"), response.status_code)
                    DELIVERIES.labels("refused").inc()
                    return False
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if attempt < self._attempts:
                log.info("webhook %s attempt %d failed (%s); retrying in %.0f s", url, attempt, reason, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_delay)
        log.warning("webhook %s gave up on %s after %d attempts", url, event.get("type"), self._attempts)
        DELIVERIES.labels("failed").inc()
        return False
