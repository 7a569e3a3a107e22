"""``ocppd apikeys ...`` and ``ocppd users ...``: operator credentials for the API and the dashboard.

They work on the database directly, so they need no running server; a running server sees new or
revoked keys at once (it looks them up per request) and ended dashboard sessions within seconds.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from ocppd.clicommon import ConfigOption, console, settings_for, with_store

T = TypeVar("T")

apikeys_app = typer.Typer(help="API keys (bearer tokens) for the REST API.", no_args_is_help=True)
users_app = typer.Typer(help="Dashboard users (username + password login).", no_args_is_help=True)

RoleOption = Annotated[str, typer.Option("--role", help="admin (read and write) or read-only.")]


def register(app: typer.Typer) -> None:
    """Add the ``apikeys`` and ``users`` command groups to the main CLI."""
    app.add_typer(apikeys_app, name="apikeys")
    app.add_typer(users_app, name="users")


def _run(config: Path | None, fn: Callable[..., T], *args: Any, write: bool = False, create: bool = False) -> T:
    return with_store(settings_for(config), fn, *args, write=write, create=create)


def _check_role(role: str) -> None:
    from ocppd.api.security import ROLES

    if role not in ROLES:
        console.print(f"[red]--role must be one of: {', '.join(ROLES)}[/red]")
        raise typer.Exit(2)


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _fmt(value: Any) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value)


# ---------------------------------------------------------------------------------------- API keys
@apikeys_app.command("create")
def apikeys_create(
    role: RoleOption = "read-only",
    name: Annotated[str, typer.Option(help="What the key is for (shown in lists and logs).")] = "api",
    config: ConfigOption = None,
) -> None:
    """Create an API key; it is printed once (only its hash is stored)."""
    from ocppd.api.security import new_api_key
    from ocppd.store import auth_repo

    _check_role(role)
    key_id, token, digest = new_api_key()
    _run(config, auth_repo.add_api_key, key_id, name, digest, role, write=True, create=True)
    console.print(
        f"API key [bold]{key_id}[/bold] ({role}) created. Store it now, it is not shown again:",
        highlight=False,
        soft_wrap=True,
    )
    typer.echo(token)


@apikeys_app.command("list")
def apikeys_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigOption = None,
) -> None:
    """All API keys (without their secrets)."""
    from ocppd.store import auth_repo

    rows = _run(config, auth_repo.list_api_keys)
    if as_json:
        keys = ("key_id", "name", "role", "created_at", "last_used_at", "revoked_at")
        typer.echo(json.dumps([{k: _iso(getattr(r, k)) for k in keys} for r in rows], indent=2))
        return
    table = Table("key id", "name", "role", "created", "last used", "revoked")
    for k in rows:
        table.add_row(k.key_id, k.name, k.role, _fmt(k.created_at), _fmt(k.last_used_at), _fmt(k.revoked_at))
    console.print(table)


@apikeys_app.command("revoke")
def apikeys_revoke(key_id: str, config: ConfigOption = None) -> None:
    """Revoke a key at once (by its key id)."""
    from ocppd.store import auth_repo

    if not _run(config, auth_repo.revoke_api_key, key_id, write=True):
        console.print(f"[red]unknown or already revoked key {key_id!r}[/red]")
        raise typer.Exit(1)
    console.print(f"API key [bold]{key_id}[/bold] revoked")


# ---------------------------------------------------------------------------------------- users
@users_app.command("add")
def users_add(
    username: str,
    role: RoleOption = "admin",
    password: Annotated[
        str | None,
        typer.Option(
            help="Password (prompted when omitted; also the environment variable OCPPD_USER_PASSWORD, "
            "which is not a setting).",
            envvar="OCPPD_USER_PASSWORD",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Create a dashboard user, or reset its password and role (which ends its open sessions)."""
    from ocppd.api.security import hash_password
    from ocppd.store import auth_repo

    _check_role(role)
    if password is None:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            console.print("[red]passwords differ[/red]")
            raise typer.Exit(2)
    if len(password) < 8:
        console.print("[red]the password needs at least 8 characters[/red]")
        raise typer.Exit(2)
    created = _run(config, auth_repo.upsert_user, username, hash_password(password), role, write=True, create=True)
    console.print(f"user [bold]{username}[/bold] ({role}) {'created' if created else 'updated'}")


@users_app.command("list")
def users_list(config: ConfigOption = None) -> None:
    """All dashboard users."""
    from ocppd.store import auth_repo

    table = Table("user", "role", "created", "last login")
    for u in _run(config, auth_repo.list_users):
        table.add_row(u.username, u.role, _fmt(u.created_at), _fmt(u.last_login_at))
    console.print(table)


@users_app.command("delete")
def users_delete(username: str, config: ConfigOption = None) -> None:
    """Delete a dashboard user and end its open sessions."""
    from ocppd.store import auth_repo

    if not _run(config, auth_repo.delete_user, username, write=True):
        console.print(f"[red]unknown user {username!r}[/red]")
        raise typer.Exit(1)
    console.print(f"user [bold]{username}[/bold] deleted")


@users_app.command("logout")
def users_logout(username: str, config: ConfigOption = None) -> None:
    """End every open dashboard session of a user (the user stays)."""
    from ocppd.store import auth_repo

    ended = _run(config, auth_repo.revoke_user_sessions, username, write=True)
    console.print(f"{ended} session(s) of [bold]{username}[/bold] ended")
