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
