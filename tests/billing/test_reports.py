"""The report totals as the database sums them (SQLite and PostgreSQL): local days and months in the
operator's time zone (across a DST change), keys, currencies, exact money and durations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, insert

from ocppd.csms.billing.reports import ReportError, bound, check, zone_of
from ocppd.csms.billing.service import totals_op
from ocppd.store.schema import transaction_costs, transactions

BERLIN = ZoneInfo("Europe/Berlin")
NO_FILTERS: dict[str, str | None] = {"site_id": None, "station_id": None, "group_id": None, "id_token": None}


@pytest.fixture
def engine(report_db: str) -> Iterator[Engine]:
    engine = create_engine(report_db)
    with engine.begin() as conn:  # every test starts empty
        conn.execute(transaction_costs.delete())
        conn.execute(transactions.delete())
    yield engine
    engine.dispose()


class Sessions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0

    def add(self, end: datetime, minutes: float = 60, *, costs: int = 1, **kw: Any) -> None:
        """One finished session with its cost (``costs`` computations: the last one counts)."""
        self.count += 1
        tx = {"id": self.count, "station_id": kw.pop("station_id", "CP1"), "id_token": kw.pop("id_token", "04A10001"),
              "started_at": end - timedelta(minutes=minutes), "stopped_at": end, "energy_wh": kw.pop("tx_wh", None),
              "dedupe_key": f"d{self.count}"}  # fmt: skip
        cost = {"transaction_id": self.count, "site_id": "depot", "group_id": None, "currency": "EUR",
                "energy_wh": 10_000.0, "excl_vat_minor": 300, "incl_vat_minor": 357, "reason": "ended"}  # fmt: skip
        cost |= kw
        with self.engine.begin() as conn:
            conn.execute(insert(transactions), [tx])
            stale = cost | {"excl_vat_minor": 1, "incl_vat_minor": 1, "currency": "CHF"}
            conn.execute(insert(transaction_costs), [stale] * (costs - 1) + [cost])

    def totals(self, period: str, by: str | None, zone: ZoneInfo, **kw: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return totals_op(conn, period, by, zone, kw.pop("since", None), kw.pop("until", None), NO_FILTERS | kw)


@pytest.fixture
def sessions(engine: Engine) -> Sessions:
    return Sessions(engine)


def test_a_session_ending_late_in_utc_counts_on_the_next_local_day(sessions: Sessions) -> None:
    # 22:30 UTC on 31 May is 00:30 on 1 June in Berlin (UTC+2 in summer): another day and another month
    sessions.add(datetime(2026, 5, 31, 22, 30, tzinfo=UTC))
    sessions.add(datetime(2026, 5, 31, 10, 0, tzinfo=UTC))
    assert [t["period"] for t in sessions.totals("day", None, ZoneInfo("UTC"))] == ["2026-05-31"]
    days = sessions.totals("day", None, BERLIN)
    assert [(t["period"], t["transactions"]) for t in days] == [("2026-05-31", 1), ("2026-06-01", 1)]
    assert [t["period"] for t in sessions.totals("month", None, BERLIN)] == ["2026-05", "2026-06"]


def test_the_berlin_autumn_change_moves_midnight_by_an_hour(sessions: Sessions) -> None:
    # Sunday 25 October 2026: CEST (UTC+2) until 01:00 UTC, then CET (UTC+1); a day of 25 hours
    sessions.add(datetime(2026, 10, 24, 21, 59, 59, 999_999, tzinfo=UTC))  # 23:59:59.999999 CEST, the 24th
    sessions.add(datetime(2026, 10, 24, 22, 0, tzinfo=UTC))  # 00:00 CEST, the 25th
    sessions.add(datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC))  # 02:59:59 CEST
    sessions.add(datetime(2026, 10, 25, 1, 0, tzinfo=UTC))  # 02:00 CET (the second 02:00)
    sessions.add(datetime(2026, 10, 25, 22, 59, 59, 999_999, tzinfo=UTC))  # 23:59:59.999999 CET, the 25th
    sessions.add(datetime(2026, 10, 25, 23, 0, tzinfo=UTC))  # 00:00 CET, the 26th
    days = sessions.totals("day", None, BERLIN)
    assert [(t["period"], t["transactions"]) for t in days] == [("2026-10-24", 1), ("2026-10-25", 4), ("2026-10-26", 1)]
    day = sessions.totals("day", None, BERLIN, since=bound("2026-10-25", BERLIN, "since"),
                          until=bound("2026-10-26", BERLIN, "until"))  # fmt: skip
    assert [(t["period"], t["transactions"]) for t in day] == [("2026-10-25", 4)]
    utc = sessions.totals("day", None, ZoneInfo("UTC"))
    assert [(t["period"], t["transactions"]) for t in utc] == [("2026-10-24", 2), ("2026-10-25", 4)]


def test_totals_by_key_and_currency_sum_exactly(sessions: Sessions) -> None:
    end = datetime(2026, 6, 10, 12, tzinfo=UTC)
    sessions.add(end, costs=3)  # recomputed: the latest computation counts
    sessions.add(end, station_id="CP2", excl_vat_minor=1, incl_vat_minor=1, energy_wh=0.5, charging_s=1800.4,
                 parking_s=90.0)  # fmt: skip
    sessions.add(end, site_id=None, currency="CHF", excl_vat_minor=1000, incl_vat_minor=1081, minutes=30)
    sessions.add(end, site_id="yard", currency=None, excl_vat_minor=None, incl_vat_minor=None, energy_wh=None,
                 tx_wh=2_000.0)  # fmt: skip
    sessions.add(end, site_id="yard", currency="JPY", excl_vat_minor=1500, incl_vat_minor=1650, minutes=0.0005)
    by_site = sessions.totals("month", "site", ZoneInfo("UTC"))
    assert [(t["site_id"], t["currency"]) for t in by_site] == [(None, "CHF"), ("depot", "EUR"), ("yard", None),
                                                                ("yard", "JPY")]  # fmt: skip
    assert by_site[1] == {
        "period": "2026-06",
        "site_id": "depot",
        "currency": "EUR",
        "transactions": 2,
        "energy_wh": 10_000.5,
        "duration_s": 7200,
        "charging_s": 1800,
        "parking_s": 90,
        "excl_vat": "3.01",
        "vat": "0.57",
        "incl_vat": "3.58",
    }
    assert by_site[2]["incl_vat"] == "0" and by_site[2]["energy_wh"] == 2_000.0  # no tariff: energy only
    assert (by_site[3]["incl_vat"], by_site[3]["duration_s"]) == ("1650", 0)  # no minor units; 30 ms
    by_station = sessions.totals("day", "station", ZoneInfo("UTC"))
    assert [(t["station_id"], t["currency"]) for t in by_station] == [("CP1", None), ("CP1", "CHF"), ("CP1", "EUR"),
                                                                      ("CP1", "JPY"), ("CP2", "EUR")]  # fmt: skip


def test_durations_sum_exactly_in_microseconds(sessions: Sessions) -> None:
    # 0.1 s + 0.2 s + 0.7 s: exactly one second (summed as floats it was 0.9999999999999999, i.e. 0)
    end = datetime(2026, 6, 10, 12, tzinfo=UTC)
    for seconds in (0.1, 0.2, 0.7):
        sessions.add(end, minutes=seconds / 60)
    sessions.add(end, minutes=-5)  # ended before it started (a station clock): counts as 0
    assert [t["duration_s"] for t in sessions.totals("day", None, ZoneInfo("UTC"))] == [1]


def test_keys_sort_by_code_point_on_both_backends(sessions: Sessions) -> None:
    end = datetime(2026, 6, 10, 12, tzinfo=UTC)
    for token in ("abc", "ABC", "Zed", "é-tag", "_x"):
        sessions.add(end, id_token=token)
    tokens = [t["id_token"] for t in sessions.totals("day", "token", ZoneInfo("UTC"))]
    assert tokens == sorted(tokens) == ["ABC", "Zed", "_x", "abc", "é-tag"]


def test_bounds_are_local_dates_or_times() -> None:
    assert bound("2026-06-01", BERLIN, "since") == datetime(2026, 5, 31, 22, tzinfo=UTC)
    assert bound("2026-06-01T08:00", BERLIN, "since") == datetime(2026, 6, 1, 6, tzinfo=UTC)
    assert bound("2026-06-01T08:00Z", BERLIN, "since") == datetime(2026, 6, 1, 8, tzinfo=UTC)
    assert bound(None, BERLIN, "since") is None


def test_bad_report_parameters_are_named() -> None:
    with pytest.raises(ReportError) as caught:
        zone_of("Mars/Olympus")
    assert caught.value.where == "tz"
    with pytest.raises(ReportError) as caught:
        bound("first of June", UTC, "until")
    assert caught.value.where == "until"
    with pytest.raises(ReportError) as caught:
        check("week", None)
    assert caught.value.where == "period"
    with pytest.raises(ReportError) as caught:
        check("day", "planet")
    assert caught.value.where == "by"


def test_the_dashboards_default_range_is_30_days_or_12_months() -> None:
    from datetime import date

    from ocppd.csms.billing.reports import default_since

    assert default_since(date(2026, 12, 1), "day") == date(2026, 11, 1)
    assert default_since(date(2026, 12, 1), "month") == date(2026, 1, 1)  # Jan..Dec: 12 months
    assert default_since(date(2026, 3, 15), "month") == date(2025, 4, 1)


def test_totals_by_token_over_10000_tokens_come_a_page_at_a_time(engine: Engine) -> None:
    end = datetime(2026, 6, 10, 12, tzinfo=UTC)
    tokens = [f"T{n:05d}" for n in range(10_000)]
    sessions = [
        {"id": n + 1, "station_id": "CP1", "id_token": tag, "started_at": end, "stopped_at": end, "dedupe_key": tag}
        for n, tag in enumerate(tokens)
    ]
    costs = [
        {"transaction_id": n + 1, "currency": "EUR", "excl_vat_minor": n, "incl_vat_minor": n, "reason": "ended"}
        for n in range(10_000)
    ]
    with engine.begin() as conn:
        conn.execute(insert(transactions), sessions)
        conn.execute(insert(transaction_costs), costs)
    with engine.connect() as conn:
        first = totals_op(conn, "day", "token", BERLIN, None, None, NO_FILTERS, limit=1000)
        assert [t["id_token"] for t in first] == tokens[:1000]
        cursor = ["2026-06-10", "T08999", "EUR"]
        last = totals_op(conn, "day", "token", BERLIN, None, None, NO_FILTERS, after=cursor, limit=1000)
    assert [(t["id_token"], t["excl_vat"]) for t in last] == [
        (tag, f"{int(tag[1:]) / 100:.2f}") for tag in tokens[9000:]
    ]
