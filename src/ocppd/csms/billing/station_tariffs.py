"""OCPP 2.1 tariffs on the stations, and the stations' own cost beside the CSMS's.

The CSMS sends ocppd tariff versions mapped onto the 2.1 Tariff (ocpp21.py): SetDefaultTariff per EVSE,
ChangeTransactionTariff for a running transaction. Every answer is kept (station_tariffs): ``held`` is
what the station holds as far as the CSMS knows, ClearTariffs ends it, and GetTariffs reconciles it
with what the station says it holds (the station is right: rows it does not report stop being held,
tariffs it reports that the CSMS did not send are recorded as ``reported``).

A 2.1 station that computes its local cost sends ``costDetails`` in TransactionEvent; each is kept with
the CSMS's own price of the same moment and the difference, flagged when it is more than one minor
unit of the currency (rounding), so an operator sees stations that price differently.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ocppd import metrics
from ocppd.csms import verbs as v
from ocppd.csms.billing.currencies import minor_units
from ocppd.csms.billing.ocpp21 import NotMappable, station_total, to_ocpp21
from ocppd.csms.billing.service import Billing, BillingError, tariff_version_op
from ocppd.csms.billing.tariff import parse_tariff
from ocppd.csms.outbound import Sent
from ocppd.store import Store, repo
from ocppd.store import billing_repo as br

log = logging.getLogger(__name__)

Send = Callable[[str, Any], Awaitable[Sent[Any]]]
DEFAULT = "default"
TRANSACTION = "transaction"
REPORTED = "reported"


@dataclass(frozen=True, slots=True)
class Pushed:
    row: br.StationTariffRow
    sent: Sent[Any]


def ocpp_tariff_id(tariff_id: str, version_id: int) -> str:
    """The 2.1 tariffId of one ocppd tariff version (a new version is a new tariff to the station)."""
    suffix = f"-v{version_id}"
    return tariff_id[: 60 - len(suffix)] + suffix


def mapped_version(conn: Any, tariff_id: str, version_id: int | None) -> tuple[br.TariffVersionRow, dict[str, Any]]:
    """The version (given, else the one in force now) and its 2.1 form; BillingError / NotMappable."""
    if version_id is not None:
        version = br.get_tariff_version(conn, version_id)
        if version is None or version.tariff_id != tariff_id:
            raise BillingError("version_id", f"tariff {tariff_id!r} has no version {version_id}")
    else:
        version = br.tariff_in_force(conn, tariff_id, datetime.now(UTC))
        if version is None:
            known = br.tariff_versions_of(conn, tariff_id)
            raise BillingError(
                "tariff_id", f"tariff {tariff_id!r} " + ("has no version in force now" if known else "is unknown")
            )
    tariff = parse_tariff(version.body, today=version.valid_from.date())
    return version, to_ocpp21(tariff, ocpp_tariff_id(tariff_id, version.id), version.valid_from)


class StationTariffs:
    def __init__(self, store: Store, send: Send, billing: Billing) -> None:
        self.store = store
        self.send = send
        self.billing = billing

    async def preview(self, tariff_id: str, version_id: int | None = None) -> dict[str, Any]:
        """The 2.1 Tariff a version becomes (NotMappable names what cannot be said)."""
        _, payload = await self.store.read(mapped_version, tariff_id, version_id)
        return payload

    async def _record(self, **fields: Any) -> br.StationTariffRow:
        return await self.store.write(br.add_station_tariff, **fields)

    async def set_default(self, station_id: str, evse_id: int, tariff_id: str, version_id: int | None = None) -> Pushed:
        version, payload = await self.store.read(mapped_version, tariff_id, version_id)
        sent = await self.send(station_id, v.SetDefaultTariff(evse_id, payload))
        result: v.Status = sent.result
        row = await self._record(
            station_id=station_id, evse_id=evse_id, tariff_id=payload["tariffId"], kind=DEFAULT, body=payload,
            source_tariff_id=tariff_id, source_version_id=version.id, status=result.status,
            detail=result.reason, held=result.status == "Accepted",
        )  # fmt: skip
        log.info("%s: SetDefaultTariff %s on EVSE %s: %s", station_id, payload["tariffId"], evse_id, result.status)
        return Pushed(row, sent)

    async def change_transaction(
        self, station_id: str, transaction_uid: str, tariff_id: str, version_id: int | None = None
    ) -> Pushed:
        tx = await self.store.read(repo.find_transaction, station_id, transaction_uid)
        if tx is None or not tx.active:
            raise BillingError("transaction", f"no running transaction {transaction_uid!r} at {station_id}")
        version, payload = await self.store.read(mapped_version, tariff_id, version_id)
        sent = await self.send(station_id, v.ChangeTransactionTariff(transaction_uid, payload))
        result: v.Status = sent.result
        row = await self._record(
            station_id=station_id, evse_id=tx.evse_id or 0, tariff_id=payload["tariffId"], kind=TRANSACTION,
            transaction_uid=transaction_uid, body=payload, source_tariff_id=tariff_id, source_version_id=version.id,
            status=result.status, detail=result.reason, held=result.status == "Accepted",
        )  # fmt: skip
        log.info("%s: ChangeTransactionTariff %s for %s: %s", station_id, payload["tariffId"], transaction_uid,
                 result.status)  # fmt: skip
        return Pushed(row, sent)

    async def clear(self, station_id: str, tariff_ids: tuple[str, ...] = (), evse_id: int | None = None) -> Sent[Any]:
        sent = await self.send(station_id, v.ClearTariffs(tariff_ids, evse_id))
        cleared = {r.tariff_id for r in sent.result.results if r.status == "Accepted" and r.tariff_id}
        everything = not tariff_ids and all(r.status in ("Accepted", "NoTariff") for r in sent.result.results)

        def op(conn: Any) -> int:
            held = br.station_tariffs_of(conn, station_id, held_only=True)
            gone = [
                r.id
                for r in held
                if (everything or r.tariff_id in cleared) and (evse_id is None or r.evse_id in (evse_id, 0))
            ]
            br.update_station_tariffs(conn, gone, held=False, detail="cleared (ClearTariffs)")
            return len(gone)

        count = await self.store.write(op)
        log.info("%s: ClearTariffs %s: %d no longer held", station_id, list(tariff_ids) or "all", count)
        return sent

    async def reconcile(self, station_id: str, evse_id: int = 0) -> Sent[Any]:
        """GetTariffs, and the stored view made to agree with the station's answer."""
        sent = await self.send(station_id, v.GetTariffs(evse_id))
        result: v.TariffsHeld = sent.result
        if result.status == "Rejected":
            return sent
        reported = {a.tariff_id: a for a in result.assignments}
        now = datetime.now(UTC)

        def op(conn: Any) -> None:
            held = br.station_tariffs_of(conn, station_id, held_only=True)
            in_scope = [r for r in held if evse_id == 0 or r.evse_id in (evse_id, 0)]
            missing = [r.id for r in in_scope if r.tariff_id not in reported]
            br.update_station_tariffs(
                conn, missing, held=False, detail=f"not reported by GetTariffs at {now:%Y-%m-%dT%H:%M:%SZ}"
            )
            br.update_station_tariffs(conn, [r.id for r in in_scope if r.tariff_id in reported], checked_at=now)
            known = {r.tariff_id for r in held}
            for tariff_id, a in reported.items():
                if tariff_id in known:
                    continue
                body = {"tariffId": tariff_id, "tariffKind": a.kind, "evseIds": list(a.evse_ids)}
                br.add_station_tariff(
                    conn, station_id=station_id, evse_id=a.evse_ids[0] if a.evse_ids else evse_id,
                    tariff_id=tariff_id, kind=REPORTED, body=body, status=a.kind, held=True, checked_at=now,
                    detail="reported by GetTariffs; not sent by this CSMS",
                )  # fmt: skip

        await self.store.write(op)
        return sent

    async def held(self, station_id: str, *, all_rows: bool = False) -> list[br.StationTariffRow]:
        return await self.store.read(br.station_tariffs_of, station_id, held_only=not all_rows)

    async def driver_tariff(self, station_id: str, evse_id: int | None, id_token: str) -> dict[str, Any] | None:
        """2.1 AuthorizeResponse.tariff: the driver's tariff here as a 2.1 Tariff (OCA TC_I_109); None
        when none applies or it cannot be said in 2.1 (then it is not sent, rather than sent wrong)."""

        if not await self.billing.priced_anywhere():
            return None

        def op(conn: Any) -> dict[str, Any] | None:
            version = tariff_version_op(conn, station_id, evse_id, id_token)
            if version is None:
                return None
            tariff = parse_tariff(version.body, today=version.valid_from.date())
            return to_ocpp21(tariff, ocpp_tariff_id(version.tariff_id, version.id), version.valid_from)

        try:
            return await self.store.read(op)
        except NotMappable as exc:
            log.info(
                "%s: the driver's tariff is not sent in Authorize: not expressible in OCPP 2.1: %s", station_id, exc
            )
            return None

    # ------------------------------------------------------------------ the station's local cost
    async def local_cost(
        self, station_id: str, transaction_uid: str, event_type: str, seq_no: int, at: datetime,
        details: dict[str, Any], tariff_id: str | None,
    ) -> br.LocalCostRow:  # fmt: skip
        """Keep a 2.1 station's costDetails beside the CSMS's price of the same moment."""
        theirs = station_total(details)
        if event_type == "Ended":
            ours_float = await self.billing.final_total(station_id, transaction_uid)
        else:
            ours_float = await self.billing.running_total(station_id, transaction_uid, at)
        currency = (details.get("totalCost") or {}).get("currency")
        digits = minor_units(currency or "") or 2
        ours = None if ours_float is None else Decimal(str(ours_float)).quantize(Decimal(1).scaleb(-digits))
        difference = None if theirs is None or ours is None else theirs - ours
        flagged = (theirs is None) != (ours is None) or (
            difference is not None and abs(difference) > Decimal(1).scaleb(-digits)
        )

        def op(conn: Any) -> br.LocalCostRow:
            tx = repo.find_transaction(conn, station_id, transaction_uid)
            return br.add_local_cost(
                conn, transaction_id=tx.id if tx else None, station_id=station_id, transaction_uid=transaction_uid,
                event_type=event_type, seq_no=seq_no, tariff_id=tariff_id, cost_details=details,
                station_incl_vat=_text(theirs), csms_incl_vat=_text(ours), difference=_text(difference),
                flagged=flagged,
            )  # fmt: skip

        row = await self.store.write(op)
        metrics.LOCAL_COSTS.labels("differs" if flagged else "agrees").inc()
        if flagged:
            log.warning("%s: transaction %s: the station's cost %s differs from the CSMS's %s", station_id,
                        transaction_uid, theirs, ours)  # fmt: skip
        return row


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
