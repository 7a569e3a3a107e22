"""Billing reports: per day or month totals by site, station, token group or token, in a time zone.

Pure: ``totals`` folds the priced transactions the store streams (``billing_repo.report_rows``) into
one row per (period, key, currency). A transaction counts on the local day (or month) of its end in
the operator's time zone, with its latest computation (a recompute moves money, not the day).
Money is summed in the currency's minor units, so totals are exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One priced, finished transaction as the reports need it."""

    started_at: datetime
    stopped_at: datetime
    station_id: str
    id_token: str | None
    site_id: str | None
    group_id: str | None
    currency: str | None  # None: no tariff applied (energy still counts)
    energy_wh: float | None
    excl_vat_minor: int | None
    incl_vat_minor: int | None
    charging_s: float | None = None  # None: priced before these were kept (or no tariff)
    parking_s: float | None = None


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


def period_of(at: datetime, zone: ZoneInfo, period: str) -> str:
    local = at.astimezone(zone)
    return f"{local:%Y-%m}" if period == "month" else local.date().isoformat()


def default_since(today: date, period: str) -> date:
    """Where the dashboard's totals start when no range is given: 30 days back, or 12 months (first day)."""
    if period == "month":
        year, month = (today.year - 1, today.month + 1) if today.month < 12 else (today.year, 1)
        return date(year, month, 1)
    return today - timedelta(days=30)


def _money(minor: int, currency: str | None) -> str:
    return str(Decimal(minor).scaleb(-(minor_units(currency or "") or 0)))


def totals(rows: Iterable[ReportRow], *, period: str, by: str | None, zone: ZoneInfo) -> list[dict[str, Any]]:
    """One total per (period, key, currency), sorted by them; ``by`` None: per period only."""
    if period not in PERIODS:
        raise ReportError("period", f"must be one of {', '.join(PERIODS)}")
    if by is not None and by not in DIMENSIONS:
        raise ReportError("by", f"must be one of {', '.join(DIMENSIONS)}")
    field = DIMENSIONS[by] if by else None
    sums: dict[tuple[str, str | None, str | None], list[float]] = {}
    for row in rows:
        key = (period_of(row.stopped_at, zone, period), getattr(row, field) if field else None, row.currency)
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [0, 0.0, 0.0, 0, 0, 0.0, 0.0]
        acc[0] += 1
        acc[1] += row.energy_wh or 0.0
        acc[2] += max(0.0, (row.stopped_at - row.started_at).total_seconds())
        acc[3] += row.excl_vat_minor or 0
        acc[4] += row.incl_vat_minor or 0
        acc[5] += row.charging_s or 0.0
        acc[6] += row.parking_s or 0.0
    out = []
    for (when, key, currency), (count, wh, seconds, excl, incl, charging, parking) in sorted(
        sums.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2] or "")
    ):
        total: dict[str, Any] = {"period": when}
        if field:
            total[field] = key
        total |= {
            "currency": currency,
            "transactions": int(count),
            "energy_wh": round(wh, 3),
            "duration_s": int(seconds),
            "charging_s": int(charging),
            "parking_s": int(parking),
            "excl_vat": _money(int(excl), currency),
            "vat": _money(int(incl - excl), currency),
            "incl_vat": _money(int(incl), currency),
        }
        out.append(total)
    return out


def sort_key(total: dict[str, Any], by: str | None) -> list[str]:
    """The paging cursor of a total: its period, key and currency."""
    key = total.get(DIMENSIONS[by]) if by else None
    return [total["period"], key or "", total["currency"] or ""]
