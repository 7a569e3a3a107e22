"""Transactions and metering: start, meter values, stop, for every version, idempotent and durable.

Each station message becomes one write operation that runs in a single database transaction in the
store's writer thread; the station's answer is built only after that write has committed. Replays
(a station resending after a lost answer) are recognised by content, not message id: 1.6 starts by
(station, connector, idTag, timestamp, meterStart), 2.x events by (station, transactionId, seqNo).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocppd.csms.authorization import Verdict, verdict_for
from ocppd.csms.events import EventBus
from ocppd.csms.metering import currents_a, power_w, register_wh
from ocppd.store import Reading, Store, repo


@dataclass(frozen=True, slots=True)
class StartOutcome:
    pk: int
    created: bool
    verdict: Verdict


def _judge_start(conn: Any, id_token: str | None, pk: int | None) -> Verdict:
    if not id_token:
        return Verdict("Accepted")
    verdict = verdict_for(repo.get_token(conn, id_token))
    if verdict.status == "Accepted":
        active = repo.list_transactions(conn, id_token=id_token, active_only=True, limit=5)
        if any(tx.id != pk for tx in active):
            return Verdict("ConcurrentTx", verdict.expiry, verdict.group_id)
    return verdict


_MAX_KNOWN = 200_000
# Transactions MeterValues named that are not running (unknown, or ended): their lookup answer, so that
# a station reporting a transaction id the CSMS does not know costs no store read per message.
_MAX_LOOKED_UP = 50_000


class Transactions:
    def __init__(self, store: Store, events: EventBus) -> None:
        self.store = store
        self.events = events
        self._known: dict[tuple[str, str], int] = {}  # running transactions: (station, uid) -> pk
        self._states: dict[tuple[str, str], str] = {}  # their last charging state written
        self._looked_up: dict[tuple[str, str], int | None] = {}  # not running: pk of an ended one, None: unknown
        self._changes = 0  # bumped whenever a transaction is written, so a lookup racing it is not kept

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

        def op(conn: Any) -> StartOutcome:
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
            return StartOutcome(pk, created, _judge_start(conn, id_token, pk))

        outcome = await self.store.write(op)
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

        def op(conn: Any) -> tuple[bool, bool]:
            tx = repo.find_transaction(conn, station_id, transaction_uid)
            if tx is None:
                repo.record_event(conn, station_id, "UnknownTransactionStop", stopped_at, payload)
                return False, False
            if readings:
                repo.insert_meter_rows(conn, self._rows(tx.id, station_id, tx.evse_id, tx.connector_id, readings))
            return True, repo.stop_transaction(conn, tx.id, stopped_at, meter_stop_wh, reason, id_token)

        _, stopped_now = await self.store.write(op)
        self._known.pop((station_id, transaction_uid), None)
        self._changed((station_id, transaction_uid))
        if stopped_now:
            self.events.publish(
                "transaction.ended",
                station_id,
                transaction_id=transaction_uid,
                meter_stop_wh=meter_stop_wh,
                reason=reason,
            )
        if not id_token:
            return None
        return verdict_for(await self.store.read(repo.get_token, id_token))

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
    ) -> Verdict | None:
        """A 2.0.1/2.1 TransactionEvent (Started, Updated or Ended)."""
        key = (station_id, transaction_uid)
        known_pk = self._known.get(key)
        if event_type == "Updated" and known_pk is not None and not id_token:
            # The hot path: a running transaction reporting meter values. Two statements, no lookups;
            # the charging state is written only when it changes.
            new_state = charging_state if charging_state and self._states.get(key) != charging_state else None

            # The readings go to meter_values (and the whole frame to the message log): the event row
            # keeps the rest, so the hot path does not serialise and store the samples a third time.
            event_row = {k: v for k, v in payload.items() if k != "meterValue"} if readings else payload

            meter_rows = self._rows(known_pk, station_id, evse_id, connector_id, readings)
            if new_state:

                def update(conn: Any) -> None:
                    if repo.record_tx_event(conn, station_id, transaction_uid, seq_no, event_type, event_row):
                        repo.insert_meter_rows(conn, meter_rows)
                        repo.update_transaction(conn, known_pk, charging_state=new_state)

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

        def op(conn: Any) -> tuple[int, bool, bool, Verdict | None]:
            fresh = repo.record_tx_event(conn, station_id, transaction_uid, seq_no, event_type, payload)
            tx = repo.find_transaction(conn, station_id, transaction_uid)
            created = tx is None
            if tx is None:
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
            else:
                pk = tx.id
            ended = False
            if fresh:
                if readings:
                    repo.insert_meter_rows(conn, self._rows(pk, station_id, evse_id, connector_id, readings))
                changes: dict[str, Any] = {}
                if charging_state:
                    changes["charging_state"] = charging_state
                if id_token and (tx is None or not tx.id_token):
                    changes["id_token"] = id_token
                if changes:
                    repo.update_transaction(conn, pk, **changes)
                if event_type == "Ended":
                    ended = repo.stop_transaction(conn, pk, timestamp, register_wh(readings), stopped_reason, id_token)
            verdict = _judge_start(conn, id_token, pk) if id_token else None
            return pk, created, ended, verdict

        pk, created, ended, verdict = await self.store.write(op)
        if event_type == "Ended":
            self._known.pop(key, None)
            self._states.pop(key, None)
            self._changed(key)
        else:
            self._remember(station_id, transaction_uid, pk)
            if charging_state:
                self._states[key] = charging_state
        if created:
            self.events.publish(
                "transaction.started", station_id, transaction_id=transaction_uid, evse_id=evse_id, id_token=id_token
            )
        if readings:
            self._publish_meter(station_id, evse_id, connector_id, transaction_uid, readings)
        if ended:
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
