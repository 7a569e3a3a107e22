"""Reservations (OCPP 1.6 Reservation, 2.x block H) as domain state.

The CSMS allocates reservation ids, sends ReserveNow / CancelReservation through the domain verbs and
keeps each reservation's state: ``Pending`` while asked, then the station's answer (``Accepted`` or the
refusal: Faulted, Occupied, Rejected, Unavailable), then ``Used`` (its token or group started a
transaction there: see ``Transactions``), ``Cancelled``, ``Expired`` (the CSMS marks them at expiry;
2.x stations also say so with ReservationStatusUpdate) or ``Removed`` (2.x: the station dropped it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ocppd.csms import verbs
from ocppd.csms.events import EventBus
from ocppd.csms.outbound import OutboundError
from ocppd.store import Store, repo, tx_repo
from ocppd.store.tx_repo import LIVE_RESERVATION, ReservationRow

log = logging.getLogger("ocppd.csms.reservations")


class ReservationError(ValueError):
    """Operator input that cannot make a reservation; the message starts with the field's name."""


class Reservations:
    def __init__(self, store: Store, events: EventBus, send: Callable[[str, Any], Awaitable[Any]]) -> None:
        self.store = store
        self.events = events
        self._send = send  # Csms.send(station_id, verb)

    async def create(
        self,
        station_id: str,
        *,
        id_token: str,
        expires_at: datetime,
        evse_id: int | None = None,
        connector_type: str | None = None,
        token_type: str | None = None,
        group_id: str | None = None,
        by: str | None = None,
    ) -> ReservationRow:
        """Reserve; the returned row has the station's answer. Raises ReservationError for bad input
        and the verbs' OutboundError (offline, timeout, CALLERROR) after recording it."""
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= datetime.now(UTC):
            raise ReservationError("expires_at: must be in the future")
        if evse_id is not None and evse_id < 0:
            raise ReservationError("evse_id: must be 0 or more")
        token = await self.store.read(repo.get_token, id_token)
        if group_id is None and token is not None:
            group_id = token.group_id
        token_type = token_type or (token.token_type if token is not None else None) or "Central"
        rid = await self.store.write(
            tx_repo.add_reservation,
            station_id=station_id,
            evse_id=evse_id,
            connector_type=connector_type,
            id_token=id_token,
            token_type=token_type,
            group_id=group_id,
            expires_at=expires_at,
            status="Pending",
            created_by=by,
        )
        verb = verbs.ReserveNow(rid, id_token, expires_at, token_type, evse_id, group_id, connector_type)
        try:
            answer = (await self._send(station_id, verb)).result
        except OutboundError as exc:
            await self.store.write(tx_repo.update_reservation, rid, status="NotSent", note=str(exc))
            raise
        note = None if answer.accepted else f"refused by the station: {answer.status}"
        await self.store.write(tx_repo.update_reservation, rid, status=answer.status, note=note)
        log.info("%s: reservation %s for %s: %s", station_id, rid, id_token, answer.status)
        self.events.publish("reservation.created", station_id, reservation_id=rid, status=answer.status)
        return await self.get(rid)

    async def get(self, reservation_id: int) -> ReservationRow:
        row = await self.store.read(tx_repo.get_reservation, reservation_id)
        if row is None:
            raise LookupError(f"unknown reservation {reservation_id}")
        return row

    async def cancel(self, reservation_id: int, by: str | None = None) -> ReservationRow:
        """CancelReservation; a station that refuses keeps the reservation (noted)."""
        row = await self.get(reservation_id)
        if row.status not in LIVE_RESERVATION:
            raise ReservationError(f"reservation_id: reservation {reservation_id} is {row.status}, not live")
        answer = (await self._send(row.station_id, verbs.CancelReservation(reservation_id))).result
        if answer.accepted:
            await self.store.write(tx_repo.update_reservation, reservation_id, status="Cancelled",
                                   note=f"cancelled by {by}" if by else None)  # fmt: skip
        else:
            await self.store.write(tx_repo.update_reservation, reservation_id,
                                   note=f"cancel refused by the station: {answer.status}")  # fmt: skip
        self.events.publish("reservation.cancelled", row.station_id, reservation_id=reservation_id,
                            status=answer.status)  # fmt: skip
        return await self.get(reservation_id)

    async def status_update(self, station_id: str, reservation_id: int, status: str, payload: dict[str, Any]) -> None:
        """2.x ReservationStatusUpdate (Expired / Removed). One the CSMS never made, or of another
        station, is recorded as such and changes nothing."""

        def op(conn: Any) -> bool:
            row = tx_repo.get_reservation(conn, reservation_id)
            if row is None or row.station_id != station_id:
                repo.record_event(conn, station_id, "UnsolicitedReservationStatus", None, payload)
                return False
            repo.record_event(conn, station_id, "ReservationStatusUpdate", None, payload)
            tx_repo.update_reservation(conn, reservation_id, only_if=LIVE_RESERVATION, status=status)
            return True

        if await self.store.write(op):
            self.events.publish("reservation.updated", station_id, reservation_id=reservation_id, status=status)

    async def expire(self) -> None:
        """Mark live reservations past their expiry Expired (a read first: most seconds there are none)."""
        now = datetime.now(UTC)
        if not await self.store.read(tx_repo.any_reservation_due, now):
            return
        for row in await self.store.write(tx_repo.expire_reservations, now):
            log.info("%s: reservation %s expired", row.station_id, row.id)
            self.events.publish("reservation.updated", row.station_id, reservation_id=row.id, status="Expired")
