"""The operator dashboard: server-rendered pages (Jinja2) with a little vanilla JS for live updates."""

from ocppd.web.pages import mount

__all__ = ["mount"]
