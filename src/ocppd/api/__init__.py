"""Operator REST API (``/api/v1``), event stream, webhooks, health and metrics."""

from ocppd.api.app import create_app, start_runtime, stop_runtime

__all__ = ["create_app", "start_runtime", "stop_runtime"]
