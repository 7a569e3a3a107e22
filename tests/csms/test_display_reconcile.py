"""Which kept display messages a finished GetDisplayMessages shows gone (pure)."""

from __future__ import annotations

from typing import Any

from ocppd.csms.display_messages import _Pending, message_row, no_longer_there


def kept(mid: int, priority: str = "NormalCycle", state: str | None = None) -> dict[str, Any]:
    return {"message_id": mid, "priority": priority, "state": state}


STORED = [kept(1, "InFront"), kept(2, state="Charging"), kept(3)]


def test_a_request_without_filters_covers_everything_kept() -> None:
    assert no_longer_there(_Pending(None, None, None), STORED, [1]) == [2, 3]
    assert no_longer_there(_Pending(None, None, None), STORED, []) == [1, 2, 3]  # answer Unknown


def test_a_request_by_id_covers_those_ids_only() -> None:
    assert no_longer_there(_Pending([2, 3, 9], None, None), STORED, [3]) == [2]


def test_a_request_by_priority_or_state_covers_that_kind_only() -> None:
    assert no_longer_there(_Pending(None, "InFront", None), STORED, []) == [1]
    assert no_longer_there(_Pending(None, None, "Charging"), STORED, [2]) == []


def test_a_report_nobody_asked_for_removes_nothing() -> None:
    assert no_longer_there(_Pending([], None, None), STORED, []) == []


def test_message_row_from_message_info() -> None:
    row = message_row("CS-1", {"id": 4, "priority": "AlwaysFront", "state": "Idle",
                               "endDateTime": "2026-12-01T10:00:00Z", "transactionId": "T1",
                               "display": {"name": "Display", "evse": {"id": 1}},
                               "message": {"format": "UTF8", "language": "en", "content": "hi"}})  # fmt: skip
    assert (row["message_id"], row["priority"], row["state"], row["transaction_id"]) == (4, "AlwaysFront", "Idle", "T1")
    assert row["end_at"].isoformat() == "2026-12-01T10:00:00+00:00" and row["start_at"] is None
    assert (row["format"], row["language"], row["content"], row["display"]) == ("UTF8", "en", "hi", "Display@evse1")
