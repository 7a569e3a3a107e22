"""MeterValues naming a transaction the CSMS does not know cost no store read per message: the answer of
the first lookup is kept (bounded) and forgotten as soon as that transaction is written."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ocppd.csms.events import EventBus
from ocppd.csms.metering import readings_v16
from ocppd.csms.transactions import Transactions
from ocppd.store import Store, repo

T0 = datetime(2026, 1, 1, 10, tzinfo=UTC)


def readings(energy: int) -> list[Any]:
    return readings_v16(
        [{"timestamp": f"2026-01-01T10:{energy % 60:02d}:00Z", "sampledValue": [{"value": str(energy)}]}]
    )


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = Store(f"sqlite:///{tmp_path / 'ocppd.db'}")
    s.migrate()
    await s.start()
    yield s
    await s.close()


def count_reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record which repository reads the store runs (the reads still happen)."""
    seen: list[Any] = []
    real = store.read

    def read(fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(fn)
        return real(fn, *args, **kwargs)

    monkeypatch.setattr(store, "read", read)
    return seen


async def meter(tx: Transactions, uid: str, energy: int) -> None:
    await tx.meter_values("CP", evse_id=1, connector_id=1, transaction_uid=uid, readings=readings(energy))


async def test_unknown_transaction_is_looked_up_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    tx = Transactions(store, EventBus())
    reads = count_reads(store, monkeypatch)
    for i in range(50):
        await meter(tx, "424242", i)
    assert reads.count(repo.find_transaction) == 1


async def test_the_lookup_is_forgotten_when_the_transaction_appears(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    tx = Transactions(store, EventBus())
    reads = count_reads(store, monkeypatch)
    await meter(tx, "UID-9", 1)  # 2.x ids are the station's: unknown now
    await tx.event("CP", version="2.0.1", event_type="Started", transaction_uid="UID-9", seq_no=0, timestamp=T0,
                   evse_id=1, connector_id=1, id_token=None, charging_state="Charging", stopped_reason=None,
                   readings=[], payload={})  # fmt: skip
    await tx.event("CP", version="2.0.1", event_type="Ended", transaction_uid="UID-9", seq_no=1, timestamp=T0,
                   evse_id=1, connector_id=1, id_token=None, charging_state=None, stopped_reason="Local",
                   readings=[], payload={})  # fmt: skip
    await meter(tx, "UID-9", 2)  # late values of the ended transaction: attributed to it
    await meter(tx, "UID-9", 3)  # and its lookup kept too
    pk = (await store.read(repo.find_transaction, "CP", "UID-9")).id
    samples = await store.read(repo.meter_samples, pk)
    assert {s.value for s in samples if s.measurand == "Energy.Active.Import.Register"} == {2.0, 3.0}
    assert reads.count(repo.find_transaction) == 3  # before it existed, after it ended, the test's own


async def test_lookups_are_bounded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import ocppd.csms.transactions as module

    monkeypatch.setattr(module, "_MAX_LOOKED_UP", 10)
    tx = Transactions(store, EventBus())
    for i in range(25):
        await meter(tx, f"GHOST-{i}", i)
    assert len(tx._looked_up) == 10
