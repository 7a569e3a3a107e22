"""The balancer at scale, as a pure function: 500 EVSEs on one site with sub-circuits.

    .venv/bin/python -m bench.smart_alloc

Prints the CPU time to compute one allocation (median and p90 of repeated runs, with the hysteresis
pass) and, for one arrival and for one departure in a settled site, how many EVSEs' allocations
change (a profile each): with the hysteresis (what the service sends) and without it.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from dataclasses import replace

from ocppd.smart.balancer import Capacity, Demand, allocate, stabilise

T0 = 1_700_000_000.0


def site(n_evses: int, seed: int = 1) -> tuple[dict[str, Capacity], list[Demand]]:
    rng = random.Random(seed)
    capacity = {"site": Capacity((4000.0,) * 3)}  # every minimum fits, not every maximum
    demands = []
    stations = n_evses // 2
    for s in range(stations):
        feeder = f"f{s % 10}"
        capacity.setdefault(feeder, Capacity((450.0,) * 3))
        capacity[f"s{s}"] = Capacity((32.0,) * 3)
        for e in range(2):
            phases = (s % 3,) if rng.random() < 0.15 else (0, 1, 2)  # some single-phase cars, rotated
            demands.append(
                Demand(
                    f"s{s}/{e}",
                    ("site", feeder, f"s{s}"),
                    phases,
                    max_a=rng.choice([16.0, 16.0, 32.0, 10.0]),
                    weight=rng.choice([1.0, 1.0, 1.0, 2.0]),
                    since=T0 - rng.uniform(0, 3600),
                    admitted=True,
                )
            )
    return capacity, demands


def main() -> None:
    capacity, demands = site(500)
    times = []
    for _ in range(50):
        t = time.process_time()
        grants = allocate(capacity, demands, T0)
        stabilise(capacity, demands, grants, {k: g.amps for k, g in grants.items()})
        times.append((time.process_time() - t) * 1000)
    settled = {k: g.amps for k, g in allocate(capacity, demands, T0).items()}
    # one more car arrives on a free EVSE of station 0's feeder
    arrival = Demand("new/1", ("site", "f0", "s0"), (0, 1, 2), max_a=16.0, since=T0)
    after = [*demands, arrival]
    raw = allocate(capacity, after, T0 + 5)
    held = stabilise(capacity, after, raw, settled, 1.0, (), {d.evse for d in demands})
    changed_raw = sum(1 for d in demands if abs(raw[d.evse].amps - settled[d.evse]) > 1e-6)
    changed_held = sum(1 for d in demands if abs(held[d.evse].amps - settled[d.evse]) > 1e-6)
    # one car held at a fair share leaves: everybody's share rises a little
    leaving = next(d for d in demands if allocate(capacity, demands, T0)[d.evse].reason == "share")
    rest = [d for d in demands if d is not leaving]
    raw = allocate(capacity, rest, T0 + 5)
    held = stabilise(capacity, rest, raw, settled, 1.0, (), {d.evse for d in rest})
    left_raw = sum(1 for d in rest if abs(raw[d.evse].amps - settled[d.evse]) > 1e-6)
    left_held = sum(1 for d in rest if abs(held[d.evse].amps - settled[d.evse]) > 1e-6)
    times.sort()
    # every car with a departure within 0.5-8 h and 2-40 kWh to go: the planner's stretches
    rng = random.Random(2)
    departing = [
        replace(d, departure=T0 + rng.uniform(1800, 8 * 3600), energy_wh=rng.uniform(2000, 40000)) for d in demands
    ]
    planned = []
    for _ in range(5):
        t = time.process_time()
        allocate(capacity, departing, T0)
        planned.append((time.process_time() - t) * 1000)
    print(
        json.dumps(
            {
                "evses": len(demands),
                "allocation_ms_median": round(statistics.median(times), 2),
                "allocation_ms_p90": round(times[int(0.9 * len(times))], 2),
                "allocation_ms_median_every_car_departing": round(statistics.median(planned), 1),
                "admitted": sum(1 for g in settled.values() if g > 0),
                "profiles_per_arrival_without_hysteresis": changed_raw + 1,
                "profiles_per_arrival_with_hysteresis": changed_held + 1,
                "profiles_per_departure_without_hysteresis": left_raw,
                "profiles_per_departure_with_hysteresis": left_held,
            }
        )
    )


if __name__ == "__main__":
    main()
