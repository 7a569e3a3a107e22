"""Prepaid balances in the store: debits from two nodes at once both count (store/credit_repo.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from sqlalchemy import Engine, create_engine, text

from ocppd.csms.billing import credit
from ocppd.store import Store
from ocppd.store import credit_repo as cr
from tests.waiting import eventually


async def _lock_waited_for(engine: Engine) -> None:
    async def waiting_for_the_lock() -> bool:
        with engine.connect() as watcher:
            waits = watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )).scalar_one()  # fmt: skip
        return waits > 0

    await eventually(waiting_for_the_lock, "the second writer waiting for the first's row lock")


async def _against_a_held_debit(url: str, second_writer: Callable[[Engine], None]) -> Engine:
    """FLEET holds 1000; one node debits 200 and holds the account's row until it commits, while
    ``second_writer`` (another node, in a thread) is seen waiting for that lock; then both finish."""
    Store(url).migrate()
    engine = create_engine(url)
    with engine.begin() as conn:
        cr.add_entry(conn, "FLEET", "EUR", 1000, "balance set")
    first = engine.connect()
    tx = first.begin()
    cr.add_entry(first, "FLEET", "EUR", -200, "transaction a")  # holds the account's row until commit
    second = threading.Thread(target=second_writer, args=(engine,), daemon=True)
    second.start()
    await _lock_waited_for(engine)
    tx.commit()
    first.close()
    await asyncio.to_thread(second.join, 30)
    return engine


async def test_two_nodes_debiting_one_account_at_once_both_count(pg_db_factory: Callable[[str], str]) -> None:
    done: list[cr.EntryRow] = []

    def other_node(engine: Engine) -> None:
        with engine.begin() as conn:
            done.append(cr.add_entry(conn, "FLEET", "EUR", -300, "transaction b"))

    engine = await _against_a_held_debit(pg_db_factory("ocppd_credit"), other_node)
    try:
        assert [e.balance_minor for e in done] == [500]
        with engine.connect() as conn:
            account = cr.get_account(conn, "FLEET")
            assert account is not None and account.balance_minor == 500  # 1000 - 200 - 300: both debits
            assert [e.balance_minor for e in cr.entries_of(conn, "FLEET")] == [500, 800, 1000]
    finally:
        engine.dispose()


async def test_a_balance_set_while_a_debit_commits_ends_at_the_target(pg_db_factory: Callable[[str], str]) -> None:
    def operator_sets_20(engine: Engine) -> None:
        with engine.begin() as conn:
            credit.set_balance_op(conn, "FLEET", "EUR", "20.00", "admin")

    engine = await _against_a_held_debit(pg_db_factory("ocppd_credit_set"), operator_sets_20)
    try:
        with engine.connect() as conn:
            account = cr.get_account(conn, "FLEET")
            assert account is not None and account.balance_minor == 2000  # the target, not 2000 - 200
            entries = [(e.amount_minor, e.balance_minor, e.entered_by) for e in cr.entries_of(conn, "FLEET")]
            assert entries == [(1200, 2000, "admin"), (-200, 800, None), (1000, 1000, None)]
    finally:
        engine.dispose()
