"""Raw station events and cleared alerts are pruned by ``alerts.event_retention_days``; security events
keep their own retention; open alerts are never pruned (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from ocppd.store import Store, repo
from ocppd.store import alerts_repo as arepo
from ocppd.store.schema import events

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _alert(key: str) -> dict[str, object]:
    then = NOW - timedelta(days=90)
    return {"station_id": "CS-1", "key": key, "source": "NotifyEvent", "message": key, "opened_at": then,
            "last_at": then, "count": 1}  # fmt: skip


async def test_prune_keeps_recent_events_security_events_and_open_alerts(store: Store) -> None:
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=1)
    for kind in ("NotifyEvent", "SecurityEventNotification", "FirmwareStatusNotification"):
        old_id = await store.write(repo.record_event, "CS-1", kind, old, {})
        await store.write(lambda c, i=old_id: c.execute(update(events).where(events.c.id == i).values(recorded_at=old)))
        await store.write(repo.record_event, "CS-1", kind, recent, {})
    cleared = await store.write(arepo.open_alert, _alert("a"))
    await store.write(arepo.clear_alerts, [cleared], NOW - timedelta(days=35))
    still_open = await store.write(arepo.open_alert, _alert("b"))

    gone = await store.write(arepo.prune_events, NOW - timedelta(days=30))

    assert gone == 2
    kinds = sorted(e.kind for e in await store.read(repo.list_events, station_id="CS-1"))
    assert kinds == ["FirmwareStatusNotification", "NotifyEvent", "SecurityEventNotification",
                     "SecurityEventNotification"]  # fmt: skip
    left = await store.read(arepo.list_alerts, state="all")
    assert [a["id"] for a in left] == [still_open]
