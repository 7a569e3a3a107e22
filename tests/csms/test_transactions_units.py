"""Pure rules of the transactions and authorization blocks: energy, token formats, verdicts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ocppd.csms.authorization import Presented, Purpose, judge, same_group, token_format_problem
from ocppd.csms.transactions import session_energy
from ocppd.store import TokenRow

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def token(id_token: str, status: str = "Accepted", **kw: object) -> TokenRow:
    base = TokenRow(id_token, None, status, None, None, None, NOW, NOW)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_energy_is_the_sum_of_increments() -> None:
    assert session_energy(1000, [1200, 1500], 1800) == (800, [])
    assert session_energy(None, [], None) == (None, [])
    assert session_energy(500, [], None) == (0, [])


def test_rounding_between_decimal_readings_and_an_integer_stop_is_no_reset() -> None:
    assert session_energy(0, [2.4, 6.2], 6) == (6, [])


def test_energy_never_negative_when_meter_stop_is_below_start() -> None:
    energy, problems = session_energy(5000, [], 1000)
    assert energy == 0
    assert "below meter start" in problems[0]


def test_a_register_reset_counts_from_its_new_value() -> None:
    energy, problems = session_energy(1000, [1500, 20, 300], 400)
    assert energy == 500 + 280 + 100
    assert any("went back from 1500 to 20" in p for p in problems)


@pytest.mark.parametrize(
    ("token_type", "value", "ok"),
    [
        ("ISO14443", "04A2B3C4", True),
        ("ISO14443", "04A2B3C4D5E6F7", True),
        ("ISO14443", "TAG0001", False),
        ("ISO14443", "04A2B3C4D5", False),
        ("ISO15693", "E004010012345678", True),
        ("ISO15693", "E0040100", False),
        ("eMAID", "NLABC123456789", True),
        ("eMAID", "NL-ABC-123456789-5", True),
        ("eMAID", "card", False),
        ("MacAddress", "00:1A:2B:3C:4D:5E", True),
        ("MacAddress", "001A2B3C4D5E", True),
        ("MacAddress", "001A2B", False),
        ("NoAuthorization", "", True),
        ("NoAuthorization", "x", False),
        ("KeyCode", "1234", True),
        ("Central", "anything at all", True),
        ("Local", "LOCAL-1", True),
        ("Bogus", "x", False),
        (None, "TAG0001", True),
    ],
)
def test_token_formats_per_type(token_type: str | None, value: str, ok: bool) -> None:
    assert (token_format_problem(token_type, value) is None) is ok


def test_verdicts_per_status_expiry_type_and_group() -> None:
    card = token("04A2B3C4", token_type="ISO14443", group_id="FLEET")
    ok = judge(Presented("04A2B3C4", "ISO14443"), card, None, Purpose.START, now=NOW)
    assert ok.status == "Accepted" and ok.group_id == "FLEET"
    assert judge(Presented("04A2B3C4", "KeyCode"), card, None, Purpose.START, now=NOW).status == "Unknown"
    assert judge(Presented("TAG1", "ISO14443"), None, None, Purpose.START, now=NOW).status == "Invalid"
    assert judge(Presented("UNKNOWN"), None, None, Purpose.START, now=NOW).status == "Unknown"
    expired = replace(card, expiry=NOW - timedelta(seconds=1))
    assert judge(Presented("04A2B3C4"), expired, None, Purpose.START, now=NOW).status == "Expired"
    blocked = replace(card, status="Blocked")
    assert judge(Presented("04A2B3C4"), blocked, None, Purpose.STOP, now=NOW).status == "Blocked"
    blocked_group = token("FLEET", status="Blocked")
    assert judge(Presented("04A2B3C4"), card, blocked_group, Purpose.START, now=NOW).status == "Blocked"
    assert judge(Presented("", "NoAuthorization"), None, None, Purpose.START, now=NOW).status == "Accepted"


def test_concurrent_use_per_token_then_group_then_default() -> None:
    card = token("C1", group_id="FLEET")
    busy = {"in_use_elsewhere": True, "now": NOW}
    assert judge(Presented("C1"), card, None, Purpose.START, **busy).status == "ConcurrentTx"  # type: ignore[arg-type]
    assert judge(Presented("C1"), card, None, Purpose.STOP, **busy).status == "Accepted"  # type: ignore[arg-type]
    fleet = token("FLEET", concurrent_tx=True)
    assert judge(Presented("C1"), card, fleet, Purpose.START, **busy).status == "Accepted"  # type: ignore[arg-type]
    strict = replace(card, concurrent_tx=False)
    assert judge(Presented("C1"), strict, fleet, Purpose.START, **busy).status == "ConcurrentTx"  # type: ignore[arg-type]
    verdict = judge(Presented("C1"), card, None, Purpose.START, concurrent_default=True, **busy)  # type: ignore[arg-type]
    assert verdict.status == "Accepted"


def test_master_pass_stops_but_never_starts() -> None:
    master = token("MASTER1", group_id="MASTERPASS")
    rules = {"master_pass_group": "MASTERPASS", "now": NOW}
    assert judge(Presented("MASTER1"), master, None, Purpose.STOP, **rules).status == "Accepted"  # type: ignore[arg-type]
    assert judge(Presented("MASTER1"), master, None, Purpose.AUTHORIZE, **rules).group_id == "MASTERPASS"  # type: ignore[arg-type]
    assert judge(Presented("MASTER1"), master, None, Purpose.START, **rules).status == "Invalid"  # type: ignore[arg-type]


def test_same_group() -> None:
    a = token("A", group_id="G")
    assert same_group(a, "B", "G")
    assert same_group(a, "G", None)  # the group token itself
    assert not same_group(a, "B", "H")
    assert not same_group(token("A"), "B", None)


def test_local_list_plan_full_then_differential_split() -> None:
    from ocppd.csms.local_lists import plan_update
    from ocppd.store.tx_repo import ListEntry

    a, b, c = (ListEntry(t, None, "Accepted", None, None) for t in ("A", "B", "C"))
    full = plan_update([a, b, c], [], 4, full=True, max_items=2)
    assert [(u.update_type, u.version, [e.id_token for e in u.entries]) for u in full] == [
        ("Full", 5, ["A", "B"]),
        ("Differential", 6, ["C"]),
    ]
    assert plan_update([a, b], [a, b], 6, full=False, max_items=None) == []  # nothing changed
    blocked = replace(b, status="Blocked")
    [diff] = plan_update([a, blocked], [a, b, c], 6, full=False, max_items=None)
    assert diff.update_type == "Differential" and diff.version == 7
    assert [(e.id_token, e.status) for e in diff.entries] == [("B", "Blocked"), ("C", None)]  # C removed
    [empty] = plan_update([], [a], 7, full=True, max_items=None)
    assert empty.update_type == "Full" and empty.entries == ()
