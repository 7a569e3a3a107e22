"""The limit tree: validation naming the node, capacity at an instant, phase rotation, safe fallbacks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time

import pytest

from ocppd.smart.balancer import INF, Demand, allocate, usage
from ocppd.smart.tree import (
    CIRCUIT,
    EVSE,
    SITE,
    STATION,
    ExternalLimit,
    Node,
    Tree,
    TreeError,
    Window,
    grid_phases,
    phase_amps,
)

MONDAY_NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp()


def site(**kw) -> Node:
    return Node("site", SITE, amps=phase_amps(63), **kw)


@pytest.mark.parametrize(
    ("nodes", "node", "words"),
    [
        ([Node("site", SITE, amps=phase_amps(0))], "site", "positive"),
        ([Node("site", SITE, watts=-5)], "site", "positive"),
        ([site(), Node("c", CIRCUIT, "site", amps=phase_amps(80))], "c", "above its parent"),
        ([site(), Node("c", CIRCUIT, "site", watts=1000), Node("d", CIRCUIT, "c", watts=2000)], "d", "above"),
        ([site(), Node("a", CIRCUIT, "b"), Node("b", CIRCUIT, "a")], "a", "cycle"),
        (
            [
                site(),
                Node("c1", CIRCUIT, "site"),
                Node("c2", CIRCUIT, "site"),
                Node("CP1", STATION, "c1"),
                Node("CP1", STATION, "c2"),
            ],
            "CP1",
            "two circuits",
        ),
        ([site(), Node("CP1", STATION, "nowhere")], "CP1", "does not exist"),
        ([site(), Node("CP1", STATION, "site", rotation="RRS")], "CP1", "rotation"),
        ([site(), Node("CP1", STATION)], "CP1", "needs a parent"),
        ([site(), Node("CP1", STATION, "site"), Node("x", CIRCUIT, "CP1")], "x", "cannot be under"),
        ([Node("site", SITE, timezone="Mars/Olympus")], "site", "time zone"),
    ],
)
def test_invalid_trees_are_refused_naming_the_node(nodes: list[Node], node: str, words: str) -> None:
    with pytest.raises(TreeError) as e:
        Tree.build(nodes)
    assert e.value.node == node and words in e.value.message


def test_a_station_may_be_rated_above_its_circuit() -> None:
    Tree.build(
        [site(), Node("c", CIRCUIT, "site", amps=phase_amps(16)), Node("CP1", STATION, "c", amps=phase_amps(32))]
    )


def test_rotation_maps_station_phases_to_grid_phases() -> None:
    assert grid_phases("RST", 1) == (0,)
    assert grid_phases("STR", 1) == (1,)
    assert grid_phases("TRS", 3) == (2, 0, 1)
    tree = Tree.build([site(), Node("CP1", STATION, "site", amps=(32, 16, 10), rotation="STR")])
    # station L1 (32 A) is on grid L2, L2 (16 A) on grid L3, L3 (10 A) on grid L1
    assert tree.capacity(MONDAY_NOON)["CP1"].amps == (10, 32, 16)


def test_time_of_use_and_external_limits() -> None:
    peak = Window(time(17), time(21), amps=phase_amps(20), days=("mon", "tue", "wed", "thu", "fri"))
    night = Window(time(22), time(6), watts=30000)
    tree = Tree.build([Node("site", SITE, amps=phase_amps(63), windows=(peak, night), timezone="Europe/Berlin")])
    berlin_18 = datetime(2026, 11, 30, 17, 0, tzinfo=UTC).timestamp()  # 18:00 in Berlin, a Monday
    assert tree.capacity(MONDAY_NOON)["site"].amps == (63, 63, 63)
    assert tree.capacity(berlin_18)["site"].amps == (20, 20, 20)
    saturday_18 = berlin_18 + 5 * 86400
    assert tree.capacity(saturday_18)["site"].amps == (63, 63, 63)
    after_midnight = datetime(2026, 12, 1, 2, 0, tzinfo=UTC).timestamp()  # 03:00 in Berlin
    assert tree.capacity(after_midnight)["site"].watts == 30000 and tree.capacity(after_midnight)["site"].amps[0] == INF
    ems = ExternalLimit("site", "api", amps=phase_amps(40), start=MONDAY_NOON, end=MONDAY_NOON + 3600)
    above = ExternalLimit("site", "api", amps=phase_amps(100), start=MONDAY_NOON, end=MONDAY_NOON + 3600)
    assert tree.capacity(MONDAY_NOON + 10, [ems])["site"].amps == (40, 40, 40)
    assert tree.capacity(MONDAY_NOON + 10, [above])["site"].amps == (63, 63, 63)  # never above the configured
    assert tree.capacity(MONDAY_NOON + 3600, [ems])["site"].amps == (63, 63, 63)  # expired: back to configured


@pytest.mark.parametrize("seed", range(50))
def test_fallbacks_never_exceed_any_limit_together(seed: int) -> None:
    rng = random.Random(seed)
    nodes = [Node("site", SITE, amps=phase_amps(rng.choice([32, 63, 125])), watts=rng.choice([None, 40000]),
                  windows=(Window(time(17), time(20), amps=phase_amps(rng.choice([16, 25]))),))]  # fmt: skip
    circuits = {"site": 125.0}
    for i in range(rng.randint(0, 3)):
        parent = rng.choice(list(circuits))
        amps = min(circuits[parent], rng.choice([16, 20, 25]))
        nodes.append(Node(f"c{i}", CIRCUIT, parent, amps=phase_amps(amps)))
        circuits[f"c{i}"] = amps
    station_max = {}
    for s in range(rng.randint(1, 10)):
        nodes.append(Node(f"s{s}", STATION, rng.choice(list(circuits)), rotation=rng.choice(["RST", "STR", "TRS"])))
        nodes.append(Node(f"s{s}/1", EVSE, f"s{s}"))
        station_max[f"s{s}"] = rng.choice([16.0, 32.0])
    tree = Tree.build(nodes)
    shares = tree.fallback(station_max)
    demands = [Demand(s, tree.path(s), phases=grid_phases(tree.nodes[s].rotation, 3), max_a=a, min_a=0, fixed=True)
               for s, a in shares.items()]  # fmt: skip
    grants = allocate({}, demands, 0)
    # at the tightest time of use, every station drawing its whole fallback stays under every node
    tight = tree.capacity(datetime(2026, 11, 30, 18, 0, tzinfo=UTC).timestamp())
    for node, (l1, l2, l3, watts) in usage(tight, demands, grants).items():
        if node in tight:
            assert max(l1, l2, l3) <= min(tight[node].amps) + 1e-6
            assert watts <= tight[node].watts + 1e-3
    assert all(0 <= shares[s] <= station_max[s] for s in shares)
