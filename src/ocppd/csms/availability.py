"""Connector and EVSE status (current state and history; 1.6 connector 0 is the whole station), and the
operative state the operator wants per scope (ChangeAvailability as state, OCA G).

A ChangeAvailability, whichever path sent it (typed command, generic call, queue), is observed by
:meth:`Availability.observe`: the wish is stored per scope (station, EVSE, connector) with the station's
answer. ``Accepted`` waits for the reported status to show it, ``Scheduled`` waits for the running
transaction to end and then the status; either becomes ``applied`` once every connector in the scope
reports it (Unavailable for inoperative, anything else for operative). Stations keep the operative
state over a reboot (2.0.1 G03/G04: Inoperative persists; 1.6 5.2 "persistent states"): after a boot, a
connector that reports a status contradicting an applied wish gets the ChangeAvailability once more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ocppd import metrics
from ocppd.csms.events import EventBus
from ocppd.csms.verbs import ChangeAvailability
from ocppd.store import Store, ops_repo, repo, tx_repo

log = logging.getLogger("ocppd.availability")

Scope = tuple[int, int]  # (evse_id, connector_id); 0 = the station / the whole EVSE
OPEN_STATES = ("pending", "scheduled")


def scope_of(version_16: bool, payload: dict[str, Any]) -> tuple[Scope, bool]:
    """The scope and the operative flag a ChangeAvailability request names."""
    if version_16:  # 1.6: connectorId 0 is the charge point; otherwise a connector (= its EVSE)
        return (int(payload["connectorId"]), 0), payload["type"] == "Operative"
    evse = payload.get("evse") or {}
    return (int(evse.get("id", 0)), int(evse.get("connectorId", 0))), payload["operationalStatus"] == "Operative"


def covers(scope: Scope, evse_id: int, connector_id: int) -> bool:
    evse, connector = scope
    return evse == 0 or (evse == evse_id and connector in (0, connector_id))


def shows(operative: bool, status: str) -> bool:
    """Whether a reported connector status is what the wanted operative state looks like."""
    return (status != "Unavailable") if operative else status == "Unavailable"


def applied(scope: Scope, operative: bool, statuses: list[tuple[int, int, str]]) -> bool:
    """Every connector of the scope reports the wanted state. A station scope looks at the real
    connectors (1.6 connector 0 / a 2.x EVSE 0 row only when nothing else was reported)."""
    in_scope = [s for e, c, s in statuses if covers(scope, e, c) and e > 0]
    if not in_scope and scope == (0, 0):
        in_scope = [s for e, c, s in statuses if e == 0]
    return bool(in_scope) and all(shows(operative, s) for s in in_scope)


def effective(wishes: list[dict[str, Any]], evse_id: int, connector_id: int) -> dict[str, Any] | None:
    """The wish that decides a connector: an inoperative one anywhere above it wins (an inoperative
    station makes every connector inoperative), otherwise the most specific one."""
    covering = [w for w in wishes if covers((w["evse_id"], w["connector_id"]), evse_id, connector_id)]
    if not covering:
        return None
    down = [w for w in covering if not w["operative"] and w["state"] != "rejected"]
    pool = down or covering
    return max(pool, key=lambda w: (w["evse_id"] > 0, w["connector_id"] > 0))


class Availability:
    def __init__(self, store: Store, events: EventBus) -> None:
        self.store = store
        self.events = events
        # set by the Csms: send a verb (Csms.send)
        self.send: Callable[..., Awaitable[Any]] | None = None
        self._with_wishes: set[str] = set()  # stations with any stored wish (skip the lookups otherwise)
        self._reconciling: dict[str, set[Scope]] = {}  # after a boot: scopes already sent again
        self._background: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._with_wishes = await self.store.read(ops_repo.stations_with_wishes)

    async def status(
        self,
        station_id: str,
        evse_id: int,
        connector_id: int,
        status: str,
        error_code: str | None,
        info: str | None,
        timestamp: datetime,
        extra: dict[str, Any],
    ) -> None:
        def op(conn: Any) -> None:
            # Kept all the same (nothing a station says is dropped), but a connector it never declared
            # (1.6 NumberOfConnectors, 2.x device model Connector components) is recorded as such.
            declared = tx_repo.declared_connectors(conn, station_id)
            if declared is not None and connector_id > 0 and (evse_id, connector_id) not in declared:
                payload = {"evse_id": evse_id, "connector_id": connector_id, "status": status}
                repo.record_event(conn, station_id, "UndeclaredConnector", timestamp, payload)
            repo.record_status(conn, station_id, evse_id, connector_id, status, error_code, info, timestamp, extra)

        await self.store.write(op)
        self.events.publish(
            "status.changed",
            station_id,
            evse_id=evse_id,
            connector_id=connector_id,
            status=status,
            error_code=error_code,
        )
        if station_id in self._with_wishes:
            await self._follow(station_id, (evse_id, connector_id, status))

    # ------------------------------------------------------------------ the operator's wishes
    async def observe(self, station_id: str, version_16: bool, payload: dict[str, Any],
                      answer: dict[str, Any] | None, failure: str | None = None) -> None:  # fmt: skip
        """A ChangeAvailability went out: store the wish with the station's answer."""
        (evse_id, connector_id), operative = scope_of(version_16, payload)
        status = answer.get("status") if answer is not None else None
        state = {"Accepted": "pending", "Scheduled": "scheduled", "Rejected": "rejected"}.get(str(status), "failed")
        detail = failure or ((answer or {}).get("statusInfo") or {}).get("reasonCode")
        row = {"station_id": station_id, "evse_id": evse_id, "connector_id": connector_id, "operative": operative,
               "answer": status, "state": state, "detail": detail, "requested_at": datetime.now(UTC),
               "applied_at": None}  # fmt: skip
        await self.store.write(ops_repo.want_availability, row)
        self._with_wishes.add(station_id)
        metrics.AVAILABILITY_CHANGES.labels(state).inc()
        log.info("%s: %s wanted for %s: %s", station_id, "Operative" if operative else "Inoperative",
                 _scope_text((evse_id, connector_id)), status or failure)  # fmt: skip
        self._publish(station_id, row)
        await self._follow(station_id, None)  # the status may already show it (or arrived first)

    async def wanted(self, station_id: str) -> list[dict[str, Any]]:
        return [_public(r) for r in await self.store.read(ops_repo.wanted_availability, station_id)]

    def booted(self, station_id: str) -> None:
        """An accepted boot: statuses that contradict an applied wish get it sent again (once per scope)."""
        if station_id in self._with_wishes:
            self._reconciling[station_id] = set()

    async def _follow(self, station_id: str, reported: tuple[int, int, str] | None) -> None:
        def op(conn: Any) -> tuple[list[dict[str, Any]], list[tuple[int, int, str]]]:
            wishes = ops_repo.wanted_availability(conn, station_id)
            statuses = [(c.evse_id, c.connector_id, c.status) for c in repo.list_connector_status(conn, station_id)]
            return wishes, statuses

        wishes, statuses = await self.store.read(op)
        now = datetime.now(UTC)
        for w in wishes:
            scope = (w["evse_id"], w["connector_id"])
            if w["state"] in OPEN_STATES and applied(scope, w["operative"], statuses):
                await self.store.write(ops_repo.update_availability, station_id, *scope, state="applied",
                                       applied_at=now)  # fmt: skip
                log.info("%s: availability of %s applied", station_id, _scope_text(scope))
                metrics.AVAILABILITY_CHANGES.labels("applied").inc()
                self._publish(station_id, {**w, "state": "applied", "applied_at": now})
            elif (w["state"] == "applied" and reported is not None and station_id in self._reconciling
                  and covers(scope, reported[0], reported[1]) and reported[0] > 0
                  and not shows(w["operative"], reported[2])
                  and scope not in self._reconciling[station_id]):  # fmt: skip
                self._reconciling[station_id].add(scope)
                self._send_again(station_id, w)

    def _send_again(self, station_id: str, wish: dict[str, Any]) -> None:
        if self.send is None:
            return
        metrics.AVAILABILITY_CHANGES.labels("resent").inc()
        scope = (wish["evse_id"], wish["connector_id"])
        verb = ChangeAvailability(wish["operative"], scope[0] or None, scope[1] or None)
        log.info("%s: reports a status against the wanted availability of %s after its boot: sent again",
                 station_id, _scope_text(scope))  # fmt: skip

        async def again() -> None:
            try:
                await self.send(station_id, verb)
            except Exception as exc:  # offline again, refused: the stored answer says so (observe)
                log.info("%s: availability not sent again: %s", station_id, exc)
                return
            await self.store.write(ops_repo.update_availability, station_id, *scope, reapplied_at=datetime.now(UTC))

        task = asyncio.get_running_loop().create_task(again())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _publish(self, station_id: str, row: dict[str, Any]) -> None:
        self.events.publish("availability.changed", station_id, evse_id=row["evse_id"],
                            connector_id=row["connector_id"], operative=row["operative"], state=row["state"],
                            answer=row.get("answer"))  # fmt: skip


def _scope_text(scope: Scope) -> str:
    evse, connector = scope
    if evse == 0:
        return "the station"
    return f"EVSE {evse}" + (f" connector {connector}" if connector else "")


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out.pop("station_id", None)
    out["operational_status"] = "Operative" if row["operative"] else "Inoperative"
    for name in ("requested_at", "applied_at", "reapplied_at"):
        if isinstance(out.get(name), datetime):
            out[name] = out[name].isoformat()
    return out
