"""Site load balancing, end to end: a real ``ocppd serve`` and simulated stations that follow their profiles.

The issue's scenario: one site limited to 40 kW, six 22 kW EVSEs, six cars of 11 kW (66 kW of
demand) of which one takes only 2 kW, arriving every 5 s; one car leaves later. The stations are
ocppd's own simulator (in this process), applying the profiles they get after a charger delay and
reporting per-phase currents every 2 s. Printed as JSON; ``--plot FILE`` draws the site total
against the limit.

    .venv/bin/python -m bench.smart_site --plot docs/images/smart-site.png
    .venv/bin/python -m bench.smart_site --scale 200   # one arrival among 200 charging EVSEs

Figures (see docs/performance.md, "Site load balancing"):
- overshoot: how far the stations' total went above the limit, overall and once each change had
  been applied (outside the delay + reaction window after an arrival);
- utilisation: the mean total over the limit while demand exceeded it (after the last arrival);
- the least non-zero allocation (never below 6 A), max/min among the EVs held at a fair share;
- after the departure: how long until every remaining capped car drew its new allocation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.health import wait_healthy
from ocppd.protocol.versions import OcppVersion
from ocppd.station.model import EV
from ocppd.station.station import Station, StationConfig

LIMIT_W = 40_000.0
TAGS = [f"0A0B0C{i:02X}" for i in range(1, 7)]
SCALE_TAGS = [f"0B{i:06X}" for i in range(1000)]  # one card per car of the --scale run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def scenario(ocpp_port: int, api: httpx.AsyncClient, args: argparse.Namespace) -> dict[str, Any]:
    nodes = [{"id": "site", "kind": "site", "watts": LIMIT_W}]
    nodes += [{"id": f"CP{i}", "kind": "station", "parent": "site", "amps": 32} for i in range(1, 7)]
    (await api.put("/api/v1/limit-tree", json={"nodes": nodes})).raise_for_status()
    stations = []
    for i in range(1, 7):
        config = StationConfig(
            identity=f"CP{i}",
            url=f"ws://127.0.0.1:{ocpp_port}/ocpp",
            version=OcppVersion.V201 if i % 2 else OcppVersion.V16,
            evses=[1],
            max_power_w=22_000,
            id_tags=[TAGS[i - 1]],
            settings={
                "meter_sample_interval": 2,
                "profile_delay_s": args.delay,
                "sampled_measurands": "Energy.Active.Import.Register,Power.Active.Import,Current.Import",
            },
        )
        stations.append(Station(config))
    for st in stations:
        await st.start()
    for st in stations:
        await st.wait_booted(30)
    cars = [EV(max_power_w=11_000, need_wh=500_000, capacity_wh=1_000_000, soc_start=10) for _ in range(6)]
    cars[2] = EV(max_power_w=2_000, need_wh=500_000, capacity_wh=1_000_000, soc_start=10)  # takes only 2 kW
    t0 = time.monotonic()
    samples: list[dict[str, Any]] = []
    events: list[tuple[float, str]] = []
    views: list[tuple[float, dict[str, Any]]] = []

    async def sample() -> None:
        while True:
            for st in stations:
                st.update_meters()
            total = sum(c.power_w for st in stations for c in st.connectors)
            wanted = sum(
                min(c.ev.max_power_w, c.max_power_w)
                for st in stations
                for c in st.connectors
                if c.tx is not None and c.ev is not None
            )
            samples.append(
                {
                    "t": time.monotonic() - t0,
                    "total_w": total,
                    "demand_w": wanted,
                    "per_car_a": [round(c.current_a, 2) for st in stations for c in st.connectors],
                }
            )
            await asyncio.sleep(0.25)

    async def watch() -> None:
        while True:
            r = await api.get("/api/v1/sites/site")
            if r.status_code == 200:
                views.append((time.monotonic() - t0, r.json()))
            await asyncio.sleep(1.0)

    tasks = [asyncio.create_task(sample()), asyncio.create_task(watch())]
    for i, st in enumerate(stations):
        st.plug_in(1, cars[i])
        await st.start_transaction(1, TAGS[i])
        events.append((time.monotonic() - t0, f"arrival CP{i + 1}"))
        await asyncio.sleep(args.arrival_every)
    await asyncio.sleep(args.settle)
    departure = time.monotonic() - t0
    stations[0].unplug(1)
    events.append((departure, "departure CP1"))
    await asyncio.sleep(args.after)
    for task in tasks:
        task.cancel()
    status = (await api.get("/api/v1/smart")).json()
    for st in stations:
        await st.stop(flush_timeout=5)
    return summarize(samples, events, views, departure, status, args)


async def scale(ocpp_port: int, api: httpx.AsyncClient, args: argparse.Namespace) -> dict[str, Any]:
    """N single-EVSE 1.6 stations charging under one site; then one more car arrives: how long until
    the last profile that arrival causes has reached its station, and how many profiles it took."""
    n = args.scale
    limit_a = n * 9.0  # every minimum fits, not every maximum
    nodes = [{"id": "site", "kind": "site", "amps": limit_a}]
    nodes += [{"id": f"S{i}", "kind": "station", "parent": "site", "amps": 32} for i in range(n)]
    (await api.put("/api/v1/limit-tree", json={"nodes": nodes})).raise_for_status()
    installs: list[float] = []
    stations = []
    for i in range(n):
        config = StationConfig(
            identity=f"S{i}",
            url=f"ws://127.0.0.1:{ocpp_port}/ocpp",
            version=OcppVersion.V16,
            evses=[1],
            max_power_w=22_000,
            id_tags=[SCALE_TAGS[i]],
            settings={"meter_sample_interval": 30, "aligned_enabled": False},
        )
        st = Station(config)
        original = st.profiles.install

        def install(profile: Any, original: Any = original) -> None:
            installs.append(time.monotonic())
            original(profile)

        st.profiles.install = install  # type: ignore[method-assign]
        stations.append(st)
    for st in stations:
        await st.start()
    for st in stations:
        await st.wait_booted(60)
    for i, st in enumerate(stations[:-1]):
        st.plug_in(1, EV(max_power_w=22_000, need_wh=500_000, capacity_wh=1_000_000, soc_start=10))
        if await st.start_transaction(1, SCALE_TAGS[i]) is None:
            raise SystemExit(f"{st.identity}: the transaction did not start")

    async def quiet(seconds: float) -> None:
        while not installs or time.monotonic() - installs[-1] < seconds:
            await asyncio.sleep(0.5)

    await quiet(8.0)
    before = len(installs)
    last = stations[-1]
    last.plug_in(1, EV(max_power_w=22_000, need_wh=500_000, capacity_wh=1_000_000, soc_start=10))
    arrival = time.monotonic()
    await last.start_transaction(1, SCALE_TAGS[n - 1])
    await asyncio.sleep(max(10.0, args.settle / 6))
    caused = [t for t in installs[before:] if t >= arrival]
    status = (await api.get("/api/v1/smart")).json()
    view = (await api.get("/api/v1/sites/site")).json()
    for st in stations:
        await st.stop(flush_timeout=5)
    return {
        "evses": n,
        "site_limit_a": limit_a,
        "profiles_after_the_arrival": len(caused),
        "arrival_to_last_profile_s": round(max(caused) - arrival, 3) if caused else None,
        "allocation_compute_ms": view.get("compute_ms"),
        "profiles_sent_total": status.get("profiles_sent"),
        "charging_in_the_csms": len(view.get("allocations", [])),
        "admitted": sum(1 for a in view.get("allocations", []) if a["amps"] > 0),
    }


def summarize(
    samples: list[dict[str, Any]],
    events: list[tuple[float, str]],
    views: list[tuple[float, dict[str, Any]]],
    departure: float,
    status: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    window = args.delay + 3.0  # a change is applied once the charger's delay and one balancer run are over
    arrivals = [t for t, what in events if what.startswith("arrival")]
    settled = [s for s in samples if not any(a <= s["t"] < a + window for a in arrivals)]
    last_arrival = arrivals[-1]
    saturated = [
        s for s in samples if s["t"] > last_arrival + args.delay + 20 and s["t"] < departure and s["demand_w"] > LIMIT_W
    ]
    allocations = [a for _, v in views for a in v.get("allocations", [])]
    nonzero = [a["amps"] for a in allocations if a["amps"] > 0]
    shares = [
        [a["amps"] for a in v["allocations"] if a["reason"] == "share"]
        for t, v in views
        if last_arrival + 20 < t < departure
    ]
    ratios = [max(s) / min(s) for s in shares if len(s) >= 2 and min(s) > 0]
    # after the departure: when did each remaining capped car (not the 2 kW one) settle at its new current
    final = samples[-1]["per_car_a"]
    rise = None
    for s in samples:
        if s["t"] <= departure:
            continue
        if all(abs(s["per_car_a"][i] - final[i]) <= 0.5 for i in (1, 3, 4, 5)):
            rise = round(s["t"] - departure, 1)
            break
    return {
        "limit_w": LIMIT_W,
        "charger_delay_s": args.delay,
        "max_total_w": round(max(s["total_w"] for s in samples)),
        "max_overshoot_pct": round(100 * (max(s["total_w"] for s in samples) / LIMIT_W - 1), 2),
        "max_overshoot_once_applied_pct": round(100 * (max(s["total_w"] for s in settled) / LIMIT_W - 1), 2),
        "utilisation_while_saturated_pct": round(
            100 * sum(s["total_w"] for s in saturated) / len(saturated) / LIMIT_W, 1
        )
        if saturated
        else None,
        "least_nonzero_allocation_a": min(nonzero) if nonzero else None,
        "max_min_ratio_among_shares": round(max(ratios), 3) if ratios else None,
        "others_settled_after_departure_s": rise,
        "profiles_sent": status.get("profiles_sent"),
        "last_allocations": views[-1][1].get("allocations") if views else None,
        "series": [(round(s["t"], 2), round(s["total_w"])) for s in samples],
        "events": events,
    }


def plot(result: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [x for x, _ in result["series"]]
    w = [y / 1000 for _, y in result["series"]]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.plot(t, w, label="stations' total (kW)")
    ax.axhline(result["limit_w"] / 1000, color="red", linestyle="--", label="site limit 40 kW")
    for at, what in result["events"]:
        ax.axvline(at, color="grey", alpha=0.3)
        ax.annotate(what.split()[0][:3] + " " + what.split()[1], (at, 2), rotation=90, fontsize=7, alpha=0.7)
    ax.set_xlabel("seconds")
    ax.set_ylabel("kW")
    ax.set_ylim(0, 48)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"6 EVSEs, 66 kW demand, 40 kW site; charger delay {result['charger_delay_s']:.0f} s")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=float, default=3.0, help="charger delay before a new limit applies (s)")
    parser.add_argument("--arrival-every", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=60.0, help="after the last arrival, before the departure")
    parser.add_argument("--after", type=float, default=40.0, help="after the departure")
    parser.add_argument("--plot", help="write the site total against the limit to this PNG")
    parser.add_argument("--scale", type=int, default=0, help="instead: N one-EVSE stations and one more arrival")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ocpp, http = free_port(), free_port()
        env = {
            **os.environ,
            "OCPPD_DATA_DIR": str(Path(tmp) / "data"),
            "OCPPD_OCPP__PORT": str(ocpp),
            "OCPPD_HTTP__PORT": str(http),
            "OCPPD_OCPP__HOST": "127.0.0.1",
            "OCPPD_HTTP__HOST": "127.0.0.1",
            "OCPPD_SMART__SETTLE_S": "15",
            "OCPPD_SMART__MIN_INTERVAL_S": "5",
            "OCPPD_SMART__INTERVAL_S": "5",
        }
        tags = SCALE_TAGS[: args.scale] if args.scale else TAGS
        subprocess.run(
            [sys.executable, "-m", "ocppd.cli", "tokens", "add", *tags], env=env, check=True, capture_output=True
        )
        with open(Path(tmp) / "serve.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "ocppd.cli", "serve"], env=env, stdout=log, stderr=log)
        try:
            wait_healthy(proc, http, Path(tmp) / "serve.log")
            token = (Path(tmp) / "data" / "admin.token").read_text().strip()

            async def run() -> dict[str, Any]:
                headers = {"Authorization": f"Bearer {token}"}
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http}", headers=headers, timeout=30) as api:
                    return await (scale(ocpp, api, args) if args.scale else scenario(ocpp, api, args))

            result = asyncio.run(run())
        finally:
            proc.terminate()
            proc.wait(20)
            if os.environ.get("SMART_BENCH_LOG"):
                print((Path(tmp) / "serve.log").read_text()[-3000:], file=sys.stderr)
    if args.plot and not args.scale:
        plot(result, args.plot)
    print(json.dumps({k: v for k, v in result.items() if k not in ("series", "last_allocations")}, indent=1))


if __name__ == "__main__":
    main()
