"""The limit tree, pure: sites hold sub-circuits, which hold stations, which hold EVSEs.

Every node may have a limit in amperes per phase and/or in watts, constant or by time of use (a
weekly pattern in the site's time zone); an external limit (EMS, grid operator, OSCP, a station's
NotifyChargingLimit) can lower a node for a while, never raise it above what is configured. A
station knows its phase rotation (OCPP's ``RST`` notation: which grid phase its L1, L2, L3 are wired
to), so a single-phase EV is counted on the right phase of the site.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ocppd.smart.balancer import INF, NOMINAL_VOLTAGE, Capacity

SITE, CIRCUIT, STATION, EVSE = "site", "circuit", "station", "evse"
KINDS = (SITE, CIRCUIT, STATION, EVSE)
_PARENT_KINDS = {SITE: (), CIRCUIT: (SITE, CIRCUIT), STATION: (SITE, CIRCUIT), EVSE: (STATION,)}
ROTATIONS = ("RST", "RTS", "SRT", "STR", "TRS", "TSR")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TreeError(ValueError):
    """A limit tree that cannot be valid; ``node`` names the node at fault."""

    def __init__(self, node: str, message: str) -> None:
        super().__init__(f"{node}: {message}")
        self.node = node
        self.message = message


def phase_amps(value: float | Sequence[float] | None) -> tuple[float, float, float] | None:
    """A per-phase limit from one number (every phase) or three."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return (float(value),) * 3
    values = tuple(float(v) for v in value)
    if len(values) != 3:
        raise ValueError("a per-phase limit has three values (L1, L2, L3)")
    return values  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Window:
    """A time-of-use limit: from ``start`` to ``end`` (site local time) on ``days``."""

    start: time
    end: time  # exclusive; end <= start spans midnight
    amps: tuple[float, float, float] | None = None
    watts: float | None = None
    days: tuple[str, ...] = DAYS

    def covers(self, local: datetime) -> bool:
        day = DAYS[local.weekday()]
        now = local.time()
        if self.start < self.end:
            return day in self.days and self.start <= now < self.end
        # over midnight: the part after midnight belongs to the day the window started
        if now >= self.start:
            return day in self.days
        yesterday = DAYS[(local.weekday() - 1) % 7]
        return now < self.end and yesterday in self.days


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: str
    parent: str | None = None
    amps: tuple[float, float, float] | None = None  # per phase (grid phases for site/circuit, own for a station)
    watts: float | None = None
    windows: tuple[Window, ...] = ()  # time of use: the first window covering an instant replaces the constant limit
    rotation: str = "RST"  # stations: the grid phases its L1, L2, L3 are wired to
    voltage: float = NOMINAL_VOLTAGE
    timezone: str = "UTC"  # sites: for time-of-use windows
    weight: float = 1.0  # stations, EVSEs: share weight (priority) of the EVs charging there
    min_a: float | None = None  # stations, EVSEs: the least current an EV is given (else the default)


@dataclass(frozen=True, slots=True)
class ExternalLimit:
    """A limit set from outside at run time; it lowers the node between ``start`` and ``end``."""

    node: str
    source: str  # api | ems | oscp | station
    amps: tuple[float, float, float] | None = None
    watts: float | None = None
    start: float = 0.0
    end: float = INF

    def active(self, t: float) -> bool:
        return self.start <= t < self.end


def grid_phases(rotation: str, ev_phases: int) -> tuple[int, ...]:
    """The site phases an EV using the station's first ``ev_phases`` phases loads."""
    return tuple("RST".index(letter) for letter in rotation[: max(1, min(3, ev_phases))])


@dataclass(slots=True)
class Tree:
    nodes: dict[str, Node] = field(default_factory=dict)

    @classmethod
    def build(cls, nodes: Iterable[Node]) -> Tree:
        """A validated tree; raises :class:`TreeError` naming the first bad node."""
        tree = cls()
        for node in nodes:
            if node.id in tree.nodes:
                other = tree.nodes[node.id]
                if node.kind == STATION and other.kind == STATION:
                    raise TreeError(node.id, f"station is on two circuits ({other.parent} and {node.parent})")
                raise TreeError(node.id, "node id used twice")
            tree.nodes[node.id] = node
        tree.validate()
        return tree

    def validate(self) -> None:
        for node in self.nodes.values():
            _check_node(node)
            if node.parent is None:
                if node.kind != SITE:
                    raise TreeError(node.id, f"a {node.kind} needs a parent")
                continue
            parent = self.nodes.get(node.parent)
            if parent is None:
                raise TreeError(node.id, f"parent {node.parent!r} does not exist")
            if parent.kind not in _PARENT_KINDS[node.kind]:
                raise TreeError(node.id, f"a {node.kind} cannot be under a {parent.kind}")
        for node in self.nodes.values():
            self.path(node.id)  # raises on a cycle
            if node.kind == CIRCUIT:
                self._not_above_parent(node)

    def _not_above_parent(self, node: Node) -> None:
        """A sub-circuit cannot carry more than the circuit it hangs from."""
        for ancestor in self.path(node.id)[:-1][::-1]:
            up = self.nodes[ancestor]
            if (
                node.amps is not None
                and up.amps is not None
                and any(a > b + 1e-9 for a, b in zip(node.amps, up.amps, strict=True))
            ):
                raise TreeError(node.id, f"limit {list(node.amps)} A is above its parent {up.id}'s {list(up.amps)} A")
            if node.watts is not None and up.watts is not None and node.watts > up.watts + 1e-9:
                raise TreeError(node.id, f"limit {node.watts} W is above its parent {up.id}'s {up.watts} W")

    def path(self, node_id: str) -> tuple[str, ...]:
        """The ids from the site down to ``node_id``."""
        out: list[str] = []
        seen: set[str] = set()
        current: str | None = node_id
        while current is not None:
            if current in seen:
                raise TreeError(node_id, "the tree has a cycle")
            seen.add(current)
            out.append(current)
            node = self.nodes.get(current)
            current = node.parent if node is not None else None
        return tuple(reversed(out))

    def site_of(self, node_id: str) -> str:
        return self.path(node_id)[0]

    def children(self, node_id: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.parent == node_id]

    def stations(self, under: str | None = None) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == STATION and (under is None or under in self.path(n.id))]

    def capacity(self, t: float, externals: Sequence[ExternalLimit] = ()) -> dict[str, Capacity]:
        """What every node may carry at ``t`` (configured or time-of-use, lowered by active externals).

        Capacities are in grid phases: a station's own per-phase limit is mapped through its rotation.
        """
        out: dict[str, Capacity] = {}
        lowered: dict[str, list[ExternalLimit]] = {}
        for ext in externals:
            if ext.active(t) and ext.node in self.nodes:
                lowered.setdefault(ext.node, []).append(ext)
        for node in self.nodes.values():
            amps, watts = self.configured(node, t)
            for ext in lowered.get(node.id, ()):
                if ext.amps is not None:
                    amps = tuple(min(a, b) for a, b in zip(amps, ext.amps, strict=True))  # type: ignore[assignment]
                if ext.watts is not None:
                    watts = min(watts, ext.watts)
            if amps == (INF, INF, INF) and watts == INF:
                continue
            out[node.id] = Capacity(self._to_grid(node, amps), watts, node.voltage)
        return out

    def steps(
        self, start: float, end: float, externals: Sequence[ExternalLimit] = ()
    ) -> list[tuple[float, dict[str, Capacity]]]:
        """The capacities from ``start`` to ``end``: (from when, what every node may carry), one entry
        per change (a time-of-use window beginning or ending, an external limit starting or ending)."""
        edges = {start}
        for ext in externals:
            edges.update(t for t in (ext.start, ext.end) if start < t < end)
        sites = {n.id: ZoneInfo(n.timezone) for n in self.nodes.values() if n.kind == SITE}
        for node in self.nodes.values():
            if not node.windows:
                continue
            zone = sites.get(self.site_of(node.id), ZoneInfo("UTC"))
            day = datetime.fromtimestamp(start, zone).date() - timedelta(days=1)
            last = datetime.fromtimestamp(end, zone).date()
            while day <= last:
                for w in node.windows:
                    for clock in (w.start, w.end):
                        t = datetime.combine(day, clock, zone).timestamp()
                        if start < t < end:
                            edges.add(t)
                day += timedelta(days=1)
        out: list[tuple[float, dict[str, Capacity]]] = []
        for t in sorted(edges):
            capacity = self.capacity(t, externals)
            if not out or out[-1][1] != capacity:
                out.append((t, capacity))
        return out

    def configured(self, node: Node, t: float) -> tuple[tuple[float, float, float], float]:
        """The node's own limit at ``t``: a covering time-of-use window, else the constant one."""
        amps, watts = node.amps, node.watts
        if node.windows:
            local = datetime.fromtimestamp(t, ZoneInfo(self.nodes[self.site_of(node.id)].timezone))
            for window in node.windows:
                if window.covers(local):
                    amps, watts = window.amps, window.watts
                    break
        return (amps or (INF, INF, INF)), (INF if watts is None else watts)

    def _to_grid(self, node: Node, amps: tuple[float, float, float]) -> tuple[float, float, float]:
        if node.kind not in (STATION, EVSE):
            return amps
        station = node if node.kind == STATION else self.nodes[node.parent or ""]
        grid = [INF, INF, INF]
        for own, letter in enumerate(station.rotation):
            grid["RST".index(letter)] = amps[own]
        return (grid[0], grid[1], grid[2])

    def lowest(self, node: Node) -> tuple[tuple[float, float, float], float]:
        """The lowest limit the node is ever configured to (over all its time-of-use windows)."""
        amps = node.amps or (INF, INF, INF)
        watts = INF if node.watts is None else node.watts
        for w in node.windows:
            amps = tuple(min(a, b) for a, b in zip(amps, w.amps or (INF, INF, INF), strict=True))  # type: ignore[assignment]
            watts = min(watts, INF if w.watts is None else w.watts)
        return amps, watts

    def fallback(self, station_max_a: Mapping[str, float], externals: Sequence[ExternalLimit] = (),
                 t: float = 0.0) -> dict[str, float]:  # fmt: skip
        """A current per phase for every station such that all stations at once stay under every limit.

        What each station may draw when the CSMS is gone: each node's lowest capacity (time of use
        and active external limits included) is split among its children in proportion to their
        maximum current; the same number on all three phases keeps any rotation safe.
        """
        now = self.capacity(t, externals)
        shares: dict[str, float] = {}

        def own(node: Node) -> float:
            amps, watts = self.lowest(node)
            cap = min(min(amps), watts / (node.voltage * 3))
            if node.id in now:
                c = now[node.id]
                cap = min(cap, min(c.amps), c.watts / (c.voltage * 3))
            return cap

        def wanted(node: Node) -> float:
            if node.kind == STATION:
                return min(own(node), station_max_a.get(node.id, 32.0))
            return min(own(node), sum(wanted(c) for c in self.children(node.id) if c.kind != EVSE))

        def split(node: Node, available: float) -> None:
            available = min(available, own(node))
            if node.kind == STATION:
                shares[node.id] = max(0.0, math.floor(min(available, wanted(node)) * 10 + 1e-6) / 10)
                return
            kids = [c for c in self.children(node.id) if c.kind != EVSE]
            total = sum(wanted(c) for c in kids)
            for c in kids:
                split(c, available * wanted(c) / total if total > 0 else 0.0)

        for site in (n for n in self.nodes.values() if n.kind == SITE):
            split(site, INF)
        return shares


def _check_node(node: Node) -> None:
    if node.kind not in KINDS:
        raise TreeError(node.id, f"kind must be one of {', '.join(KINDS)}")
    if not node.id:
        raise TreeError("(empty)", "node id is empty")
    limits: list[tuple[tuple[float, float, float] | None, float | None]] = [(node.amps, node.watts)]
    limits += [(w.amps, w.watts) for w in node.windows]
    for amps, watts in limits:
        if amps is not None and any(not math.isfinite(a) or a <= 0 for a in amps):
            raise TreeError(node.id, "an ampere limit must be a positive number")
        if watts is not None and (not math.isfinite(watts) or watts <= 0):
            raise TreeError(node.id, "a power limit must be a positive number")
    for w in node.windows:
        if w.amps is None and w.watts is None:
            raise TreeError(node.id, "a time-of-use window needs a limit")
        if any(day not in DAYS for day in w.days):
            raise TreeError(node.id, f"window days must be among {', '.join(DAYS)}")
    if node.rotation not in ROTATIONS:
        raise TreeError(node.id, f"rotation must be one of {', '.join(ROTATIONS)}")
    if not (math.isfinite(node.weight) and node.weight > 0):
        raise TreeError(node.id, "weight must be a positive number")
    if node.min_a is not None and not (0 < node.min_a <= 80):
        raise TreeError(node.id, "min_a must be between 0 and 80 A")
    if not (100 <= node.voltage <= 1000):
        raise TreeError(node.id, "voltage must be between 100 and 1000 V")
    if node.kind == SITE:
        try:
            ZoneInfo(node.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise TreeError(node.id, f"unknown time zone {node.timezone!r}") from e
