"""Resets with their outcome (OCA B_20..B_27, 1.6 TC_013/TC_014).

Every Reset a station answered, whichever path sent it, is kept with its answer. A station reset then
waits to be seen: the connection drops and a new BootNotification comes (its reason, 2.x RemoteReset /
ScheduledReset, is kept): ``completed``. ``Scheduled`` (OnIdle with a transaction) waits for the
station's transactions to end first. If no boot comes within ``ocpp.reset_observe_s`` seconds (counted
from the answer, or from the end of the last transaction for a scheduled one) the outcome is
``not_observed``. A 2.x EVSE reset does not reboot the station and is not announced: Accepted stays
``accepted``; a scheduled one is ``completed`` once that EVSE's transaction ended.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from ocppd import metrics
from ocppd.csms.events import EventBus
from ocppd.store import Store, ops_repo, tx_repo

log = logging.getLogger("ocppd.resets")

OPEN = ("awaiting_reboot", "scheduled")


class Resets:
    def __init__(self, store: Store, events: EventBus, observe_s: float) -> None:
        self.store = store
        self.events = events
        self.observe_s = observe_s
        self._open: dict[int, dict[str, Any]] = {}  # reset id -> row, still waiting to be observed
        self.latest: dict[str, int] = {}  # station -> id of its newest reset (for the API's answer)
        # A reset on its way: what the station did before its answer was stored (it may reboot first)
        self._sending: dict[str, dict[str, Any]] = {}

    async def start(self) -> None:
        self._open = {r["id"]: r for r in await self.store.read(ops_repo.open_resets)}

    def before(self, station_id: str) -> None:
        self._sending[station_id] = {}

    async def observe(self, station_id: str, payload: dict[str, Any], answer: dict[str, Any] | None,
                      failure: str | None = None) -> None:  # fmt: skip
        now = datetime.now(UTC)
        evse_id = payload.get("evseId")
        status = answer.get("status") if answer is not None else None
        if status == "Accepted":
            outcome = "accepted" if evse_id else "awaiting_reboot"
        else:
            outcome = {"Scheduled": "scheduled", "Rejected": "rejected"}.get(str(status), "failed")
        detail = failure or ((answer or {}).get("statusInfo") or {}).get("reasonCode")
        row: dict[str, Any] = {"station_id": station_id, "kind": payload["type"], "evse_id": evse_id,
                               "answer": status, "outcome": outcome, "detail": detail, "requested_at": now,
                               "deadline_at": now + timedelta(seconds=self.observe_s)
                               if outcome == "awaiting_reboot" else None}  # fmt: skip
        # a newer reset supersedes one still waiting (the station reboots once for both)
        for old in [r for r in self._open.values() if r["station_id"] == station_id and outcome in OPEN]:
            await self._finish(old, "superseded", detail=f"by a newer {payload['type']} reset")
        row["id"] = await self.store.write(ops_repo.create_reset, row)
        self.latest[station_id] = row["id"]
        log.info("%s: reset %s%s: %s", station_id, payload["type"], f" EVSE {evse_id}" if evse_id else "",
                 status or failure)  # fmt: skip
        self._publish(row)
        if outcome not in OPEN:
            self._sending.pop(station_id, None)
            metrics.RESET_OUTCOMES.labels(outcome).inc()
            return
        # From here on booted() and disconnected() find the row; what they saw before is in _sending
        # (no await between the two lines below, so nothing falls between them).
        self._open[row["id"]] = row
        early = self._sending.pop(station_id, {})
        if not evse_id and "booted_at" in early:  # it rebooted before its answer was stored
            await self._finish(row, "completed", **{k: early.get(k) for k in ("booted_at", "boot_reason",
                                                                               "disconnected_at")})  # fmt: skip
        elif not evse_id and early.get("disconnected_at"):
            await self.mark_disconnected([row["id"]], early["disconnected_at"])

    def disconnected(self, station_id: str) -> list[int]:
        """The station's connection dropped: the resets it is part of (the caller stores the time)."""
        if station_id in self._sending:
            self._sending[station_id].setdefault("disconnected_at", datetime.now(UTC))
        return [i for i, r in self._open.items() if r["station_id"] == station_id and not r["evse_id"]]

    async def mark_disconnected(self, ids: list[int], at: datetime | None = None) -> None:
        now = at or datetime.now(UTC)
        for i in ids:
            row = self._open.get(i)
            if row is not None and row.get("disconnected_at") is None:
                row["disconnected_at"] = now
                await self.store.write(ops_repo.update_reset, i, disconnected_at=now)

    async def booted(self, station_id: str, reason: str | None) -> None:
        """A BootNotification (accepted or not: the reset happened): the station's waiting resets are done."""
        if station_id in self._sending:
            self._sending[station_id].update(booted_at=datetime.now(UTC), boot_reason=reason)
        for row in [r for r in self._open.values() if r["station_id"] == station_id and not r["evse_id"]]:
            now = datetime.now(UTC)
            row.update(booted_at=now, boot_reason=reason)
            await self._finish(row, "completed", booted_at=now, boot_reason=reason)

    async def sweep(self) -> None:
        """Deadlines: a scheduled reset's clock starts when the station (or EVSE) has no transaction left."""
        if not self._open:
            return
        now = datetime.now(UTC)
        for row in list(self._open.values()):
            if row["outcome"] == "scheduled" and row["deadline_at"] is None:
                station_id, evse_id = row["station_id"], row["evse_id"]
                running = await self.store.read(lambda c, s=station_id, e=evse_id: tx_repo.open_transactions(
                    c, s, evse_id=e))  # fmt: skip
                if running:
                    continue
                if evse_id:  # nothing more to see of an EVSE reset
                    await self._finish(row, "completed", detail="the EVSE's transaction ended")
                    continue
                row["deadline_at"] = now + timedelta(seconds=self.observe_s)
                await self.store.write(ops_repo.update_reset, row["id"], deadline_at=row["deadline_at"])
            elif row["deadline_at"] is not None and row["deadline_at"] < now:
                seen = "the connection dropped but no boot followed" if row.get("disconnected_at") else (
                    "neither a disconnect nor a boot")  # fmt: skip
                await self._finish(row, "not_observed", detail=f"{seen} within {self.observe_s:g} s")

    async def _finish(self, row: dict[str, Any], outcome: str, **values: Any) -> None:
        self._open.pop(row["id"], None)
        row.update(outcome=outcome, **values)
        await self.store.write(ops_repo.update_reset, row["id"], outcome=outcome, **values)
        metrics.RESET_OUTCOMES.labels(outcome).inc()
        log.info("%s: reset %d %s%s", row["station_id"], row["id"], outcome,
                 f" ({values['detail']})" if values.get("detail") else "")  # fmt: skip
        self._publish(row)

    async def list(self, station_id: str | None, limit: int = 50) -> list[dict[str, Any]]:
        return [_public(r) for r in await self.store.read(ops_repo.list_resets, station_id, limit)]

    async def get(self, reset_id: int) -> dict[str, Any] | None:
        row = await self.store.read(ops_repo.reset_by_id, reset_id)
        return _public(row) if row is not None else None

    def _publish(self, row: dict[str, Any]) -> None:
        self.events.publish("reset.changed", row["station_id"], reset_id=row.get("id"), kind=row["kind"],
                            evse_id=row["evse_id"], answer=row["answer"], outcome=row["outcome"])  # fmt: skip


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in ("requested_at", "deadline_at", "disconnected_at", "booted_at"):
        if isinstance(out.get(name), datetime):
            out[name] = out[name].isoformat()
    return out
