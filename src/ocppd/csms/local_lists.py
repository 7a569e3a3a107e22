"""Local authorization lists, owned by the CSMS (1.6 Local Auth List Management, 2.x block D).

The operator chooses which tokens and groups go on which station (``local_list_members``); the CSMS
keeps what each station holds (``local_list_sent``) and its list version (``local_lists``), and sends:

- a full update the first time, after the station answered Failed or VersionMismatch, and when
  asked; later only a differential update with the tokens that changed (new, blocked, expired,
  deleted: removed entries carry no idTokenInfo);
- every update split over messages per the station's ``SendLocalListMaxLength`` / 2.x
  ``LocalAuthListCtrlr.ItemsPerMessage`` / ``BytesPerMessage``: the first part of a full update is
  Full, the rest Differential, each with the next version;
- never more entries than the station's maximum list length (1.6 ``LocalAuthListMaxLength``, 2.x
  ``LocalAuthListCtrlr.Entries``): such a list is refused, named, and not sent.

After a reconnect (an accepted boot) a managed station is asked GetLocalListVersion and resynced if
its version is not the one the CSMS gave it. The core of the decision (``plan_update``) is pure.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ocppd.csms import verbs
from ocppd.csms.events import EventBus
from ocppd.csms.outbound import OutboundError, chunks
from ocppd.store import Store, repo, tx_repo
from ocppd.store.tx_repo import ListEntry, LocalListRow

log = logging.getLogger("ocppd.csms.local_lists")

# Where a station says how long its list may be (1.6; a 2.x station reports LocalAuthListCtrlr.Entries
# as a characteristic, maxLimit, which the stored device model does not keep yet).
MAX_LENGTH_VARIABLES = {"1.6": ("", "LocalAuthListMaxLength")}
# A station that says it has no local list.
DISABLED_VARIABLES = {"1.6": ("", "LocalAuthListEnabled"), "2.x": ("LocalAuthListCtrlr", "Enabled")}


class LocalListError(ValueError):
    """Operator input that cannot become a station's list; the message starts with the field's name."""


@dataclass(frozen=True, slots=True)
class Update:
    """One SendLocalList: its type, version and entries (status None: remove the token)."""

    update_type: str
    version: int
    entries: tuple[verbs.LocalListEntry, ...]


def _entry(e: ListEntry) -> verbs.LocalListEntry:
    return verbs.LocalListEntry(e.id_token, e.token_type or "Central", _status(e), e.expiry, e.group_id)


def _status(e: ListEntry, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    if e.status == "Accepted" and e.expiry is not None and e.expiry <= now:
        return "Expired"
    return e.status


def plan_update(
    desired: list[ListEntry],
    sent: list[ListEntry],
    version: int,
    *,
    full: bool,
    max_items: int | None,
) -> list[Update]:
    """The SendLocalList messages that bring a station from ``sent`` to ``desired`` (pure).

    ``version`` is the station's current list version; each message gets the next one. An empty list
    means there is nothing to send (a differential update without changes)."""
    if full:
        entries = [_entry(e) for e in desired]
    else:
        held = {e.id_token: e for e in sent}
        wanted = {e.id_token: e for e in desired}
        entries = [_entry(e) for e in desired if held.get(e.id_token) != e]
        entries += [verbs.LocalListEntry(t, held[t].token_type or "Central", None) for t in held if t not in wanted]
        if not entries:
            return []
    parts = chunks(entries, max_items=max_items)
    updates = []
    for i, part in enumerate(parts):
        kind = "Full" if full and i == 0 else "Differential"
        updates.append(Update(kind, version + i + 1, tuple(part)))
    return updates


class LocalLists:
    def __init__(
        self,
        store: Store,
        events: EventBus,
        send: Callable[[str, Any], Awaitable[Any]],
        target: Callable[[str], Awaitable[Any]],
        is_connected: Callable[[str], bool],
    ) -> None:
        self.store = store
        self.events = events
        self._send = send  # Csms.send(station_id, verb)
        self._target = target  # station_id -> outbound.Target (version and limits), connected stations only
        self._is_connected = is_connected

    # ------------------------------------------------------------------ operator
    async def set_members(self, station_id: str, tokens: list[str], groups: list[str]) -> None:
        """Which tokens and groups go on the station's list (replacing the previous choice)."""

        def op(conn: Any) -> None:
            unknown = [t for t in tokens if repo.get_token(conn, t) is None]
            if unknown:
                raise LocalListError(f"tokens: unknown id token(s) {', '.join(unknown[:5])}")
            current = tx_repo.members(conn, station_id)
            for kind, chosen in (("token", tokens), ("group", groups)):
                tx_repo.remove_members(conn, station_id, kind, [v for k, v in current if k == kind])
                tx_repo.add_members(conn, station_id, kind, chosen)
            if tx_repo.get_local_list(conn, station_id) is None:
                tx_repo.set_local_list(conn, station_id, status="Pending", version=0)

        await self.store.write(op)

    async def view(self, station_id: str) -> dict[str, Any]:
        def op(conn: Any) -> Any:
            return (tx_repo.get_local_list(conn, station_id), tx_repo.members(conn, station_id),
                    tx_repo.desired_entries(conn, station_id), tx_repo.sent_entries(conn, station_id))  # fmt: skip

        row, members, desired, sent = await self.store.read(op)
        return {
            "station_id": station_id,
            "managed": row is not None,
            "version": row.version if row else None,
            "station_version": row.station_version if row else None,
            "status": row.status if row else None,
            "detail": row.detail if row else None,
            "synced_at": row.synced_at.isoformat() if row and row.synced_at else None,
            "tokens": [v for k, v in members if k == "token"],
            "groups": [v for k, v in members if k == "group"],
            "entries": len(desired),
            "held": [{"id_token": e.id_token, "status": _status(e), "group_id": e.group_id} for e in sent],
            "pending_changes": len(plan_update(desired, sent, 0, full=False, max_items=None)) > 0,
        }

    # ------------------------------------------------------------------ sending
    async def sync(self, station_id: str, *, full: bool = False) -> LocalListRow:
        """Bring the station's list up to date now. Raises LocalListError (a list the station cannot
        hold) and the verbs' OutboundError (offline, timeout, CALLERROR) after recording it."""
        row = await self.store.read(tx_repo.get_local_list, station_id)
        if row is None:
            raise LocalListError(f"station_id: {station_id} has no local list chosen (set its tokens first)")
        target = await self._target(station_id)
        family = "1.6" if target.version.label == "1.6" else "2.x"
        names = [
            DISABLED_VARIABLES[family],
            *([MAX_LENGTH_VARIABLES[family]] if family in MAX_LENGTH_VARIABLES else []),
        ]
        values = await self.store.read(repo.variable_values, station_id, names)
        enabled = values.get(DISABLED_VARIABLES[family])
        if enabled is not None and enabled.strip().lower() == "false":
            await self._state(station_id, status="NotSupported", detail="the station reports its local list disabled")
            raise LocalListError(f"station_id: {station_id} has its local authorization list disabled")
        desired = await self.store.read(tx_repo.desired_entries, station_id)
        max_length = _int(values.get(MAX_LENGTH_VARIABLES.get(family, ("", ""))))
        if max_length is not None and len(desired) > max_length:
            detail = f"{len(desired)} entries, the station holds at most {max_length}"
            await self._state(station_id, status="TooLong", detail=detail)
            raise LocalListError(f"tokens: {detail}")
        sent = await self.store.read(tx_repo.sent_entries, station_id)
        full = full or row.synced_at is None or row.status in ("Failed", "VersionMismatch")
        updates = plan_update(desired, sent, row.version, full=full,
                              max_items=target.limits.items_for("SendLocalList"))  # fmt: skip
        for update in updates:
            try:
                answer = (await self._send(station_id, verbs.SendLocalList(update.version, update.update_type,
                                                                             update.entries))).result  # fmt: skip
            except OutboundError as exc:
                await self._state(station_id, status="NotSent", detail=str(exc))
                raise
            if not answer.accepted:
                await self._state(station_id, status=answer.status, detail=f"SendLocalList v{update.version}")
                log.info("%s: local list v%s %s", station_id, update.version, answer.status)
                if answer.status in ("Failed", "VersionMismatch") and not full:
                    return await self.sync(station_id, full=True)  # resync with a full list, once
                return await self.store.read(tx_repo.get_local_list, station_id)
            removed = [e.id_token for e in update.entries if e.status is None]
            kept = {e.id_token for e in update.entries if e.status is not None}
            await self.store.write(tx_repo.record_sent, station_id, update.update_type == "Full",
                                   [d for d in desired if d.id_token in kept], removed)  # fmt: skip
            await self._state(station_id, version=update.version, station_version=update.version)
        await self._state(station_id, status="Synced", detail=None, synced_at=datetime.now(UTC))
        self.events.publish("local_list.synced", station_id, version=(row.version + len(updates)))
        return await self.store.read(tx_repo.get_local_list, station_id)

    async def reconcile(self, station_id: str) -> None:
        """After an accepted boot: compare the station's version with ours; resync if they differ."""
        row = await self.store.read(tx_repo.get_local_list, station_id)
        if row is None:
            return
        try:
            version = (await self._send(station_id, verbs.GetLocalListVersion())).result.version
            await self._state(station_id, station_version=version)
            await self.sync(station_id, full=version != row.version)
        except (OutboundError, LocalListError) as exc:
            log.info("%s: local list not reconciled: %s", station_id, exc)

    async def forget_token(self, station_id: str, id_token: str) -> None:
        """The station cleared what it kept about this customer (CustomerInformation clear, OCA N_46):
        the token leaves the station's list too, by a differential update without its idTokenInfo. A
        token that is on the list through its group stays (the group is the operator's choice)."""
        members = await self.store.read(tx_repo.members, station_id)
        if ("token", id_token) not in members:
            return
        await self.store.write(tx_repo.remove_members, station_id, "token", [id_token])
        log.info("%s: %s taken off the local list after its customer information was cleared", station_id, id_token)
        try:
            await self.sync(station_id)
        except (OutboundError, LocalListError) as exc:
            log.info("%s: local list not updated: %s", station_id, exc)

    async def token_changed(self, id_token: str) -> None:
        """A token changed (status, expiry, group, deleted): update the lists that hold it, now for
        connected stations, at their next reconnect for the others."""
        token = await self.store.read(repo.get_token, id_token)
        stations = await self.store.read(tx_repo.stations_with_member, id_token, token.group_id if token else None)
        for station_id in stations:
            if not self._is_connected(station_id):
                await self._state(station_id, status="Pending", detail="changes wait for the station")
                continue
            try:
                await self.sync(station_id)
            except (OutboundError, LocalListError) as exc:
                log.info("%s: local list not updated: %s", station_id, exc)

    async def _state(self, station_id: str, **values: Any) -> None:
        await self.store.write(tx_repo.set_local_list, station_id, **values)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
