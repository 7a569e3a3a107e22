"""The totals as ocppd summed them in Python before the database did (issue: billing totals in SQL):
every priced transaction streamed and folded row by row. Kept as the oracle of the differential test
(tests/billing/test_totals_sql.py) and the "old" side of bench/billing_export.py; not used by ocppd."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from ocppd.csms.billing.reports import DIMENSIONS, money
from ocppd.store.schema import transaction_costs, transactions


def _rows(
    conn: Connection, since: datetime | None, until: datetime | None, filters: dict[str, str | None]
) -> Iterator[Any]:
    c = transaction_costs.c
    t = transactions.c
    latest = select(func.max(c.id)).group_by(c.transaction_id).scalar_subquery()
    q = (
        select(
            t.started_at,
            t.stopped_at,
            t.station_id,
            t.id_token,
            c.site_id,
            c.group_id,
            c.currency,
            func.coalesce(c.energy_wh, t.energy_wh).label("energy_wh"),
            c.excl_vat_minor,
            c.incl_vat_minor,
            c.charging_s,
            c.parking_s,
        )
        .select_from(transaction_costs.join(transactions, t.id == c.transaction_id))
        .where(c.id.in_(latest), t.stopped_at.is_not(None))
    )
    if since is not None:
        q = q.where(t.stopped_at >= since)
    if until is not None:
        q = q.where(t.stopped_at < until)
    columns = {"site_id": c.site_id, "station_id": t.station_id, "group_id": c.group_id, "id_token": t.id_token}
    for name, value in filters.items():
        if value is not None:
            q = q.where(columns[name] == value)
    yield from conn.execution_options(yield_per=5000).execute(q)


def python_totals(
    conn: Connection,
    period: str,
    by: str | None,
    zone: ZoneInfo,
    since: datetime | None,
    until: datetime | None,
    filters: dict[str, str | None],
) -> list[dict[str, Any]]:
    """The old fold: one total per (period, key, currency), sorted by them."""
    field = DIMENSIONS[by] if by else None
    sums: dict[tuple[str, str | None, str | None], list[float]] = {}
    for row in _rows(conn, since, until, filters):
        local = row.stopped_at.astimezone(zone)
        when = f"{local:%Y-%m}" if period == "month" else local.date().isoformat()
        key = (when, getattr(row, field) if field else None, row.currency)
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
            "excl_vat": money(int(excl), currency),
            "vat": money(int(incl - excl), currency),
            "incl_vat": money(int(incl), currency),
        }
        out.append(total)
    return out
