"""The balancing service: keeps every site under its limits by sending charging profiles.

It listens to the domain's events (transactions starting and ending, meter values, stations
booting and leaving, limit changes) and also runs every ``smart.interval_s`` seconds; each run
builds the demands of every charging EV on a configured site, asks the pure balancer
(``ocppd.smart.balancer``) for an allocation, applies hysteresis and the rate limit, and sends
only what changed.

Enforcement (docs/smart-charging.md):

- one TxProfile per transaction, Absolute, valid for ``lease_s`` and renewed at half time, at the
  reserved stack level ``stack_level`` (a planned EV's lasts until its departure, every period after
  the lease at most its fallback share, so that it too is within the fallbacks once the CSMS is
  gone); where a station refuses TxProfiles, an EVSE-specific TxDefaultProfile at
  ``stack_level + 1``; a station refusing both ``retries`` times is excluded: its worst case (its
  EVs at their maximum) is reserved and the operator sees it;
- a fallback TxDefaultProfile on EVSE 0 of every station at ``stack_level``: the station's share
  of the site at its lowest, split over its EVSEs, so all stations on fallback stay under every
  limit when the CSMS or the network is gone (a TxProfile falls back to it when its lease ends).

One node owns the balancing: the one holding the ``balancer`` lease in the store (``leases`` table),
which it renews before every run and gives up when it stops; a node that does not hold it tracks
what happens but sends nothing. A single ``ocppd serve`` always holds it; several processes on one
database take turns instead of fighting over the stations (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ocppd import cluster, metrics
from ocppd.csms import verbs as v
from ocppd.csms.outbound import OutboundError
from ocppd.csms.smart.profiles import profile_source
from ocppd.csms.smart.sites import Sites, evse_node_id
from ocppd.smart.balancer import (
    NOMINAL_VOLTAGE,
    RESERVED,
    Capacity,
    Demand,
    Draw,
    Grant,
    learn_draw,
    stabilise,
    usage,
)
from ocppd.smart.planner import Plan, Step, amps_at, cap_after, fit_periods, moved, plan
from ocppd.smart.schedule import TX, TX_DEFAULT
from ocppd.smart.tree import STATION, grid_phases
from ocppd.store import leases_repo, repo
from ocppd.store import smart_repo as sr

if TYPE_CHECKING:
    from ocppd.config import SmartSettings
    from ocppd.csms.service import Csms

log = logging.getLogger("ocppd.smart")

LEASE = "balancer"  # the name of the balancer's lease in the store
RATE_UNIT_16 = "ChargingScheduleAllowedChargingRateUnit"
MAX_PERIODS = [("", "ChargingScheduleMaxPeriods"), ("SmartChargingCtrlr", "PeriodsPerSchedule")]  # 1.6, 2.x
PLAN_HORIZON_S = 7 * 86400.0  # departures further away are planned as if they were this far
TX_PROFILE_ID = 900_000  # + EVSE: the balancer's profiles, one per EVSE, so each replaces the last
EVSE_DEFAULT_ID = 910_000
FALLBACK_ID = 920_000


@dataclass(slots=True)
class Charging:
    """One EV charging on a balanced station, as the balancer tracks it."""

    station_id: str
    evse: int  # 1.6 connector, 2.x EVSE
    transaction_id: str
    since: float
    admitted: bool = False
    draw: Draw = field(default_factory=Draw)
    currents: tuple[float, ...] | None = None  # last measured current per station phase (A)
    phases: int | None = None  # phases the EV draws on, once measured
    sent_a: float | None = None
    sent_at: float = 0.0
    lease_until: float = 0.0  # the sent profile's lease end: renewed before, fallback (or capped plan) after
    mode: str = TX  # tx | txdefault (the station refused TxProfiles)
    ev_max_a: float | None = None  # what the EV said it takes (ISO 15118 charging needs)
    register_wh: float | None = None  # the EVSE's energy register, last read
    need_a: float | None = None  # what it needs to be full by its departure, at the last run
    sent_plan: Plan | None = None  # the multi-period TxProfile last sent, if it was one

    @property
    def measured_a(self) -> float | None:
        return max(self.currents) if self.currents else None

    def sent_at_time(self, t: float) -> float | None:
        """What the profile last sent allows at ``t`` (per phase; None: nothing sent)."""
        if self.sent_a is None or self.sent_plan is None:
            return self.sent_a
        return amps_at(self.sent_plan.periods, t)


def rate_unit(reported: str | None) -> str:
    """A or W from a station's reported rate units (1.6 ``Current,Power``, 2.x ``A,W``); A when unknown."""
    items = {x.strip().lower() for x in (reported or "").split(",") if x.strip()}
    if items & {"current", "a"} or not items & {"power", "w"}:
        return "A"
    return "W"


@dataclass(slots=True)
class SiteView:
    """The last run for one site, for the API and the dashboard."""

    site: str
    at: float
    capacity: dict[str, Capacity]
    usage: dict[str, tuple[float, float, float, float]]
    grants: dict[str, Grant]
    measured: tuple[float, float, float]
    compute_ms: float
    sent: int
    plans: dict[str, Plan] = field(default_factory=dict)


class Balancing:
    def __init__(self, csms: Csms, sites: Sites, settings: SmartSettings) -> None:
        self.csms = csms
        self.sites = sites
        self.settings = settings
        self.charging: dict[tuple[str, int], Charging] = {}
        self.excluded: dict[str, str] = {}  # station -> why
        self.failures: dict[str, int] = {}
        self.fallback_sent: dict[str, tuple[float, int]] = {}  # station -> (per-EVSE amps, tree version)
        self.fallback_refused: set[str] = set()  # stations without a fallback: offline, their worst case counts
        self.views: dict[str, SiteView] = {}
        self.known_evses: dict[str, set[int]] = {}  # from status notifications
        self.ev_needs: dict[tuple[str, int], dict[str, Any]] = {}  # charging needs per EVSE (ISO 15118, operator)
        self.units: dict[str, str] = {}  # station -> the rate unit its profiles must be in (A or W)
        self.max_periods: dict[str, int | None] = {}  # station -> the periods a profile may have (None: unknown)
        self.single_period: set[str] = set()  # stations that refused a multi-period TxProfile
        self.sent_total = 0
        self.node_id = cluster.node_id()
        self.lease: leases_repo.LeaseRow | None = None
        self.owns = False
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._has_stations = asyncio.Event()
        self._writes: set[asyncio.Task[None]] = set()  # charging needs being kept in the store
        self._restored: dict[tuple[str, int], str | None] = {}  # needs read back at start -> their transaction
        sites.listeners.append(self._tree_changed)
        reporting = getattr(csms, "reporting", None)  # the local controller's host keeps no configuration
        if reporting is not None:
            reporting.variables_listeners.append(self._forget_unit)
        self._tree_changed()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        store = getattr(self.csms, "store", None)
        if self.owns and store is not None:
            try:  # another node may take over at once instead of waiting for the lease to expire
                await store.write(leases_repo.release_lease, LEASE, self.node_id)
            except Exception:
                log.exception("giving up the balancer lease failed")
            self.owns = False

    @property
    def lease_s(self) -> float:
        """How long the lease lasts unless renewed: a few runs, so one slow run does not lose it."""
        return max(10.0, 3 * self.settings.interval_s)

    def owner_view(self) -> dict[str, Any]:
        lease = self.lease
        return {
            "node": self.node_id,
            "owns": self.owns,
            "holder": lease.holder if lease else None,
            "expires_at": lease.expires_at.isoformat() if lease else None,
        }

    async def hold(self) -> bool:
        """Take or renew the balancer lease; True while this node owns the balancing.

        Without a store (the local controller balances its own stations) the node always owns it.
        """
        store = getattr(self.csms, "store", None)
        if store is None:
            self.owns = True
            return True
        now = datetime.now(UTC)
        if self.owns and self.lease is not None and (self.lease.expires_at - now).total_seconds() > self.lease_s / 2:
            return True  # renewed recently: runs on a burst of events do not each write to the store
        until = datetime.fromtimestamp(now.timestamp() + self.lease_s, UTC)
        try:
            lease = await store.write(leases_repo.take_lease, LEASE, self.node_id, now, until)
        except Exception:
            log.exception("renewing the balancer lease failed; not balancing until it works")
            self.owns = False
            return False
        owns = lease.holder == self.node_id
        if owns != self.owns:
            if owns:
                log.info("this node (%s) owns the balancing now", self.node_id)
            else:
                log.warning("balancing is owned by %s until %s; this node sends no profiles", lease.holder,
                            lease.expires_at.isoformat())  # fmt: skip
        self.lease, self.owns = lease, owns
        metrics.BALANCER_OWNER.set(1 if owns else 0)
        return owns

    def poke(self) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        """Follow the domain's events while some station is on a site.

        Without any, the balancer does not subscribe: publishers skip building events nobody reads
        (meter values on the hot path), so a CSMS without sites pays nothing for the balancer.
        """
        while True:
            await self._has_stations.wait()
            with self.csms.events.subscribe() as queue:
                while self._has_stations.is_set():
                    try:
                        event = await asyncio.wait_for(queue.get(), self.settings.interval_s)
                    except TimeoutError:
                        continue
                    try:
                        if self.on_event(event):
                            self.poke()
                    except Exception:
                        log.exception("balancer: event %s", event.get("type"))

    def _tree_changed(self) -> None:
        if any(n.kind == STATION for n in self.sites.tree.nodes.values()):
            self._has_stations.set()
        else:
            self._has_stations.clear()
        self.poke()

    async def _loop(self) -> None:
        await self.restore_needs()
        await self.resync()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.interval_s)
            except TimeoutError:
                await self.resync()
            self._wake.clear()
            await asyncio.sleep(self.settings.debounce_s)  # let a burst of events settle into one run
            self._wake.clear()
            if not await self.hold():
                continue  # another node balances; keep following events, send nothing
            try:
                await self.run()
            except Exception:
                log.exception("balancer run failed")

    # ------------------------------------------------------------------ inputs
    def _balanced(self, station_id: str | None) -> bool:
        return station_id is not None and self.sites.station_site(station_id) is not None

    def on_event(self, event: dict[str, Any]) -> bool:
        """Update the tracked state from one domain event; True if a run is due."""
        kind, station = event.get("type"), event.get("station_id")
        if kind in ("station.booted", "station.connected", "station.disconnected"):
            if kind == "station.booted":  # rebooted: its fallback again, and another chance if it was excluded
                self.fallback_sent.pop(station or "", None)
                self.fallback_refused.discard(station or "")
                self.units.pop(station or "", None)  # its rate unit is read again (a firmware update may change it)
                self.max_periods.pop(station or "", None)
                self.single_period.discard(station or "")
                if self.excluded.pop(station or "", None) is not None:
                    self.failures.pop(station or "", None)
                    metrics.BALANCER_EXCLUDED.set(len(self.excluded))
            return self._balanced(station)
        if kind == "status.changed" and station and int(event.get("evse_id") or 0) > 0:
            self.known_evses.setdefault(station, set()).add(int(event["evse_id"]))
        if not self._balanced(station):
            return False
        assert station is not None
        if kind == "status.changed":
            return True
        if kind == "transaction.started":
            evse = int(event.get("evse_id") or event.get("connector_id") or 0)
            tx = str(event["transaction_id"])
            c = self.charging[(station, evse)] = Charging(station, evse, tx, time.time())
            c.ev_max_a = (self.ev_needs.get((station, evse)) or {}).get("max_a")
            if (station, evse) in self.ev_needs:
                self._keep_later((station, evse))  # set before the transaction: it is this one's now
            return True
        if kind == "transaction.ended":
            tx = str(event["transaction_id"])
            for key, c in list(self.charging.items()):
                if key[0] == station and c.transaction_id == tx:
                    del self.charging[key]
                    self.ev_needs.pop(key, None)
                    asyncio.get_running_loop().create_task(self._ended(c))
            return True
        if kind == "meter.values":
            evse = int(event.get("evse_id") or event.get("connector_id") or 0)
            c = self.charging.get((station, evse))
            tx = event.get("transaction_id")
            if c is None and tx is not None:  # a 2.x TransactionEvent names its EVSE only in its first event
                c = next((x for x in self.charging.values() if (x.station_id, x.transaction_id) == (station, tx)), None)
            if c is None:
                return False
            self._energy(c, event.get("energy_wh"))
            return self._measured(c, event.get("current_a"), time.time())
        return False

    def _energy(self, c: Charging, register: Any) -> None:
        """The energy register, for what an EV with a departure still needs."""
        if isinstance(register, int | float) and math.isfinite(register) and register >= 0:
            c.register_wh = float(register)
            needs = self.ev_needs.get((c.station_id, c.evse))
            if needs is not None and needs.get("base_wh") is None:
                needs["base_wh"] = c.register_wh  # the need counts from the first reading after it was set
                self._keep_later((c.station_id, c.evse))

    async def set_needs(
        self, station_id: str, evse: int, departure: float | None, energy_wh: float | None, source: str, **extra: Any
    ) -> dict[str, Any]:
        """Record an EV's departure and energy need (ISO 15118 or the operator) until its transaction
        ends, in the store too (a restart keeps it)."""
        key = (station_id, evse)
        c = self.charging.get(key)
        needs = {**self.ev_needs.get(key, {}), **extra, "departure": departure, "energy_wh": energy_wh,
                 "source": source, "base_wh": c.register_wh if c is not None else None}  # fmt: skip
        self.ev_needs[key] = needs
        self._restored.pop(key, None)
        if c is not None:
            c.sent_a = None  # a fresh profile now, even if the allocation did not change
        self.poke()
        await self._keep(key)
        return needs

    # ------------------------------------------------------------------ charging needs in the store
    async def _keep(self, key: tuple[str, int]) -> None:
        """Write one EVSE's needs to the store (gone from memory: deleted there too)."""
        store = getattr(self.csms, "store", None)  # the local controller keeps nothing
        if store is None:
            return
        needs = self.ev_needs.get(key)
        try:
            if needs is None or (needs.get("departure") is None and needs.get("energy_wh") is None):
                await store.write(sr.delete_needs, key[0], key[1])
                return
            c = self.charging.get(key)
            departure = needs.get("departure")
            extra = {k: needs[k] for k in ("max_a", "min_a", "needs", "max_tuples") if needs.get(k) is not None}
            row = {
                "station_id": key[0],
                "evse_id": key[1],
                "departure": None if departure is None else datetime.fromtimestamp(departure, UTC),
                "energy_wh": needs.get("energy_wh"),
                "source": str(needs.get("source") or "operator"),
                "base_wh": needs.get("base_wh"),
                "transaction_id": c.transaction_id if c is not None else None,
                "extra": extra or None,
            }
            await store.write(sr.save_needs, row)
        except Exception:
            log.exception("%s EVSE %s: keeping its charging needs in the store failed", *key)

    def _keep_later(self, key: tuple[str, int]) -> None:
        """``_keep`` from synchronous event handling (the store write runs as its own task)."""
        if getattr(self.csms, "store", None) is None:
            return
        task = asyncio.get_running_loop().create_task(self._keep(key))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def restore_needs(self) -> None:
        """Read back the needs kept before a restart (those set since then win). Their transaction is
        checked on the first resync: needs of a transaction that is no longer running are dropped."""
        store = getattr(self.csms, "store", None)
        if store is None:
            return
        try:
            rows = await store.read(sr.list_needs)
        except Exception:
            log.exception("reading the kept charging needs failed")
            return
        for row in rows:
            key = (row.station_id, row.evse_id)
            if key in self.ev_needs:
                continue
            self.ev_needs[key] = {
                **(row.extra or {}),
                "departure": None if row.departure is None else row.departure.timestamp(),
                "energy_wh": row.energy_wh,
                "source": row.source,
                "base_wh": row.base_wh,
            }
            self._restored[key] = row.transaction_id
        if rows:
            log.info("charging needs of %d EVSEs restored from the store", len(self._restored))

    def remaining_wh(self, c: Charging) -> float | None:
        needs = self.ev_needs.get((c.station_id, c.evse)) or {}
        energy = needs.get("energy_wh")
        if energy is None:
            return None
        base = needs.get("base_wh")
        delivered = c.register_wh - base if c.register_wh is not None and base is not None else 0.0
        return max(0.0, float(energy) - max(0.0, delivered))

    def preview(self, station_id: str, evse: int, now: float | None = None) -> Grant | None:
        """What the EV on this EVSE would get now (a dry run of the site's allocation, nothing sent)."""
        c = self.charging.get((station_id, evse))
        site = self.sites.station_site(station_id)
        if c is None or site is None:
            return None
        now = time.time() if now is None else now
        charging = [x for x in self.charging.values() if self.sites.station_site(x.station_id) == site]
        demands = [self.demand(x, now) for x in charging]
        grants, _ = plan(self.steps(demands, now), demands, now, self.settings.rotation_s)
        return grants.get(f"{station_id}/{evse}")

    def steps(self, demands: list[Demand], now: float) -> list[Step]:
        """The limit tree's capacities from now until the last departure (one step when none is known)."""
        externals = self.sites.upcoming_externals(now)
        departures = [d.departure for d in demands if d.departure is not None and d.energy_wh is not None]
        if not departures:
            return [Step(now, self.sites.tree.capacity(now, externals))]
        horizon = min(max(departures), now + PLAN_HORIZON_S)
        return [Step(t, capacity) for t, capacity in self.sites.tree.steps(now, max(horizon, now + 1), externals)]

    def _measured(self, c: Charging, currents: Any, now: float) -> bool:
        """A meter reading: learn what the EV takes; a run is due when that changed what it may get."""
        if not currents or not isinstance(currents, list | tuple):
            return False
        values = tuple(float(a) for a in currents if isinstance(a, int | float) and math.isfinite(a) and a >= 0)
        if len(values) != len(currents):
            return False  # nonsense for balancing: treated as unknown
        c.currents = values
        phases = c.phases
        if len(values) == 3:
            c.phases = max(1, sum(1 for a in values if a > 1.0)) if max(values) > 1.0 else c.phases
        before = c.draw
        c.draw = learn_draw(
            c.draw, c.sent_a or 0.0, c.measured_a, now, min_a=self._min_a(c), settle_s=self.settings.settle_s
        )
        if c.phases != phases and self.units.get(c.station_id) == "W":
            c.sent_a = None  # a profile in W depends on the phases the EV uses: send it again
            return True
        return before.cap_a != c.draw.cap_a

    async def resync(self) -> None:
        """Make the tracked transactions match the store's running ones (events may have been missed)."""
        try:
            await self.sites.refresh()
        except Exception:
            log.exception("reading the limit tree failed")
        stations = {s.id for s in self.sites.tree.stations()}
        if not stations:
            self.charging.clear()
            return
        rows = await self.csms.store.read(repo.list_transactions, active_only=True, limit=100_000)
        running = {}
        for tx in rows:
            if tx.station_id in stations:
                evse = int(tx.evse_id or tx.connector_id or 0)
                running[(tx.station_id, evse)] = tx.transaction_uid or str(tx.id), tx.started_at.timestamp()
        for key in list(self.charging):
            if key not in running or running[key][0] != self.charging[key].transaction_id:
                del self.charging[key]
        for key, (tx_id, started) in running.items():
            if key not in self.charging:
                c = self.charging[key] = Charging(key[0], key[1], tx_id, started)
                c.ev_max_a = (self.ev_needs.get(key) or {}).get("max_a")
        for key, tx_id in list(self._restored.items()):  # kept before the restart: still that transaction?
            del self._restored[key]
            if tx_id is not None and (key not in running or running[key][0] != tx_id):
                self.ev_needs.pop(key, None)
                log.info("%s EVSE %s: the charging needs kept for transaction %s are dropped: it ended", *key, tx_id)
                await self._keep(key)
        self.poke()

    # ------------------------------------------------------------------ one run
    def _min_a(self, c: Charging) -> float:
        ev_min = (self.ev_needs.get((c.station_id, c.evse)) or {}).get("min_a")
        if ev_min:  # the EV said so (ISO 15118)
            return float(ev_min)
        tree = self.sites.tree
        for node_id in (evse_node_id(c.station_id, c.evse), c.station_id):
            node = tree.nodes.get(node_id)
            if node is not None and node.min_a is not None:
                return node.min_a
        return self.settings.min_a

    def demand(self, c: Charging, now: float) -> Demand:
        tree = self.sites.tree
        station = tree.nodes[c.station_id]
        evse_node = tree.nodes.get(evse_node_id(c.station_id, c.evse))
        path = tree.path(evse_node.id if evse_node else station.id)
        phases = grid_phases(station.rotation, c.phases or 3)
        max_a = min(c.ev_max_a or self.settings.max_a, self.settings.max_a)
        if c.draw.cap_a is not None:
            max_a = min(max_a, c.draw.cap_a)
        weight = evse_node.weight if evse_node is not None and evse_node.weight != 1.0 else station.weight
        needs = self.ev_needs.get((c.station_id, c.evse)) or {}
        departure = needs.get("departure")
        fixed = c.station_id in self.excluded or not self.csms.is_connected(c.station_id)
        if fixed:
            # a station we cannot steer: reserve its worst case (offline: what it was last told, or its
            # fallback once that lease is over)
            if c.station_id in self.excluded:
                max_a = min(c.ev_max_a or self.settings.max_a, self.settings.max_a)
            else:
                fallback = self.fallback_sent.get(c.station_id, (self.settings.max_a, 0))[0]
                if c.station_id in self.fallback_refused:
                    fallback = self.settings.max_a  # it refused its fallback: nothing holds it below its maximum
                max_a = max(c.sent_a or 0.0, fallback) if now < c.lease_until else fallback
        return Demand(
            f"{c.station_id}/{c.evse}",
            path,
            phases,
            max_a,
            min(self._min_a(c), max_a),
            weight,
            c.since,
            c.admitted,
            fixed,
            departure=departure if not fixed else None,
            energy_wh=self.remaining_wh(c) if departure is not None and not fixed else None,
            voltage=station.voltage,
        )

    async def run(self, now: float | None = None) -> dict[str, SiteView]:
        """Balance every site once; send what changed."""
        async with self._lock:
            now = time.time() if now is None else now
            await self._fallbacks()
            tree = self.sites.tree
            capacity = tree.capacity(now, self.sites.active_externals(now))
            by_site: dict[str, list[Charging]] = {}
            for c in self.charging.values():
                site = self.sites.station_site(c.station_id)
                if site is not None:
                    by_site.setdefault(site, []).append(c)
            for site in [n.id for n in tree.nodes.values() if n.kind == "site"]:
                self.views[site] = await self._run_site(site, by_site.get(site, []), capacity, now)
            for gone in set(self.views) - {n.id for n in tree.nodes.values() if n.kind == "site"}:
                del self.views[gone]
            return self.views

    async def _run_site(
        self, site: str, charging: list[Charging], capacity: dict[str, Capacity], now: float
    ) -> SiteView:
        t0 = time.perf_counter()
        demands = [self.demand(c, now) for c in charging]
        grants, plans = plan(self.steps(demands, now), demands, now, self.settings.rotation_s)
        previous = {f"{c.station_id}/{c.evse}": c.sent_at_time(now) for c in charging if c.sent_a is not None}
        recent = {f"{c.station_id}/{c.evse}" for c in charging if now - c.sent_at < self.settings.min_interval_s}
        fresh = {f"{c.station_id}/{c.evse}" for c in charging if now - c.sent_at < self.settings.hysteresis_hold_s}
        grants = stabilise(capacity, demands, grants, previous, self.settings.hysteresis_a, recent, fresh)  # type: ignore[arg-type]
        compute_ms = (time.perf_counter() - t0) * 1000
        metrics.BALANCER_RUN.observe(compute_ms / 1000)
        sends = []
        for c, d in zip(charging, demands, strict=True):
            g = grants[d.evse]
            c.need_a = g.need_a
            if g.admitted != c.admitted:
                c.admitted, c.since = g.admitted, now
            if g.reason == RESERVED:
                continue
            renew = now >= c.lease_until - self.settings.lease_s / 2
            p = plans.get(d.evse)
            sent_now = c.sent_at_time(now)
            if sent_now is None or abs(g.amps - sent_now) > 1e-6 or renew or await self._plan_moved(c, g, p, now):
                sends.append(self._enforce(c, g.amps, now, await self._schedule(c, g, p, now, self.lease_end(now))))
        if sends:
            await asyncio.gather(*sends)
        tree = self.sites.tree
        use = usage(capacity, demands, grants)
        total = use.get(site, (0.0, 0.0, 0.0, 0.0))
        limit = capacity.get(site, Capacity()).amps
        for i, phase in enumerate(("L1", "L2", "L3")):
            metrics.SITE_ALLOCATED.labels(site, phase).set(total[i])
            if not math.isinf(limit[i]):
                metrics.SITE_LIMIT.labels(site, phase).set(limit[i])
        if sends:
            total = use.get(site, (0.0, 0.0, 0.0, 0.0))
            log.info(
                "site %s: %d EVs, allocated %.1f/%.1f/%.1f A (%.0f W), %d profiles sent, %.2f ms",
                site,
                len(charging),
                total[0],
                total[1],
                total[2],
                total[3],
                len(sends),
                compute_ms,
            )
        return SiteView(
            site,
            now,
            {k: v for k, v in capacity.items() if k in tree.path(site) or tree.site_of(k) == site},
            use,
            grants,
            self.measured(site),
            compute_ms,
            len(sends),
            plans,
        )

    # ------------------------------------------------------------------ output
    # ------------------------------------------------------------------ rate unit (A or W)
    async def unit(self, station_id: str) -> str:
        """The rate unit the station takes profiles in: A unless it reports only W (1.6
        ChargingScheduleAllowedChargingRateUnit, 2.x SmartChargingCtrlr.RateUnit). Read from what the
        CSMS last read of its configuration; asked once per boot when nothing is known."""
        known = self.units.get(station_id)
        if known is not None:
            return known
        raw = None
        store = getattr(self.csms, "store", None)  # the local controller asks the station directly
        if store is not None:
            names = [("", RATE_UNIT_16), ("SmartChargingCtrlr", "RateUnit")]
            values = await store.read(repo.variable_values, station_id, names)
            raw = next((x for x in values.values() if x), None)
        if raw is None and self.csms.is_connected(station_id):
            v16 = self._version_label(station_id).startswith("1.")
            ref = v.VariableRef("", RATE_UNIT_16) if v16 else v.VariableRef("SmartChargingCtrlr", "RateUnit")
            try:
                sent = await self.csms.send(station_id, v.GetVariables((ref,)), timeout=5)
                raw = next((x.value for x in sent.result.values if x.status == "Accepted"), None)
            except OutboundError as exc:
                log.info("%s: reading its charging rate unit failed (%s); profiles in A", station_id, exc)
        unit = rate_unit(raw)
        self.units[station_id] = unit
        if unit == "W":
            log.info("%s takes charging profiles in W only: the balancer converts (%s)", station_id, raw)
        return unit

    def _version_label(self, station_id: str) -> str:
        session = getattr(self.csms, "sessions", {}).get(station_id)
        if session is not None:
            return str(session.version.label)
        relay = getattr(self.csms, "relays", {}).get(station_id)  # the local controller's host
        return str(relay.version.label) if relay is not None else ""

    def _forget_unit(self, station_id: str) -> None:
        self.units.pop(station_id, None)

    def _voltage(self, station_id: str) -> float:
        node = self.sites.tree.nodes.get(station_id)
        return node.voltage if node is not None else NOMINAL_VOLTAGE

    async def periods_allowed(self, station_id: str) -> int | None:
        """How many periods a profile may have on this station (1.6 ChargingScheduleMaxPeriods, 2.x
        SmartChargingCtrlr.PeriodsPerSchedule), from what the CSMS last read of its configuration;
        None when not known (a station that then refuses a long plan gets one period from then on)."""
        if station_id in self.max_periods:
            return self.max_periods[station_id]
        most = None
        store = getattr(self.csms, "store", None)
        if store is not None:
            values = await store.read(repo.variable_values, station_id, MAX_PERIODS)
            known = [int(x) for x in values.values() if x and str(x).strip().isdigit()]
            most = min(known) if known else None
        self.max_periods[station_id] = most
        return most

    def lease_end(self, now: float) -> float:
        """Where the lease of a profile sent at ``now`` ends (its start is ``now`` to the second)."""
        return math.floor(now) + int(self.settings.lease_s)

    async def _fallback_cap_a(self, c: Charging) -> float:
        """The most a planned EV's TxProfile allows after its lease, per phase: its EVSE's fallback share
        (``_fallbacks``), so the site holds with the CSMS gone. In W the fallback counts one phase, so
        the cap is that many watts over the EV's phases (``_enforce`` multiplies back). 0 while unknown."""
        per_evse = self.fallback_sent.get(c.station_id, (0.0, 0))[0]
        return per_evse / (c.phases or 3) if await self.unit(c.station_id) == "W" else per_evse

    async def _schedule(self, c: Charging, g: Grant, p: Plan | None, now: float, lease_end: float) -> Plan | None:
        """The periods to send for a planned EV, the first one now's allocation, those from ``lease_end``
        on capped at the EVSE's fallback share; None: one period."""
        if p is None or len(p.periods) < 2 or c.mode != TX or c.station_id in self.single_period:
            return None
        periods = ((now, g.amps), *((t, a) for t, a in p.periods if t > now + 1))
        if lease_end < p.end:  # renewed while the CSMS is alive; the fallback's share once it is not
            periods = cap_after(periods, lease_end, await self._fallback_cap_a(c))
        ev_most = (self.ev_needs.get((c.station_id, c.evse)) or {}).get("max_tuples")
        limits = [x for x in (await self.periods_allowed(c.station_id), ev_most) if isinstance(x, int) and x > 0]
        periods = fit_periods(periods, min(limits) if limits else None)
        return replace(p, periods=periods) if len(periods) > 1 else None

    async def _plan_moved(self, c: Charging, g: Grant, p: Plan | None, now: float) -> bool:
        """Whether a plan differs materially from the one sent: by ``hysteresis_a`` or more at some
        later instant (now's current is held by the hysteresis as always), not within
        ``min_interval_s`` of the last send. Compared as it would be sent with the sent profile's lease
        end, so the capped stretch between that and a later one is no change (the renewal lifts it)."""
        if now - c.sent_at < self.settings.min_interval_s:
            return False
        schedule = await self._schedule(c, g, p, now, c.lease_until)
        if schedule is None and c.sent_plan is None:
            return False
        if schedule is None or c.sent_plan is None:
            return True
        return moved(c.sent_plan.periods, schedule.periods, now, self.settings.hysteresis_a)

    async def _enforce(self, c: Charging, amps: float, now: float, schedule: Plan | None = None) -> None:
        if not self.csms.is_connected(c.station_id):
            return
        start = datetime.fromtimestamp(math.floor(now), UTC)
        lease = int(self.settings.lease_s)
        unit = await self.unit(c.station_id)
        voltage, phases = self._voltage(c.station_id), c.phases or 3

        def limit(a: float) -> float:
            # W: the allocation per phase times the phases the EV uses (from its meter values or its ISO
            # 15118 needs; three until known, as the allocation assumes). Sent again when they change.
            return round(a, 1) if unit == "A" else round(a * voltage * phases)

        attempts: list[tuple[str, Plan | None]] = []
        if c.mode == TX:
            attempts += [(TX, None)] if schedule is None else [(TX, schedule), (TX, None)]
        attempts.append((TX_DEFAULT, None))
        for mode, planned in attempts:
            offsets = [v.SchedulePeriod(0, limit(amps))]
            for t, a in planned.periods[1:] if planned is not None else ():
                offset = int(t - start.timestamp())
                if offset > offsets[-1].start_s:
                    offsets.append(v.SchedulePeriod(offset, limit(a)))
            # a plan lasts until its departure (capped after the lease: _schedule), an allocation for the
            # lease; either is renewed at half the lease
            duration = lease if planned is None else max(lease, math.ceil(planned.end - start.timestamp()))
            profile = v.ChargingProfile(
                id=(TX_PROFILE_ID if mode == TX else EVSE_DEFAULT_ID) + c.evse,
                periods=tuple(offsets),
                stack_level=self.settings.stack_level + (0 if mode == TX else 1),
                purpose="tx" if mode == TX else "tx_default",
                kind="Absolute",
                unit=unit,  # type: ignore[arg-type]
                start_at=start,
                duration_s=duration,
                transaction_id=c.transaction_id if mode == TX else None,
            )
            if await self._send(c.station_id, v.SetChargingProfile(profile, c.evse), "balancer"):
                if schedule is not None and planned is None and mode == TX:
                    self.single_period.add(c.station_id)
                    log.info("%s refused a TxProfile of %d periods: one period from now on", c.station_id,
                             len(schedule.periods))  # fmt: skip
                c.mode = mode
                c.sent_a, c.sent_at, c.lease_until = amps, now, start.timestamp() + lease
                c.sent_plan = planned
                self.failures.pop(c.station_id, None)
                return
        failures = self.failures[c.station_id] = self.failures.get(c.station_id, 0) + 1
        c.sent_a, c.sent_at = None, now
        if failures >= self.settings.retries and c.station_id not in self.excluded:
            self.excluded[c.station_id] = "refuses charging profiles"
            log.warning(
                "%s excluded from balancing: it refused %d profiles; its worst case is reserved",
                c.station_id,
                failures,
            )
            self.csms.events.publish("smart.excluded", c.station_id, reason=self.excluded[c.station_id])
            metrics.BALANCER_EXCLUDED.set(len(self.excluded))
            self.poke()

    async def _send(self, station_id: str, verb: v.SetChargingProfile, source: str) -> bool:
        """Send one profile; True when the station accepted it (the store records it either way)."""
        if not self.csms.is_connected(station_id):
            return False
        token = profile_source.set(source)
        try:
            sent = await self.csms.send(station_id, verb)
        except OutboundError as exc:  # offline, timeout, CALLERROR, not expressible: recorded by the observer
            log.info("%s: SetChargingProfile %s failed: %s", station_id, verb.profile.id, exc)
            return False
        finally:
            profile_source.reset(token)
        self.sent_total += 1
        kind = "fallback" if source == "fallback" else "tx" if verb.profile.purpose == "tx" else "evse_default"
        metrics.BALANCER_PROFILES.labels(kind, sent.result.status).inc()
        return sent.result.accepted

    async def _ended(self, c: Charging) -> None:
        await self._keep((c.station_id, c.evse))  # its needs went with it
        await self.csms.smart.profiles.transaction_ended(c.station_id, c.transaction_id)
        if c.mode == TX_DEFAULT and self.csms.is_connected(c.station_id):
            try:
                await self.csms.send(c.station_id, v.ClearChargingProfile(profile_id=EVSE_DEFAULT_ID + c.evse))
            except OutboundError as exc:
                log.info("%s: clearing the balancer's TxDefault on EVSE %s failed: %s", c.station_id, c.evse, exc)

    def evse_count(self, station_id: str) -> int:
        return max(1, len(self.sites.evse_nodes(station_id)), len(self.known_evses.get(station_id, ())))

    async def _fallbacks(self) -> None:
        """Send each connected station its fallback when it is new, rebooted or the tree changed."""
        tree = self.sites.tree
        stations = [n for n in tree.nodes.values() if n.kind == STATION]
        if not stations:
            return
        station_max = {s.id: min(s.amps) if s.amps else self.settings.max_a * self.evse_count(s.id) for s in stations}
        shares = tree.fallback(station_max, self.sites.active_externals(time.time()), time.time())
        sends = []
        for s in stations:
            per_evse = math.floor(shares.get(s.id, 0.0) / self.evse_count(s.id) * 10) / 10
            if per_evse < self._min_for(s.id):
                per_evse = 0.0  # below the minimum an EV would not charge anyway: say so plainly
            done = self.fallback_sent.get(s.id)
            if self.csms.is_connected(s.id) and (done is None or done[0] != per_evse):
                sends.append(self._send_fallback(s.id, per_evse))
        if sends:
            await asyncio.gather(*sends)

    def _min_for(self, station_id: str) -> float:
        node = self.sites.tree.nodes.get(station_id)
        return node.min_a if node is not None and node.min_a is not None else self.settings.min_a

    async def _send_fallback(self, station_id: str, per_evse: float) -> None:
        unit = await self.unit(station_id)
        # W: counted on one phase (the phases of a future car are unknown), which is safe on any phase
        limit = per_evse if unit == "A" else round(per_evse * self._voltage(station_id))
        profile = v.ChargingProfile(
            id=FALLBACK_ID,
            periods=(v.SchedulePeriod(0, limit),),
            stack_level=self.settings.stack_level,
            purpose="tx_default",
            kind="Absolute",
            unit=unit,  # type: ignore[arg-type]
            start_at=datetime.fromtimestamp(math.floor(time.time()) - 60, UTC),
        )
        if await self._send(station_id, v.SetChargingProfile(profile, 0), "fallback"):
            self.fallback_sent[station_id] = (per_evse, self.sites.version)
            self.fallback_refused.discard(station_id)
        else:
            # not sent again on every run: when its share changes, or after it reboots
            self.fallback_sent[station_id] = (per_evse, self.sites.version)
            self.fallback_refused.add(station_id)
            log.warning("%s refused its fallback profile", station_id)

    # ------------------------------------------------------------------ read side
    def measured(self, site: str) -> tuple[float, float, float]:
        """What the site's charging EVs draw now, per grid phase, from their last meter values."""
        tree = self.sites.tree
        out = [0.0, 0.0, 0.0]
        for c in self.charging.values():
            if c.currents and len(c.currents) == 3 and self.sites.station_site(c.station_id) == site:
                for own, letter in enumerate(tree.nodes[c.station_id].rotation):
                    out["RST".index(letter)] += c.currents[own]
        return (out[0], out[1], out[2])

    def _needs_view(self, c: Charging | None, g: Grant, p: Plan | None = None) -> dict[str, Any]:
        needs = self.ev_needs.get((c.station_id, c.evse)) if c is not None else None
        if not needs or needs.get("departure") is None:
            return {}
        return {
            "departure": datetime.fromtimestamp(needs["departure"], UTC).isoformat(),
            "energy_wh": needs.get("energy_wh"),
            "remaining_wh": self.remaining_wh(c) if c is not None else None,
            "need_a": None if g.need_a is None or math.isinf(g.need_a) else round(g.need_a, 1),
            "planned_wh": None if g.planned_wh is None else round(g.planned_wh),
            "on_time": g.on_time,
            "needs_source": needs.get("source"),
            "plan": plan_view(p),
        }

    def view(self, site: str) -> dict[str, Any] | None:
        v = self.views.get(site)
        if v is None:
            return None
        cap = v.capacity.get(site, Capacity())
        allocations = []
        for key, g in sorted(v.grants.items()):
            station, _, evse = key.rpartition("/")
            c = self.charging.get((station, int(evse)))
            allocations.append(
                {
                    "station_id": station,
                    "evse_id": int(evse),
                    "amps": g.amps,
                    "reason": g.reason,
                    "measured_a": list(c.currents) if c and c.currents else None,
                    "learned_cap_a": c.draw.cap_a if c else None,
                    "mode": c.mode if c else None,
                    "transaction_id": c.transaction_id if c else None,
                    "unit": self.units.get(station),
                    **self._needs_view(c, g, v.plans.get(key)),
                }
            )
        total = v.usage.get(site, (0.0, 0.0, 0.0, 0.0))
        measured = self.measured(site)
        return {
            "site": site,
            "at": v.at,
            "limit": {
                "amps": [None if math.isinf(a) else a for a in cap.amps],
                "watts": None if math.isinf(cap.watts) else cap.watts,
            },
            "allocated": {"amps": list(total[:3]), "watts": total[3]},
            "measured": {"amps": list(measured), "watts": sum(measured) * cap.voltage},
            "allocations": allocations,
            "excluded": {s: why for s, why in self.excluded.items() if self.sites.station_site(s) == site},
            "compute_ms": v.compute_ms,
            "profiles_sent": v.sent,
        }


def plan_view(p: Plan | None) -> list[dict[str, Any]] | None:
    """A plan for the API and the dashboard: every period's start (UTC) and current per phase."""
    if p is None:
        return None
    return [{"from": datetime.fromtimestamp(t, UTC).isoformat(), "amps": round(a, 1)} for t, a in p.periods] + [
        {"from": datetime.fromtimestamp(p.end, UTC).isoformat(), "amps": None}
    ]
