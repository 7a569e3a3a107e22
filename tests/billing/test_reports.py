"""The report totals (pure): local days and months in the operator's time zone, keys, currencies, exact money."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ocppd.csms.billing.reports import ReportError, ReportRow, bound, totals, zone_of

BERLIN = ZoneInfo("Europe/Berlin")


def row(end: datetime, minutes: int = 60, **kw: object) -> ReportRow:
    values: dict[str, object] = {
        "started_at": end - timedelta(minutes=minutes),
        "stopped_at": end,
        "station_id": "CP1",
        "id_token": "04A10001",
        "site_id": "depot",
        "group_id": None,
        "currency": "EUR",
        "energy_wh": 10_000.0,
        "excl_vat_minor": 300,
        "incl_vat_minor": 357,
    }
    values.update(kw)
    return ReportRow(**values)  # type: ignore[arg-type]


def test_a_session_ending_late_in_utc_counts_on_the_next_local_day() -> None:
    # 22:30 UTC on 31 May is 00:30 on 1 June in Berlin (UTC+2 in summer): another day and another month
    late = row(datetime(2026, 5, 31, 22, 30, tzinfo=UTC))
    early = row(datetime(2026, 5, 31, 10, 0, tzinfo=UTC))
    assert [t["period"] for t in totals([late, early], period="day", by=None, zone=UTC)] == ["2026-05-31"]
    days = totals([late, early], period="day", by=None, zone=BERLIN)
    assert [(t["period"], t["transactions"]) for t in days] == [("2026-05-31", 1), ("2026-06-01", 1)]
    months = totals([late, early], period="month", by=None, zone=BERLIN)
    assert [t["period"] for t in months] == ["2026-05", "2026-06"]


def test_totals_by_key_and_currency_sum_exactly() -> None:
    end = datetime(2026, 6, 10, 12, tzinfo=UTC)
    rows = [
        row(end),
        row(
            end, station_id="CP2", excl_vat_minor=1, incl_vat_minor=1, energy_wh=0.5, charging_s=1800.4, parking_s=90.0
        ),
        row(end, site_id=None, currency="CHF", excl_vat_minor=1000, incl_vat_minor=1081, minutes=30),
        row(end, site_id="yard", currency=None, excl_vat_minor=None, incl_vat_minor=None, energy_wh=2_000.0),
    ]
    by_site = totals(rows, period="month", by="site", zone=UTC)
    assert [(t["site_id"], t["currency"]) for t in by_site] == [(None, "CHF"), ("depot", "EUR"), ("yard", None)]
    depot = by_site[1]
    assert depot == {
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
    by_station = totals(rows, period="day", by="station", zone=UTC)
    assert [t["station_id"] for t in by_station] == ["CP1", "CP1", "CP1", "CP2"]


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
        totals([], period="week", by=None, zone=UTC)
    assert caught.value.where == "period"


def test_the_dashboards_default_range_is_30_days_or_12_months() -> None:
    from datetime import date

    from ocppd.csms.billing.reports import default_since

    assert default_since(date(2026, 12, 1), "day") == date(2026, 11, 1)
    assert default_since(date(2026, 12, 1), "month") == date(2026, 1, 1)  # Jan..Dec: 12 months
    assert default_since(date(2026, 3, 15), "month") == date(2025, 4, 1)
