"""The billing totals the database sums (GROUP BY in SQL) against the Python fold they replaced
(tests/billing/totals_reference.py), on SQLite and PostgreSQL: randomised sessions ending around the
DST changes of several zones, recomputed costs, several currencies, keys that sort differently by
code point than by locale, every period, key and filter, and the pages a cursor walks."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, Engine, create_engine, insert

from ocppd.csms.billing.reports import bound, offsets
from ocppd.csms.billing.service import totals_op
from ocppd.store.schema import transaction_costs, transactions
from tests.billing.totals_reference import python_totals

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham"]
# the instants things happen around: DST changes (Berlin, New York, Lord Howe) and local midnights
AROUND = [
    datetime(2026, 3, 29, 1, tzinfo=UTC),  # Berlin: 02:00 CET -> 03:00 CEST
    datetime(2026, 10, 25, 1, tzinfo=UTC),  # Berlin: 03:00 CEST -> 02:00 CET
    datetime(2026, 10, 24, 22, tzinfo=UTC),  # Berlin midnight of the 25th (still CEST)
    datetime(2026, 10, 25, 23, tzinfo=UTC),  # Berlin midnight of the 26th (CET)
    datetime(2026, 11, 1, 6, tzinfo=UTC),  # New York: 02:00 EDT -> 01:00 EST
    datetime(2026, 10, 3, 15, 30, tzinfo=UTC),  # Lord Howe: +10:30 -> +11
    datetime(2026, 5, 31, 22, tzinfo=UTC),  # Berlin: 1 June (a month boundary)
    datetime(2026, 12, 31, 23, tzinfo=UTC),
]
STATIONS = ["CP1", "CP2", "cp3", "Z-9"]
TOKENS = [None, "04A1", "abc", "ABC", "Zed", "zed", "é-tag", "_x"]
SITES = [None, "depot", "Depot", "yard"]
GROUPS = [None, "FLEET", "fleet", "Ä-group"]
CURRENCIES = ["EUR", "EUR", "CHF", "JPY", None]


def _sessions(rnd: random.Random, count: int) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    for n in range(count):
        end = rnd.choice(AROUND) + timedelta(seconds=rnd.randrange(-4 * 3600, 4 * 3600))
        if rnd.random() < 0.2:  # a fraction of a second before or after a change
            end = rnd.choice(AROUND) + timedelta(microseconds=rnd.choice([-500_000, -1, 0, 1, 250_000]))
        end += timedelta(microseconds=rnd.choice([0, 0, 123_456]))
        # whole seconds long (the old fold summed float seconds, exact only for those); a few backwards
        start = end - timedelta(seconds=rnd.randrange(-600, 20_000))
        tx = {
            "id": n + 1,
            "station_id": rnd.choice(STATIONS),
            "transaction_uid": f"t{n}",
            "id_token": rnd.choice(TOKENS),
            "started_at": start,
            "stopped_at": None if rnd.random() < 0.05 else end,
            "energy_wh": rnd.randrange(0, 600_000) / 10,
            "dedupe_key": f"d{n}",
        }
        costs = []
        for _ in range(rnd.choice([0, 1, 1, 1, 2, 3])):  # none (never priced), priced, recomputed
            currency = rnd.choice(CURRENCIES)
            excl = None if currency is None else rnd.randrange(0, 100_000)
            costs.append(
                {
                    "transaction_id": n + 1,
                    "currency": currency,
                    "excl_vat_minor": excl,
                    "incl_vat_minor": None if excl is None else excl + rnd.randrange(0, 20_000),
                    "energy_wh": None if rnd.random() < 0.2 else rnd.randrange(0, 600_000) / 10,
                    "site_id": rnd.choice(SITES),
                    "group_id": rnd.choice(GROUPS),
                    "charging_s": None if rnd.random() < 0.2 else rnd.randrange(0, 40_000) / 2,
                    "parking_s": None if rnd.random() < 0.3 else rnd.randrange(0, 8_000) / 2,
                    "reason": "transaction ended",
                    "computed_at": end,
                }
            )
        yield tx, costs


@pytest.fixture(scope="module")
def engine(report_db: str) -> Iterator[Engine]:
    engine = create_engine(report_db)
    rnd = random.Random(20261025)
    sessions = list(_sessions(rnd, 3000))
    with engine.begin() as conn:
        conn.execute(insert(transactions), [tx for tx, _ in sessions])
        rnd.shuffle(cost_rows := [cost for _, costs in sessions for cost in costs])  # ids not in session order
        conn.execute(insert(transaction_costs), cost_rows)
    yield engine
    engine.dispose()


def both(conn: Connection, period: str, by: str | None, tz: str, **kw: Any) -> tuple[list[Any], list[Any]]:
    zone = ZoneInfo(tz)
    since, until = bound(kw.pop("since", None), zone, "since"), bound(kw.pop("until", None), zone, "until")
    filters = {"site_id": None, "station_id": None, "group_id": None, "id_token": None} | kw
    new = totals_op(conn, period, by, zone, since, until, filters)
    return new, python_totals(conn, period, by, zone, since, until, filters)


@pytest.mark.parametrize("tz", ZONES)
def test_every_period_and_key_sums_as_the_python_fold_did(engine: Engine, tz: str) -> None:
    with engine.connect() as conn:
        for period in ("day", "month"):
            for by in (None, "site", "station", "group", "token"):
                new, old = both(conn, period, by, tz)
                assert new == old, (period, by, tz)
                assert len(new) > 5


def test_filters_and_local_ranges_sum_as_the_python_fold_did(engine: Engine) -> None:
    cases: list[dict[str, Any]] = [
        {"since": "2026-10-25", "until": "2026-10-26"},  # the 25-hour day
        {"since": "2026-03-29", "until": "2026-03-30"},  # the 23-hour day
        {"since": "2026-10-25T02:30", "until": "2026-10-25T02:45"},  # a local time that happens twice
        {"site_id": "depot"},
        {"station_id": "cp3", "group_id": "fleet"},
        {"id_token": "é-tag", "since": "2026-06-01"},
    ]
    with engine.connect() as conn:
        for kw in cases:
            for by in (None, "token", "site"):
                new, old = both(conn, "day", by, "Europe/Berlin", **kw)
                assert new == old, (kw, by)


def test_the_pages_a_cursor_walks_are_the_whole_answer_in_order(engine: Engine) -> None:
    zone = ZoneInfo("Europe/Berlin")
    filters: dict[str, str | None] = {"site_id": None, "station_id": None, "group_id": None, "id_token": None}
    with engine.connect() as conn:
        for by in (None, "token"):
            everything = python_totals(conn, "day", by, zone, None, None, filters)
            walked: list[dict[str, Any]] = []
            after = None
            while True:
                page = totals_op(conn, "day", by, zone, None, None, filters, after=after, limit=7)
                walked += page
                if len(page) < 7:
                    break
                last = page[-1]
                after = [last["period"], (last.get("id_token") if by else None) or "", last["currency"] or ""]
            assert walked == everything


def test_the_offsets_split_the_berlin_autumn_day_at_the_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    found = offsets(berlin, datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    assert found == [(None, 7200), (datetime(2026, 10, 25, 1, tzinfo=UTC), 3600)]
    year = offsets(berlin, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert [at for at, _ in year] == [None, datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)]
    assert offsets(ZoneInfo("UTC"), datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)) == [(None, 0)]


@pytest.mark.parametrize("tz", ["Europe/Berlin", "Africa/Casablanca", "Asia/Gaza", "America/Sao_Paulo"])
def test_the_offsets_agree_with_the_zone_every_hour_of_ten_years(tz: str) -> None:
    # Casablanca leaves DST for Ramadan, Gaza changed weeks apart, Sao Paulo dropped DST in 2019
    zone = ZoneInfo(tz)
    start, end = datetime(2018, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    found = offsets(zone, start, end)
    at, hour = start, timedelta(hours=1)
    while at < end:
        offset = next(off for since, off in reversed(found) if since is None or since <= at)
        assert offset == at.astimezone(zone).utcoffset().total_seconds(), at  # type: ignore[union-attr]
        at += hour
