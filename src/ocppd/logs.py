"""Logging set-up: human-readable text or one JSON object per line (structured logs)."""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # picows logs every connection at INFO; that is noise at fleet scale.
    logging.getLogger("picows").setLevel(logging.WARNING)
    # httpx logs every request (OCSP, contract provider, webhooks) at INFO; ocppd logs what matters itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)


class RateLimitedLog:
    """Per-category token bucket for lines about stations (connects, refusals, rejected messages): a
    boot storm or a misconfigured fleet yields a steady trickle plus a count of what was left out,
    never thousands of lines a second."""

    def __init__(self, logger: logging.Logger, per_second: float = 10.0, burst: int = 50) -> None:
        self._logger = logger
        self._rate = per_second
        self._burst = float(burst)
        self._buckets: dict[str, tuple[float, float, int]] = {}  # category -> tokens, last time, suppressed

    def log(self, level: int, category: str, msg: str, *args: object) -> None:
        if not self._logger.isEnabledFor(level):
            return
        now = time.monotonic()
        tokens, last, suppressed = self._buckets.get(category, (self._burst, now, 0))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[category] = (tokens, now, suppressed + 1)
            return
        if suppressed:
            msg += f" ({suppressed} similar lines suppressed)"
        self._buckets[category] = (tokens - 1.0, now, 0)
        self._logger.log(level, msg, *args)
