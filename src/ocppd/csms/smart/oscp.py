"""OSCP 2.0: ocppd as the Flexibility Provider of its sites (docs/smart-charging.md#oscp-20).

A Capacity Provider (the grid operator, a site EMS) registers with ocppd (tokens exchanged both
ways), agrees heartbeats in a handshake and sends capacity forecasts for its *groups*; each group is
mapped onto one node of the limit tree (a site or a sub-circuit). A forecast becomes external limits
on that node through the same domain verb the external-limit API uses (``Sites.add_external``), so
the balancer keeps the node under it and the configured limit applies again when it ends. ocppd
sends the group's measured energy (UpdateGroupMeasurements), a GroupCapacityComplianceError when the
node draws above the capacity, and heartbeats; when the Capacity Provider goes silent (no heartbeat
within the agreed interval) its groups get their fallback capacity until it is heard again.

The message shapes live in ``ocppd.protocol.oscp`` (sans-I/O); this module keeps the state (in the
store) and does the I/O (httpx out; the FastAPI router in ``ocppd.api.oscp`` calls in).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from ocppd import metrics
from ocppd.protocol import oscp as proto
from ocppd.smart.tree import CIRCUIT, SITE, TreeError, phase_amps
from ocppd.store import oscp_repo as orepo

if TYPE_CHECKING:
    from ocppd.config import OscpSettings
    from ocppd.csms.service import Csms
    from ocppd.csms.smart.balancing import Balancing
    from ocppd.csms.smart.sites import Sites

log = logging.getLogger("ocppd.oscp")

SOURCE = "oscp"  # external limits from a capacity provider's forecast (or the fallback)
SOURCE_ADJUST = "oscp-adjust"  # from a capacity optimizer's AdjustGroupCapacityForecast
TICK_S = 1.0
DRAW_SAMPLE_S = 5.0  # the measured draw of each group, kept for the dashboard's plot (Group.draw holds an
# hour of samples, in memory: it refills after a restart)
COMPLIANCE_KEPT = 20  # the last compliance errors sent, for the dashboard
ROLES = (orepo.CAPACITY_PROVIDER, orepo.CAPACITY_OPTIMIZER)


class OscpRefused(Exception):
    """An OSCP request ocppd does not take: ``status`` 400 (``field`` names the field) or 401."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class PeerError(Exception):
    """An operator request about a peer that cannot be done (unknown peer, the peer refused)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@dataclass(slots=True)
class Peer:
    id: int
    name: str
    role: str
    token_hash: str | None
    their_token: str | None
    base_url: str | None
    version: str | None
    state: str
    requires_heartbeat_s: int | None
    measurement_configuration: list[str]
    handshake_at: float | None
    last_seen_at: float | None
    offline_mode_at: float | None
    silent: bool
    next_heartbeat_at: float = 0.0

    @classmethod
    def from_row(cls, r: orepo.PeerRow) -> Peer:
        return cls(
            r.id, r.name, r.role, r.token_hash, r.their_token, r.base_url, r.version, r.state,
            r.requires_heartbeat_s, list(r.measurement_configuration or []), _ts(r.handshake_at),
            _ts(r.last_seen_at), _ts(r.offline_mode_at), r.silent,
        )  # fmt: skip

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "state": self.state,
            "base_url": self.base_url,
            "version": self.version,
            "requires_heartbeat_s": self.requires_heartbeat_s,
            "measurement_configuration": self.measurement_configuration,
            "handshake_at": proto.format_time(self.handshake_at) if self.handshake_at else None,
            "last_seen_at": proto.format_time(self.last_seen_at) if self.last_seen_at else None,
            "offline_mode_at": proto.format_time(self.offline_mode_at) if self.offline_mode_at else None,
            "silent": self.silent,
        }


@dataclass(slots=True)
class Group:
    group_id: str
    node_id: str
    peer_id: int | None = None
    fallback_amps: tuple[float, float, float] | None = None
    fallback_watts: float | None = None
    forecast: tuple[proto.ForecastedBlock, ...] = ()
    fallback_forecast: tuple[proto.ForecastedBlock, ...] = ()
    adjust: tuple[proto.ForecastedBlock, ...] = ()
    energy_wh: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    energy_since: float | None = None
    measured_at: float | None = None
    # in memory only
    integrated_at: float | None = None
    next_measurements_at: float = 0.0
    over_since: float | None = None
    complained: set[tuple[float, float]] = field(default_factory=set)
    on_fallback: bool = False
    draw: deque[tuple[float, tuple[float, float, float] | None]] = field(default_factory=lambda: deque(maxlen=720))
    next_draw_at: float = 0.0

    @classmethod
    def from_row(cls, r: orepo.GroupRow) -> Group:
        return cls(
            r.group_id,
            r.node_id,
            r.peer_id,
            phase_amps(r.fallback_amps) if r.fallback_amps else None,
            r.fallback_watts,
            proto.blocks_from_json(r.forecast or []),
            proto.blocks_from_json(r.fallback_forecast or []),
            proto.blocks_from_json(r.adjust or []),
            list(r.energy_wh or [0.0, 0.0, 0.0]),
            _ts(r.energy_since),
            _ts(r.measured_at),
        )


def _limit_view(x: proto.BlockLimit) -> dict[str, Any]:
    return {"start": x.start, "end": None if math.isinf(x.end) else x.end,
            "amps": list(x.amps) if x.amps is not None else None, "watts": x.watts}  # fmt: skip


def _key(amps: Any, watts: float | None, start: float, end: float) -> tuple[Any, ...]:
    """An external limit compared to the millisecond (it went through the store's date-times)."""
    return (tuple(round(a, 3) for a in amps) if amps else None, watts, round(start, 3), round(end, 3))


class Oscp:
    """The Flexibility Provider: registered peers, mapped groups, the heartbeat and measurement loop."""

    def __init__(self, csms: Csms, sites: Sites, balancing: Balancing, settings: OscpSettings) -> None:
        self.csms = csms
        self.store = csms.store
        self.sites = sites
        self.balancing = balancing
        self.settings = settings
        self.peers: dict[int, Peer] = {}
        self.groups: dict[str, Group] = {}
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._last_refresh = 0.0
        self._last_reload = 0.0
        self.compliance_sent: deque[dict[str, Any]] = deque(maxlen=COMPLIANCE_KEPT)  # newest last

    @property
    def base_url(self) -> str:
        """This Flexibility Provider's OSCP 2.0 base URL, as peers reach it."""
        return self.settings.public_url.rstrip("/") + "/oscp/fp/2.0"

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.settings.request_timeout_s)
        await self._load()
        now = time.time()
        for peer in self.peers.values():
            if not peer.silent and peer.last_seen_at is not None:
                # ocppd was not listening while it was down: silence counts from now
                peer.last_seen_at = max(peer.last_seen_at, now)
                await self.store.write(orepo.update_peer, peer.id, {"last_seen_at": _dt(peer.last_seen_at)})
        for g in self.settings.groups:  # the configuration file wins at start, like smart.sites_file
            try:
                await self.map_group(g.group_id, g.node, g.fallback_amps or None, g.fallback_watts or None)
            except (KeyError, TreeError, ValueError) as exc:
                log.error("oscp.groups: group %s: %s", g.group_id, exc)
        for group in self.groups.values():
            await self._apply(group)
        self._task = asyncio.create_task(self._loop())
        log.info("OSCP 2.0 Flexibility Provider at %s: %d peers, %d groups", self.base_url, len(self.peers),
                 len(self.groups))  # fmt: skip

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self._client is not None:
            await self._client.aclose()

    async def _load(self) -> None:
        rows = await self.store.read(orepo.list_peers)
        old = self.peers
        self.peers = {r.id: Peer.from_row(r) for r in rows}
        for pid, p in self.peers.items():
            if pid in old:
                p.next_heartbeat_at = old[pid].next_heartbeat_at
        groups = await self.store.read(orepo.list_groups)
        kept = self.groups
        self.groups = {}
        for r in groups:
            g = Group.from_row(r)
            before = kept.get(g.group_id)
            if before is not None:  # keep what only lives in memory
                g.integrated_at, g.next_measurements_at = before.integrated_at, before.next_measurements_at
                g.over_since, g.complained, g.on_fallback = before.over_since, before.complained, before.on_fallback
                g.draw, g.next_draw_at = before.draw, before.next_draw_at
            self.groups[g.group_id] = g

    async def refresh(self) -> None:
        """Pick up peers and group mappings the CLI changed in the store."""
        before = {gid: (g.node_id, g.fallback_amps, g.fallback_watts) for gid, g in self.groups.items()}
        removed = {gid: g.node_id for gid, g in self.groups.items()}
        await self._load()
        for gid, node in removed.items():
            if gid not in self.groups:
                await self.sites.remove_external(node_id=node, source=SOURCE)
                await self.sites.remove_external(node_id=node, source=SOURCE_ADJUST)
        for gid, g in self.groups.items():
            if before.get(gid) != (g.node_id, g.fallback_amps, g.fallback_watts):
                await self._apply(g)

    # ------------------------------------------------------------------ operator verbs
    async def create_peer(
        self, name: str, role: str = orepo.CAPACITY_PROVIDER, base_url: str | None = None, token: str | None = None
    ) -> tuple[Peer, str | None]:
        """A new peer. Without ``base_url``: a one-time registration token is issued (returned) for the
        peer to register with. With ``base_url`` and the ``token`` the peer gave: ocppd registers there."""
        if role not in ROLES:
            raise PeerError(400, f"role: one of {', '.join(ROLES)}")
        if any(p.name == name for p in self.peers.values()):
            raise PeerError(409, f"peer {name!r} exists")
        if (base_url is None) != (token is None):
            raise PeerError(400, "base_url and token: give both (register with the peer) or neither (issue a token)")
        ours = secrets.token_urlsafe(32)
        values: dict[str, Any] = {"name": name, "role": role, "token_hash": orepo.token_hash(ours)}
        if base_url is None:
            values["state"] = orepo.AWAITING_REGISTER
        else:
            if not base_url.startswith(("http://", "https://")):
                raise PeerError(400, "base_url: an http:// or https:// URL is required")
            values.update(state=orepo.REGISTERING, base_url=base_url.rstrip("/"), their_token=token)
        row = await self.store.write(orepo.add_peer, values)
        peer = self.peers[row.id] = Peer.from_row(row)
        if base_url is None:
            log.info("OSCP peer %s (%s): registration token issued; it registers at %s", name, role, self.base_url)
            return peer, ours
        # The peer may answer with its Register before this POST returns: the state is stored first.
        ok, why = await self._post(peer, proto.REGISTER, proto.register(ours, self.base_url), token=token)
        if not ok:
            await self.store.write(orepo.delete_peer, peer.id)
            self.peers.pop(peer.id, None)
            raise PeerError(502, f"the peer refused the registration: {why}")
        log.info("OSCP peer %s: registered at %s; waiting for its Register", name, base_url)
        return peer, None

    def peer_named(self, name: str) -> Peer:
        for p in self.peers.values():
            if p.name == name:
                return p
        raise PeerError(404, f"no OSCP peer {name!r}")

    async def delete_peer(self, name: str) -> None:
        peer = self.peer_named(name)
        if peer.state == orepo.REGISTERED and peer.their_token:
            await self._post(peer, proto.REGISTER, {}, method="DELETE")  # best effort: tell it
        await self.store.write(orepo.delete_peer, peer.id)
        del self.peers[peer.id]
        metrics.OSCP_PEER_SILENT.labels(peer.name).set(0)
        for g in self.groups.values():
            if g.peer_id == peer.id:
                g.peer_id = None
                await self._apply(g)
        log.info("OSCP peer %s removed", name)

    async def map_group(
        self,
        group_id: str,
        node_id: str,
        fallback_amps: float | list[float] | None = None,
        fallback_watts: float | None = None,
    ) -> Group:
        """Map a group onto a site or sub-circuit (raises KeyError for an unknown node, TreeError)."""
        if not group_id or len(group_id) > 255:
            raise ValueError("group_id: 1 to 255 characters")
        node = self.sites.tree.nodes.get(node_id)
        if node is None:
            raise KeyError(node_id)
        if node.kind not in (SITE, CIRCUIT):
            raise TreeError(node_id, f"an OSCP group maps onto a site or a sub-circuit, not a {node.kind}")
        other = next((g for g in self.groups.values() if g.node_id == node_id and g.group_id != group_id), None)
        if other is not None:
            raise TreeError(node_id, f"already the node of OSCP group {other.group_id!r}")
        amps = phase_amps(fallback_amps) if fallback_amps is not None else None
        for value in (*(amps or ()), fallback_watts):
            if value is not None and (not math.isfinite(value) or value < 0):
                raise TreeError(node_id, "a fallback capacity cannot be negative")
        group = self.groups.get(group_id)
        if group is not None and group.node_id != node_id:
            await self.sites.remove_external(node_id=group.node_id, source=SOURCE)
            await self.sites.remove_external(node_id=group.node_id, source=SOURCE_ADJUST)
        if group is None:
            group = self.groups[group_id] = Group(group_id, node_id)
        group.node_id, group.fallback_amps, group.fallback_watts = node_id, amps, fallback_watts
        await self.store.write(
            orepo.put_group,
            group_id,
            {"node_id": node_id, "fallback_amps": list(amps) if amps else None, "fallback_watts": fallback_watts},
        )
        await self._apply(group)
        log.info("OSCP group %s mapped onto %s (fallback %s A, %s W)", group_id, node_id, amps, fallback_watts)
        return group

    async def unmap_group(self, group_id: str) -> None:
        group = self.groups.pop(group_id, None)
        if group is None:
            raise KeyError(group_id)
        await self.store.write(orepo.delete_group, group_id)
        await self.sites.remove_external(node_id=group.node_id, source=SOURCE)
        await self.sites.remove_external(node_id=group.node_id, source=SOURCE_ADJUST)
        log.info("OSCP group %s unmapped from %s", group_id, group.node_id)

    async def request_adjustment(self, group_id: str, body: Any) -> dict[str, Any]:
        """Ask the group's capacity provider to adjust its forecast (AdjustGroupCapacityForecast, FP to
        CP): ``body`` is the message without ``group_id``; it is checked before it goes out."""
        group = self.groups.get(group_id)
        if group is None:
            raise PeerError(404, f"no OSCP group {group_id!r}")
        if not isinstance(body, dict):
            raise PeerError(400, "(body): a JSON object is required")
        message = {**body, "group_id": group_id}
        try:
            fc = proto.parse_forecast(message)
            if fc.type not in ("CONSUMPTION", "FALLBACK_CONSUMPTION"):
                raise proto.OscpInvalid("type", "CONSUMPTION or FALLBACK_CONSUMPTION (ocppd asks for consumption)")
            if not fc.forecasted_blocks:
                raise proto.OscpInvalid("forecasted_blocks", "at least one block is required")
        except proto.OscpInvalid as exc:
            raise PeerError(400, str(exc)) from None
        peer = self._group_peer(group)
        if peer is None or peer.state != orepo.REGISTERED:
            raise PeerError(409, f"group {group_id!r} has no registered capacity provider")
        out = {"group_id": group_id, "type": fc.type, "forecasted_blocks": [b.to_json() for b in fc.forecasted_blocks]}
        ok, why = await self._post(peer, proto.ADJUST_GROUP_CAPACITY_FORECAST, out)
        if not ok:
            raise PeerError(502, f"{peer.name} did not take the adjustment: {why}")
        return {"sent_to": peer.name, "message": out}

    def group_view(self, g: Group) -> dict[str, Any]:
        peer = self.peers.get(g.peer_id) if g.peer_id else None
        return {
            "group_id": g.group_id,
            "node": g.node_id,
            "peer": peer.name if peer else None,
            "fallback_amps": list(g.fallback_amps) if g.fallback_amps else None,
            "fallback_watts": g.fallback_watts,
            "on_fallback": g.on_fallback,
            "forecast": [b.to_json() for b in g.forecast],
            "fallback_forecast": [b.to_json() for b in g.fallback_forecast],
            "adjust": [b.to_json() for b in g.adjust],
            "energy_wh": [round(e, 3) for e in g.energy_wh],
        }

    def overview(self, now: float | None = None) -> dict[str, Any]:
        """What the dashboard's OSCP page shows: the peers (with when a quiet one counts as silent),
        the groups with their node, the capacity in force and forecast as limits on the node, the
        draw measured under it lately, and the last compliance errors sent."""
        now = time.time() if now is None else now
        tree = self.sites.tree
        peers = []
        for p in self.peers.values():
            deadline = self.silent_deadline(p)
            peers.append({**p.view(), "silent_from": proto.format_time(deadline) if deadline and not p.silent else None,
                          "groups": sorted(g.group_id for g in self._groups_of(p))})  # fmt: skip
        groups = []
        for g in sorted(self.groups.values(), key=lambda g: g.group_id):
            node = tree.nodes.get(g.node_id)
            provider = self._group_peer(g)
            active = self._active(g, now) if node is not None else None
            voltage = node.voltage if node is not None else 230.0
            groups.append({
                **self.group_view(g),
                "capacity_provider": provider.name if provider else None,
                "node_kind": node.kind if node is not None else None,
                "node_amps": list(node.amps) if node is not None and node.amps else None,
                "node_watts": node.watts if node is not None else None,
                "voltage": voltage,
                "stations": [n.id for n in tree.stations(g.node_id)] if node is not None else [],
                "in_force": _limit_view(active) if active is not None else None,
                "forecast_limits": [_limit_view(x) for x in self._limits(g.forecast, node)],
                "fallback_limits": [_limit_view(x) for x in self._limits(g.fallback_forecast, node)],
                "measured_a": list(m) if (m := self.measured(g.node_id)) is not None and node is not None else None,
                "draw": [(t, list(a) if a is not None else None) for t, a in g.draw],
            })  # fmt: skip
        return {**self.status(), "peers": peers, "groups": groups,
                "compliance_errors": list(reversed(self.compliance_sent))}  # fmt: skip

    @staticmethod
    def _limits(blocks: tuple[proto.ForecastedBlock, ...], node: Any) -> list[proto.BlockLimit]:
        return proto.block_limits(blocks, node.voltage, node.amps) if node is not None and blocks else []

    def status(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "base_url": self.base_url,
            "version": proto.VERSION,
            "peers": [p.view() for p in self.peers.values()],
            "groups": [self.group_view(g) for g in self.groups.values()],
        }

    # ------------------------------------------------------------------ inbound (the FP endpoints)
    async def authenticate(self, authorization: str | None, message: str) -> Peer:
        """The peer presenting this ``Authorization: Token ...``; OscpRefused(401) otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "token" or not token.strip():
            metrics.OSCP_MESSAGES.labels("in", message, "unauthorized").inc()
            raise OscpRefused(401, "Authorization: 'Token <token>' is required")
        digest = orepo.token_hash(token.strip())
        peer = self._by_hash(digest)
        if peer is None and time.monotonic() - self._last_reload > 1.0:
            # perhaps issued by the CLI since: look in the store (at most once a second, not per bad request)
            self._last_reload = time.monotonic()
            await self._load()
            peer = self._by_hash(digest)
        if peer is None or peer.state == orepo.UNREGISTERED:
            metrics.OSCP_MESSAGES.labels("in", message, "unauthorized").inc()
            log.warning("OSCP %s with an unknown token refused (401)", message)
            raise OscpRefused(401, "unknown or revoked token")
        return peer

    def _by_hash(self, digest: str) -> Peer | None:
        return next(
            (p for p in self.peers.values() if p.token_hash and hmac.compare_digest(p.token_hash, digest)), None
        )

    def _invalid(self, peer: Peer, message: str, exc: proto.OscpInvalid) -> OscpRefused:
        metrics.OSCP_MESSAGES.labels("in", message, "invalid").inc()
        log.warning("OSCP %s from %s refused (400): %s", message, peer.name, exc)
        return OscpRefused(400, str(exc), exc.field)

    async def _seen(self, peer: Peer, now: float, **values: Any) -> None:
        """Any authenticated message shows the peer is alive; a silent one is back."""
        peer.last_seen_at = now
        stored = {"last_seen_at": _dt(now), **values}
        back = peer.silent
        if back:
            peer.silent = False
            stored["silent"] = False
        await self.store.write(orepo.update_peer, peer.id, stored)
        if back:
            metrics.OSCP_PEER_SILENT.labels(peer.name).set(0)
            log.info("OSCP peer %s is heard again: its forecasts apply again", peer.name)
            for g in self._groups_of(peer):
                await self._apply(g)

    async def on_register(self, peer: Peer, body: Any, request_id: str, method: str = "POST") -> None:
        now = time.time()
        if method == "DELETE":
            peer.state, peer.their_token, peer.token_hash = orepo.UNREGISTERED, None, None
            await self.store.write(
                orepo.update_peer, peer.id, {"state": peer.state, "their_token": None, "token_hash": None}
            )
            metrics.OSCP_MESSAGES.labels("in", proto.REGISTER, "accepted").inc()
            log.info("OSCP peer %s unregistered itself", peer.name)
            return
        try:
            reg = proto.parse_register(body)
        except proto.OscpInvalid as exc:
            raise self._invalid(peer, proto.REGISTER, exc) from None
        chosen = reg.supported()
        if chosen is None:
            offered = ", ".join(v.version for v in reg.version_url)
            why = proto.OscpInvalid(
                "version_url", f"no common version: offered {offered}, ocppd speaks {proto.VERSION}"
            )
            raise self._invalid(peer, proto.REGISTER, why)
        answer_needed = method == "POST" and peer.state in (orepo.AWAITING_REGISTER, orepo.REGISTERED)
        values: dict[str, Any] = {"their_token": reg.token, "base_url": chosen.base_url, "version": chosen.version}
        new_token = None
        if answer_needed:
            # the peer registered with the token we issued: answer with a fresh one that replaces it
            new_token = secrets.token_urlsafe(32)
            values["token_hash"] = orepo.token_hash(new_token)
        values["state"] = orepo.REGISTERED
        peer.their_token, peer.base_url, peer.version = reg.token, chosen.base_url, chosen.version
        peer.state = orepo.REGISTERED
        if new_token:
            peer.token_hash = values["token_hash"]
        await self._seen(peer, now, **values)
        metrics.OSCP_MESSAGES.labels("in", proto.REGISTER, "accepted").inc()
        log.info("OSCP peer %s registered (%s at %s)", peer.name, chosen.version, chosen.base_url)
        if new_token:
            self._later(self._answer_register(peer, new_token, request_id))
        else:
            self._later(self._send_handshake(peer))

    async def _answer_register(self, peer: Peer, token: str, request_id: str) -> None:
        ok, why = await self._post(peer, proto.REGISTER, proto.register(token, self.base_url), correlation=request_id)
        if not ok:
            log.error("OSCP peer %s: our Register answer failed (%s); it has to register again", peer.name, why)
            return
        await self._send_handshake(peer)

    async def _send_handshake(self, peer: Peer) -> None:
        body = {"required_behaviour": proto.required_behaviour(self.settings.heartbeat_interval_s)}
        await self._post(peer, proto.HANDSHAKE, body)

    async def on_handshake(self, peer: Peer, body: Any, request_id: str) -> None:
        self._registered(peer, proto.HANDSHAKE)
        try:
            hs = proto.parse_handshake(body)
        except proto.OscpInvalid as exc:
            raise self._invalid(peer, proto.HANDSHAKE, exc) from None
        await self._behaviour(peer, hs.required_behaviour)
        metrics.OSCP_MESSAGES.labels("in", proto.HANDSHAKE, "accepted").inc()
        ack = {"required_behaviour": proto.required_behaviour(self.settings.heartbeat_interval_s)}
        self._later(self._post(peer, proto.HANDSHAKE_ACKNOWLEDGEMENT, ack, correlation=request_id))

    async def on_handshake_acknowledgement(self, peer: Peer, body: Any) -> None:
        self._registered(peer, proto.HANDSHAKE_ACKNOWLEDGEMENT)
        try:
            ack = proto.parse_handshake_acknowledgement(body)
        except proto.OscpInvalid as exc:
            raise self._invalid(peer, proto.HANDSHAKE_ACKNOWLEDGEMENT, exc) from None
        await self._behaviour(peer, ack.required_behaviour)
        metrics.OSCP_MESSAGES.labels("in", proto.HANDSHAKE_ACKNOWLEDGEMENT, "accepted").inc()

    def _registered(self, peer: Peer, message: str) -> None:
        if peer.state != orepo.REGISTERED:
            metrics.OSCP_MESSAGES.labels("in", message, "invalid").inc()
            raise OscpRefused(400, f"{message}: register first (this peer is {peer.state})", "(state)")

    async def _behaviour(self, peer: Peer, rb: proto.RequiredBehaviour | None) -> None:
        now = time.time()
        peer.handshake_at = now
        values: dict[str, Any] = {"handshake_at": _dt(now)}
        if rb is not None:
            peer.requires_heartbeat_s = rb.heartbeat_interval
            peer.measurement_configuration = list(rb.measurement_configuration)
            values.update(requires_heartbeat_s=rb.heartbeat_interval,
                          measurement_configuration=list(rb.measurement_configuration))  # fmt: skip
            peer.next_heartbeat_at = now  # start at once at the agreed pace
        await self._seen(peer, now, **values)
        log.info("OSCP handshake with %s: it wants heartbeats every %s s; ocppd wants them every %s s",
                 peer.name, peer.requires_heartbeat_s, self.settings.heartbeat_interval_s)  # fmt: skip

    async def on_heartbeat(self, peer: Peer, body: Any) -> None:
        self._registered(peer, proto.HEARTBEAT)
        try:
            hb = proto.parse_heartbeat(body)
        except proto.OscpInvalid as exc:
            raise self._invalid(peer, proto.HEARTBEAT, exc) from None
        peer.offline_mode_at = hb.offline_mode_at
        await self._seen(peer, time.time(), offline_mode_at=_dt(hb.offline_mode_at))
        metrics.OSCP_MESSAGES.labels("in", proto.HEARTBEAT, "accepted").inc()

    async def on_forecast(self, peer: Peer, body: Any, adjust: bool = False) -> Group:
        """UpdateGroupCapacityForecast (a capacity provider) or AdjustGroupCapacityForecast (a capacity
        optimizer): validated as a whole, then it replaces the group's previous one of its type."""
        message = proto.ADJUST_GROUP_CAPACITY_FORECAST if adjust else proto.UPDATE_GROUP_CAPACITY_FORECAST
        self._registered(peer, message)
        try:
            fc = proto.parse_forecast(body)
            group = self.groups.get(fc.group_id)
            if group is None:
                raise proto.OscpInvalid("group_id", f"{fc.group_id!r} is not a group of this Flexibility Provider")
            allowed = ("CONSUMPTION", "OPTIMUM") if adjust else ("CONSUMPTION", "FALLBACK_CONSUMPTION")
            if fc.type not in allowed:
                raise proto.OscpInvalid(
                    "type", f"{fc.type} is not taken here (ocppd steers consumption: {', '.join(allowed)})"
                )
            node = self.sites.tree.nodes.get(group.node_id)
            if node is None:
                raise proto.OscpInvalid("group_id", f"the group's node {group.node_id!r} is not in the limit tree")
            proto.block_limits(fc.forecasted_blocks, node.voltage, node.amps)  # refuse what cannot apply
        except proto.OscpInvalid as exc:
            raise self._invalid(peer, message, exc) from None
        if adjust:
            group.adjust = fc.forecasted_blocks
            values: dict[str, Any] = {"adjust": [b.to_json() for b in fc.forecasted_blocks]}
        elif fc.type == "FALLBACK_CONSUMPTION":
            group.fallback_forecast = fc.forecasted_blocks
            values = {"fallback_forecast": [b.to_json() for b in fc.forecasted_blocks], "peer_id": peer.id}
            group.peer_id = peer.id
        else:
            group.forecast = fc.forecasted_blocks
            group.complained.clear()
            values = {"forecast": [b.to_json() for b in fc.forecasted_blocks], "peer_id": peer.id}
            group.peer_id = peer.id
        await self.store.write(orepo.put_group, group.group_id, values)
        await self._seen(peer, time.time())
        metrics.OSCP_MESSAGES.labels("in", message, "accepted").inc()
        log.info("OSCP %s %s for group %s (node %s) from %s: %d blocks", message, fc.type, group.group_id,
                 group.node_id, peer.name, len(fc.forecasted_blocks))  # fmt: skip
        await self._apply(group)
        return group

    # ------------------------------------------------------------------ applying to the limit tree
    def _groups_of(self, peer: Peer) -> list[Group]:
        return [g for g in self.groups.values() if self._group_peer(g) is peer]

    def _group_peer(self, g: Group) -> Peer | None:
        if g.peer_id is not None:
            return self.peers.get(g.peer_id)
        providers = [
            p for p in self.peers.values() if p.role == orepo.CAPACITY_PROVIDER and p.state == orepo.REGISTERED
        ]
        return providers[0] if len(providers) == 1 else None

    def _wanted(self, g: Group, now: float) -> list[proto.BlockLimit]:
        """The capacity limits the group's node gets now: its forecast, or the fallback while silent."""
        node = self.sites.tree.nodes.get(g.node_id)
        if node is None:
            return []
        peer = self._group_peer(g)
        silent = peer is not None and peer.silent
        g.on_fallback = False
        if silent:
            limits = proto.block_limits(g.fallback_forecast, node.voltage, node.amps)
            if g.fallback_amps is not None or g.fallback_watts is not None:
                since = peer.last_seen_at or peer.handshake_at or now  # fixed while silent (no churn)
                limits.append(proto.BlockLimit(since, math.inf, g.fallback_amps, g.fallback_watts, ()))
            if limits:
                g.on_fallback = True
                return [x for x in limits if x.end > now]
        return [x for x in proto.block_limits(g.forecast, node.voltage, node.amps) if x.end > now]

    async def _apply(self, g: Group) -> None:
        """Make the node's external limits (source ``oscp``) match what the group wants now."""
        if g.node_id not in self.sites.tree.nodes:
            return
        now = time.time()
        wanted = self._wanted(g, now)
        peer = self._group_peer(g)
        if peer is not None and peer.silent and not g.on_fallback:
            log.warning("OSCP group %s: its capacity provider is silent and no fallback capacity is known; "
                        "its last forecast stays in force", g.group_id)  # fmt: skip
        adjust = [x for x in self._adjust_limits(g) if x.end > now]
        for source, limits in ((SOURCE, wanted), (SOURCE_ADJUST, adjust)):
            have = sorted(
                _key(e.amps, e.watts, e.start, e.end)
                for _, e in self.sites.externals
                if e.node == g.node_id and e.source == source and e.end > now
            )
            if have == sorted(_key(x.amps, x.watts, x.start, x.end) for x in limits):
                continue  # already in force: no churn of limits (and of the balancer) for nothing
            await self.sites.remove_external(node_id=g.node_id, source=source, notify=not limits)
            for x in limits:
                why = "fallback" if g.on_fallback and source == SOURCE else source
                await self.sites.add_external(
                    g.node_id, source, x.amps, x.watts, x.start, None if math.isinf(x.end) else x.end,
                    note=f"OSCP group {g.group_id} ({why})",
                )  # fmt: skip
        self._gauge(g, now)

    def _adjust_limits(self, g: Group) -> list[proto.BlockLimit]:
        node = self.sites.tree.nodes.get(g.node_id)
        return proto.block_limits(g.adjust, node.voltage, node.amps) if node is not None and g.adjust else []

    def _active(self, g: Group, now: float) -> proto.BlockLimit | None:
        for x in self._wanted(g, now):
            if x.start <= now < x.end:
                return x
        return None

    def _gauge(self, g: Group, now: float) -> None:
        active = self._active(g, now)
        for i, phase in enumerate(("L1", "L2", "L3")):
            value = active.amps[i] if active is not None and active.amps is not None else math.nan
            metrics.OSCP_GROUP_CAPACITY.labels(g.group_id, phase).set(value)

    # ------------------------------------------------------------------ the loop
    async def _loop(self) -> None:
        while True:
            try:
                await self.tick(time.time())
            except Exception:
                log.exception("OSCP tick failed")
            await asyncio.sleep(TICK_S)

    async def tick(self, now: float) -> None:
        if now - self._last_refresh >= 5.0:
            self._last_refresh = now
            await self.refresh()
        if self.csms.settings.smart.enabled and not self.balancing.owns:
            # another node owns the balancing (docs/architecture.md): it sees the draw and speaks for the
            # sites; this one only takes what peers send it (kept in the store for the owner)
            return
        for peer in list(self.peers.values()):
            await self._peer_tick(peer, now)
        for g in list(self.groups.values()):
            self._integrate(g, now)
            if now >= g.next_draw_at:
                g.next_draw_at = now + DRAW_SAMPLE_S
                g.draw.append((now, self.measured(g.node_id)))
            await self._compliance(g, now)
            if now >= g.next_measurements_at:
                g.next_measurements_at = now + self.settings.measurements_interval_s
                await self._send_measurements(g, now)
            self._gauge(g, now)

    def silent_deadline(self, peer: Peer) -> float | None:
        """When the peer counts as silent unless it is heard: its last sign of life plus the agreed
        heartbeat interval times ``silent_after_intervals``, or earlier if it said so (offline_mode_at)."""
        if peer.role != orepo.CAPACITY_PROVIDER or peer.state != orepo.REGISTERED or peer.handshake_at is None:
            return None
        last = max(peer.last_seen_at or 0.0, peer.handshake_at)
        deadline = last + self.settings.heartbeat_interval_s * self.settings.silent_after_intervals
        if peer.offline_mode_at is not None and peer.offline_mode_at > last:
            deadline = min(deadline, peer.offline_mode_at)
        return deadline

    async def _peer_tick(self, peer: Peer, now: float) -> None:
        if peer.state != orepo.REGISTERED:
            return
        interval = peer.requires_heartbeat_s
        if interval and peer.handshake_at and now >= peer.next_heartbeat_at:
            peer.next_heartbeat_at = now + interval
            offline_at = now + interval * self.settings.silent_after_intervals
            self._later(self._post(peer, proto.HEARTBEAT, proto.heartbeat(offline_at)))
        deadline = self.silent_deadline(peer)
        if deadline is not None and now > deadline and not peer.silent:
            peer.silent = True
            await self.store.write(orepo.update_peer, peer.id, {"silent": True})
            metrics.OSCP_PEER_SILENT.labels(peer.name).set(1)
            log.warning("OSCP peer %s is silent (no heartbeat since %s): its groups go to their fallback capacity",
                        peer.name, proto.format_time(peer.last_seen_at or peer.handshake_at or now))  # fmt: skip
            for g in self._groups_of(peer):
                await self._apply(g)

    def measured(self, node_id: str) -> tuple[float, float, float] | None:
        """What the EVs under the node draw now per grid phase, from their last meter values (None:
        no station under it reported per-phase currents)."""
        tree = self.sites.tree
        out = [0.0, 0.0, 0.0]
        known = False
        for c in self.balancing.charging.values():
            station = tree.nodes.get(c.station_id)
            if station is None or node_id not in tree.path(c.station_id):
                continue
            if c.currents and len(c.currents) == 3:
                known = True
                for own, letter in enumerate(station.rotation):
                    out["RST".index(letter)] += c.currents[own]
        return (out[0], out[1], out[2]) if known else None

    def _integrate(self, g: Group, now: float) -> None:
        node = self.sites.tree.nodes.get(g.node_id)
        if node is None:
            return
        if g.energy_since is None:
            g.energy_since = now
        last, g.integrated_at = g.integrated_at, now
        if last is None:
            return
        dt = min(now - last, 5 * TICK_S)  # a stalled loop does not invent energy
        amps = self.measured(g.node_id)
        if amps is None or dt <= 0:
            return
        for i in range(3):
            g.energy_wh[i] += amps[i] * node.voltage * dt / 3600.0

    async def _send_measurements(self, g: Group, now: float) -> None:
        peer = self._group_peer(g)
        if peer is None or peer.state != orepo.REGISTERED or peer.silent or peer.handshake_at is None:
            return
        since = g.energy_since or now
        readings = [proto.EnergyReading(g.energy_wh[i], p, now, since) for i, p in enumerate(("ONE", "TWO", "THREE"))]
        ok, _ = await self._post(peer, proto.UPDATE_GROUP_MEASUREMENTS, proto.group_measurements(g.group_id, readings))
        if ok:
            g.measured_at = now
            await self.store.write(
                orepo.put_group,
                g.group_id,
                {"energy_wh": list(g.energy_wh), "energy_since": _dt(since), "measured_at": _dt(now)},
            )

    async def _compliance(self, g: Group, now: float) -> None:
        """GroupCapacityComplianceError once per forecast span the node keeps drawing above."""
        active = self._active(g, now)
        amps = self.measured(g.node_id)
        node = self.sites.tree.nodes.get(g.node_id)
        if active is None or amps is None or node is None:
            g.over_since = None
            return
        margin = 1.0 + self.settings.compliance_margin
        over_a = active.amps is not None and any(m > a * margin for m, a in zip(amps, active.amps, strict=True))
        watts = sum(amps) * node.voltage
        over_w = active.watts is not None and watts > active.watts * margin
        if not (over_a or over_w):
            g.over_since = None
            g.complained.discard((active.start, active.end))
            return
        if g.over_since is None:
            g.over_since = now
        span = (active.start, active.end)
        if now - g.over_since < self.settings.compliance_after_s or span in g.complained:
            return
        peer = self._group_peer(g)
        if peer is None or peer.state != orepo.REGISTERED:
            return
        allowed = (
            f"{'/'.join(f'{a:.1f}' for a in active.amps)} A" if active.amps is not None else f"{active.watts:.0f} W"
        )
        text = (
            f"group {g.group_id} (node {g.node_id}) draws {'/'.join(f'{m:.1f}' for m in amps)} A ({watts:.0f} W) "
            f"against {allowed} for {now - g.over_since:.0f} s: stations there do not follow their limits"
        )
        blocks = active.blocks or tuple(
            proto.ForecastedBlock(active.amps[0] if active.amps else (active.watts or 0.0), "ALL",
                                  "A" if active.amps else "W", active.start, min(active.end, now + 3600))
        )  # fmt: skip
        g.complained.add(span)
        log.warning("OSCP compliance error sent to %s: %s", peer.name, text)
        ok, why = await self._post(
            peer, proto.GROUP_CAPACITY_COMPLIANCE_ERROR, proto.compliance_error(g.group_id, text, blocks)
        )
        sent = {"at": proto.format_time(now), "peer": peer.name, "group_id": g.group_id, "node": g.node_id}
        self.compliance_sent.append({**sent, "message": text, "delivered": ok, "error": why or None})

    # ------------------------------------------------------------------ outbound
    def _later(self, coro: Any) -> None:
        """Run after the current answer went out (the peer expects our 204 before our own request)."""

        async def after() -> None:
            await asyncio.sleep(0.05)
            await coro

        task = asyncio.get_running_loop().create_task(after())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _post(
        self,
        peer: Peer,
        message: str,
        body: dict[str, Any],
        *,
        correlation: str | None = None,
        token: str | None = None,
        method: str = "POST",
    ) -> tuple[bool, str]:
        """Send one message to the peer; (accepted, why not)."""
        token = token or peer.their_token
        if not peer.base_url or not token or self._client is None:
            return False, "the peer has no URL or token yet"
        headers = {"Authorization": f"Token {token}", "X-Request-ID": str(uuid.uuid4())}
        if correlation:
            headers["X-Correlation-ID"] = correlation
        url = f"{peer.base_url}/{message}"
        try:
            r = await self._client.request(method, url, json=body if method != "DELETE" else None, headers=headers)
        except httpx.HTTPError as exc:
            metrics.OSCP_MESSAGES.labels("out", message, "failed").inc()
            log.warning("OSCP %s to %s failed: %s", message, peer.name, exc or type(exc).__name__)
            return False, str(exc) or type(exc).__name__
        if r.status_code // 100 != 2:
            metrics.OSCP_MESSAGES.labels("out", message, "failed").inc()
            log.warning("OSCP %s to %s answered %d: %s", message, peer.name, r.status_code, r.text[:300])
            return False, f"HTTP {r.status_code}: {r.text[:300]}"
        metrics.OSCP_MESSAGES.labels("out", message, "accepted").inc()
        periodic = message in (proto.HEARTBEAT, proto.UPDATE_GROUP_MEASUREMENTS)  # every few seconds: not INFO
        log.log(logging.DEBUG if periodic else logging.INFO, "OSCP %s sent to %s", message, peer.name)
        return True, ""
