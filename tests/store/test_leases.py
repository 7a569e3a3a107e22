"""The balancer lease: one holder at a time, renewed by its holder, taken over once expired, given up
on a clean stop (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ocppd.store import Store, leases_repo

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_one_holder_renewal_takeover_and_release(store: Store) -> None:
    a = await store.write(leases_repo.take_lease, "balancer", "node-a", s(0), s(30))
    assert (a.holder, a.expires_at, a.acquired_at) == ("node-a", s(30), s(0))
    # another node cannot take it while it runs
    b = await store.write(leases_repo.take_lease, "balancer", "node-b", s(10), s(40))
    assert b.holder == "node-a" and b.expires_at == s(30)
    # its holder renews it (and keeps its acquisition time)
    a = await store.write(leases_repo.take_lease, "balancer", "node-a", s(20), s(50))
    assert (a.holder, a.expires_at, a.acquired_at) == ("node-a", s(50), s(0))
    # once it has expired (its holder is gone), the other node takes it over
    b = await store.write(leases_repo.take_lease, "balancer", "node-b", s(50), s(80))
    assert (b.holder, b.acquired_at) == ("node-b", s(50))
    late = await store.write(leases_repo.take_lease, "balancer", "node-a", s(60), s(90))
    assert late.holder == "node-b"
    # a clean stop gives it up at once; only its holder can
    assert not await store.write(leases_repo.release_lease, "balancer", "node-a")
    assert await store.write(leases_repo.release_lease, "balancer", "node-b")
    assert await store.read(leases_repo.get_lease, "balancer") is None
    a = await store.write(leases_repo.take_lease, "balancer", "node-a", s(61), s(91))
    assert a.holder == "node-a"
    # leases of other roles are independent
    other = await store.write(leases_repo.take_lease, "oscp", "node-b", s(61), s(91))
    assert other.holder == "node-b"


async def test_two_nodes_racing_for_a_free_lease_get_one_holder(db_url: str) -> None:
    stores = [Store(db_url), Store(db_url)]
    for st in stores:
        await st.start()
    try:
        for round_ in range(5):
            name = f"race-{round_}"
            got = await asyncio.gather(
                *(st.write(leases_repo.take_lease, name, f"node-{i}", s(0), s(30)) for i, st in enumerate(stores))
            )
            holders = {row.holder for row in got}
            assert len(holders) == 1, holders  # both see the same single holder
    finally:
        for st in stores:
            await st.close()
