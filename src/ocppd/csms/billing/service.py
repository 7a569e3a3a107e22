"""The billing block: tariffs in the store, which applies where, and every transaction's cost.

The decisions are pure (tariff.py, cost.py); this module reads their inputs from the store and keeps
their results. A transaction is priced once when it ends, with the tariff version in force at its
start; it changes price only when an operator recomputes it, and every computation is kept with its
reason (transaction_costs).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ocppd import metrics
from ocppd.config import BillingSettings
from ocppd.csms.authorization import in_language
from ocppd.csms.billing import reports
from ocppd.csms.billing.cost import Cost, MeterPoint, SessionData, price_session
from ocppd.csms.billing.credit import debit_op
from ocppd.csms.billing.currencies import minor_units
from ocppd.csms.billing.signatures import FAILED, NO_KEY, UNVERIFIABLE, meter_keys, verify
from ocppd.csms.billing.tariff import Tariff, TariffError, parse_tariff
from ocppd.csms.metering import parse_time
from ocppd.store import Store, repo
from ocppd.store import billing_repo as br
from ocppd.store.rows import TxRow

log = logging.getLogger(__name__)

ENDED = "transaction ended"
COST_UPDATE_VERSIONS = frozenset({"2.0.1", "2.1"})
TARIFF_ID_LEN = 64
ASSIGNMENTS_RECHECK_S = 5.0


class BillingError(ValueError):
    """Bad billing input; ``where`` names the field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True, slots=True)
class Priced:
    """A transaction's cost and where it came from; ``cost`` None: no tariff applies to it."""

    tx: TxRow
    cost: Cost | None
    tariff_id: str | None
    tariff_version_id: int | None
    tariff: Tariff | None
    site_id: str | None = None  # where and for whom it was priced (kept with the cost, for the reports)
    group_id: str | None = None


def _specificity(a: br.AssignmentRow) -> int:
    """Most specific wins: token, then group (fleet contracts beat where the car charges), then EVSE,
    station, site, and the default (none set)."""
    return (
        (32 if a.id_token else 0)
        + (16 if a.group_id else 0)
        + (8 if a.evse_id is not None else 0)
        + (4 if a.station_id else 0)
        + (2 if a.site_id else 0)
    )


def choose_assignment(candidates: Sequence[br.AssignmentRow], evse_id: int | None) -> br.AssignmentRow | None:
    """Pure: the assignment that applies at this EVSE (ties: the newest)."""
    fitting = [a for a in candidates if a.evse_id is None or a.evse_id == evse_id]
    return max(fitting, key=lambda a: (_specificity(a), a.id), default=None)


def charging_changes(events: Sequence[tuple[int, dict[str, Any]]]) -> list[tuple[datetime, bool]]:
    """2.x chargingState reports as (from, is_charging): only Charging draws energy; the rest is idle."""
    changes = []
    for _, payload in events:
        state = (payload.get("transactionInfo") or {}).get("chargingState")
        if state and payload.get("timestamp"):
            changes.append((parse_time(payload["timestamp"]), state == "Charging"))
    return changes


def _minor(value: Decimal, digits: int) -> int:
    return int(value.scaleb(digits))


def session_of(conn: Any, tx: TxRow) -> SessionData:
    readings = [MeterPoint(t, Decimal(str(wh))) for t, wh in br.energy_readings(conn, tx.id)]
    changes = charging_changes(br.charging_states(conn, tx.station_id, tx.transaction_uid))
    return SessionData(
        started_at=tx.started_at,
        stopped_at=tx.stopped_at,
        meter_start_wh=None if tx.meter_start_wh is None else Decimal(str(tx.meter_start_wh)),
        meter_stop_wh=None if tx.meter_stop_wh is None else Decimal(str(tx.meter_stop_wh)),
        readings=readings,
        charging=changes,
    )


def price_op(conn: Any, tx: TxRow, *, now: datetime | None = None, version_id: int | None = None) -> Priced:
    """Price one transaction from the store: the tariff assigned to it, in force when it started (or the
    given version), over its stored readings. ``now``: a running transaction, up to that instant.
    A tariff the station accepted for this transaction (2.1 ChangeTransactionTariff) prices all of it,
    as the station prices it, so the bill and the driver's display agree."""
    if version_id is None and tx.transaction_uid:
        version_id = br.transaction_tariff_version(conn, tx.station_id, tx.transaction_uid)
    token = repo.get_token(conn, tx.id_token) if tx.id_token else None
    group_id = token.group_id if token else None
    site_id = br.station_site(conn, tx.station_id)
    if version_id is not None:
        version = br.get_tariff_version(conn, version_id)
    else:
        candidates = br.candidate_assignments(conn, tx.station_id, tx.id_token, group_id, site_id)
        assignment = choose_assignment(candidates, tx.evse_id)
        version = br.tariff_in_force(conn, assignment.tariff_id, tx.started_at) if assignment else None
    if version is None:
        return Priced(tx, None, None, None, None, site_id, group_id)
    tariff = parse_tariff(version.body, today=version.valid_from.date())
    cost = price_session(tariff, session_of(conn, tx), now=now if tx.stopped_at is None else None)
    return Priced(tx, cost, version.tariff_id, version.id, tariff, site_id, group_id)


def record_op(conn: Any, priced: Priced, reason: str, by: str | None) -> br.CostRow:
    cost = priced.cost
    outcome = "no_tariff" if cost is None else "flagged" if cost.flags else "priced"
    metrics.COSTS_COMPUTED.labels("ended" if reason == ENDED else "recomputed", outcome).inc()
    where = {"site_id": priced.site_id, "group_id": priced.group_id}
    if cost is None:
        return br.record_cost(conn, priced.tx.id, reason=reason, computed_by=by, flags=["no_tariff"], **where)
    return br.record_cost(
        conn,
        priced.tx.id,
        **where,
        tariff_version_id=priced.tariff_version_id,
        tariff_id=priced.tariff_id,
        currency=cost.currency,
        excl_vat_minor=_minor(cost.excl_vat, cost.digits),
        incl_vat_minor=_minor(cost.incl_vat, cost.digits),
        energy_wh=float(cost.energy_wh),
        charging_s=float(cost.charging_s),
        parking_s=float(cost.parking_s),
        cost=cost.to_json(),
        flags=list(cost.flags),
        reason=reason,
        computed_by=by,
    )


def add_version_op(
    conn: Any, tariff_id: str, body: Any, valid_from: datetime | None, valid_to: datetime | None, by: str | None
) -> br.TariffVersionRow:
    """Validate and store a new tariff version (API and CLI); BillingError / TariffError name the field."""
    if not tariff_id or len(tariff_id) > TARIFF_ID_LEN:
        raise BillingError("tariff_id", f"must be 1 to {TARIFF_ID_LEN} characters")
    start = valid_from or datetime.now(UTC)
    if valid_to is not None and valid_to <= start:
        raise BillingError("valid_to", "must be after valid_from")
    normal = parse_tariff(body, today=start.date()).to_json()
    row = br.add_tariff_version(conn, tariff_id, normal, start, valid_to, by)
    if isinstance(row, str):
        raise BillingError("valid_from", row)
    return row


def tariff_version_op(
    conn: Any, station_id: str, evse_id: int | None, id_token: str | None
) -> br.TariffVersionRow | None:
    """The tariff version in force now for a driver at this station."""
    token = repo.get_token(conn, id_token) if id_token else None
    site_id = br.station_site(conn, station_id)
    candidates = br.candidate_assignments(conn, station_id, id_token, token.group_id if token else None, site_id)
    assignment = choose_assignment(candidates, evse_id)
    return br.tariff_in_force(conn, assignment.tariff_id, datetime.now(UTC)) if assignment else None


def tariff_op(conn: Any, station_id: str, evse_id: int | None, id_token: str | None) -> Tariff | None:
    """The tariff in force now for a driver at this station (its text goes to the driver)."""
    version = tariff_version_op(conn, station_id, evse_id, id_token)
    return parse_tariff(version.body, today=version.valid_from.date()) if version else None


def running_op(conn: Any, now: datetime, versions: frozenset[str]) -> list[Priced]:
    """The cost so far of every running transaction of these OCPP versions that has a tariff."""
    running = repo.list_transactions(conn, active_only=True, limit=100_000)
    priced = (price_op(conn, tx, now=now) for tx in running if tx.ocpp_version in versions)
    return [p for p in priced if p.cost is not None]


def totals_op(
    conn: Any,
    period: str,
    by: str | None,
    zone: ZoneInfo,
    since: datetime | None,
    until: datetime | None,
    filters: dict[str, str | None],
    after: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The report totals, summed by the database (API, dashboard and CLI): one per (local period, key,
    currency) in the order of ``reports.sort_key``; ``after`` a cursor, ``limit`` at most that many."""
    reports.check(period, by)
    span = br.stopped_range(conn, since, until)  # the zone's offsets over the data, not the whole range asked
    if span is None:
        return []
    key = reports.DIMENSIONS[by] if by else None
    offsets = reports.offsets(zone, *span)
    rows = br.report_totals(conn, period=period, key=key, offsets=offsets, since=since, until=until,
                            filters=filters, after=after, limit=limit)  # fmt: skip
    return [reports.total(r, by) for r in rows]


def check_site_op(conn: Any, site_id: str | None, station_id: str | None) -> None:
    """A site assignment names a site of the limit tree, and not also a station (which is more specific)."""
    if site_id is None:
        return
    if station_id is not None:
        raise BillingError("site_id", "give a site or a station, not both (the station's own assignment wins)")
    if not br.is_site(conn, site_id):
        raise BillingError("site_id", f"no site {site_id!r} in the limit tree (see docs/smart-charging.md)")


MESSAGE_MAX = 512  # 2.0.1 MessageContentType.content


class Billing:
    def __init__(self, store: Store, settings: BillingSettings | None = None) -> None:
        self.store = store
        self.settings = settings or BillingSettings()
        self._pricing: dict[tuple[str, str], asyncio.Task[br.CostRow | None]] = {}
        self._updates: asyncio.Task[None] | None = None
        self.cost_updates_sent = 0
        self._priced_anywhere: tuple[float, bool] | None = None  # (checked at, monotonic; any assignment)

    # ------------------------------------------------------------------ billing evidence
    async def keep_signed(self, station_id: str, transaction_uid: str | None, rows: list[dict[str, Any]]) -> None:
        """Keep signed meter values with their transaction (called only when a message carries some)."""

        def op(conn: Any) -> list[str]:
            tx = repo.find_transaction(conn, station_id, transaction_uid) if transaction_uid else None
            keys = br.meter_keys_of(conn, station_id)
            kept = []
            for r in rows:
                if not r["evse_id"] and tx is not None and tx.evse_id:  # 2.x events after Started omit the EVSE
                    r = {**r, "evse_id": tx.evse_id}
                station_key = br.meter_key_for(keys, r["evse_id"])
                verdict = verify(
                    r["signed_data"], r["encoding"], r["public_key"], station_key and station_key.public_key
                )
                kept.append(
                    {
                        **r,
                        "station_id": station_id,
                        "transaction_id": tx.id if tx else None,
                        "verification": verdict.status,
                        "verification_detail": verdict.detail[:512],
                    }
                )
            br.insert_signed_values(conn, kept)
            return [k["verification"] for k in kept]

        for verdict in await self.store.write(op):
            metrics.SIGNED_VALUES.labels(verdict).inc()
            if verdict == FAILED:
                log.warning("%s: a signed meter value of %s failed verification", station_id, transaction_uid)

    async def meter_keys_reported(self, station_id: str, rows: list[tuple[str, str, str, str | None, bool]]) -> None:
        """Reporting listener: keep the meters' public keys (FiscalMetering.PublicKey per EVSE, 1.6
        MeterPublicKey[n]) and check again the values that could not be checked for want of one."""
        keys = meter_keys(rows)
        if not keys:
            return

        def op(conn: Any) -> tuple[list[int], int]:
            changed = br.upsert_meter_keys(conn, station_id, keys)
            if not changed:
                return changed, 0
            stored = br.meter_keys_of(conn, station_id)
            results = []
            for row in br.station_signed_values(conn, station_id, UNVERIFIABLE):
                key = br.meter_key_for(stored, row.evse_id)
                if row.verification_detail == NO_KEY and key is not None:
                    verdict = verify(row.signed_data, row.encoding, row.public_key, key.public_key)
                    results.append((row.id, verdict.status, verdict.detail))
            br.verify_results(conn, results)
            return changed, len(results)

        changed, rechecked = await self.store.write(op)
        if changed:
            log.info(
                "%s: meter public key of EVSE %s stored (%d kept values checked again)",
                station_id,
                ", ".join(map(str, changed)),
                rechecked,
            )

    # ------------------------------------------------------------------ cost while charging (2.x)
    def start(self, send: Callable[[str, Any], Awaitable[Any]], connected: Callable[[str], bool]) -> None:
        if self.settings.cost_update_interval_s > 0:
            self._updates = asyncio.get_running_loop().create_task(self._send_cost_updates(send, connected))

    def stop(self) -> None:
        if self._updates is not None:
            self._updates.cancel()

    async def _send_cost_updates(
        self, send: Callable[[str, Any], Awaitable[Any]], connected: Callable[[str], bool]
    ) -> None:
        from ocppd.csms.verbs import CostUpdate

        while True:
            await asyncio.sleep(self.settings.cost_update_interval_s)
            try:
                running = await self.store.read(running_op, datetime.now(UTC), COST_UPDATE_VERSIONS)
            except Exception:
                log.exception("running costs not computed")
                continue
            for priced in running:
                tx, cost = priced.tx, priced.cost
                if cost is None or not connected(tx.station_id):
                    continue
                try:
                    await send(tx.station_id, CostUpdate(tx.transaction_uid, str(cost.incl_vat)))
                    self.cost_updates_sent += 1
                    metrics.COST_UPDATES.labels("sent").inc()
                except Exception as exc:  # offline meanwhile, a CALLERROR: the next round tries again
                    metrics.COST_UPDATES.labels("failed").inc()
                    log.info("%s: CostUpdated for %s not delivered: %s", tx.station_id, tx.transaction_uid, exc)

    async def personal_message(self, station_id: str, evse_id: int | None, id_token: str,
                               languages: Sequence[str] = ()) -> dict[str, Any] | None:  # fmt: skip
        """idTokenInfo.personalMessage: the text of the tariff that applies to this driver here, in the
        driver's language (``languages``: the token's language1, language2) when the tariff has it, else
        in ``billing.language``, else its first."""
        tariff = await self.store.read(tariff_op, station_id, evse_id, id_token)
        if tariff is None or not tariff.text:
            return None
        names = list(tariff.text)
        i = in_language(names, [*languages, self.settings.language])
        language = names[i] if i is not None else names[0]
        return {"format": "UTF8", "language": language[:8], "content": tariff.text[language][:MESSAGE_MAX]}

    async def final_total(self, station_id: str, transaction_uid: str) -> float | None:
        """TransactionEventResponse.totalCost of an ended transaction (incl. VAT), None: not priced."""
        row = await self.final_cost(station_id, transaction_uid)
        if row is None or row.cost is None:
            return None
        return float(row.cost["incl_vat"])

    async def running_total(self, station_id: str, transaction_uid: str, at: datetime) -> float | None:
        """TransactionEventResponse.totalCost of an Updated event: the cost so far (incl. VAT) up to the
        event's time, by the same calculator as the final price; None: no tariff (nothing is claimed)."""

        if not await self._any_tariff():
            return None

        def op(conn: Any) -> Priced | None:
            tx = repo.find_transaction(conn, station_id, transaction_uid)
            if tx is None or not tx.active:
                return None
            return price_op(conn, tx, now=max(at, tx.started_at))

        try:
            priced = await self.store.read(op)
        except TariffError:
            log.exception("%s: transaction %s: stored tariff no longer parses", station_id, transaction_uid)
            return None
        if priced is None or priced.cost is None:
            return None
        return float(priced.cost.incl_vat)

    async def priced_anywhere(self) -> bool:
        """Whether any tariff applies anywhere (a cheap guard for per-message pricing work)."""
        return await self._any_tariff()

    async def _any_tariff(self) -> bool:
        """Cheap guard for the Updated hot path: no assignment anywhere, no pricing per event. Re-read
        every few seconds (the CLI assigns from another process); this process's assign() resets it."""
        now = time.monotonic()
        if self._priced_anywhere is None or now - self._priced_anywhere[0] > ASSIGNMENTS_RECHECK_S:
            self._priced_anywhere = (now, await self.store.read(br.any_assignment))
        return self._priced_anywhere[1]

    # ------------------------------------------------------------------ tariffs
    async def put_tariff(
        self,
        tariff_id: str,
        body: Any,
        *,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        by: str | None = None,
    ) -> br.TariffVersionRow:
        """A new version of ``tariff_id``; raises BillingError / TariffError naming what is wrong."""
        row = await self.store.write(add_version_op, tariff_id, body, valid_from, valid_to, by)
        start = row.valid_from
        log.info("tariff %s: version %s from %s (by %s)", tariff_id, row.id, start.isoformat(), by)
        return row

    async def assign(
        self,
        tariff_id: str,
        *,
        station_id: str | None = None,
        evse_id: int | None = None,
        group_id: str | None = None,
        id_token: str | None = None,
        site_id: str | None = None,
        by: str | None = None,
    ) -> br.AssignmentRow:
        if evse_id is not None and station_id is None:
            raise BillingError("evse_id", "needs station_id")
        if not await self.store.read(br.tariff_versions_of, tariff_id):
            raise BillingError("tariff_id", f"unknown tariff {tariff_id!r}")
        await self.store.read(check_site_op, site_id, station_id)
        row = await self.store.write(
            br.add_assignment,
            tariff_id=tariff_id,
            site_id=site_id,
            station_id=station_id,
            evse_id=evse_id,
            group_id=group_id,
            id_token=id_token,
            created_by=by,
        )
        self._priced_anywhere = None  # after the write: the next check sees it
        return row

    # ------------------------------------------------------------------ costs
    def transaction_ended(self, station_id: str, transaction_uid: str) -> None:
        """Transactions' end listener: price it in the background (``final_cost`` waits for it)."""
        key = (station_id, transaction_uid)
        if key not in self._pricing:
            task = asyncio.get_running_loop().create_task(self._price_ended(station_id, transaction_uid))
            self._pricing[key] = task
            task.add_done_callback(lambda _t: self._pricing.pop(key, None))

    async def _price_ended(self, station_id: str, transaction_uid: str) -> br.CostRow | None:
        def op(conn: Any) -> br.CostRow | None:
            tx = repo.find_transaction(conn, station_id, transaction_uid)
            if tx is None or tx.active:
                return None
            history = br.cost_history(conn, tx.id)
            if history:  # a replayed end: the price stands (and was debited once, with it)
                return history[-1]
            row = record_op(conn, price_op(conn, tx), ENDED, None)
            debit_op(conn, tx, row)  # prepaid credit pays the final price, in the same write
            return row

        try:
            row = await self.store.write(op)
        except TariffError:
            log.exception("%s: transaction %s: stored tariff no longer parses", station_id, transaction_uid)
            return None
        if row is not None and row.cost is not None:
            log.info(
                "%s: transaction %s priced %s %s incl. VAT%s",
                station_id,
                transaction_uid,
                row.cost["incl_vat"],
                row.currency,
                f" (review: {', '.join(row.flags or [])})" if row.flags else "",
            )
        return row

    async def final_cost(self, station_id: str, transaction_uid: str) -> br.CostRow | None:
        """The ended transaction's recorded cost (waits for the pricing its end started)."""
        task = self._pricing.get((station_id, transaction_uid))
        if task is not None:
            return await asyncio.shield(task)
        return await self._price_ended(station_id, transaction_uid)

    async def cost_of(self, pk: int) -> dict[str, Any] | None:
        """The transaction's price as JSON: the latest computation, or for a running one the cost so far
        (with ``running: true``); None when no tariff applies."""

        def op(conn: Any) -> dict[str, Any] | None:
            tx = repo.get_transaction(conn, pk)
            if tx is None:
                return None
            if tx.active:
                priced = price_op(conn, tx, now=datetime.now(UTC))
                return priced.cost.to_json() | {"running": True} if priced.cost else None
            history = br.cost_history(conn, pk)
            return history[-1].cost | {"running": False} if history and history[-1].cost else None

        return await self.store.read(op)

    async def totals(
        self,
        *,
        period: str,
        by: str | None,
        zone: ZoneInfo,
        since: datetime | None,
        until: datetime | None,
        after: Sequence[str] | None = None,
        limit: int | None = None,
        **filters: str | None,
    ) -> list[dict[str, Any]]:
        """Per day / month totals (totals_op) of the finished transactions that match (API and dashboard)."""
        return await self.store.read(totals_op, period, by, zone, since, until, filters, after, limit)

    async def costs_for(self, pks: Sequence[int]) -> dict[int, dict[str, Any]]:
        """For a page of transactions: the price of each finished one (latest computation) and the cost
        so far of each running one (``running: true``, not recorded); none when no tariff applies."""
        price_running = await self._any_tariff()  # no assignment anywhere: no pricing per page view

        def op(conn: Any) -> dict[int, dict[str, Any]]:
            out: dict[int, dict[str, Any]] = {}
            for pk, row in br.latest_costs(conn, list(pks)).items():
                if row.cost is not None:
                    out[pk] = {"incl_vat": row.cost["incl_vat"], "currency": row.currency, "running": False}
            now = datetime.now(UTC)
            for tx in (repo.get_transaction(conn, pk) for pk in pks if pk not in out and price_running):
                if tx is not None and tx.active:
                    priced = price_op(conn, tx, now=now)
                    if priced.cost is not None:
                        cost = priced.cost
                        out[tx.id] = {"incl_vat": str(cost.incl_vat), "currency": cost.currency, "running": True}
            return out

        return await self.store.read(op)

    async def running_cost(self, tx: TxRow, now: datetime | None = None) -> Priced:
        """The cost so far of a running transaction (nothing is recorded)."""
        return await self.store.read(price_op, tx, now=now or datetime.now(UTC))

    async def recompute(self, pk: int, reason: str, by: str | None, version_id: int | None = None) -> br.CostRow:
        """Operator action: price a finished transaction again (optionally with another tariff version)."""
        if not reason.strip():
            raise BillingError("reason", "is required: say why the price changes")

        def op(conn: Any) -> br.CostRow:
            tx = repo.get_transaction(conn, pk)
            if tx is None:
                raise LookupError(f"unknown transaction {pk}")
            if tx.active:
                raise BillingError("transaction", "is still running: it is priced when it ends")
            if version_id is not None and br.get_tariff_version(conn, version_id) is None:
                raise BillingError("tariff_version_id", f"unknown tariff version {version_id}")
            return record_op(conn, price_op(conn, tx, version_id=version_id), reason.strip(), by)

        row = await self.store.write(op)
        log.info("transaction %s recomputed by %s (%s): %s", pk, by, reason, row.incl_vat_minor)
        return row

    @staticmethod
    def digits(currency: str | None) -> int:
        return minor_units(currency or "") or 0

    @staticmethod
    def money(minor: int, digits: int) -> str:
        return str(Decimal(int(minor)).scaleb(-digits))
