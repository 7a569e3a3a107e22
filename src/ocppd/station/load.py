"""Load mode: N stations send a chosen message mix as fast as one-call-in-flight allows.

Payloads are built once per station and action (timestamps refreshed once a second) so the load
generator measures the CSMS, not itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from typing import Any

from ocppd.protocol.errors import OcppError
from ocppd.rpc.session import CallTimeout, Payload, SessionClosed
from ocppd.station.fleet import Fleet
from ocppd.station.model import id_token_type
from ocppd.station.station import Station, StationConfig

LOAD_ACTIONS = ("Heartbeat", "StatusNotification", "MeterValues", "Authorize", "DataTransfer")
DEFAULT_MIX = "Heartbeat=1,StatusNotification=1,MeterValues=3,Authorize=1"


def parse_mix(text: str) -> dict[str, int]:
    """``"Heartbeat=1,MeterValues=3"`` -> weights; a bare name weighs 1."""
    mix: dict[str, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, weight = part.partition("=")
        if name not in LOAD_ACTIONS:
            raise ValueError(f"--mix: unknown action {name!r}; choose from {', '.join(LOAD_ACTIONS)}")
        try:
            mix[name] = int(weight) if weight else 1
        except ValueError:
            raise ValueError(f"--mix: weight of {name} must be an integer, got {weight!r}") from None
        if mix[name] < 0:
            raise ValueError(f"--mix: weight of {name} must not be negative")
    if not mix or sum(mix.values()) == 0:
        raise ValueError("--mix: no action with a positive weight")
    return mix


def _payload(st: Station, action: str, now_iso: str) -> Payload:
    c = st.connectors[0]
    v16 = st.family == "1.6"
    if action == "Heartbeat":
        return {}
    if action == "StatusNotification":
        if v16:
            return {"connectorId": c.number, "errorCode": "NoError", "status": c.status, "timestamp": now_iso}
        return {"timestamp": now_iso, "connectorStatus": "Available", "evseId": c.evse_id,
                "connectorId": c.connector_id}  # fmt: skip
    if action == "MeterValues":
        value: Any = str(round(c.energy_wh, 1)) if v16 else round(c.energy_wh, 1)
        sv = {"value": value, "context": "Sample.Clock", "measurand": "Energy.Active.Import.Register"}
        if v16:
            sv["unit"] = "Wh"
            return {"connectorId": c.number, "meterValue": [{"timestamp": now_iso, "sampledValue": [sv]}]}
        sv["unitOfMeasure"] = {"unit": "Wh"}
        return {"evseId": c.evse_id, "meterValue": [{"timestamp": now_iso, "sampledValue": [sv]}]}
    if action == "Authorize":
        tag = st.config.id_tags[0]
        return {"idTag": tag} if v16 else {"idToken": {"idToken": tag, "type": id_token_type(tag)}}
    return {"vendorId": st.config.vendor, "messageId": "Load"}


async def _pump(st: Station, actions: list[str], stop_at: float, budget: list[int]) -> None:
    await st.wait_booted()
    cycle = itertools.cycle(actions)
    second = -1
    cache: dict[str, Payload] = {}
    while time.monotonic() < stop_at and budget[0] != 0:
        session = st.session
        if session is None or not st.online:
            await asyncio.sleep(0.05)
            continue
        now = int(time.time())
        if now != second:
            second = now
            cache.clear()
        action = next(cycle)
        payload = cache.get(action)
        if payload is None:
            payload = cache[action] = _payload(st, action, st.now_iso())
        budget[0] -= 1
        with contextlib.suppress(OcppError, CallTimeout, SessionClosed):  # counted by the observer
            await session.call(action, payload)


async def run_load(
    configs: list[StationConfig],
    *,
    mix: dict[str, int],
    duration: float = 30.0,
    messages: int | None = None,
    ramp_up: float = 0.0,
    connect_timeout: float = 120.0,
) -> dict[str, Any]:
    """Connect every station, then pump; return throughput and latency figures."""
    for c in configs:  # only the mix on the wire: no heartbeats or meter values of their own
        c.settings.update({"heartbeat_interval": 86400, "aligned_interval": 0, "sampled_enabled": False})
    actions = [a for a, w in mix.items() for _ in range(w)]
    async with Fleet(configs, ramp_up=ramp_up) as fleet:
        with contextlib.suppress(TimeoutError):
            await fleet.wait_booted(timeout=connect_timeout)
        booted = fleet.booted()
        base_calls = fleet.stats.calls
        base_errors = fleet.stats.error_count()
        fleet.stats.latencies.clear()
        budget = [messages if messages is not None else -1]
        started = time.monotonic()
        stop_at = started + duration if messages is None else float("inf")
        await asyncio.gather(*(_pump(st, random.sample(actions, len(actions)), stop_at, budget)
                               for st in fleet.stations if st.booted.is_set()))  # fmt: skip
        elapsed = time.monotonic() - started
        calls = fleet.stats.calls - base_calls
        return {
            "mode": "load",
            "stations": len(configs),
            "booted": booted,
            "mix": mix,
            "duration_s": round(elapsed, 3),
            "messages": calls,
            "throughput_msgs_per_s": round(calls / max(elapsed, 1e-9), 1),
            "latency": fleet.stats.percentiles(),
            "errors": fleet.stats.error_count() - base_errors,
            "error_kinds": dict(fleet.stats.errors),
        }
