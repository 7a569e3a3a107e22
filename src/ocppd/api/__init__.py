"""Operator REST API (``/api/v1``), event stream, health and metrics."""

from ocppd.api.app import create_app

__all__ = ["create_app"]
