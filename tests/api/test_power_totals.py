"""Station power totals: the main meter (EVSE/connector 0) never adds to its own outlets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocppd.api.live import outlets_total
from ocppd.api.service import power_buckets


def test_main_meter_counts_only_without_outlets() -> None:
    assert outlets_total({0: 11_000.0, 1: 7_000.0, 2: 4_000.0}) == 11_000.0
    assert outlets_total({0: 5_000.0}) == 5_000.0
    assert outlets_total({1: 7_000.0}) == 7_000.0
    assert outlets_total({}) == 0.0


def test_stored_history_ignores_the_main_meter_next_to_outlets() -> None:
    t0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    readings = []
    for i in range(7):  # one reading a minute: main meter 10 kW = outlet 1 (6 kW) + outlet 2 (4 kW)
        at = t0 + timedelta(minutes=i)
        readings += [(at, 0, 10_000.0), (at, 1, 6_000.0), (at, 2, 4_000.0)]
    buckets = power_buckets(readings, t0, t0 + timedelta(minutes=6), 60)
    assert [round(w) for _, w in buckets] == [10_000] * 6
    only_main = power_buckets([r for r in readings if r[1] == 0], t0, t0 + timedelta(minutes=6), 60)
    assert [round(w) for _, w in only_main] == [10_000] * 6
