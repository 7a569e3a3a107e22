"""Operator REST API (``/api/v1``), event stream, webhooks, health and metrics."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "start_runtime", "stop_runtime"]


def __getattr__(name: str) -> Any:
    # Lazy: `ocppd apikeys ...` imports ocppd.api.cli and should not pay for FastAPI.
    if name in __all__:
        from ocppd.api import app

        return getattr(app, name)
    raise AttributeError(name)
