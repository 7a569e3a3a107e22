"""Billing reports: per day or month totals by site, station, token group or token, in a time zone.

The database sums (``billing_repo.report_totals``: one GROUP BY over the latest cost of each finished
transaction); this module holds what decides the report, pure: the parameters, the bounds, the zone's
UTC offsets over the range (SQLite has no time zones, so the local day of a transaction's end is
``date(end + offset at end)`` on both backends) and the shape of a total. A transaction counts on the
local day (or month) of its end, with its latest computation (a recompute moves money, not the day).
Money is summed in the currency's minor units, so totals are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ocppd.csms.billing.currencies import minor_units

PERIODS = ("day", "month")
DIMENSIONS = {"site": "site_id", "station": "station_id", "group": "group_id", "token": "id_token"}


class ReportError(ValueError):
    """A report parameter that cannot be right; ``where`` names it."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError("tz", f"{name!r} is not a known time zone (IANA name, e.g. Europe/Berlin)") from None


def bound(value: str | None, zone: ZoneInfo, where: str) -> datetime | None:
    """A report bound: a local date (its midnight in ``zone``), a local time, or a time with an offset."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), zone).astimezone(UTC)
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(where, f"{value!r} is not a date (2026-06-01) or a time (2026-06-01T08:00+02:00)") from None
    return (at if at.tzinfo else at.replace(tzinfo=zone)).astimezone(UTC)


def default_since(today: date, period: str) -> date:
    """Where the dashboard's totals start when no range is given: 30 days back, or 12 months (first day)."""
    if period == "month":
        year, month = (today.year - 1, today.month + 1) if today.month < 12 else (today.year, 1)
        return date(year, month, 1)
    return today - timedelta(days=30)


def money(minor: int, currency: str | None) -> str:
    """An amount in minor units as the reports write it (``"11.60"``; ``"0"`` without a currency)."""
    return str(Decimal(minor).scaleb(-(minor_units(currency or "") or 0)))


def check(period: str, by: str | None) -> None:
    if period not in PERIODS:
        raise ReportError("period", f"must be one of {', '.join(PERIODS)}")
    if by is not None and by not in DIMENSIONS:
        raise ReportError("by", f"must be one of {', '.join(DIMENSIONS)}")


# Seconds between looks at the zone's offset: since 1900 no zone has changed it twice within 3.9 days
# (tzdata 2025: Africa/Freetown 1939; the next closest are a week apart), so a change is never stepped
# over. About 0.2 s of lookups for 130 years of ends, so a station clock far off costs little.
OFFSET_STEP = 86_400


def offsets(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime | None, int]]:
    """The zone's UTC offsets in seconds over [start, end]: ``[(None, first), (at, next), ...]``, each
    from ``at`` (the first second of the new offset) on. Transitions fall on whole seconds, so an end at
    ``at - 0.5 s`` still has the offset before it; the DST change itself is where the day splits right."""

    def offset(second: int) -> int:
        shift = datetime.fromtimestamp(second, UTC).astimezone(zone).utcoffset()
        return int(shift.total_seconds()) if shift is not None else 0

    low, high = int(start.timestamp()) - 1, int(end.timestamp()) + 1
    out: list[tuple[datetime | None, int]] = [(None, offset(low))]
    at = low
    while at < high:
        step = min(at + OFFSET_STEP, high)
        if offset(step) != out[-1][1]:
            before, after = at, step  # bisect to the first second of the new offset
            while after - before > 1:
                middle = (before + after) // 2
                before, after = (middle, after) if offset(middle) == out[-1][1] else (before, middle)
            out.append((datetime.fromtimestamp(after, UTC), offset(after)))
            at = after
            continue
        at = step
    return out


def total(sums: Sequence[Any], by: str | None) -> dict[str, Any]:
    """One total as the API, the CLI and the dashboard answer it, from what the database summed for one
    (period, key, currency): ``billing_repo.report_totals``'s row (key None without ``by``; the
    currency None when no tariff applied, energy still counts; durations in exact microseconds)."""
    period, key, currency, count, energy_wh, duration_us, charging_s, parking_s, excl, incl = sums
    out: dict[str, Any] = {"period": period}
    if by:
        out[DIMENSIONS[by]] = key
    out["currency"] = currency
    out["transactions"] = int(count)
    out["energy_wh"] = round(float(energy_wh), 3)
    out["duration_s"] = int(duration_us) // 1_000_000
    out["charging_s"] = int(charging_s)
    out["parking_s"] = int(parking_s)
    out["excl_vat"] = money(int(excl), currency)
    out["vat"] = money(int(incl) - int(excl), currency)
    out["incl_vat"] = money(int(incl), currency)
    return out


def sort_key(total: dict[str, Any], by: str | None) -> list[str]:
    """The paging cursor of a total: its period, key and currency."""
    key = total.get(DIMENSIONS[by]) if by else None
    return [total["period"], key or "", total["currency"] or ""]
