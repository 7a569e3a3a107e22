"""Programmatic Alembic configuration for the migrations shipped in this package."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy import URL, Connection, MetaData

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def target_metadata() -> list[MetaData]:
    """Every MetaData the migration chain must reproduce (OCPP domain + operator auth tables)."""
    from .auth_repo import metadata as auth_metadata
    from .oscp_repo import metadata as oscp_metadata
    from .schema import metadata

    return [metadata, auth_metadata, oscp_metadata]


def alembic_config(url: URL | None = None, connection: Connection | None = None) -> Config:
    """An in-memory Alembic ``Config`` (no alembic.ini); ``connection`` is used by env.py if given."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: escape '%' in passwords.
        cfg.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg
