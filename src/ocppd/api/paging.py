"""Keyset (cursor) paging for the list endpoints and the dashboard.

A page is asked for with ``limit`` and the ``cursor`` of the previous page. The cursor is the sort
key of the previous page's last row, so every page is one index range however deep it is (no
OFFSET that reads and throws away everything before it), and rows arriving meanwhile never shift a
page. The API answers the rows as a JSON list and says that there is more with a
``Link: <...>; rel="next"`` header (RFC 8288) and ``X-Next-Cursor``; no such header: last page.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from starlette.datastructures import URL

from ocppd.api.errors import ApiError
from ocppd.store.types import as_utc


def encode(key: Sequence[Any]) -> str:
    """An opaque cursor for a sort key (datetimes become ISO text)."""
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode(cursor: str, *types: type) -> tuple[Any, ...]:
    """The sort key of a cursor, checked against ``types`` (400 naming the parameter otherwise)."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong shape")
        key = []
        for value, kind in zip(values, types, strict=True):
            if kind is datetime:
                key.append(as_utc(datetime.fromisoformat(value)))
            elif isinstance(value, kind) and not isinstance(value, bool):
                key.append(value)
            else:
                raise ValueError("wrong type")
        return tuple(key)
    except (ValueError, TypeError):
        raise ApiError(400, "invalid input: cursor: not a cursor this list gave out", "invalid_input") from None


def next_link(url: URL, cursor: str) -> dict[str, str]:
    """Response headers that point to the next page."""
    nxt = url.include_query_params(cursor=cursor)
    return {"Link": f'<{nxt.path}?{nxt.query}>; rel="next"', "X-Next-Cursor": cursor}
