"""The pure cores of OCPP 2.1 transaction limits and prepaid credit (csms/limits.py, billing/credit.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ocppd.csms.billing.credit import CreditError, credit_decision, parse_amount
from ocppd.csms.limits import LimitError, TxLimit, answer_limit, check_limit
from ocppd.store.credit_repo import AccountRow

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def account(balance_minor: int, currency: str = "EUR") -> AccountRow:
    return AccountRow("CARD", currency, balance_minor, NOW, None)


def test_the_csms_limit_goes_out_once_then_only_to_override_a_different_one() -> None:
    ours = TxLimit(max_energy=10000)
    assert answer_limit(ours, None, None) == ours  # never given yet
    assert answer_limit(ours, ours, None) is None  # given; the station says nothing
    assert answer_limit(ours, ours, TxLimit(max_energy=6000)) == ours  # TC_E_102: the station set its own
    assert answer_limit(ours, ours, TxLimit(max_energy=10000, max_time=60)) is None  # adopted (and more)
    assert answer_limit(TxLimit(max_energy=8000), ours, None) == TxLimit(max_energy=8000)  # a new one
    assert answer_limit(None, None, TxLimit(max_cost=2.0)) is None  # TC_E_108: none of our own


def test_prepaid_tightens_the_operators_limit_per_field() -> None:
    operator = TxLimit(max_cost=20.0, max_time=3600)
    assert operator.tighter(TxLimit(max_cost=7.5)) == TxLimit(max_cost=7.5, max_time=3600)
    assert TxLimit(max_cost=5.0).tighter(TxLimit(max_cost=7.5)) == TxLimit(max_cost=5.0)
    assert TxLimit(max_energy=6000.0, max_soc=80).to_ocpp() == {"maxEnergy": 6000.0, "maxSoC": 80}


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"max_cost": 0}, "max_cost"),
        ({"max_cost": "ten"}, "max_cost"),
        ({"max_energy": -1.0}, "max_energy"),
        ({"max_time": 0}, "max_time"),
        ({"max_time": 1.5}, "max_time"),
        ({"max_soc": 101}, "max_soc"),
        ({}, "limit"),
    ],
)
def test_bad_limits_name_their_field(fields: dict[str, object], where: str) -> None:
    with pytest.raises(LimitError) as caught:
        check_limit(**fields)
    assert caught.value.where == where


def test_credit_decides_no_credit_or_the_balance_as_max_cost() -> None:
    assert not credit_decision(None, "EUR").prepaid
    assert credit_decision(account(0), "EUR").status == "NoCredit"
    assert credit_decision(account(-5), "EUR").status == "NoCredit"
    assert credit_decision(account(500), "CHF").status == "NoCredit"  # ocppd converts no currencies
    free = credit_decision(account(500), None)  # no tariff here: nothing to spend, nothing to limit
    assert free.status == "Accepted" and free.max_cost is None
    paid = credit_decision(account(1234), "EUR")
    assert paid.status == "Accepted" and paid.max_cost == Decimal("12.34")
    assert credit_decision(account(1234, "JPY"), "JPY").max_cost == Decimal("1234")


def test_credit_reserved_by_running_transactions_is_not_offered_again() -> None:
    assert credit_decision(account(1000), "EUR", reserved_minor=350).max_cost == Decimal("6.50")
    for reserved in (1000, 1200):  # all of it reserved (or more, after a correction down): never below 0
        left = credit_decision(account(1000), "EUR", reserved_minor=reserved)
        assert left.status == "NoCredit" and left.max_cost is None and "reserved" in left.reason


def test_amounts_are_checked_against_the_currency() -> None:
    assert parse_amount("balance", "20.5", "EUR") == 2050
    assert parse_amount("amount", "-1", "KWD", allow_negative=True) == -1000
    for value, currency in (("-1", "EUR"), ("1.001", "EUR"), ("1.5", "JPY"), ("x", "EUR"), ("NaN", "EUR")):
        with pytest.raises(CreditError):
            parse_amount("balance", value, currency)


def test_amounts_past_what_a_balance_column_holds_name_their_field() -> None:
    # a 64-bit column fails on these in the database driver (a 500 before the bound)
    for value in ("1e99999", "99999999999999999999999", 1e308, "-1e30"):
        with pytest.raises(CreditError) as caught:
            parse_amount("amount", value, "EUR", allow_negative=True)
        assert caught.value.where == "amount"
    assert parse_amount("balance", "10000000000000", "EUR") == 10**15  # the largest balance
