"""A fleet of simulated stations: ramp-up, scenarios, shared metrics, one durable store.

Lean by design, since the fleet is also the benchmark load generator: metrics are plain counters
updated from the RPC session's observer hooks, latencies go into a bounded reservoir, and nothing
per message allocates beyond what the session already does.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocppd.protocol.compat import Relaxation
from ocppd.rpc.session import Session
from ocppd.station.station import STOP_FLUSH_TIMEOUT, Station, StationConfig
from ocppd.station.store import Store
from ocppd.station.template import Script

if TYPE_CHECKING:
    from ocppd.station.model import EV

log = logging.getLogger("ocppd.station.fleet")

RESERVOIR = 100_000


class Stats:
    """Fleet-wide counters; also the :class:`SessionObserver` of every station's session."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.sent = 0
        self.received = 0
        self.calls = 0
        self.errors: Counter[str] = Counter()  # by kind: CALLERROR codes, timeout, handler errors
        self.latencies: list[float] = []
        self._seen_latencies = 0
        self.by_action: Counter[str] = Counter()
        self.recent_errors: deque[str] = deque(maxlen=20)
        self.events: Counter[str] = Counter()

    # SessionObserver -------------------------------------------------------------------
    def on_frame(self, session: Session, direction: str, text: str, message_type: int | None,
                 message_id: str | None, action: str | None) -> None:  # fmt: skip
        if direction == "out":
            self.sent += 1
        else:
            self.received += 1

    def on_relaxation(self, session: Session, action: str, relaxation: Relaxation) -> None:
        self.errors["relaxation"] += 1

    def on_call_done(self, session: Session, action: str, seconds: float, outcome: str) -> None:
        self.calls += 1
        self.by_action[action] += 1
        if outcome != "ok":
            self.errors[outcome] += 1
            self.recent_errors.append(f"{session.identity} {action}: {outcome}")
            return
        # reservoir sampling keeps percentiles honest at a fixed memory cost
        self._seen_latencies += 1
        if len(self.latencies) < RESERVOIR:
            self.latencies.append(seconds)
        else:
            slot = random.randrange(self._seen_latencies)
            if slot < RESERVOIR:
                self.latencies[slot] = seconds

    def on_inbound_done(self, session: Session, action: str, outcome: str) -> None:
        self.by_action["in:" + action] += 1
        if outcome != "ok":
            self.errors["answered-" + outcome] += 1
            self.recent_errors.append(f"{session.identity} answered {action} with {outcome}")

    # -------------------------------------------------------------------------------------
    def error_count(self) -> int:
        return sum(self.errors.values())

    def percentiles(self) -> dict[str, float]:
        if not self.latencies:
            return {}
        data = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(data[min(len(data) - 1, int(p * len(data)))] * 1000, 3)

        return {"p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": round(data[-1] * 1000, 3)}


class Fleet:
    """Many stations, one event loop: ``async with Fleet(configs) as fleet: ...``."""

    def __init__(
        self,
        configs: list[StationConfig],
        *,
        store: str | Path | None = None,
        ramp_up: float = 0.0,  # stations started per second; 0 = all at once
        scenario: str | Script | None = None,  # None | "default" | a Script
        on_event: Callable[[Station, str, dict[str, Any]], None] | None = None,
        scenario_options: dict[str, Any] | None = None,
    ) -> None:
        self.stats = Stats()
        self.store = Store(store or ":memory:")
        self.ramp_up = ramp_up
        self.scenario = scenario
        self.scenario_options = scenario_options or {}
        self._cards_in_use: set[str] = set()  # id tags charging right now, fleet-wide (default scenario)
        self._on_event = on_event
        self.stations = [Station(c, store=self.store, observer=self.stats, on_event=self._event) for c in configs]
        self.started = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self.step_log: deque[str] = deque(maxlen=50)

    def _event(self, station: Station, kind: str, data: dict[str, Any]) -> None:
        self.stats.events[kind] += 1
        if kind == "error":
            self.stats.recent_errors.append(f"{station.identity} {data.get('action')}: {data.get('error')}")
        if kind == "step":
            self.step_log.append(f"{station.identity} #{data['index']} {data['step']}")
        if self._on_event is not None:
            self._on_event(station, kind, data)

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._ramp()))

    async def _ramp(self) -> None:
        delay = 1.0 / self.ramp_up if self.ramp_up > 0 else 0.0
        for st in self.stations:
            await st.start()
            self.started += 1
            if self.scenario is not None:
                self._tasks.append(asyncio.create_task(self._run_scenario(st)))
            if delay:
                await asyncio.sleep(delay)
            elif self.started % 200 == 0:
                await asyncio.sleep(0)  # let the loop breathe while thousands start

    async def _run_scenario(self, st: Station) -> None:
        await st.wait_booted()
        if isinstance(self.scenario, Script):
            if fnmatch.fnmatchcase(st.identity, self.scenario.stations):
                await run_script(st, self.scenario)
        elif self.scenario == "default":
            await asyncio.gather(*(default_session_loop(st, c.number, cards_in_use=self._cards_in_use,
                                                        **self.scenario_options)
                                   for c in st.connectors))  # fmt: skip

    async def stop(self, flush_timeout: float = STOP_FLUSH_TIMEOUT) -> None:
        """Stop every station; each first delivers its queued messages for up to ``flush_timeout`` s."""
        pending = set(self._tasks)
        while pending:  # re-cancel: see Station.stop
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.5)
        await asyncio.gather(*(st.stop(flush_timeout) for st in self.stations), return_exceptions=True)
        self.store.close()

    async def wait_booted(self, count: int | None = None, timeout: float | None = None) -> None:
        target = len(self.stations) if count is None else count

        async def poll() -> None:
            while self.booted() < target:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(poll(), timeout)

    # ------------------------------------------------------------------ live figures
    def connected(self) -> int:
        return sum(1 for st in self.stations if st.online)

    def booted(self) -> int:
        return sum(1 for st in self.stations if st.booted.is_set())

    def never_booted(self) -> dict[str, int]:
        """Stations that never booted, counted by the last reason (a refused connection, TLS, ...)."""
        reasons: Counter[str] = Counter()
        for st in self.stations:
            if not st.booted.is_set():
                reasons[
                    st.last_connect_error or ("connected, boot not answered" if st.online else "not connected")
                ] += 1
        return dict(reasons.most_common())

    def charging(self) -> int:
        return sum(1 for st in self.stations for c in st.connectors if c.tx is not None)

    def faulted(self) -> int:
        return sum(1 for st in self.stations for c in st.connectors if c.faulted)

    def summary(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.stats.started
        for st in self.stations:
            st.update_meters()
        return {
            "stations": len(self.stations),
            "connected": self.connected(),
            "booted": self.booted(),
            "never_booted": self.never_booted(),
            "elapsed_s": round(elapsed, 2),
            "sessions": sum(st.counters["sessions"] for st in self.stations),
            "energy_kwh": round(sum(c.energy_wh for st in self.stations for c in st.connectors) / 1000, 3),
            "messages": {"sent": self.stats.sent, "received": self.stats.received, "calls": self.stats.calls,
                         "per_second": round((self.stats.sent + self.stats.received) / max(elapsed, 1e-9), 1)},
            "errors": dict(self.stats.errors),
            "error_count": self.stats.error_count(),
            "queued": sum(st.queued for st in self.stations),
            "reconnects": sum(st.counters["reconnects"] for st in self.stations),
            "latency": self.stats.percentiles(),
            "by_action": dict(self.stats.by_action.most_common()),
            "cost": self.costs(),
            "signed_readings": sum(st.meters.signed for st in self.stations if st.meters is not None),
        }  # fmt: skip

    def costs(self, last: int = 100) -> dict[str, Any]:
        """What the CSMS told the drivers (2.x CostUpdated, totalCost): how many messages, and the
        latest ``last`` transactions' cost as last received."""
        entries = [(e.get("at", 0.0), st.identity, ref, e) for st in self.stations for ref, e in st.costs.items()]
        entries.sort(key=lambda x: x[0], reverse=True)
        return {
            "messages": self.cost_messages(),
            "transactions": {
                f"{identity}/{ref}": {"total": e["total"], "final": e["final"], "source": e["source"],
                                      "updates": e["updates"]}
                for _, identity, ref, e in entries[:last]
            },
        }  # fmt: skip

    def cost_messages(self) -> int:
        return sum(st.counters.get("cost_messages", 0) for st in self.stations)

    def last_cost(self) -> str | None:
        """The latest cost a station was told, as one line for the live view."""
        latest = max(
            ((e.get("at", 0.0), st.identity, ref, e) for st in self.stations for ref, e in st.costs.items()),
            key=lambda x: x[0],
            default=None,
        )
        if latest is None:
            return None
        _, identity, ref, e = latest
        return f"{identity} {ref}: {e['total']:.2f} ({'final' if e['final'] else 'running'})"


# ------------------------------------------------------------------------------ scenarios
async def default_session_loop(
    st: Station,
    number: int,
    *,
    arrival_mean_s: float = 600.0,
    session_min_s: float = 300.0,
    session_max_s: float = 3600.0,
    energy_min_kwh: float = 5.0,
    energy_max_kwh: float = 40.0,
    badge_delay_max_s: float = 5.0,
    seed: int | None = None,
    cards_in_use: set[str] | None = None,
) -> None:
    """A realistic connector: cars arrive at random (exponential gaps), plug in, badge, charge until
    they have what they came for or their time is up, and leave. The same seed gives the same fleet."""
    from ocppd.station.model import EV

    # a string seed is hashed with SHA-512, so runs repeat whatever PYTHONHASHSEED is
    rng = random.Random(f"{seed}:{st.identity}:{number}") if seed is not None else random.Random()
    # A card is one driver: it charges one car at a time. Without this, a fleet sharing a few tags
    # has the CSMS answer ConcurrentTx to most starts (as a real CSMS should).
    in_use = cards_in_use if cards_in_use is not None else set()
    await asyncio.sleep(rng.uniform(0, arrival_mean_s))  # spread the fleet's first arrivals
    while not st._stopping:
        c = st.connector(number)
        if c.faulted or not c.operative or c.tx is not None or c.reservation is not None:
            await asyncio.sleep(rng.expovariate(1 / arrival_mean_s))
            continue
        need = rng.uniform(energy_min_kwh, energy_max_kwh) * 1000
        ev = EV(max_power_w=rng.choice([7400.0, 11000.0, 22000.0]), need_wh=need, capacity_wh=need * 2,
                soc_start=rng.uniform(10, 50))  # fmt: skip
        stay = rng.uniform(session_min_s, session_max_s)
        if st.config.iso15118_share > 0 and rng.random() < st.config.iso15118_share:
            ev.iso15118, ev.departure_s = True, stay  # an ISO 15118 car knows when its driver leaves
        free = [tag for tag in st.config.id_tags if tag not in in_use]
        if not free:  # every driver of this fleet is already charging somewhere
            await asyncio.sleep(rng.expovariate(1 / arrival_mean_s))
            continue
        card = rng.choice(free)
        in_use.add(card)
        try:
            await _charge_once(st, number, rng, ev, card, stay, badge_delay_max_s)
        finally:
            in_use.discard(card)
        await asyncio.sleep(rng.expovariate(1 / arrival_mean_s))


async def _charge_once(
    st: Station,
    number: int,
    rng: random.Random,
    ev: EV,
    card: str,
    stay: float,
    badge_delay_max_s: float,
) -> None:
    """One visit: plug in, badge with ``card``, charge, stop, unplug."""
    c = st.connector(number)
    st.plug_in(number, ev)
    st.event("step", index=0, step=f"plug connector {number}")
    await asyncio.sleep(rng.uniform(min(1.0, badge_delay_max_s), badge_delay_max_s))  # fumbling for the card
    tx = await st.start_transaction(number, card)
    if tx is not None:
        st.event("step", index=1, step=f"start connector {number}")
        deadline = time.monotonic() + stay
        while time.monotonic() < deadline and c.tx is tx:
            await asyncio.sleep(min(30.0, max(0.1, deadline - time.monotonic())))
            st.update_meters()
            if c.status == "SuspendedEV" and rng.random() < 0.3:  # full: some drivers come back early
                break
        if c.tx is tx:
            st.stop_transaction(number, "Local")
            st.event("step", index=2, step=f"stop connector {number}")
    await asyncio.sleep(rng.uniform(0, 2 * badge_delay_max_s))  # walking back to the car
    st.unplug(number)
    st.event("step", index=3, step=f"unplug connector {number}")


async def run_script(st: Station, script: Script) -> None:
    """Run a scripted scenario on one station; each step is reported as an event before it runs."""
    rounds = 0
    while script.repeat == 0 or rounds < script.repeat:
        rounds += 1
        for index, step in enumerate(script.steps):
            action = step.action()
            arg = getattr(step, action)
            st.event("step", index=index, step=f"{action} {arg}", round=rounds)
            try:
                await _do_step(st, step, action, arg)
            except Exception as exc:  # a bad step is reported and the script carries on
                log.warning("%s: step %d (%s) failed: %s", st.identity, index, action, exc)
                st.event("error", action=f"step {index} {action}", error=str(exc))


async def _do_step(st: Station, step: Any, action: str, arg: Any) -> None:
    if action == "wait":
        await asyncio.sleep(arg)
    elif action == "plug":
        st.plug_in(arg)
    elif action == "unplug":
        st.unplug(arg)
    elif action == "start":
        if await st.start_transaction(arg, step.id_tag) is None:
            raise RuntimeError(f"transaction on connector {arg} not started")
    elif action == "stop":
        st.stop_transaction(arg, step.reason)
    elif action == "fault":
        st.set_fault(arg, step.error_code)
    elif action == "clear_fault":
        st.clear_fault(arg)
    elif action == "disconnect":
        if st.link is not None:
            st.link.close("scripted disconnect")
    elif action == "log":
        log.info("%s: %s", st.identity, arg)
    elif action == "wait_status":
        c = st.connector(arg)
        deadline = time.monotonic() + step.timeout
        while c.status != step.status:
            if time.monotonic() > deadline:
                raise TimeoutError(f"connector {arg} not {step.status} within {step.timeout:g} s")
            await asyncio.sleep(0.1)
