"""Departure-time fulfilment: how many cars leave with the energy they came for, a day on one site.

    .venv/bin/python -m bench.smart_departure [--seed 1] [--evses 10] [--limit-kw 40]

A simulation with the pure balancer (``ocppd.smart.allocate``), not end to end: one site limited in
watts, one-EVSE 32 A stations; on each EVSE cars come and go all day (stay 1-8 h, 5-40 kWh wanted,
11 or 22 kW three-phase), each drawing exactly what it is allocated (minute steps). The same day is
played three times: nobody's departure known (fair share only), every car's departure and energy
known (ISO 15118 or the operator), and half of them known. Printed as JSON: the share of cars that
left with all they wanted (among all, among the informed, among the others), energy delivered
against energy wanted, and the site's utilisation while the demand exceeded the limit.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

from ocppd.smart.balancer import Capacity, Demand, allocate

STEP_S = 60.0
DAY_S = 24 * 3600.0
VOLTAGE = 230.0


@dataclass
class Car:
    evse: str
    arrival: float
    departure: float
    wanted_wh: float
    max_a: float
    informed: bool
    got_wh: float = 0.0
    admitted: bool = False
    since: float = 0.0


def day(rng: random.Random, evses: int) -> list[Car]:
    cars = []
    for e in range(evses):
        t = rng.uniform(0, 2 * 3600)
        while t < DAY_S - 3600:
            stay = rng.uniform(3600, 8 * 3600)
            wanted = rng.uniform(5_000, 40_000)
            cars.append(Car(f"cp{e}/1", t, min(DAY_S, t + stay), wanted, rng.choice([16.0, 32.0]), False))
            t += stay + rng.expovariate(1 / 1800)
    return cars


def play(cars: list[Car], evses: int, limit_w: float, informed_share: float, rng: random.Random) -> dict[str, Any]:
    for c in cars:
        c.got_wh, c.admitted, c.since = 0.0, False, c.arrival
        c.informed = rng.random() < informed_share
    capacity = {"site": Capacity(watts=limit_w)}
    capacity |= {f"cp{e}": Capacity((32.0,) * 3) for e in range(evses)}
    used_over, compute = [], []
    t = 0.0
    while t < DAY_S:
        present = [c for c in cars if c.arrival <= t < c.departure and c.got_wh < c.wanted_wh - 1e-6]
        demands = [
            Demand(
                c.evse,
                ("site", c.evse.split("/")[0]),
                max_a=c.max_a,
                since=c.since,
                admitted=c.admitted,
                departure=c.departure if c.informed else None,
                energy_wh=c.wanted_wh - c.got_wh if c.informed else None,
            )
            for c in present
        ]
        t0 = time.perf_counter()
        grants = allocate(capacity, demands, t)
        compute.append(time.perf_counter() - t0)
        total_w = 0.0
        for c in present:
            g = grants[c.evse]
            if g.admitted != c.admitted:
                c.admitted, c.since = g.admitted, t
            delivered = min(g.amps * VOLTAGE * 3 * STEP_S / 3600, c.wanted_wh - c.got_wh)
            c.got_wh += delivered
            total_w += delivered * 3600 / STEP_S
        if sum(c.max_a * VOLTAGE * 3 for c in present) > limit_w:
            used_over.append(total_w / limit_w)
        t += STEP_S

    def full(group: list[Car]) -> float | None:
        return None if not group else round(sum(c.got_wh >= c.wanted_wh - 1 for c in group) / len(group), 3)

    informed = [c for c in cars if c.informed]
    others = [c for c in cars if not c.informed]
    return {
        "cars": len(cars),
        "informed": len(informed),
        "left_full": full(cars),
        "left_full_informed": full(informed),
        "left_full_others": full(others),
        "energy_delivered_of_wanted": round(sum(c.got_wh for c in cars) / sum(c.wanted_wh for c in cars), 3),
        "utilisation_while_demand_exceeds_limit": round(statistics.mean(used_over), 3) if used_over else None,
        "allocate_ms_median": round(statistics.median(compute) * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--evses", type=int, default=10)
    parser.add_argument("--limit-kw", type=float, default=40.0)
    args = parser.parse_args()
    cars = day(random.Random(args.seed), args.evses)
    out = {
        label: play(cars, args.evses, args.limit_kw * 1000, share, random.Random(args.seed + 1))
        for label, share in (("no_departures_known", 0.0), ("half_known", 0.5), ("all_known", 1.0))
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
