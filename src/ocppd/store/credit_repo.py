"""Repository functions for prepaid credit (accounts, entries) and OCPP 2.1 transaction limits.

Like ``repo``, every function takes a ``sqlalchemy.Connection`` first and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from .rows import _RowMixin
from .schema import credit_accounts, credit_entries, tokens, transaction_limits, transactions
from .types import utcnow


@dataclass(frozen=True, slots=True)
class AccountRow(_RowMixin):
    holder: str
    currency: str
    balance_minor: int
    updated_at: datetime
    updated_by: str | None


@dataclass(frozen=True, slots=True)
class EntryRow(_RowMixin):
    id: int
    holder: str
    currency: str
    amount_minor: int
    balance_minor: int
    transaction_id: int | None
    reason: str
    entered_by: str | None
    entered_at: datetime


@dataclass(frozen=True, slots=True)
class LimitRow(_RowMixin):
    id: int
    station_id: str
    transaction_uid: str | None
    remote_start_id: int | None
    source: str  # operator | prepaid | sent | station
    max_cost: float | None
    max_energy: float | None
    max_time: int | None
    max_soc: int | None
    currency: str | None
    seq_no: int | None
    set_by: str | None
    set_at: datetime


def get_account(conn: Connection, holder: str) -> AccountRow | None:
    row = conn.execute(select(credit_accounts).where(credit_accounts.c.holder == holder)).first()
    return AccountRow.from_row(row) if row else None


def add_entry(
    conn: Connection,
    holder: str,
    currency: str,
    amount_minor: int,
    reason: str,
    *,
    by: str | None = None,
    transaction_id: int | None = None,
) -> EntryRow:
    """Change ``holder``'s balance by ``amount_minor`` (an account in ``currency`` is created at 0 when
    missing) and keep the entry; the caller has checked the currency.

    The balance changes in the UPDATE itself (``balance_minor + amount``), not from a value read before
    it: two nodes debiting one account at once (PostgreSQL, READ COMMITTED) both count; the second
    waits for the first's row lock and adds to its result."""
    now = utcnow()
    c = credit_accounts.c
    changed = conn.execute(
        update(credit_accounts)
        .where(c.holder == holder)
        .values(balance_minor=c.balance_minor + amount_minor, updated_at=now, updated_by=by)
    ).rowcount
    if not changed:
        conn.execute(
            insert(credit_accounts).values(
                holder=holder, currency=currency, balance_minor=amount_minor, updated_at=now, updated_by=by
            )
        )
    account = get_account(conn, holder)
    assert account is not None
    return _keep_entry(conn, account, amount_minor, reason, transaction_id, now)


def set_balance(
    conn: Connection, holder: str, currency: str, balance_minor: int, reason: str, *, by: str | None = None
) -> EntryRow:
    """Set ``holder``'s balance to ``balance_minor`` (an account in ``currency`` is created when missing)
    and keep the entry of the difference; the caller has checked the currency.

    The account's row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite's writer holds the database
    from BEGIN IMMEDIATE) before the difference is taken, so a debit committing meanwhile is waited for
    and counted in it: the balance ends at the target, not at the target less that debit."""
    now = utcnow()
    c = credit_accounts.c
    row = conn.execute(select(c.balance_minor).where(c.holder == holder).with_for_update()).first()
    if row is None:
        conn.execute(
            insert(credit_accounts).values(
                holder=holder, currency=currency, balance_minor=balance_minor, updated_at=now, updated_by=by
            )
        )
        current = 0
    else:
        current = int(row.balance_minor)
        conn.execute(
            update(credit_accounts)
            .where(c.holder == holder)
            .values(balance_minor=balance_minor, updated_at=now, updated_by=by)
        )
    account = get_account(conn, holder)
    assert account is not None
    return _keep_entry(conn, account, balance_minor - current, reason, None, now)


def _keep_entry(
    conn: Connection, account: AccountRow, amount_minor: int, reason: str, transaction_id: int | None, now: datetime
) -> EntryRow:
    values = {
        "holder": account.holder,
        "currency": account.currency,
        "amount_minor": amount_minor,
        "balance_minor": account.balance_minor,
        "transaction_id": transaction_id,
        "reason": reason,
        "entered_by": account.updated_by,
        "entered_at": now,
    }
    pk = conn.execute(insert(credit_entries).values(**values)).inserted_primary_key[0]
    return EntryRow(id=int(pk), **values)


def delete_account(conn: Connection, holder: str) -> bool:
    """The holder is no longer prepaid; its entries stay (they are the history of its money)."""
    return conn.execute(delete(credit_accounts).where(credit_accounts.c.holder == holder)).rowcount > 0


def entries_of(conn: Connection, holder: str, limit: int = 1000) -> list[EntryRow]:
    c = credit_entries.c
    q = select(credit_entries).where(c.holder == holder).order_by(c.id.desc()).limit(limit)
    return [EntryRow.from_row(r) for r in conn.execute(q)]


def debit_of(conn: Connection, transaction_id: int) -> EntryRow | None:
    row = conn.execute(select(credit_entries).where(credit_entries.c.transaction_id == transaction_id)).first()
    return EntryRow.from_row(row) if row else None


def add_limit(conn: Connection, **fields: Any) -> LimitRow:
    values = {
        "transaction_uid": None,
        "remote_start_id": None,
        "max_cost": None,
        "max_energy": None,
        "max_time": None,
        "max_soc": None,
        "currency": None,
        "seq_no": None,
        "set_by": None,
        "set_at": utcnow(),
        **fields,
    }
    pk = conn.execute(insert(transaction_limits).values(**values)).inserted_primary_key[0]
    return LimitRow(id=int(pk), **values)


def limits_of(conn: Connection, station_id: str, transaction_uid: str) -> list[LimitRow]:
    c = transaction_limits.c
    q = (
        select(transaction_limits)
        .where(c.station_id == station_id, c.transaction_uid == transaction_uid)
        .order_by(c.id)
    )
    return [LimitRow.from_row(r) for r in conn.execute(q)]


def bind_remote_start(conn: Connection, station_id: str, remote_start_id: int, transaction_uid: str) -> int:
    """The limits set for a remote start become the limits of the transaction it started."""
    c = transaction_limits.c
    stmt = (
        update(transaction_limits)
        .where(c.station_id == station_id, c.remote_start_id == remote_start_id, c.transaction_uid.is_(None))
        .values(transaction_uid=transaction_uid)
    )
    return conn.execute(stmt).rowcount


def drop_remote_start(conn: Connection, station_id: str, remote_start_id: int) -> int:
    """The limits of a remote start that started nothing (refused): no later transaction may take them."""
    c = transaction_limits.c
    stmt = delete(transaction_limits).where(
        c.station_id == station_id, c.remote_start_id == remote_start_id, c.transaction_uid.is_(None)
    )
    return conn.execute(stmt).rowcount


def reserved_by_others(conn: Connection, holder: str, station_id: str, transaction_uid: str | None) -> list[float]:
    """The prepaid maxCost offered to each running transaction that spends from ``holder``'s account
    (its own token's, or a group member's without an account of its own), but the given one."""
    t, lim = transactions.c, transaction_limits.c
    own = select(credit_accounts.c.holder)
    members = select(tokens.c.id_token).where(tokens.c.group_id == holder, tokens.c.id_token.not_in(own))
    q = (
        select(lim.max_cost)
        .join(transactions, (t.station_id == lim.station_id) & (t.transaction_uid == lim.transaction_uid))
        .where(
            lim.source == "prepaid",
            lim.max_cost.is_not(None),
            t.stopped_at.is_(None),
            (t.id_token == holder) | t.id_token.in_(members),
        )
    )
    if transaction_uid is not None:
        q = q.where(~((t.station_id == station_id) & (t.transaction_uid == transaction_uid)))
    return [float(v) for (v,) in conn.execute(q)]
