"""Transactions: start, meter values, stop, for every version, idempotent and durable, and the CSMS's
own decisions about them.

Each station message becomes one write operation that runs in a single database transaction in the
store's writer thread; the station's answer is built only after that write has committed. Replays
(a station resending after a lost answer) are recognised by content, not message id: 1.6 starts by
(station, connector, idTag, timestamp, meterStart), 2.x events by (station, transactionId, seqNo).

What the CSMS decides by itself (docs/transactions.md):

- one open transaction per EVSE (1.6: connector): a new start closes the old one ("Superseded");
- after a BootNotification, the station's older open transactions that it does not continue within
  ``abandoned_after`` seconds are closed ("Abandoned"), and so is an open transaction whose connector
  was reported Available and that hears nothing more in that time; 2.x stations that continue a
  transaction across a reboot (same transactionId) keep it;
- a station's own stop arriving later replaces the figures the CSMS filled in;
- energy is never negative: a register that goes backwards is recorded and counted from its new value;
- ConcurrentTx only for a token in a *live* transaction elsewhere (station connected, transaction not
  waiting to be closed as abandoned) whose policy forbids concurrent use;
- the operator may force-close any transaction with a reason (who and why are kept).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from ocppd.config import TransactionSettings
from ocppd.csms.authorization import Authorization, Presented, Purpose, Verdict, lookup, same_group
from ocppd.csms.events import EventBus
from ocppd.csms.metering import currents_a, power_w, register_wh
from ocppd.store import Reading, Store, TxRow, repo, tx_repo

log = logging.getLogger("ocppd.csms.transactions")

SUPERSEDED = "Superseded"
ABANDONED = "Abandoned"
FORCE_CLOSED = "ForceClosed"
ENDED_PER_STATION = "EndedPerStation"  # GetTransactionStatus said it is over, its Ended never came
CSMS = "csms"


def session_energy(
    meter_start: float | None, registers: list[float], meter_stop: float | None
) -> tuple[float | None, list[str]]:
    """Energy (Wh) of a session from its register readings in time order, and what was odd about them.

    Normally the last value minus the first. A register that goes backwards (a reset, a meter swap, a
    bad stop value) makes it the sum of the increments instead, that step contributing nothing, and
    is reported: the result is never negative and never invented. Drops within rounding (a decimal
    kWh reading followed by an integer Wh meterStop) are not a reset.
    """
    points = [v for v in (meter_start, *registers, meter_stop) if v is not None]
    if not points:
        return None, []
    problems: list[str] = []
    if meter_start is not None and meter_stop is not None and meter_stop < meter_start - _rounding(meter_start):
        problems.append(f"meter stop {meter_stop:g} Wh is below meter start {meter_start:g} Wh")
    drops = [(a, b) for a, b in pairwise(points) if b < a - _rounding(a)]
    if not drops and not problems:
        return max(0.0, points[-1] - points[0]), []
    problems += [f"register went back from {a:g} to {b:g} Wh (counted from there)" for a, b in drops]
    return sum(b - a for a, b in pairwise(points) if b > a), problems


def _rounding(value: float) -> float:
    """How far a register may seem to go back through rounding alone (Wh)."""
    return max(10.0, abs(value) * 0.001)


def close_transaction(
    conn: Any,
    tx: TxRow,
    *,
    stopped_at: datetime,
    meter_stop_wh: float | None,
    reason: str | None,
    stop_id_token: str | None = None,
    closed_by: str | None = None,
    close_reason: str | None = None,
    replace: bool = False,
) -> bool:
    """Close (or, ``replace``, re-close with the station's figures) computing the energy from the
    readings; oddities are recorded as an ``EnergyAnomaly`` event and flag the transaction."""
    registers = tx_repo.register_series(conn, tx.id)
    if meter_stop_wh is None and closed_by is not None:
        meter_stop_wh = registers[-1] if registers else tx.meter_start_wh  # the last known reading
    energy, problems = session_energy(tx.meter_start_wh, registers, meter_stop_wh)
    if problems:
        repo.record_event(
            conn,
            tx.station_id,
            "EnergyAnomaly",
            stopped_at,
            {"transaction_id": tx.transaction_uid, "problems": problems},
        )
    return tx_repo.write_close(
        conn,
        tx.id,
        stopped_at=max(stopped_at, tx.started_at),
        meter_stop_wh=meter_stop_wh,
        energy_wh=energy,
        stop_reason=reason,
        stop_id_token=stop_id_token,
        closed_by=closed_by,
        close_reason=close_reason,
        flagged=closed_by is not None or bool(problems),
        replace=replace,
    )


@dataclass(frozen=True, slots=True)
class StartOutcome:
    pk: int
    created: bool
    verdict: Verdict


@dataclass(slots=True)
class _Boot:
    at: datetime
    deadline: float
    continued: set[str] = field(default_factory=set)


_MAX_KNOWN = 200_000
# Transactions MeterValues named that are not running (unknown, or ended): their lookup answer, so that
# a station reporting a transaction id the CSMS does not know costs no store read per message.
_MAX_LOOKED_UP = 50_000

_SWEEP_S = 1.0


class TransactionClosed(LookupError):
    """Force-close of a transaction that is not open."""


class Transactions:
    def __init__(
        self,
        store: Store,
        events: EventBus,
        settings: TransactionSettings | None = None,
        authorization: Authorization | None = None,
        is_connected: Callable[[str], bool] | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.settings = settings or TransactionSettings()
        self.authorization = authorization or Authorization(store)
        self._is_connected = is_connected or (lambda _station: True)
        self._known: dict[tuple[str, str], int] = {}  # running transactions: (station, uid) -> pk
        self._states: dict[tuple[str, str], str] = {}  # their last charging state written
        self._looked_up: dict[tuple[str, str], int | None] = {}  # not running: pk of an ended one, None: unknown
        self._changes = 0  # bumped whenever a transaction is written, so a lookup racing it is not kept
        self._seq: dict[tuple[str, str], int] = {}  # 2.x: highest seqNo seen of running transactions
        self._boots: dict[str, _Boot] = {}  # stations rebooted recently: what they continued since
        self._idle: dict[tuple[str, str], float] = {}  # reported Available with the transaction open: deadline
        self._deauthorize: set[tuple[str, str]] = set()  # 2.x: answer the next event with Blocked
        self._asked: set[tuple[str, str]] = set()  # GetTransactionStatus sent on this connection
        # Outbound actions, wired by the Csms to the domain verbs: stop a transaction remotely; ask a
        # 2.x station about a transaction (returns the answer payload).
        self.remote_stop: Callable[[TxRow], Awaitable[Any]] | None = None
        self.ask_status: Callable[[str, str], Awaitable[Any]] | None = None  # -> verbs.TransactionStatus
        self._tasks: set[asyncio.Task[Any]] = set()
        self.every_sweep: list[Callable[[], Awaitable[None]]] = []  # other blocks' timers (reservations)
        # Called with (station_id, transaction_uid) once a transaction has ended, however (billing prices it)
        self.ended_listeners: list[Callable[[str, str], None]] = []

    # ------------------------------------------------------------------ liveness
    def _touch(self, station_id: str, uid: str) -> None:
        """The station still talks about this transaction: it is not abandoned."""
        if self._boots:
            boot = self._boots.get(station_id)
            if boot is not None:
                boot.continued.add(uid)
        if self._idle:
            self._idle.pop((station_id, uid), None)

    def stale_reason(self, tx: TxRow) -> str | None:
        """Why an open transaction may not be live any more (None: it looks live)."""
        if not tx.active:
            return None
        boot = self._boots.get(tx.station_id)
        if boot is not None and tx.created_at < boot.at and tx.transaction_uid not in boot.continued:
            return "the station rebooted and has not continued it (closed as abandoned if it does not)"
        if (tx.station_id, tx.transaction_uid) in self._idle:
            return "its connector was reported Available without a stop (closed as abandoned if nothing follows)"
        if not self._is_connected(tx.station_id):
            return "the station is offline"
        return None

    def _live(self, tx: TxRow) -> bool:
        """Charging right now as far as the CSMS can tell: its start was not refused and it is not stale."""
        return not (tx.data or {}).get("refused") and self.stale_reason(tx) is None

    def _in_use_elsewhere(self, conn: Any, id_token: str, pk: int | None) -> bool:
        return any(tx.id != pk and self._live(tx) for tx in tx_repo.open_with_token(conn, id_token))

    def in_use_on_other_station(self, conn: Any, station_id: str, id_token: str) -> bool:
        return any(tx.station_id != station_id and self._live(tx) for tx in tx_repo.open_with_token(conn, id_token))

    # ------------------------------------------------------------------ closing
    def _station_stop(self, conn: Any, tx: TxRow, **stop: Any) -> bool:
        """The station's own end of a transaction: closes it, or replaces what the CSMS filled in."""
        if tx.active:
            return close_transaction(conn, tx, **stop)
        if tx.closed_by is not None:  # closed by the CSMS or an operator before the station's stop came
            note = f"{tx.close_reason or ''}; the station's own stop arrived later and replaced the figures"
            close_transaction(conn, tx, **stop, close_reason=note.lstrip("; "), replace=True)
            repo.update_transaction(conn, tx.id, closed_by=tx.closed_by)
        return False

    def _supersede(self, conn: Any, station_id: str, evse_id: int, new: TxRow | int, at: datetime) -> list[str]:
        """Close the EVSE's other open transactions: a new one started there (EVSE 0: not known yet,
        as in a 2.x transaction authorized before the EV is plugged in)."""
        pk = new if isinstance(new, int) else new.id
        closed: list[str] = []
        if evse_id <= 0:
            return closed
        for old in tx_repo.open_transactions(conn, station_id, evse_id=evse_id):
            if old.id == pk:
                continue
            close_transaction(
                conn,
                old,
                stopped_at=at,
                meter_stop_wh=None,
                reason=SUPERSEDED,
                closed_by=CSMS,
                close_reason=f"another transaction started on EVSE {evse_id} without a stop for this one",
            )
            closed.append(old.transaction_uid)
        return closed

    def _forget(self, station_id: str, uid: str) -> None:
        key = (station_id, uid)
        self._changed(key)
        self._known.pop(key, None)
        self._states.pop(key, None)
        self._seq.pop(key, None)
        self._idle.pop(key, None)
        self._deauthorize.discard(key)

    def _ended(self, station_id: str, uids: list[str], reason: str) -> None:
        for uid in uids:
            self._forget(station_id, uid)
            log.info("%s: transaction %s closed by the CSMS (%s)", station_id, uid, reason)
            self.events.publish("transaction.ended", station_id, transaction_id=uid, reason=reason, closed_by=CSMS)
            self._notify_ended(station_id, uid)

    def _notify_ended(self, station_id: str, uid: str) -> None:
        for listener in self.ended_listeners:
            listener(station_id, uid)

    async def force_close(self, pk: int, reason: str, by: str) -> TxRow:
        """Operator action: close an open transaction now (meter stop = its last reading)."""

        def op(conn: Any) -> TxRow | None:
            return force_close_op(conn, pk, reason, by)

        tx = await self.store.write(op)
        if tx is None:
            raise LookupError(f"unknown transaction {pk}")
        self._forget(tx.station_id, tx.transaction_uid)
        log.info("%s: transaction %s force-closed by %s: %s", tx.station_id, tx.transaction_uid, by, reason)
        self._notify_ended(tx.station_id, tx.transaction_uid)
        self.events.publish(
            "transaction.ended",
            tx.station_id,
            transaction_id=tx.transaction_uid,
            reason=FORCE_CLOSED,
            closed_by=f"operator:{by}",
        )
        return tx

    # ------------------------------------------------------------------ station lifecycle hooks
    def booted(self, station_id: str) -> None:
        """A BootNotification was accepted: older open transactions must be continued or are closed."""
        self._boots[station_id] = _Boot(datetime.now(UTC), time.monotonic() + self.settings.abandoned_after)

    def connected(self, station_id: str, v2x: bool) -> None:
        """A (re)connection: forget what was asked on the last one; ask a 2.x station about the
        transactions it had open (OCA E_29/E_30: it may hold queued events)."""
        for key in [k for k in self._asked if k[0] == station_id]:
            self._asked.discard(key)
        if v2x and self.ask_status is not None:
            self._spawn(self._ask_open(station_id))

    async def connector_available(self, station_id: str, evse_id: int) -> None:
        """A connector reported Available: an open transaction there gets ``abandoned_after`` to show life."""
        if evse_id <= 0:
            return
        open_here = await self.store.read(lambda conn: tx_repo.open_transactions(conn, station_id, evse_id=evse_id))
        deadline = time.monotonic() + self.settings.abandoned_after
        for tx in open_here:
            self._idle[(station_id, tx.transaction_uid)] = deadline

    # ------------------------------------------------------------------ supervision
    async def supervise(self) -> None:
        """Close what stations abandoned and act on blocked tokens, once a second until cancelled."""
        last_block_sweep = 0.0
        while True:
            await asyncio.sleep(_SWEEP_S)
            try:
                await self.sweep()
                for also in self.every_sweep:
                    await also()
                if time.monotonic() - last_block_sweep > 10:
                    last_block_sweep = time.monotonic()
                    await self.act_on_blocked()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("transaction supervision failed")

    async def sweep(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for station_id, boot in [(s, b) for s, b in self._boots.items() if b.deadline <= now]:
            del self._boots[station_id]

            def close_unclaimed(conn: Any, station_id: str = station_id, boot: _Boot = boot) -> list[str]:
                closed = []
                for tx in tx_repo.open_transactions(conn, station_id, created_before=boot.at):
                    if tx.transaction_uid in boot.continued:
                        continue
                    close_transaction(
                        conn,
                        tx,
                        stopped_at=datetime.now(UTC),
                        meter_stop_wh=None,
                        reason=ABANDONED,
                        closed_by=CSMS,
                        close_reason="not continued after the station rebooted",
                    )
                    closed.append(tx.transaction_uid)
                return closed

            self._ended(station_id, await self.store.write(close_unclaimed), ABANDONED)
        due = [key for key, deadline in self._idle.items() if deadline <= now]
        for station_id, uid in due:
            self._idle.pop((station_id, uid), None)

            def close_idle(conn: Any, station_id: str = station_id, uid: str = uid) -> list[str]:
                tx = repo.find_transaction(conn, station_id, uid)
                if tx is None or not tx.active:
                    return []
                close_transaction(
                    conn,
                    tx,
                    stopped_at=datetime.now(UTC),
                    meter_stop_wh=None,
                    reason=ABANDONED,
                    closed_by=CSMS,
                    close_reason="its connector was reported Available and no stop followed",
                )
                return [uid]

            self._ended(station_id, await self.store.write(close_idle), ABANDONED)

    async def act_on_blocked(self, only_token: str | None = None) -> None:
        """Running transactions of blocked tokens, per ``on_block``: nothing, a remote stop, or (2.x)
        Blocked in the answer to their next TransactionEvent."""
        action = self.settings.on_block
        if action == "none":
            return
        running = await self.store.read(tx_repo.blocked_running)
        for tx in running:
            if only_token is not None and tx.id_token != only_token:
                continue
            if action == "deauthorize" and tx.ocpp_version not in (None, "1.6"):
                self._deauthorize.add((tx.station_id, tx.transaction_uid))
                continue
            if self.remote_stop is None or not self._is_connected(tx.station_id):
                continue
            try:
                await self.remote_stop(tx)
            except Exception as exc:  # offline, timeout, CALLERROR: try again on the next sweep
                log.info(
                    "%s: remote stop of transaction %s (blocked token) failed: %s",
                    tx.station_id,
                    tx.transaction_uid,
                    exc,
                )
                continue
            await self.store.write(tx_repo.mark_deauthorized, tx.id, datetime.now(UTC))
            log.info(
                "%s: transaction %s stopped remotely: token %s blocked", tx.station_id, tx.transaction_uid, tx.id_token
            )

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ 2.x transaction status
    async def _ask_open(self, station_id: str) -> None:
        await asyncio.sleep(0)  # let the connection's session start first
        open_txs = await self.store.read(lambda conn: tx_repo.open_transactions(conn, station_id))
        for tx in open_txs:
            await self._ask(station_id, tx.transaction_uid)

    async def _ask(self, station_id: str, uid: str) -> None:
        """GetTransactionStatus for one transaction; record what the station says and what is missing."""
        key = (station_id, uid)
        if key in self._asked or self.ask_status is None:
            return
        self._asked.add(key)
        try:
            answer = await self.ask_status(station_id, uid)
        except Exception as exc:
            log.info("%s: GetTransactionStatus for %s failed: %s", station_id, uid, exc)
            return

        def op(conn: Any) -> bool:
            seen = [e.seq_no for e in repo.list_tx_events(conn, station_id, uid)]
            missing = sorted(set(range(min([0, *seen]), max(seen) + 1)) - set(seen)) if seen else []
            repo.record_event(
                conn,
                station_id,
                "TransactionStatus",
                None,
                {
                    "transaction_id": uid,
                    "ongoing": answer.ongoing,
                    "messages_in_queue": answer.messages_in_queue,
                    "missing_seq_nos": missing,
                },
            )
            tx = repo.find_transaction(conn, station_id, uid)
            over = answer.ongoing is False and not answer.messages_in_queue
            if tx is not None and tx.active and over:
                return close_transaction(
                    conn,
                    tx,
                    stopped_at=datetime.now(UTC),
                    meter_stop_wh=None,
                    reason=ENDED_PER_STATION,
                    closed_by=CSMS,
                    close_reason="the station says it ended; its Ended event never came",
                )
            return False

        if await self.store.write(op):
            self._ended(station_id, [uid], ENDED_PER_STATION)

    # ------------------------------------------------------------------ 1.6
    async def start(
        self,
        station_id: str,
        *,
        evse_id: int,
        connector_id: int,
        id_token: str | None,
        started_at: datetime,
        meter_start_wh: float | None,
        version: str,
        reservation_id: int | None = None,
    ) -> StartOutcome:
        """A 1.6 StartTransaction; the returned pk is the station's transactionId."""
        dedupe_key = f"{station_id}|{connector_id}|{id_token}|{started_at.isoformat()}|{meter_start_wh}"

        def op(conn: Any) -> tuple[StartOutcome, list[str]]:
            pk, created = repo.start_transaction(
                conn,
                station_id,
                None,
                evse_id,
                connector_id,
                id_token,
                started_at,
                meter_start_wh,
                version,
                dedupe_key,
            )
            superseded: list[str] = []
            if created:
                superseded = self._supersede(conn, station_id, evse_id, pk, started_at)
                self._use_reservation(conn, station_id, evse_id, pk, id_token, reservation_id)
            verdict = self._judge_start(conn, Presented(id_token or ""), pk) if id_token else Verdict("Accepted")
            if created and not verdict.accepted:
                _refused(conn, pk, verdict)
            return StartOutcome(pk, created, verdict), superseded

        outcome, superseded = await self.store.write(op)
        self._ended(station_id, superseded, SUPERSEDED)
        self._remember(station_id, str(outcome.pk), outcome.pk)
        if outcome.created:
            self.events.publish(
                "transaction.started",
                station_id,
                transaction_id=str(outcome.pk),
                connector_id=connector_id,
                id_token=id_token,
                meter_start_wh=meter_start_wh,
            )
        return outcome

    def _judge_start(self, conn: Any, presented: Presented, pk: int | None) -> Verdict:
        elsewhere = self._in_use_elsewhere(conn, presented.value, pk)
        return self.authorization.judge_in(conn, presented, Purpose.START, in_use_elsewhere=elsewhere)

    def _judge_stop(self, conn: Any, tx: TxRow | None, presented: Presented) -> Verdict:
        """A token that ends a transaction: its own verdict (with its group, which tells the station
        whether it may stop someone else's); a different token of another group is recorded."""
        verdict = self.authorization.judge_in(conn, presented, Purpose.STOP)
        if tx is not None and tx.id_token and presented.value != tx.id_token:
            token, _ = lookup(conn, presented.value)
            owner, _ = lookup(conn, tx.id_token)
            master = self.authorization.master_pass_group
            allowed = (token is not None and master and token.group_id == master) or same_group(
                token, tx.id_token, owner.group_id if owner else None
            )
            if not allowed:
                repo.record_event(
                    conn,
                    tx.station_id,
                    "StopByUnrelatedToken",
                    None,
                    {"transaction_id": tx.transaction_uid, "id_token": presented.value, "started_by": tx.id_token},
                )
        return verdict

    def _use_reservation(
        self, conn: Any, station_id: str, evse_id: int, pk: int, id_token: str | None, reservation_id: int | None
    ) -> None:
        """Mark the reservation this start uses (named by the station, or held by its token/group here)."""
        if not id_token and reservation_id is None:
            return
        token, _ = lookup(conn, id_token) if id_token else (None, None)
        group_id = token.group_id if token else None
        if reservation_id is not None:
            found = tx_repo.get_reservation(conn, reservation_id)
            problem = None
            if found is None or found.station_id != station_id:
                problem = "no such reservation at this station"
            elif found.status != "Accepted":
                problem = f"the reservation is {found.status}"
            elif id_token and not (
                found.id_token == id_token or (found.group_id and found.group_id in (id_token, group_id))
            ):
                problem = "the reservation is held by another token"
            if problem is not None:
                repo.record_event(
                    conn,
                    station_id,
                    "ReservationMismatch",
                    None,
                    {"reservation_id": reservation_id, "transaction_pk": pk, "problem": problem},
                )
                return
        else:
            found = tx_repo.matching_reservation(conn, station_id, evse_id, id_token or "", group_id)
            if found is None:
                return
        assert found is not None
        tx_repo.update_reservation(conn, found.id, status="Used", transaction_id=pk)
        repo.update_transaction(conn, pk, reservation_id=found.id)

    async def meter_values(
        self,
        station_id: str,
        *,
        evse_id: int,
        connector_id: int,
        transaction_uid: str | None,
        readings: list[Reading],
    ) -> None:
        """The hot path: rows go to the writer's shared executemany; acknowledged after the commit."""
        if transaction_uid:
            self._touch(station_id, transaction_uid)
        pk = await self._pk(station_id, transaction_uid) if transaction_uid else None
        await self.store.write_rows(repo.insert_meter_rows, self._rows(pk, station_id, evse_id, connector_id, readings))
        self._publish_meter(station_id, evse_id, connector_id, transaction_uid, readings)

    async def _pk(self, station_id: str, transaction_uid: str) -> int | None:
        """The transaction's primary key, from memory for running transactions (no query per sample)."""
        key = (station_id, transaction_uid)
        pk = self._known.get(key)
        if pk is not None:
            return pk
        if key in self._looked_up:
            return self._looked_up[key]
        changes = self._changes
        tx = await self.store.read(repo.find_transaction, station_id, transaction_uid)
        if tx is not None and tx.active:
            return self._remember(station_id, transaction_uid, tx.id)
        pk = tx.id if tx is not None else None
        if changes == self._changes:  # no transaction was written meanwhile: the answer still holds
            if len(self._looked_up) >= _MAX_LOOKED_UP:
                self._looked_up.pop(next(iter(self._looked_up)))
            self._looked_up[key] = pk
        return pk

    def _changed(self, key: tuple[str, str]) -> None:
        """A transaction was started, updated or ended: forget what a lookup said about it."""
        self._changes += 1
        self._looked_up.pop(key, None)

    def _remember(self, station_id: str, transaction_uid: str, pk: int) -> int:
        self._changed((station_id, transaction_uid))
        if len(self._known) >= _MAX_KNOWN:
            oldest = next(iter(self._known))
            self._known.pop(oldest)
            self._states.pop(oldest, None)
            self._seq.pop(oldest, None)
        self._known[(station_id, transaction_uid)] = pk
        return pk

    async def stop(
        self,
        station_id: str,
        *,
        transaction_uid: str,
        stopped_at: datetime,
        meter_stop_wh: float | None,
        reason: str | None,
        id_token: str | None,
        readings: list[Reading],
        payload: dict[str, Any],
    ) -> Verdict | None:
        """A 1.6 StopTransaction. An unknown transaction is recorded for the operator, never refused."""
        self._touch(station_id, transaction_uid)

        def op(conn: Any) -> tuple[bool, Verdict | None]:
            tx = repo.find_transaction(conn, station_id, transaction_uid)
            if tx is None:
                repo.record_event(conn, station_id, "UnknownTransactionStop", stopped_at, payload)
            elif readings:
                repo.insert_meter_rows(conn, self._rows(tx.id, station_id, tx.evse_id, tx.connector_id, readings))
            stopped = tx is not None and self._station_stop(
                conn, tx, stopped_at=stopped_at, meter_stop_wh=meter_stop_wh, reason=reason, stop_id_token=id_token
            )
            verdict = self._judge_stop(conn, tx, Presented(id_token)) if id_token else None
            return stopped, verdict

        stopped_now, verdict = await self.store.write(op)
        self._forget(station_id, transaction_uid)
        if stopped_now:
            self._notify_ended(station_id, transaction_uid)
            self.events.publish(
                "transaction.ended",
                station_id,
                transaction_id=transaction_uid,
                meter_stop_wh=meter_stop_wh,
                reason=reason,
            )
        return verdict

    # ------------------------------------------------------------------ 2.x
    async def event(
        self,
        station_id: str,
        *,
        version: str,
        event_type: str,
        transaction_uid: str,
        seq_no: int,
        timestamp: datetime,
        evse_id: int,
        connector_id: int,
        id_token: str | None,
        charging_state: str | None,
        stopped_reason: str | None,
        readings: list[Reading],
        payload: dict[str, Any],
        token_type: str | None = None,
        trigger_reason: str | None = None,
        offline: bool = False,
        remote_start_id: int | None = None,
        reservation_id: int | None = None,
    ) -> Verdict | None:
        """A 2.0.1/2.1 TransactionEvent (Started, Updated or Ended)."""
        key = (station_id, transaction_uid)
        self._touch(station_id, transaction_uid)
        known_pk = self._known.get(key)
        last_seq = self._seq.get(key)
        if (
            event_type == "Updated"
            and known_pk is not None
            and not id_token
            and not offline
            and last_seq is not None
            and seq_no == last_seq + 1
            and key not in self._deauthorize
            and remote_start_id is None
        ):
            self._seq[key] = seq_no
            # The hot path: a running transaction reporting meter values, in order. Two statements, no
            # lookups; the charging state is written only when it changes.
            new_state = charging_state if charging_state and self._states.get(key) != charging_state else None

            # The readings go to meter_values (and the whole frame to the message log): the event row
            # keeps the rest, so the hot path does not serialise and store the samples a third time.
            event_row = {k: v for k, v in payload.items() if k != "meterValue"} if readings else payload

            meter_rows = self._rows(known_pk, station_id, evse_id, connector_id, readings)
            if new_state:

                def update(conn: Any) -> None:
                    if repo.record_tx_event(conn, station_id, transaction_uid, seq_no, event_type, event_row):
                        repo.insert_meter_rows(conn, meter_rows)
                        repo.update_transaction(conn, known_pk, charging_state=new_state, trigger_reason=trigger_reason)

                await self.store.write(update)
            else:  # the common case: shared executemany with every other station's updates
                row = repo.tx_update_row(station_id, transaction_uid, seq_no, event_type, event_row, meter_rows)
                await self.store.write_rows(repo.insert_tx_updates, [row])
            if new_state:
                self._states[key] = new_state
            if readings:
                self._publish_meter(station_id, evse_id, connector_id, transaction_uid, readings)
            self.events.publish(
                "transaction.updated", station_id, transaction_id=transaction_uid, charging_state=charging_state
            )
            return None

        presented = Presented(id_token, token_type) if id_token is not None else None
        deauthorize = key in self._deauthorize

        def op(conn: Any) -> tuple[int, bool, bool, Verdict | None, list[str], bool]:
            fresh = repo.record_tx_event(conn, station_id, transaction_uid, seq_no, event_type, payload)
            tx = repo.find_transaction(conn, station_id, transaction_uid)
            if not fresh:
                self._check_repeat(conn, station_id, transaction_uid, seq_no, payload)
            created = tx is None
            superseded: list[str] = []
            if tx is None:
                self._check_reused_id(conn, station_id, transaction_uid)
                pk, _ = repo.start_transaction(
                    conn,
                    station_id,
                    transaction_uid,
                    evse_id,
                    connector_id,
                    id_token,
                    timestamp,
                    register_wh(readings, first=True),
                    version,
                    f"{station_id}|{transaction_uid}",
                )
                superseded = self._supersede(conn, station_id, evse_id, pk, timestamp)
                tx = repo.get_transaction(conn, pk)
                assert tx is not None
            elif fresh and not tx.active and event_type != "Ended" and tx.stop_reason == ABANDONED:
                # The station continues what the CSMS took for abandoned: open it again, unless the
                # EVSE has moved on to another transaction.
                others = [o for o in tx_repo.open_transactions(conn, station_id, evse_id=tx.evse_id) if o.id != tx.id]
                if not others:
                    tx_repo.reopen(conn, tx.id, "closed as abandoned, then the station continued it")
                    tx = repo.get_transaction(conn, tx.id)
                    assert tx is not None
            pk = tx.id
            ended = False
            if fresh:
                if last_seq is not None and seq_no < last_seq and not offline:
                    repo.record_event(
                        conn,
                        station_id,
                        "SeqNoOutOfOrder",
                        None,
                        {"transaction_id": transaction_uid, "seq_no": seq_no, "after": last_seq},
                    )
                if readings:
                    repo.insert_meter_rows(conn, self._rows(pk, station_id, evse_id, connector_id, readings))
                changes: dict[str, Any] = {}
                if charging_state and tx.active:
                    changes["charging_state"] = charging_state
                if id_token and not tx.id_token:
                    changes["id_token"] = id_token
                if trigger_reason:
                    changes["trigger_reason"] = trigger_reason
                if offline and not tx.offline:
                    changes["offline"] = True
                if remote_start_id is not None:
                    changes["remote_start_id"] = remote_start_id
                if evse_id > 0 and not tx.evse_id:  # the EVSE is known only now (OCA J_08)
                    changes.update(evse_id=evse_id, connector_id=connector_id)
                    superseded += self._supersede(conn, station_id, evse_id, pk, timestamp)
                if changes:
                    repo.update_transaction(conn, pk, **changes)
                if created or reservation_id is not None or (id_token and not tx.id_token):
                    self._use_reservation(conn, station_id, tx.evse_id or evse_id, pk, id_token, reservation_id)
                if event_type == "Ended":
                    ended = self._station_stop(
                        conn,
                        tx,
                        stopped_at=timestamp,
                        meter_stop_wh=register_wh(readings),
                        reason=stopped_reason,
                        stop_id_token=id_token,
                    )
                elif not tx.active and readings:  # late events of an ended transaction (OCA E_31)
                    close_transaction(
                        conn,
                        tx,
                        stopped_at=tx.stopped_at or timestamp,
                        meter_stop_wh=tx.meter_stop_wh,
                        reason=tx.stop_reason,
                        stop_id_token=tx.stop_id_token,
                        closed_by=tx.closed_by,
                        close_reason=tx.close_reason,
                        replace=True,
                    )
            verdict = None
            if presented is not None:
                stopping = event_type == "Ended" or trigger_reason == "StopAuthorized"
                if stopping or (tx.id_token and presented.value != tx.id_token):
                    verdict = self._judge_stop(conn, tx, presented)
                elif presented.value == tx.id_token and not created:
                    verdict = self.authorization.judge_in(conn, presented, Purpose.AUTHORIZE)
                else:
                    verdict = self._judge_start(conn, presented, pk)
                    if not verdict.accepted:
                        _refused(conn, pk, verdict)
            elif deauthorize and event_type != "Ended":
                verdict = Verdict("Blocked")
                tx_repo.mark_deauthorized(conn, pk, datetime.now(UTC))
            return pk, created, ended, verdict, superseded, tx.active

        pk, created, ended, verdict, superseded, still_open = await self.store.write(op)
        self._ended(station_id, superseded, SUPERSEDED)
        if deauthorize and verdict is not None and verdict.status == "Blocked":
            self._deauthorize.discard(key)
        gap = last_seq is not None and seq_no > last_seq + 1
        if event_type == "Ended" or not still_open:
            self._forget(station_id, transaction_uid)
        else:
            self._remember(station_id, transaction_uid, pk)
            self._seq[key] = max(seq_no, last_seq if last_seq is not None else seq_no)
            if charging_state:
                self._states[key] = charging_state
        if (offline or gap) and self.ask_status is not None:
            self._spawn(self._ask(station_id, transaction_uid))
        if created:
            self.events.publish(
                "transaction.started", station_id, transaction_id=transaction_uid, evse_id=evse_id, id_token=id_token
            )
        if readings:
            self._publish_meter(station_id, evse_id, connector_id, transaction_uid, readings)
        if ended:
            self._notify_ended(station_id, transaction_uid)
            self.events.publish("transaction.ended", station_id, transaction_id=transaction_uid, reason=stopped_reason)
        elif not created:
            self.events.publish(
                "transaction.updated",
                station_id,
                transaction_id=transaction_uid,
                charging_state=charging_state,
                seq_no=seq_no,
            )
        return verdict

    @staticmethod
    def _check_repeat(conn: Any, station_id: str, uid: str, seq_no: int, payload: dict[str, Any]) -> None:
        """A seqNo seen before: a replay is fine, different content is recorded (and not applied)."""
        stored = tx_repo.tx_event_payload(conn, station_id, uid, seq_no)
        if stored is None:
            return

        def core(p: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in p.items() if k != "meterValue"}

        if core(stored) != core(payload):
            repo.record_event(
                conn,
                station_id,
                "SeqNoConflict",
                None,
                {"transaction_id": uid, "seq_no": seq_no, "stored": stored, "received": payload},
            )

    @staticmethod
    def _check_reused_id(conn: Any, station_id: str, uid: str) -> None:
        others = tx_repo.stations_with_transaction_uid(conn, uid, exclude=station_id)
        if others:
            repo.record_event(
                conn, station_id, "TransactionIdReused", None, {"transaction_id": uid, "also_used_by": others[:10]}
            )

    @staticmethod
    def _rows(
        pk: int | None, station_id: str, evse_id: int, connector_id: int, readings: list[Reading]
    ) -> list[tuple[Any, ...]]:
        return [repo.reading_row(pk, station_id, evse_id, connector_id, r) for r in readings]

    def _publish_meter(
        self,
        station_id: str,
        evse_id: int,
        connector_id: int,
        transaction_uid: str | None,
        readings: list[Reading],
    ) -> None:
        if not self.events.active:
            return  # nobody listening: skip building the event
        self.events.publish(
            "meter.values",
            station_id,
            evse_id=evse_id,
            connector_id=connector_id,
            transaction_id=transaction_uid,
            power_w=power_w(readings),
            current_a=currents_a(readings),
            energy_wh=register_wh(readings),
            timestamp=readings[-1].timestamp.isoformat() if readings else None,
        )


def _refused(conn: Any, pk: int, verdict: Verdict) -> None:
    """The start's token was refused: the station should end it; it does not hold the token meanwhile."""
    repo.update_transaction(conn, pk, data={"refused": verdict.status})


def force_close_op(conn: Any, pk: int, reason: str, by: str) -> TxRow | None:
    """Force-close in one database transaction (shared by the server and the CLI, which has no server).

    Raises TransactionClosed for a transaction that is not open; None if there is no such transaction."""
    tx = repo.get_transaction(conn, pk)
    if tx is None:
        return None
    if not tx.active:
        raise TransactionClosed(f"transaction {pk} is not open (stopped at {tx.stopped_at.isoformat()})")  # type: ignore[union-attr]
    close_transaction(
        conn,
        tx,
        stopped_at=datetime.now(UTC),
        meter_stop_wh=None,
        reason=FORCE_CLOSED,
        closed_by=f"operator:{by}",
        close_reason=reason,
    )
    return repo.get_transaction(conn, pk)
