"""``ocppd oscp ...``: OSCP 2.0 groups and peers from the command line (docs/smart-charging.md#oscp-20).

Like the other admin commands they work on the database directly; a running server picks the
changes up within 5 s. Registering *with* a capacity provider needs the running server (the API):
it talks HTTP with the peer.
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any

import typer
from rich.table import Table

from ocppd.clicommon import ConfigOption, console, fail, settings_for, with_store
from ocppd.store import oscp_repo as orepo
from ocppd.store import smart_repo as sr

oscp_app = typer.Typer(help="OSCP 2.0: capacity providers and the groups mapped onto the limit tree.",
                       no_args_is_help=True)  # fmt: skip
groups_app = typer.Typer(help="OSCP groups: which limit-tree node each one is.", no_args_is_help=True)
peers_app = typer.Typer(help="OSCP peers (capacity providers, capacity optimizers).", no_args_is_help=True)
oscp_app.add_typer(groups_app, name="groups")
oscp_app.add_typer(peers_app, name="peers")


def register(app: typer.Typer) -> None:
    app.add_typer(oscp_app, name="oscp")


def _state(conn: Any) -> dict[str, Any]:
    return {"peers": orepo.list_peers(conn), "groups": orepo.list_groups(conn), "nodes": sr.list_nodes(conn)}


@oscp_app.command("show")
def show(config: ConfigOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Peers and groups as stored."""
    state = with_store(settings_for(config), _state)
    peers = [
        {"name": p.name, "role": p.role, "state": p.state, "base_url": p.base_url, "silent": p.silent,
         "last_seen_at": p.last_seen_at.isoformat() if p.last_seen_at else None}
        for p in state["peers"]
    ]  # fmt: skip
    groups = [{"group_id": g.group_id, "node": g.node_id, "fallback_amps": g.fallback_amps,
               "fallback_watts": g.fallback_watts, "forecast_blocks": len(g.forecast or [])}
              for g in state["groups"]]  # fmt: skip
    if as_json:
        console.print_json(json.dumps({"peers": peers, "groups": groups}))
        return
    table = Table("peer", "role", "state", "base URL", "silent", "last seen")
    for p in peers:
        table.add_row(p["name"], p["role"], p["state"], p["base_url"] or "", str(p["silent"]), p["last_seen_at"] or "")
    console.print(table)
    table = Table("group", "node", "fallback A", "fallback W", "forecast blocks")
    for g in groups:
        table.add_row(g["group_id"], g["node"], str(g["fallback_amps"] or ""), str(g["fallback_watts"] or ""),
                      str(g["forecast_blocks"]))  # fmt: skip
    console.print(table)


def _set_group(conn: Any, group_id: str, node: str, amps: float | None, watts: float | None) -> str | None:
    nodes = {s["id"]: s for s in sr.list_nodes(conn)}
    spec = nodes.get(node)
    if spec is None:
        return f"--node: no node {node!r} in the limit tree"
    if spec.get("kind") not in ("site", "circuit"):
        return f"--node: an OSCP group maps onto a site or a sub-circuit, not a {spec.get('kind')}"
    for g in orepo.list_groups(conn):
        if g.node_id == node and g.group_id != group_id:
            return f"--node: {node} is already the node of OSCP group {g.group_id!r}"
    orepo.put_group(conn, group_id, {"node_id": node, "fallback_amps": None if amps is None else [amps] * 3,
                                     "fallback_watts": watts})  # fmt: skip
    return None


@groups_app.command("set")
def set_group(
    group_id: str,
    node: Annotated[str, typer.Option("--node", help="A site or sub-circuit of the limit tree")],
    fallback_amps: Annotated[
        float | None, typer.Option("--fallback-amps", min=0, help="Per phase, when silent")
    ] = None,
    fallback_watts: Annotated[float | None, typer.Option("--fallback-watts", min=0)] = None,
    config: ConfigOption = None,
) -> None:
    """Map GROUP_ID onto a node, with its fallback capacity while the capacity provider is silent."""
    if not 0 < len(group_id) <= 255:
        raise fail("GROUP_ID: 1 to 255 characters")
    problem = with_store(settings_for(config), _set_group, group_id, node, fallback_amps, fallback_watts, write=True)
    if problem:
        raise fail(problem)
    console.print(f"OSCP group {group_id} -> {node}")


@groups_app.command("remove")
def remove_group(group_id: str, config: ConfigOption = None) -> None:
    """Unmap a group (its OSCP limits go at the next refresh of a running server)."""
    if not with_store(settings_for(config), orepo.delete_group, group_id, write=True):
        raise fail(f"no OSCP group {group_id!r}")
    console.print(f"OSCP group {group_id} removed")


def _add_peer(conn: Any, name: str, role: str, token: str) -> str | None:
    if any(p.name == name for p in orepo.list_peers(conn)):
        return f"NAME: peer {name!r} exists"
    orepo.add_peer(conn, {"name": name, "role": role, "token_hash": orepo.token_hash(token),
                          "state": orepo.AWAITING_REGISTER})  # fmt: skip
    return None


@peers_app.command("add")
def add_peer(
    name: str,
    role: Annotated[str, typer.Option("--role", help="capacity_provider or capacity_optimizer")] = "capacity_provider",
    config: ConfigOption = None,
) -> None:
    """Issue a one-time registration token for a peer; it registers at {oscp.public_url}/oscp/fp/2.0."""
    if role not in (orepo.CAPACITY_PROVIDER, orepo.CAPACITY_OPTIMIZER):
        raise fail("--role: capacity_provider or capacity_optimizer")
    settings = settings_for(config)
    token = secrets.token_urlsafe(32)
    problem = with_store(settings, _add_peer, name, role, token, write=True, create=True)
    if problem:
        raise fail(problem)
    console.print(f"registration token for {name} (shown once): {token}", highlight=False, soft_wrap=True)
    console.print(f"it registers at: {settings.oscp.public_url.rstrip('/')}/oscp/fp/2.0", highlight=False)
