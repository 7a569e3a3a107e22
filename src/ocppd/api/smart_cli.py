"""``ocppd sites ...``: the limit tree and external limits from the command line.

Like the other admin commands they work on the database directly; a running server picks the
changes up within ``smart.interval_s`` (or at once when made through the API).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ocppd.clicommon import ConfigOption, console, fail, settings_for, with_store
from ocppd.config import Settings
from ocppd.csms.smart.sites import build_tree, clean_spec, load_file
from ocppd.smart.tree import TreeError
from ocppd.store import smart_repo as sr

sites_app = typer.Typer(help="Sites, sub-circuits and station limits for load balancing.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(sites_app, name="sites")


def _settings(config: Path | None) -> Settings:
    return settings_for(config)


def _store(settings: Settings, fn: Any, *args: Any, write: bool = False) -> Any:
    return with_store(settings, fn, *args, write=write, create=write)


def _fail(message: str) -> None:
    raise fail(message)


def _save(settings: Settings, specs: list[dict[str, Any]]) -> None:
    try:
        build_tree(specs)
    except TreeError as exc:
        _fail(f"invalid limit tree: {exc}")
    _store(settings, sr.replace_nodes, specs, write=True)


@sites_app.command("show")
def show(config: ConfigOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The limit tree: every node with its limits."""
    specs = _store(_settings(config), sr.list_nodes)
    if as_json:
        console.print_json(json.dumps({"nodes": specs}))
        return
    table = Table("node", "kind", "parent", "amps", "watts", "rotation", "weight", "windows")
    for s in specs:
        table.add_row(
            s["id"],
            s["kind"],
            s.get("parent") or "",
            str(s.get("amps", "")),
            str(s.get("watts", "")),
            s.get("rotation", ""),
            str(s.get("weight", "")),
            str(len(s.get("windows", []))),
        )
    console.print(table)


@sites_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="TOML with [[node]] tables")],
    config: ConfigOption = None,
) -> None:
    """Replace the whole limit tree with the nodes of FILE (validated first; nothing changes if invalid)."""
    settings = _settings(config)
    try:
        specs = load_file(file)
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    _save(settings, specs)
    console.print(f"limit tree: {len(specs)} nodes")


@sites_app.command("set")
def set_node(
    node_id: Annotated[str, typer.Argument(help="Site, circuit or station id (EVSE: STATION/N)")],
    kind: Annotated[str, typer.Option(help="site | circuit | station | evse")],
    parent: Annotated[str | None, typer.Option(help="The node it hangs from")] = None,
    amps: Annotated[str | None, typer.Option(help="Per phase: 32 or 32,32,25")] = None,
    watts: Annotated[float | None, typer.Option(help="Power limit in W")] = None,
    rotation: Annotated[str | None, typer.Option(help="Stations: RST, STR, TRS, ...")] = None,
    weight: Annotated[float | None, typer.Option(help="Stations, EVSEs: share weight (priority)")] = None,
    timezone: Annotated[str | None, typer.Option(help="Sites: for time-of-use windows")] = None,
    config: ConfigOption = None,
) -> None:
    """Add or change one node."""
    settings = _settings(config)
    specs = {s["id"]: s for s in _store(settings, sr.list_nodes)}
    amp_value: Any = None
    if amps:
        try:
            parts = [float(a) for a in amps.split(",")]
        except ValueError:
            _fail("--amps: a number or three numbers separated by commas")
        amp_value = parts[0] if len(parts) == 1 else parts
    spec = {**specs.get(node_id, {}), "id": node_id, "kind": kind}
    for key, value in (
        ("parent", parent),
        ("amps", amp_value),
        ("watts", watts),
        ("rotation", rotation),
        ("weight", weight),
        ("timezone", timezone),
    ):
        if value is not None:
            spec[key] = value
    specs[node_id] = clean_spec(spec)
    _save(settings, list(specs.values()))
    console.print(f"{node_id}: {json.dumps(specs[node_id])}")


@sites_app.command("remove")
def remove(node_id: str, config: ConfigOption = None) -> None:
    """Remove a node that has no children."""
    settings = _settings(config)
    specs = {s["id"]: s for s in _store(settings, sr.list_nodes)}
    if node_id not in specs:
        _fail(f"no node {node_id!r}")
    children = [k for k, s in specs.items() if s.get("parent") == node_id]
    if children:
        _fail(f"{node_id} still has children: {', '.join(children)}")
    del specs[node_id]
    _save(settings, list(specs.values()))


@sites_app.command("limit")
def external_limit(
    node_id: str,
    amps: Annotated[float | None, typer.Option(help="Per phase")] = None,
    watts: Annotated[float | None, typer.Option()] = None,
    minutes: Annotated[float | None, typer.Option(help="Expires after this long (default: until removed)")] = None,
    source: Annotated[str, typer.Option(help="api | ems | grid")] = "api",
    config: ConfigOption = None,
) -> None:
    """Lower a node's limit for a while (an EMS or grid operator's limit); never above the configured one."""
    settings = _settings(config)
    specs = {s["id"] for s in _store(settings, sr.list_nodes)}
    if node_id not in specs:
        _fail(f"no node {node_id!r}")
    if amps is None and watts is None:
        _fail("give --amps and/or --watts")
    if (amps is not None and amps < 0) or (watts is not None and watts < 0):
        _fail("a limit cannot be negative")
    now = datetime.now(UTC)
    row = {
        "node_id": node_id,
        "source": source,
        "amps": [amps] * 3 if amps is not None else None,
        "watts": watts,
        "starts_at": now,
        "ends_at": now + timedelta(minutes=minutes) if minutes else None,
        "note": "cli",
    }
    limit_id = _store(settings, sr.add_external, row, write=True)
    console.print(f"external limit {limit_id} on {node_id}")
