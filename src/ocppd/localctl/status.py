"""What the local controller's status surface shows (``ocppd.localctl.http`` serves it as JSON and
as a page): its stations and their upstream connections, the group limit in force and where it comes
from, what the balancer decided for each station, and the group's draw against its limit lately.

Everything here reads the controller's own state; nothing is stored (the history is in memory, one
sample per balancing interval, and refills after a restart).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ocppd.localctl.relay import CLOSED, CONNECTING, OFFLINE, UP
from ocppd.smart.balancer import NOMINAL_VOLTAGE
from ocppd.smart.tree import ExternalLimit

if TYPE_CHECKING:
    from ocppd.localctl.controller import LocalController

HISTORY_POINTS = 720  # an hour at the default 5 s balancing interval
UPSTREAM_STATES = {CONNECTING: "connecting", UP: "connected", OFFLINE: "reconnecting", CLOSED: "down"}
CONFIGURED = "configured"  # the group limit of the configuration (or of the limit tree file)
OPERATOR = "operator"  # set through the status surface since the controller started


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


@dataclass(slots=True, frozen=True)
class Sample:
    at: float
    measured_a: tuple[float, float, float]
    allocated_a: tuple[float, float, float] | None
    limit_a: float | None  # the lowest phase limit in force (A), None: no limit in amps
    limit_w: float | None


class History:
    """The group's draw, allocation and limit over the recent past (a ring of samples)."""

    def __init__(self, size: int = HISTORY_POINTS) -> None:
        self.samples: deque[Sample] = deque(maxlen=size)

    def add(self, at: float, view: dict[str, Any] | None, measured: tuple[float, float, float]) -> None:
        limit = (view or {}).get("limit") or {}
        amps = [a for a in limit.get("amps") or () if a is not None]
        allocated = (view or {}).get("allocated")
        self.samples.append(
            Sample(
                at,
                measured,
                tuple(allocated["amps"]) if allocated else None,  # type: ignore[arg-type]
                min(amps) if amps else None,
                limit.get("watts"),
            )
        )


def limit_sources(
    spec: dict[str, Any] | None,
    externals: list[ExternalLimit],
    limit: dict[str, Any] | None,
    set_by: str,
    voltage: float = NOMINAL_VOLTAGE,
) -> dict[str, Any]:
    """The group limit in force and what sets it: the configured limit and
    every external limit active on the group's node; the tightest is ``binding``. Amps and watts are
    compared as the power they allow on three phases at ``voltage`` (only to name the source: the
    balancer keeps the group under every one of them)."""

    def power(a: list[float] | None, w: float | None) -> float:
        return min(min(a) * 3 * voltage if a else math.inf, math.inf if w is None else w)

    rows = []
    own_a = (spec or {}).get("amps")
    own_a = [float(own_a)] * 3 if isinstance(own_a, int | float) else own_a
    own_w = (spec or {}).get("watts")
    if own_a or own_w:
        rows.append({"source": set_by, "amps": own_a, "watts": own_w, "until": None, "binding": False})
    for e in externals:
        a = list(e.amps) if e.amps else None
        rows.append({"source": e.source, "amps": a, "watts": e.watts, "until": iso(_finite(e.end)), "binding": False})
    # the first of the tightest: on a tie the configured limit is named (an equal external one changes nothing)
    winner = min(rows, key=lambda r: power(r["amps"], r["watts"]), default=None)
    if winner is not None:
        winner["binding"] = True
    return {
        "amps": [None if a is None else round(a, 2) for a in (limit or {}).get("amps") or []] or None,
        "watts": (limit or {}).get("watts"),
        "source": winner["source"] if winner else "none",
        "sources": rows,
    }


def controller_status(c: LocalController, now: float | None = None) -> dict[str, Any]:
    """The whole status as JSON-ready data (``GET /api/status`` and the page)."""
    now = time.time() if now is None else now
    lc, site = c.lc, c.lc.site
    balancing, sites = c.balancing, c.sites
    view = balancing.view(site) if balancing is not None else None
    allocations: dict[str, list[dict[str, Any]]] = {}
    for a in (view or {}).get("allocations", []):
        charging = balancing.charging.get((a["station_id"], a["evse_id"])) if balancing is not None else None
        allocations.setdefault(a["station_id"], []).append({
            "evse_id": a["evse_id"], "amps": a["amps"], "reason": a["reason"], "mode": a["mode"], "unit": a["unit"],
            "transaction_id": a["transaction_id"], "measured_a": a["measured_a"],
            "sent_a": charging.sent_a if charging else None,
            "lease_until": iso(charging.lease_until) if charging and charging.lease_until else None,
        })  # fmt: skip
    stations = []
    for identity, relay in sorted(c.relays.items()):
        fallback = balancing.fallback_sent.get(identity) if balancing is not None else None
        stations.append({
            "identity": identity,
            "subprotocol": relay.version.value,
            "remote": relay.station.remote,
            "path": relay.station.path,
            "connected_since": iso(relay.connected_at),
            "upstream": {"state": UPSTREAM_STATES[relay.state], "since": iso(relay.state_since), "url": relay.url,
                         "last_error": relay.last_error or None},
            "frames": {"up": relay.frames_up, "down": relay.frames_down, "unforwarded": relay.frames_unforwarded},
            "allocations": allocations.get(identity, []),
            "fallback": {"amps_per_evse": fallback[0] if fallback else None,
                         "refused": balancing is not None and identity in balancing.fallback_refused},
            "excluded": balancing.excluded.get(identity) if balancing is not None else None,
        })  # fmt: skip
    externals = [e for e in sites.active_externals(now) if e.node == site] if sites is not None else []
    spec = sites.specs.get(site) if sites is not None else None
    node = sites.tree.nodes.get(site) if sites is not None else None
    voltage = node.voltage if node is not None else NOMINAL_VOLTAGE
    # the limit now (the tree and its external limits, as the balancer's next run takes them)
    cap = sites.tree.capacity(now, externals).get(site) if sites is not None else None
    in_force = None if cap is None else {"amps": [_finite(a) for a in cap.amps], "watts": _finite(cap.watts)}
    cut_off = [s["identity"] for s in stations if s["upstream"]["state"] != "connected"]
    identity = c.identity
    return {
        "controller": {
            "site": site,
            "listening": f"{'wss' if lc.tls_cert else 'ws'}://{lc.host}:{c.server.port}",
            "upstream_url": lc.upstream_url,
            "started_at": iso(c.started_at),
            "identity": None
            if identity is None
            else {
                "identity": identity.identity,
                "subprotocol": identity.version.value,
                "state": "connected" if identity.up_since else "reconnecting",
                "since": iso(identity.up_since or identity.down_since),
                "last_error": identity.last_error or None,
            },
        },
        "group_limit": limit_sources(spec, externals, in_force, c.limit_set_by, voltage),
        "measured": (view or {}).get("measured"),
        "allocated": (view or {}).get("allocated"),
        "balanced_at": iso((view or {}).get("at")),
        "stations": stations,
        "fallback": {
            "active": bool(cut_off),
            "stations": cut_off,  # balanced by the controller alone; what they send reaches no CSMS
            "refused": sorted(balancing.fallback_refused) if balancing is not None else [],
        },
    }
