"""The data of a time chart that the dashboard's ``app.js`` draws (``<figure data-series>``).

One shape for every server-rendered page plotting a few series against time (the OSCP page, the
local controller's status page): the page embeds it, so the chart shows what the page was rendered
with, and its data table holds the same numbers for people who would rather read them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

Kind = Literal["limit", "measured", "allocated", "fallback"]  # app.js colours a series by its kind


def series(
    name: str, kind: Kind, points: Iterable[tuple[float, float | None]], *, step: bool = True, end: float | None = None
) -> dict[str, Any]:
    """One series: ``points`` are (UNIX seconds, value or None for a gap); a step series holds each
    value until the next point, the last one until ``end``."""
    return {
        "name": name,
        "kind": kind,
        "step": step,
        "end": None if end is None or math.isinf(end) else round(end * 1000),
        "points": [[round(t * 1000), None if v is None or not math.isfinite(v) else round(v, 3)] for t, v in points],
    }


def time_chart(unit: str, start: float, end: float, lines: list[dict[str, Any]], empty: str) -> dict[str, Any]:
    """A chart from ``start`` to ``end`` (UNIX seconds) with one left axis in ``unit``."""
    return {"unit": unit, "x0": round(start * 1000), "x1": round(end * 1000), "empty": empty, "series": lines}


def capacity_chart(group: dict[str, Any], now: float) -> dict[str, Any]:
    """An OSCP group (``Oscp.overview``): the capacity forecast and the fallback capacity against the
    draw measured under its node. In A per phase; a power capacity is drawn as its current per phase
    at the node's voltage, unless the group has only power capacities (then kW)."""
    limits = group["forecast_limits"] + group["fallback_limits"]
    power_only = bool(limits) and all(x["amps"] is None for x in limits)
    voltage = group["voltage"]

    def value(limit: dict[str, Any]) -> float | None:
        if power_only:
            return limit["watts"] / 1000
        if limit["amps"] is not None:
            return min(limit["amps"])
        return None if limit["watts"] is None else limit["watts"] / (3 * voltage)

    def drawn(amps: list[float] | None) -> float | None:
        if amps is None:
            return None
        return sum(amps) * voltage / 1000 if power_only else max(amps)

    draw = group["draw"]
    start = min(now - 600, draw[0][0] if draw else now)
    ends = [x["end"] for x in limits if x["end"] is not None]
    end = max(now + 600, min(max(ends, default=now), now + 86400))
    lines = []
    for name, kind, rows in (("capacity forecast", "limit", group["forecast_limits"]),
                             ("fallback forecast", "fallback", group["fallback_limits"])):  # fmt: skip
        if rows:
            lines.append(series(name, kind, _steps(rows, value), end=rows[-1]["end"] or end))
    if power_only:
        fallback = None if group["fallback_watts"] is None else group["fallback_watts"] / 1000
    else:
        fallback = min(group["fallback_amps"]) if group["fallback_amps"] else None
    if fallback is not None:
        lines.append(series("fallback capacity (while silent)", "fallback", [(start, fallback)], end=end))
    lines.append(series("drawn (highest phase)" if not power_only else "drawn", "measured",
                        [(t, drawn(a)) for t, a in draw], end=now))  # fmt: skip
    return time_chart("kW" if power_only else "A", start, end, lines, "No forecast and no measurement yet")


def _steps(rows: list[dict[str, Any]], value: Any) -> list[tuple[float, float | None]]:
    """Limits from start to end as step points, a gap where one ends before the next starts."""
    points: list[tuple[float, float | None]] = []
    for i, x in enumerate(rows):
        points.append((x["start"], value(x)))
        following = rows[i + 1]["start"] if i + 1 < len(rows) else None
        if x["end"] is not None and following is not None and following > x["end"]:
            points.append((x["end"], None))
    return points
