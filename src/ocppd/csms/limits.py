"""OCPP 2.1 transaction limits (TransactionLimitType: maxCost, maxEnergy, maxTime, maxSoC).

2.1 carries a limit in two places only: the station reports the one it applies in
``TransactionEventRequest.transactionInfo.transactionLimit`` (triggerReason LimitSet), and the CSMS
gives its own in a ``TransactionEventResponse``. RequestStartTransaction has no limit field, so a
limit asked for with a remote start waits, keyed on the remoteStartId, for the transaction's first
event. 1.6 and 2.0.1 have no transaction limits at all.

The decisions (``check_limit``, ``effective``, ``answer_limit``) are pure; ``Limits`` keeps every
limit (the operator's, the prepaid credit's, each one answered, each one the station reported).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from ocppd.csms.billing.credit import entry_json
from ocppd.store import Store, repo
from ocppd.store import credit_repo as cr

log = logging.getLogger(__name__)

LIMIT_VERSION = "2.1"
OPERATOR, PREPAID, SENT, STATION = "operator", "prepaid", "sent", "station"
_OCPP = {"max_cost": "maxCost", "max_energy": "maxEnergy", "max_time": "maxTime", "max_soc": "maxSoC"}


class LimitError(ValueError):
    """A limit that cannot be set; ``where`` names the field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True, slots=True)
class TxLimit:
    max_cost: float | None = None  # in the tariff's currency, incl. VAT (as totalCost)
    max_energy: float | None = None  # Wh
    max_time: int | None = None  # seconds from the start of the transaction
    max_soc: int | None = None  # percent

    @property
    def empty(self) -> bool:
        return all(getattr(self, f) is None for f in _OCPP)

    def to_ocpp(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, key in _OCPP.items():
            value = getattr(self, name)
            if value is not None:
                out[key] = float(value) if name in ("max_cost", "max_energy") else int(value)
        return out

    def to_json(self) -> dict[str, Any]:
        return {name: v for name in _OCPP if (v := getattr(self, name)) is not None}

    @classmethod
    def from_ocpp(cls, d: dict[str, Any] | None) -> TxLimit | None:
        if not d:
            return None
        return cls(
            max_cost=None if d.get("maxCost") is None else float(d["maxCost"]),
            max_energy=None if d.get("maxEnergy") is None else float(d["maxEnergy"]),
            max_time=d.get("maxTime"),
            max_soc=d.get("maxSoC"),
        )

    @classmethod
    def from_row(cls, row: cr.LimitRow) -> TxLimit:
        return cls(
            max_cost=row.max_cost,
            max_energy=row.max_energy,
            max_time=row.max_time,
            max_soc=row.max_soc,
        )

    def columns(self) -> dict[str, Any]:
        return {
            "max_cost": self.max_cost,
            "max_energy": self.max_energy,
            "max_time": self.max_time,
            "max_soc": self.max_soc,
        }

    def tighter(self, other: TxLimit | None) -> TxLimit:
        """Per field, the lower of the two (a field set on one side only is kept)."""
        if other is None:
            return self
        values = {}
        for name in _OCPP:
            a, b = getattr(self, name), getattr(other, name)
            values[name] = b if a is None else a if b is None else min(a, b)
        return TxLimit(**values)

    def adopted_by(self, reported: TxLimit | None) -> bool:
        """Whether the station's reported limit holds every value of this one."""
        if reported is None:
            return False
        return all(getattr(self, n) is None or _same(getattr(self, n), getattr(reported, n)) for n in _OCPP)


def _same(a: Any, b: Any) -> bool:
    return b is not None and abs(float(a) - float(b)) < 1e-9


def check_limit(max_cost: Any = None, max_energy: Any = None, max_time: Any = None, max_soc: Any = None) -> TxLimit:
    """Pure: an operator's limit, validated; LimitError names the field."""
    cost = None
    if max_cost is not None:
        try:
            cost = Decimal(str(max_cost))
        except (InvalidOperation, ValueError):
            raise LimitError("max_cost", f"{max_cost!r} is not a decimal amount") from None
        if not cost.is_finite() or cost <= 0:
            raise LimitError("max_cost", "must be a positive amount (in the tariff's currency)")
    if max_energy is not None and (not isinstance(max_energy, int | float) or isinstance(max_energy, bool)
                                   or not 0 < max_energy < float("inf")):  # fmt: skip
        raise LimitError("max_energy", "must be a positive number of Wh")
    for where, value, low, high in (("max_time", max_time, 1, 2**31 - 1), ("max_soc", max_soc, 0, 100)):
        bad = isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
        if value is not None and bad:
            raise LimitError(where, f"must be a whole number from {low} to {high}")
    energy = None if max_energy is None else float(max_energy)
    limit = TxLimit(None if cost is None else float(cost), energy, max_time, max_soc)
    if limit.empty:
        raise LimitError("limit", "give at least one of max_cost, max_energy, max_time, max_soc")
    return limit


def effective(rows: list[cr.LimitRow]) -> TxLimit | None:
    """Pure: the CSMS's limit of a transaction: the latest operator limit, tightened by the prepaid one."""
    latest: dict[str, TxLimit] = {}
    for row in rows:
        if row.source in (OPERATOR, PREPAID):
            latest[row.source] = TxLimit.from_row(row)
    if not latest:
        return None
    operator = latest.get(OPERATOR)
    prepaid = latest.get(PREPAID)
    return operator.tighter(prepaid) if operator is not None else prepaid


def answer_limit(ours: TxLimit | None, last_sent: TxLimit | None, reported_now: TxLimit | None) -> TxLimit | None:
    """Pure: the transactionLimit of a TransactionEventResponse (None: omitted).

    The CSMS's limit goes out until it has been given once; after that only when the station reports
    (in this very event) a limit that does not hold it, so the CSMS's overrides (OCA TC_E_102); a
    station that reports it adopted (or reports nothing) hears nothing more (TC_E_110)."""
    if ours is None or ours.empty:
        return None
    if last_sent != ours:
        return ours
    if reported_now is not None and not ours.adopted_by(reported_now):
        return ours
    return None


def row_json(row: cr.LimitRow) -> dict[str, Any]:
    return {
        "source": row.source,
        **TxLimit.from_row(row).to_json(),
        **({"currency": row.currency} if row.currency else {}),
        "seq_no": row.seq_no,
        "set_by": row.set_by,
        "set_at": row.set_at.isoformat(),
    }


class TransactionLimits:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def expect_remote_start(self, station_id: str, remote_start_id: int, limit: TxLimit, by: str | None) -> None:
        """Kept before the RequestStartTransaction goes out: the station's Started event may come first."""
        await self.store.write(
            cr.add_limit, station_id=station_id, remote_start_id=remote_start_id, source=OPERATOR, set_by=by,
            **limit.columns(),
        )  # fmt: skip

    async def refused_remote_start(self, station_id: str, remote_start_id: int) -> None:
        """The station refused the remote start (or answered it with a CALLERROR): its limit is dropped, so
        a later transaction with the same remoteStartId does not take it. A start that timed out keeps it:
        the station may have started the transaction all the same."""
        if await self.store.write(cr.drop_remote_start, station_id, remote_start_id):
            log.info("%s: remote start %s refused, its limit dropped", station_id, remote_start_id)

    async def set_running(self, pk: int, limit: TxLimit, by: str | None) -> dict[str, Any]:
        """An operator's limit on a running 2.1 transaction: it goes out with the answer to the next event."""

        def op(conn: Any) -> dict[str, Any]:
            tx = repo.get_transaction(conn, pk)
            if tx is None:
                raise LookupError(f"unknown transaction {pk}")
            if not tx.active:
                raise LimitError("transaction", "has ended")
            if tx.ocpp_version != LIMIT_VERSION:
                raise LimitError("transaction", f"OCPP {tx.ocpp_version} has no transaction limits (2.1 only)")
            cr.add_limit(
                conn, station_id=tx.station_id, transaction_uid=tx.transaction_uid, source=OPERATOR, set_by=by,
                **limit.columns(),
            )  # fmt: skip
            return self._view(conn, tx.station_id, tx.transaction_uid)

        view = await self.store.write(op)
        log.info("transaction %s: limit %s set by %s", pk, limit.to_json(), by)
        return view

    async def of_transaction(self, pk: int) -> dict[str, Any] | None:
        """Its limits, and the prepaid debit of its final price once it has ended (None: no such transaction)."""

        def op(conn: Any) -> dict[str, Any] | None:
            tx = repo.get_transaction(conn, pk)
            if tx is None:
                return None
            debit = cr.debit_of(conn, pk)
            view = self._view(conn, tx.station_id, tx.transaction_uid)
            return {**view, "debit": entry_json(debit) if debit else None}

        return await self.store.read(op)

    @staticmethod
    def _view(conn: Any, station_id: str, transaction_uid: str) -> dict[str, Any]:
        rows = cr.limits_of(conn, station_id, transaction_uid)
        ours = effective(rows)
        reported = [r for r in rows if r.source == STATION]
        return {
            "limit": ours.to_json() if ours else None,
            "station_limit": TxLimit.from_row(reported[-1]).to_json() if reported else None,
            "history": [row_json(r) for r in rows],
        }

    async def on_event(
        self,
        station_id: str,
        transaction_uid: str,
        event_type: str,
        seq_no: int,
        *,
        remote_start_id: int | None,
        reported: dict[str, Any] | None,
        prepaid: TxLimit | None = None,
        currency: str | None = None,
    ) -> dict[str, Any] | None:
        """A 2.1 TransactionEvent: keep what the station reports, and the limit to answer (None: none)."""
        station_limit = TxLimit.from_ocpp(reported)
        if station_limit is None and prepaid is None and remote_start_id is None:
            known = await self.store.read(cr.limits_of, station_id, transaction_uid)
            if not known:  # the common case, no limit anywhere: no write per event
                return None

        def op(conn: Any) -> dict[str, Any] | None:
            if remote_start_id is not None:
                cr.bind_remote_start(conn, station_id, remote_start_id, transaction_uid)
            rows = cr.limits_of(conn, station_id, transaction_uid)
            resent = [r for r in rows if r.source == SENT and r.seq_no == seq_no]
            if resent:  # a replayed event gets the answer it got the first time
                return TxLimit.from_row(resent[-1]).to_ocpp()
            where = {"station_id": station_id, "transaction_uid": transaction_uid, "seq_no": seq_no}
            if station_limit is not None:
                cr.add_limit(conn, source=STATION, **where, **station_limit.columns())
            if prepaid is not None and not any(r.source == PREPAID for r in rows):
                prepaid_row = cr.add_limit(conn, source=PREPAID, currency=currency, **where, **prepaid.columns())
                rows.append(prepaid_row)
            if event_type == "Ended":
                return None
            sent = [r for r in rows if r.source == SENT]
            answer = answer_limit(effective(rows), TxLimit.from_row(sent[-1]) if sent else None, station_limit)
            if answer is None:
                return None
            cr.add_limit(conn, source=SENT, **where, **answer.columns())
            return answer.to_ocpp()

        return await self.store.write(op)


def with_remote_start_id(verb: Any, allocate: Any) -> Any:
    """A remote start that carries a limit needs its remoteStartId before it is sent (to find the
    transaction it starts)."""
    return verb if verb.remote_start_id is not None else replace(verb, remote_start_id=allocate())
