"""2.x display messages (OCA block O): what each station shows, as set and as reported.

Observed on every path that sends them: an accepted SetDisplayMessage stores the message (the same id
replaces it); ClearDisplayMessage Accepted or Unknown removes it (Unknown: the station has no such
message, so neither should our record). GetDisplayMessages is reconciled with the answer: the
NotifyDisplayMessages parts (tbc) are assembled per requestId, the reported messages stored, and those
the request covered but the station did not report are removed (all of them for a request without
filters; answer Unknown: none matched).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ocppd.csms.events import EventBus
from ocppd.csms.metering import parse_time
from ocppd.csms.reporting import qualified
from ocppd.csms.verbs import SetDisplayMessage
from ocppd.store import Store, ops_repo, repo

log = logging.getLogger("ocppd.display")
_MAX_PENDING = 10_000  # GetDisplayMessages whose report has not arrived yet, across stations


@dataclass
class _Pending:
    ids: list[int] | None
    priority: str | None
    state: str | None
    reported: list[dict[str, Any]] = field(default_factory=list)


def message_row(station_id: str, info: dict[str, Any]) -> dict[str, Any]:
    content = info["message"]
    display = info.get("display")
    return {
        "station_id": station_id,
        "message_id": int(info["id"]),
        "priority": info["priority"],
        "state": info.get("state"),
        "start_at": parse_time(info["startDateTime"]) if info.get("startDateTime") else None,
        "end_at": parse_time(info["endDateTime"]) if info.get("endDateTime") else None,
        "transaction_id": info.get("transactionId"),
        "format": content["format"],
        "language": content.get("language"),
        "content": content["content"],
        "display": qualified(display) if display else None,
    }


def no_longer_there(pending: _Pending, stored: list[dict[str, Any]], reported: list[int]) -> list[int]:
    """The kept messages a finished GetDisplayMessages shows gone: those it covered and the station did
    not report. A request by ids covers those ids; one by priority/state the kept messages of that
    priority/state; one without filters all of them. A report nobody asked for (ids == []) covers none."""
    if pending.ids is not None:
        return [i for i in pending.ids if i not in reported and any(s["message_id"] == i for s in stored)]
    return [
        s["message_id"]
        for s in stored
        if s["message_id"] not in reported
        and pending.priority in (None, s["priority"])
        and pending.state in (None, s["state"])
    ]


class DisplayMessages:
    def __init__(self, store: Store, events: EventBus) -> None:
        self.store = store
        self.events = events
        self._pending: dict[tuple[str, int], _Pending] = {}

    async def observe(self, station_id: str, action: str, payload: dict[str, Any],
                      answer: dict[str, Any]) -> None:  # fmt: skip
        status = answer.get("status")
        if action == "SetDisplayMessage" and status == "Accepted":
            row = {**message_row(station_id, payload["message"]), "set_at": datetime.now(UTC)}
            await self.store.write(ops_repo.put_display_message, row)
            self._publish(station_id, "set", row["message_id"])
        elif action == "ClearDisplayMessage" and status in ("Accepted", "Unknown"):
            await self.store.write(ops_repo.delete_display_messages, station_id, [int(payload["id"])])
            self._publish(station_id, "cleared", int(payload["id"]))
        elif action == "GetDisplayMessages":
            key = (station_id, int(payload["requestId"]))
            if status == "Unknown":  # nothing matches: what we kept of that kind is gone
                await self._reconcile(station_id, self._pending.pop(key, self._expected(payload)))
            elif status != "Accepted":
                self._pending.pop(key, None)

    def before(self, station_id: str, action: str, payload: dict[str, Any]) -> None:
        """Expect the report of a GetDisplayMessages before it goes out (its parts may beat the answer)."""
        if action == "GetDisplayMessages":
            if len(self._pending) >= _MAX_PENDING:  # stations that never report: forget the oldest
                del self._pending[next(iter(self._pending))]
            self._pending[(station_id, int(payload["requestId"]))] = self._expected(payload)

    @staticmethod
    def _expected(payload: dict[str, Any]) -> _Pending:
        return _Pending(payload.get("id"), payload.get("priority"), payload.get("state"))

    def failed(self, station_id: str, action: str, payload: dict[str, Any]) -> None:
        if action == "GetDisplayMessages":
            self._pending.pop((station_id, int(payload["requestId"])), None)

    async def notify(self, station_id: str, payload: dict[str, Any]) -> None:
        """One NotifyDisplayMessages part; the last one (tbc false) reconciles the request."""
        key = (station_id, int(payload["requestId"]))
        pending = self._pending.get(key)
        if pending is None:  # not asked by this process (or after a restart): store what it says only
            pending = self._pending[key] = _Pending(ids=[], priority=None, state=None)
        pending.reported.extend(payload.get("messageInfo") or [])
        if payload.get("tbc"):
            return
        del self._pending[key]
        await self._reconcile(station_id, pending)

    async def _reconcile(self, station_id: str, pending: _Pending) -> None:
        now = datetime.now(UTC)
        rows = [{**message_row(station_id, m), "reported_at": now} for m in pending.reported]
        reported = [r["message_id"] for r in rows]

        def op(conn: Any) -> int:
            for r in rows:
                ops_repo.put_display_message(conn, r)
            stored = ops_repo.list_display_messages(conn, station_id)
            gone = no_longer_there(pending, stored, reported)
            return ops_repo.delete_display_messages(conn, station_id, gone) if gone else 0

        removed = await self.store.write(op)
        log.info("%s: display messages reported: %d, removed as no longer on the station: %d",
                 station_id, len(rows), removed)  # fmt: skip
        self._publish(station_id, "reported", None)

    async def for_driver(self, station_id: str, verb: SetDisplayMessage) -> SetDisplayMessage:
        """A message for a transaction, with its driver's languages (the token's language1, language2),
        so it goes out in the driver's language where the operator gave that text (TC_O_101)."""
        message = verb.message
        if message.transaction_id is None or message.driver_languages:
            return verb

        def op(conn: Any) -> tuple[str, ...]:
            tx = repo.find_transaction(conn, station_id, message.transaction_id)
            token = repo.get_token(conn, tx.id_token) if tx is not None and tx.id_token else None
            return token.languages if token is not None else ()

        languages = await self.store.read(op)
        return replace(verb, message=replace(message, driver_languages=languages)) if languages else verb

    async def list(self, station_id: str) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        return [_public(r, now) for r in await self.store.read(ops_repo.list_display_messages, station_id)]

    def _publish(self, station_id: str, change: str, message_id: int | None) -> None:
        self.events.publish("display_message.changed", station_id, change=change, message_id=message_id)


def _public(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "station_id"}
    start, end = row.get("start_at"), row.get("end_at")
    out["validity"] = "expired" if end is not None and end <= now else (
        "not_yet" if start is not None and start > now else "valid")  # fmt: skip
    for name in ("start_at", "end_at", "set_at", "reported_at", "updated_at"):
        if isinstance(out.get(name), datetime):
            out[name] = out[name].isoformat()
    return out
