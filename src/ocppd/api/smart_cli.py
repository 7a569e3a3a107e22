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


@sites_app.command("priority")
def priority(
    node_id: Annotated[str, typer.Argument(help="A station or EVSE (STATION/N) of the limit tree")],
    weight: Annotated[float, typer.Argument(help="Share weight: 2 gets twice the current of 1 when limited")],
    config: ConfigOption = None,
) -> None:
    """Set the priority (share weight) of the EVs charging at a station or EVSE."""
    settings = _settings(config)
    specs = {s["id"]: s for s in _store(settings, sr.list_nodes)}
    spec = specs.get(node_id)
    if spec is None:
        _fail(f"no node {node_id!r}")
    assert spec is not None
    if spec.get("kind") not in ("station", "evse"):
        _fail(f"{node_id} is a {spec.get('kind')}: priorities are for stations and EVSEs")
    specs[node_id] = {**spec, "weight": weight}
    _save(settings, list(specs.values()))
    console.print(f"{node_id}: weight {weight:g}")


# The commands below ask the running server (what the balancer holds lives in it).


def _api(config: Path | None, path: str, body: Any = None, method: str = "GET", params: dict[str, Any] | None = None,
         url: str | None = None) -> Any:  # fmt: skip
    from ocppd.cli_verbs import _post

    return _post(_settings(config), path, body, params or {}, 30.0, url, method)


UrlOption = Annotated[str | None, typer.Option(help="The server's API (default: the running server's)")]


@sites_app.command("needs")
def needs(
    station_id: str,
    evse_id: int,
    departure: Annotated[str | None, typer.Option(help="When the EV leaves, ISO 8601 (e.g. 2026-12-01T18:00Z)")] = None,
    energy_kwh: Annotated[float | None, typer.Option(help="The energy it needs by then")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Forget the EVSE's departure and energy need")] = False,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Show or set an EV's departure time and energy need (the balancer serves it first)."""
    path = f"/api/v1/stations/{station_id}/evses/{evse_id}/charging-needs"
    if clear:
        out = _api(config, path, method="DELETE", url=url)
    elif departure is not None or energy_kwh is not None:
        if departure is None or energy_kwh is None:
            _fail("give both --departure and --energy-kwh")
        try:
            when = datetime.fromisoformat(str(departure).replace("Z", "+00:00"))
        except ValueError:
            _fail(f"--departure: not an ISO 8601 time: {departure!r}")
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        body = {"departure": when.isoformat(), "energy_wh": float(energy_kwh or 0) * 1000}
        out = _api(config, path, body, method="PUT", url=url)
    else:
        out = _api(config, path, url=url)
    console.print_json(json.dumps(out))


@sites_app.command("profiles")
def profiles(
    station_id: str,
    history: Annotated[bool, typer.Option(help="Every profile sent (the timeline), not only those installed")] = False,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """The charging profiles of a station: sent when, by whom, and what the station answered."""
    rows = _api(config, f"/api/v1/stations/{station_id}/charging-profiles", params={"history": history}, url=url)
    table = Table("sent", "evse", "id", "purpose", "level", "unit", "limit", "by", "state", "ended")
    for r in rows:
        schedule = r["profile"]["chargingSchedule"]
        schedule = schedule[0] if isinstance(schedule, list) else schedule
        first = (schedule.get("chargingSchedulePeriod") or [{}])[0].get("limit")
        table.add_row(r["sent_at"][:19], str(r["evse_id"]), str(r["profile_id"]), r["purpose"],
                      str(r["stack_level"]), r["unit"], str(first), r["source"], r["state"],
                      (r["ended_at"] or "")[:19])  # fmt: skip
    console.print(table)


@sites_app.command("composite")
def composite(
    station_id: str,
    evse: Annotated[int, typer.Option(help="EVSE (1.6: connector); 0: the station")] = 1,
    duration: Annotated[int, typer.Option(help="Seconds from now")] = 3600,
    unit: Annotated[str, typer.Option(help="A or W")] = "A",
    compare: Annotated[bool, typer.Option(help="Also ask the station (GetCompositeSchedule) and compare")] = False,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """The composite schedule the CSMS computes for an EVSE from the profiles it installed."""
    if unit not in ("A", "W"):
        _fail("--unit: A or W")
    params = {"evse_id": evse, "duration_s": duration, "unit": unit, "compare": compare}
    out = _api(config, f"/api/v1/stations/{station_id}/charging-profiles/composite", params=params, url=url)
    console.print_json(json.dumps(out))
