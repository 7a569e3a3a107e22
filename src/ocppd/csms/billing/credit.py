"""Prepaid credit: a balance held by a token or a token group, the verdict it gives, the debit at the end.

The decision (``credit_decision``) is pure; ``Credit`` reads its inputs and keeps the entries. A token
with an account of its own spends from it; a token without one spends from its group's account.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from ocppd.csms.billing.currencies import minor_units
from ocppd.store import Store, repo
from ocppd.store import billing_repo as br
from ocppd.store import credit_repo as cr
from ocppd.store.rows import TxRow

log = logging.getLogger(__name__)

NO_CREDIT = "NoCredit"
HOLDER_LEN = 255
# Balances and amounts in minor units stay within this (10^13 EUR): the columns are 64-bit, and a
# balance plus the largest top-up must still fit in one
MAX_MINOR = 10**15


class CreditError(ValueError):
    """Bad credit input; ``where`` names the field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True, slots=True)
class CreditCheck:
    """What a prepaid account allows now. ``holder`` None: the token is not prepaid (nothing applies)."""

    holder: str | None = None
    status: str = "Accepted"  # Accepted | NoCredit
    max_cost: Decimal | None = None  # the remaining balance, in the tariff's currency; None: not limited
    currency: str | None = None
    reason: str = ""

    @property
    def prepaid(self) -> bool:
        return self.holder is not None


def money(minor: int, currency: str) -> Decimal:
    return Decimal(int(minor)).scaleb(-(minor_units(currency) or 0))


def credit_decision(account: cr.AccountRow | None, tariff_currency: str | None, reserved_minor: int = 0) -> CreditCheck:
    """Pure: the verdict of a prepaid account where the driver charges; ``reserved_minor``: what the
    account's other running transactions may still spend (the maxCost each was offered).

    No credit left, or all of it reserved, is NoCredit; no tariff applies here: Accepted without a
    cost limit (nothing will be charged); a tariff in another currency: NoCredit (ocppd converts no
    currencies, so the balance cannot pay here); otherwise Accepted with maxCost = the balance less
    the reservations, so sessions running at once never spend more than the balance together."""
    if account is None:
        return CreditCheck()
    if account.balance_minor <= 0:
        return CreditCheck(account.holder, NO_CREDIT, currency=account.currency, reason="no credit left")
    if account.balance_minor - reserved_minor <= 0:
        reason = "the rest of the credit is reserved by the account's running transactions"
        return CreditCheck(account.holder, NO_CREDIT, currency=account.currency, reason=reason)
    if tariff_currency is None:
        return CreditCheck(account.holder, currency=account.currency, reason="no tariff applies: nothing to spend")
    if tariff_currency != account.currency:
        reason = f"the tariff is in {tariff_currency}, the credit in {account.currency}"
        return CreditCheck(account.holder, NO_CREDIT, currency=account.currency, reason=reason)
    available = money(account.balance_minor - reserved_minor, account.currency)
    return CreditCheck(account.holder, max_cost=available, currency=tariff_currency)


def reserved_minor(conn: Any, account: cr.AccountRow, station_id: str, transaction_uid: str | None) -> int:
    """What the account's running transactions but ``transaction_uid`` may still spend, in minor units:
    the prepaid maxCost each was offered (a station stops there), rounded up to the minor unit."""
    digits = minor_units(account.currency) or 0
    offered = cr.reserved_by_others(conn, account.holder, station_id, transaction_uid)
    return sum(int(Decimal(str(v)).scaleb(digits).to_integral_value(rounding=ROUND_CEILING)) for v in offered)


def account_for(conn: Any, id_token: str | None) -> cr.AccountRow | None:
    """The account a token spends from: its own, else its group's."""
    if not id_token:
        return None
    own = cr.get_account(conn, id_token)
    if own is not None:
        return own
    token = repo.get_token(conn, id_token)
    return cr.get_account(conn, token.group_id) if token is not None and token.group_id else None


def parse_amount(where: str, value: Any, currency: str, *, allow_negative: bool = False) -> int:
    """A decimal amount (text or number) in minor units of ``currency``; CreditError names ``where``."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise CreditError(where, f"{value!r} is not a decimal amount") from None
    if not amount.is_finite():
        raise CreditError(where, "must be a finite amount")
    if amount < 0 and not allow_negative:
        raise CreditError(where, "must not be negative")
    digits = minor_units(currency) or 0
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        raise CreditError(where, f"{currency} has {digits} decimal places")
    if abs(minor) > MAX_MINOR:
        raise CreditError(where, f"must be at most {money(MAX_MINOR, currency)} {currency} either way")
    return int(minor)


def check_currency(currency: str) -> str:
    if minor_units(currency) is None:
        raise CreditError("currency", f"unknown currency {currency!r} (an ISO 4217 code such as EUR)")
    return currency


def account_json(account: cr.AccountRow, entries: list[cr.EntryRow]) -> dict[str, Any]:
    return {
        "holder": account.holder,
        "currency": account.currency,
        "balance": str(money(account.balance_minor, account.currency)),
        "updated_at": account.updated_at.isoformat(),
        "updated_by": account.updated_by,
        "entries": [entry_json(e) for e in entries],
    }


def entry_json(e: cr.EntryRow) -> dict[str, Any]:
    return {
        "id": e.id,
        "amount": str(money(e.amount_minor, e.currency)),
        "balance": str(money(e.balance_minor, e.currency)),
        "currency": e.currency,
        "transaction_id": e.transaction_id,
        "reason": e.reason,
        "entered_by": e.entered_by,
        "entered_at": e.entered_at.isoformat(),
    }


def set_balance_op(conn: Any, holder: str, currency: str, balance: Any, by: str | None) -> cr.AccountRow:
    """Set the balance (a top-up or a correction is one entry of the difference); API and CLI."""
    if not holder or len(holder) > HOLDER_LEN:
        raise CreditError("holder", f"must be 1 to {HOLDER_LEN} characters")
    check_currency(currency)
    minor = parse_amount("balance", balance, currency)
    account = cr.get_account(conn, holder)
    if account is not None and account.currency != currency:  # ocppd converts no currencies
        raise CreditError("currency", f"the credit of {holder!r} is in {account.currency}: remove it first")
    cr.set_balance(conn, holder, currency, minor, "balance set", by=by)  # the difference is taken under the row lock
    found = cr.get_account(conn, holder)
    assert found is not None
    return found


def top_up_op(conn: Any, holder: str, amount: Any, by: str | None) -> cr.AccountRow:
    account = cr.get_account(conn, holder)
    if account is None:
        raise LookupError(f"{holder!r} holds no credit: set a balance first")
    minor = parse_amount("amount", amount, account.currency, allow_negative=True)
    if abs(account.balance_minor + minor) > MAX_MINOR:
        raise CreditError("amount", f"the balance would pass {money(MAX_MINOR, account.currency)} {account.currency}")
    cr.add_entry(conn, holder, account.currency, minor, "top-up" if minor >= 0 else "correction", by=by)
    found = cr.get_account(conn, holder)
    assert found is not None
    return found


def debit_op(conn: Any, tx: TxRow, cost: br.CostRow) -> cr.EntryRow | None:
    """Debit a finished transaction's final price (incl. VAT) from the account its token spends from,
    once: a transaction that already has its debit is left alone (a replayed end)."""
    account = account_for(conn, tx.id_token)
    if account is None or cost.incl_vat_minor is None or cr.debit_of(conn, tx.id) is not None:
        return None
    if cost.currency != account.currency:
        log.warning(
            "%s: transaction %s priced in %s, credit of %s is in %s: not debited",
            tx.station_id, tx.transaction_uid, cost.currency, account.holder, account.currency,
        )  # fmt: skip
        return None
    return cr.add_entry(
        conn, account.holder, account.currency, -int(cost.incl_vat_minor),
        f"transaction {tx.transaction_uid}", transaction_id=tx.id,
    )  # fmt: skip


class Credit:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def check(
        self, station_id: str, evse_id: int | None, id_token: str | None, transaction_uid: str | None = None
    ) -> CreditCheck:
        """What the token's prepaid account allows at this station now (with the tariff in force here),
        for ``transaction_uid`` (None: a transaction not started yet, e.g. at Authorize)."""
        from ocppd.csms.billing.service import tariff_op  # the tariff rules live with billing's service

        def op(conn: Any) -> CreditCheck:
            account = account_for(conn, id_token)
            if account is None:
                return CreditCheck()
            tariff = tariff_op(conn, station_id, evse_id, id_token)
            reserved = reserved_minor(conn, account, station_id, transaction_uid)
            return credit_decision(account, tariff.currency if tariff is not None else None, reserved)

        return await self.store.read(op)

    async def set_balance(self, holder: str, currency: str, balance: Any, by: str | None) -> dict[str, Any]:
        account = await self.store.write(set_balance_op, holder, currency, balance, by)
        log.info("credit of %s set to %s %s by %s", holder, balance, currency, by)
        return await self.get(account.holder) or {}

    async def top_up(self, holder: str, amount: Any, by: str | None) -> dict[str, Any]:
        await self.store.write(top_up_op, holder, amount, by)
        log.info("credit of %s changed by %s by %s", holder, amount, by)
        return await self.get(holder) or {}

    async def get(self, holder: str) -> dict[str, Any] | None:
        def op(conn: Any) -> dict[str, Any] | None:
            account = cr.get_account(conn, holder)
            return account_json(account, cr.entries_of(conn, holder)) if account else None

        return await self.store.read(op)

    async def delete(self, holder: str, by: str | None) -> bool:
        deleted = await self.store.write(cr.delete_account, holder)
        if deleted:
            log.info("credit of %s removed by %s (no longer prepaid)", holder, by)
        return deleted

    @staticmethod
    def cache_expiry(now: datetime | None = None) -> datetime:
        """A prepaid token's answer holds for this moment only: its balance changes with every session."""
        return now or datetime.now(UTC)
