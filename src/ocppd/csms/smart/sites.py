"""Sites and the limit tree as the operator configures them: API, CLI, a file; kept in the store.

A node spec is a plain mapping (the API's JSON, the file's TOML table)::

    {"id": "depot", "kind": "site", "amps": 63, "watts": 40000, "timezone": "Europe/Berlin",
     "windows": [{"from": "17:00", "to": "21:00", "amps": 32, "days": ["mon", "tue"]}]}
    {"id": "feeder-a", "kind": "circuit", "parent": "depot", "amps": [32, 32, 25]}
    {"id": "CP1", "kind": "station", "parent": "feeder-a", "amps": 32, "rotation": "STR", "weight": 2}
    {"id": "CP1/1", "kind": "evse", "parent": "CP1", "amps": 16}

Changes are validated as a whole tree before anything is kept (``TreeError`` names the node) and
apply at once: the balancer reads :attr:`Sites.tree` on every run. External limits (EMS, grid
operator, OSCP, a station's NotifyChargingLimit) lower a node for a while and are kept too.
"""

from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from ocppd.smart.balancer import INF
from ocppd.smart.tree import DAYS, EVSE, STATION, ExternalLimit, Node, Tree, TreeError, Window, phase_amps
from ocppd.store import Store
from ocppd.store import smart_repo as sr

log = logging.getLogger("ocppd.smart")

_SPEC_KEYS = {"id", "kind", "parent", "amps", "watts", "windows", "rotation", "voltage", "timezone", "weight", "min_a"}


def evse_node_id(station_id: str, evse: int) -> str:
    return f"{station_id}/{evse}"


def _number(node: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TreeError(node, f"{name} must be a number")
    return float(value)


def _amps(node: str, value: Any) -> tuple[float, float, float] | None:
    if value is None:
        return None
    if isinstance(value, list):
        values = [_number(node, "amps", v) for v in value]
        if len(values) != 3:
            raise TreeError(node, "amps is one number or three (L1, L2, L3)")
        return phase_amps(values)
    return phase_amps(_number(node, "amps", value))


def _clock(node: str, value: Any) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise TreeError(node, f"window time {value!r} is not HH:MM") from None


def node_from_spec(spec: Mapping[str, Any]) -> Node:
    """A tree node from its spec; ``TreeError`` names the node and the field at fault."""
    node_id = spec.get("id")
    if not isinstance(node_id, str) or not node_id.strip():
        raise TreeError("(unnamed)", "every node needs an id")
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise TreeError(node_id, f"unknown field(s) {', '.join(sorted(unknown))}")
    windows = []
    for w in spec.get("windows") or []:
        if not isinstance(w, Mapping) or not {"from", "to"} <= set(w):
            raise TreeError(node_id, "a window needs from and to (HH:MM)")
        windows.append(
            Window(
                _clock(node_id, w["from"]),
                _clock(node_id, w["to"]),
                _amps(node_id, w.get("amps")),
                None if w.get("watts") is None else _number(node_id, "watts", w["watts"]),
                tuple(w.get("days") or DAYS),
            )
        )
    return Node(
        id=node_id,
        kind=str(spec.get("kind", "")),
        parent=spec.get("parent"),
        amps=_amps(node_id, spec.get("amps")),
        watts=None if spec.get("watts") is None else _number(node_id, "watts", spec["watts"]),
        windows=tuple(windows),
        rotation=str(spec.get("rotation", "RST")),
        voltage=_number(node_id, "voltage", spec.get("voltage", 230.0)),
        timezone=str(spec.get("timezone", "UTC")),
        weight=_number(node_id, "weight", spec.get("weight", 1.0)),
        min_a=None if spec.get("min_a") is None else _number(node_id, "min_a", spec["min_a"]),
    )


def clean_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if v is not None and v != []}


def build_tree(specs: Iterable[Mapping[str, Any]]) -> Tree:
    return Tree.build(node_from_spec(s) for s in specs)


def load_file(path: str | Path) -> list[dict[str, Any]]:
    """Node specs from a TOML file: ``[[node]]`` tables (see docs/smart-charging.md)."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    unknown = set(data) - {"node"}
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}; nodes are [[node]] tables")
    nodes = data.get("node", [])
    if not isinstance(nodes, list):
        raise ValueError(f"{path}: node must be an array of tables ([[node]])")
    return [clean_spec(n) for n in nodes]


class Sites:
    """The live limit tree and the external limits, backed by the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.specs: dict[str, dict[str, Any]] = {}
        self.tree = Tree()
        self.externals: list[tuple[int, ExternalLimit]] = []
        self.version = 0  # bumped on every change: the balancer and fallbacks notice
        self.listeners: list[Any] = []

    async def load(self, file: str | None = None) -> None:
        """Read the tree from the store; a configured file replaces it (the file wins at start)."""
        specs = load_file(file) if file else await self.store.read(sr.list_nodes)
        tree = build_tree(specs)
        if file:
            await self.store.write(sr.replace_nodes, specs)
            log.info("limit tree loaded from %s: %d nodes", file, len(specs))
        now = datetime.now(UTC)
        rows = await self.store.read(sr.list_externals, now)
        self.externals = [(r.id, _external(r)) for r in rows]
        self._set(specs, tree)

    async def refresh(self) -> None:
        """Pick up changes made to the store by the CLI (the API changes the live tree directly)."""
        specs = await self.store.read(sr.list_nodes)
        if {s["id"]: s for s in specs} != self.specs:
            try:
                self._set(specs, build_tree(specs))
                log.info("limit tree reloaded from the store: %d nodes", len(specs))
            except TreeError as exc:
                log.error("limit tree in the store is invalid, keeping the current one: %s", exc)
        rows = await self.store.read(sr.list_externals, datetime.now(UTC))
        if {r.id for r in rows} != {i for i, _ in self.externals}:
            self.externals = [(r.id, _external(r)) for r in rows]
            self._changed()

    def _set(self, specs: Iterable[dict[str, Any]], tree: Tree) -> None:
        self.specs = {s["id"]: s for s in specs}
        self.tree = tree
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        for listener in self.listeners:
            listener()

    async def replace(self, specs: list[dict[str, Any]]) -> Tree:
        specs = [clean_spec(s) for s in specs]
        tree = build_tree(specs)
        await self.store.write(sr.replace_nodes, specs)
        self._set(specs, tree)
        log.info("limit tree replaced: %d nodes", len(specs))
        return tree

    async def upsert(self, spec: dict[str, Any]) -> Tree:
        specs = dict(self.specs)
        specs[spec.get("id", "")] = clean_spec(spec)
        return await self.replace(list(specs.values()))

    async def delete(self, node_id: str) -> Tree:
        if node_id not in self.specs:
            raise KeyError(node_id)
        children = [s["id"] for s in self.specs.values() if s.get("parent") == node_id]
        if children:
            raise TreeError(node_id, f"still has children: {', '.join(children)}")
        return await self.replace([s for k, s in self.specs.items() if k != node_id])

    # ------------------------------------------------------------------ external limits
    def physical_cap(self, node_id: str, amps: tuple[float, float, float] | None, watts: float | None) -> bool:
        """Whether an external limit is above the node's configured limit (it is capped; say so)."""
        node = self.tree.nodes[node_id]
        above = amps is not None and node.amps is not None and any(a > b for a, b in zip(amps, node.amps, strict=True))
        return above or (watts is not None and node.watts is not None and watts > node.watts)

    async def add_external(
        self,
        node_id: str,
        source: str,
        amps: tuple[float, float, float] | None,
        watts: float | None,
        start: float | None = None,
        end: float | None = None,
        note: str | None = None,
        replace_source: bool = False,
    ) -> int:
        if node_id not in self.tree.nodes:
            raise KeyError(node_id)
        if amps is None and watts is None:
            raise TreeError(node_id, "an external limit needs amps or watts")
        if (amps is not None and any(a < 0 or not math.isfinite(a) for a in amps)) or (
            watts is not None and (watts < 0 or not math.isfinite(watts))
        ):
            raise TreeError(node_id, "an external limit cannot be negative")
        now = datetime.now(UTC).timestamp()
        start = now if start is None else start
        if end is not None and end <= start:
            raise TreeError(node_id, "the external limit ends before it starts")
        if self.physical_cap(node_id, amps, watts):
            log.warning(
                "%s: external limit from %s (%s A, %s W) is above the configured limit; capped at it",
                node_id,
                source,
                amps,
                watts,
            )
        if replace_source:
            await self.remove_external(node_id=node_id, source=source, notify=False)
        row = {
            "node_id": node_id,
            "source": source,
            "amps": list(amps) if amps else None,
            "watts": watts,
            "starts_at": datetime.fromtimestamp(start, UTC),
            "ends_at": None if end is None else datetime.fromtimestamp(end, UTC),
            "note": note,
        }
        limit_id = await self.store.write(sr.add_external, row)
        self.externals.append(
            (limit_id, ExternalLimit(node_id, source, amps, watts, start, INF if end is None else end))
        )
        log.info(
            "%s: external limit %d from %s: %s A, %s W until %s",
            node_id,
            limit_id,
            source,
            amps,
            watts,
            "further notice" if end is None else datetime.fromtimestamp(end, UTC).isoformat(),
        )
        self._changed()
        return limit_id

    async def remove_external(
        self, *, limit_id: int | None = None, node_id: str | None = None, source: str | None = None, notify: bool = True
    ) -> int:
        gone = await self.store.write(sr.delete_externals, limit_id=limit_id, node_id=node_id, source=source)
        self.externals = [
            (i, e)
            for i, e in self.externals
            if not (
                (limit_id is None or i == limit_id)
                and (node_id is None or e.node == node_id)
                and (source is None or e.source == source)
            )
        ]
        if notify:
            self._changed()
        return gone

    def upcoming_externals(self, t: float) -> list[ExternalLimit]:
        """The external limits in force at ``t`` or later (for plans over time)."""
        return [e for _, e in self.externals if e.end > t]

    def active_externals(self, t: float) -> list[ExternalLimit]:
        self.externals = [(i, e) for i, e in self.externals if e.end > t]
        return [e for _, e in self.externals if e.active(t)]

    def station_site(self, station_id: str) -> str | None:
        node = self.tree.nodes.get(station_id)
        if node is None or node.kind != STATION:
            return None
        return self.tree.site_of(station_id)

    def evse_nodes(self, station_id: str) -> list[Node]:
        return [n for n in self.tree.nodes.values() if n.kind == EVSE and n.parent == station_id]


def _external(row: sr.ExternalLimitRow) -> ExternalLimit:
    return ExternalLimit(
        row.node_id,
        row.source,
        phase_amps(row.amps) if row.amps else None,
        row.watts,
        row.starts_at.timestamp(),
        row.ends_at.timestamp() if row.ends_at else INF,
    )
