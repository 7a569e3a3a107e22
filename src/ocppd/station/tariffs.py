"""A 2.1 station's tariffs and its local cost calculation (sans-I/O).

The station holds the default tariffs the CSMS set per EVSE (SetDefaultTariff, 0: every EVSE) and the
tariffs it changed for running transactions (ChangeTransactionTariff), reports them (GetTariffs),
drops them (ClearTariffs), and prices a finished transaction by the one that applies, with the same
pure calculator as the CSMS (csms/billing/cost.py, through csms/billing/ocpp21.py). A tariff that
calculator cannot price is refused with ConditionNotSupported, so the answer never promises a price
the station would not compute. The station's local time is UTC.

A driver tariff (the ``tariff`` of a 2.1 Authorize answer) prices the transaction that driver starts.
Simplification: a transaction whose tariff was changed is priced wholly by the new tariff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ocppd.csms.billing.cost import MeterPoint, SessionData, price_session
from ocppd.csms.billing.ocpp21 import NotMappable, cost_details, from_ocpp21
from ocppd.csms.billing.tariff import Tariff

Payload = dict[str, Any]


def _started(valid_from: str | None, at: float) -> bool:
    return valid_from is None or datetime.fromisoformat(valid_from.replace("Z", "+00:00")).timestamp() <= at


def _info(reason: str, extra: str = "") -> Payload:
    return {"reasonCode": reason} | ({"additionalInfo": extra[:1024]} if extra else {})


@dataclass(slots=True)
class _Held:
    payload: Payload
    tariff: Tariff
    evse_id: int  # 0: every EVSE
    transaction: str | None = None  # set: a ChangeTransactionTariff or driver tariff for this transaction
    id_token: str | None = None  # a driver tariff (Authorize): whose


@dataclass(slots=True)
class HeldTariffs:
    evse_ids: Sequence[int]
    held: dict[str, _Held] = field(default_factory=dict)  # tariffId -> held tariff

    def _parse(self, payload: Payload) -> Tariff | Payload:
        try:
            return from_ocpp21(payload, "UTC")
        except NotMappable as exc:
            return {"status": "ConditionNotSupported", "statusInfo": _info("UnsupportedParam", str(exc))}

    def set_default(self, evse_id: int, payload: Payload) -> Payload:
        if evse_id != 0 and evse_id not in self.evse_ids:
            return {"status": "Rejected", "statusInfo": _info("UnknownEvse", f"no EVSE {evse_id}")}
        tariff_id = payload["tariffId"]
        other = self.held.get(tariff_id)
        if other is not None and (other.evse_id != evse_id or other.transaction is not None):
            return {"status": "DuplicateTariffId", "statusInfo": _info("DuplicateTariffId", "held elsewhere")}
        parsed = self._parse(payload)
        if not isinstance(parsed, Tariff):
            return parsed
        # a new default for the EVSE replaces the one it had (same validity start)
        for key in [k for k, h in self.held.items() if h.transaction is None and h.evse_id == evse_id
                    and h.payload.get("validFrom") == payload.get("validFrom")]:  # fmt: skip
            del self.held[key]
        self.held[tariff_id] = _Held(payload, parsed, evse_id)
        return {"status": "Accepted"}

    def change_transaction(
        self, transaction_id: str, payload: Payload, evse_id: int | None, current: str | None
    ) -> Payload:
        if evse_id is None:
            return {"status": "TxNotFound"}
        parsed = self._parse(payload)
        if not isinstance(parsed, Tariff):
            return parsed
        if current is not None and current != parsed.currency:
            info = _info("InvalidValue", f"the transaction is priced in {current}")
            return {"status": "NoCurrencyChange", "statusInfo": info}
        for key in [k for k, h in self.held.items() if h.transaction == transaction_id]:
            del self.held[key]
        self.held[payload["tariffId"]] = _Held(payload, parsed, evse_id, transaction_id)
        return {"status": "Accepted"}

    def driver(self, transaction_id: str, payload: Payload, evse_id: int, id_token: str) -> bool:
        """The driver's tariff of a 2.1 Authorize answer prices this transaction (False: not priceable)."""
        parsed = self._parse(payload)
        if not isinstance(parsed, Tariff):
            return False
        for key in [k for k, h in self.held.items() if h.transaction == transaction_id]:
            del self.held[key]
        self.held[payload["tariffId"]] = _Held(payload, parsed, evse_id, transaction_id, id_token)
        return True

    def report(self, evse_id: int) -> Payload:
        assignments = []
        for tariff_id, h in self.held.items():
            evses = list(self.evse_ids) if h.evse_id == 0 else [h.evse_id]
            if evse_id != 0 and evse_id not in evses and h.evse_id != 0:
                continue
            entry: Payload = {"tariffId": tariff_id, "tariffKind": "DriverTariff" if h.transaction else "DefaultTariff",
                              "evseIds": evses}  # fmt: skip
            if h.payload.get("validFrom"):
                entry["validFrom"] = h.payload["validFrom"]
            if h.id_token:
                entry["idTokens"] = [h.id_token]
            assignments.append(entry)
        if not assignments:
            return {"status": "NoTariff"}
        return {"status": "Accepted", "tariffAssignments": assignments}

    def clear(self, tariff_ids: list[str] | None, evse_id: int | None) -> Payload:
        def at(h: _Held) -> bool:
            return evse_id is None or h.evse_id == evse_id

        results: list[Payload] = []
        if tariff_ids:
            for tariff_id in tariff_ids:
                h = self.held.get(tariff_id)
                if h is not None and at(h):
                    del self.held[tariff_id]
                    results.append({"tariffId": tariff_id, "status": "Accepted"})
                else:
                    results.append({"tariffId": tariff_id, "status": "NoTariff"})
        else:
            for tariff_id in [k for k, h in self.held.items() if at(h)]:
                del self.held[tariff_id]
                results.append({"tariffId": tariff_id, "status": "Accepted"})
        return {"clearTariffsResult": results or [{"status": "NoTariff"}]}

    def applies(self, transaction_id: str, evse_id: int, at: float) -> tuple[str, _Held] | None:
        """The tariff a transaction is priced by: its own, else the EVSE's default, else the station's."""
        for tariff_id, h in self.held.items():
            if h.transaction == transaction_id:
                return tariff_id, h
        for scope in (evse_id, 0):
            candidates = [
                (tariff_id, h)
                for tariff_id, h in self.held.items()
                if h.transaction is None and h.evse_id == scope and _started(h.payload.get("validFrom"), at)
            ]
            if candidates:  # the latest start that has begun
                return max(candidates, key=lambda c: c[1].payload.get("validFrom") or "")
        return None

    def local_cost(
        self, transaction_id: str, evse_id: int, start: float, stop: float, meter_start_wh: float,
        meter_stop_wh: float, readings: Sequence[tuple[float, float]],
    ) -> tuple[str, Payload] | None:  # fmt: skip
        """(tariffId, costDetails) of a finished transaction, None when no tariff applies."""
        found = self.applies(transaction_id, evse_id, start)
        if found is None:
            return None
        tariff_id, h = found

        def when(t: float) -> datetime:
            return datetime.fromtimestamp(t, UTC)

        session = SessionData(
            started_at=when(start), stopped_at=when(stop), meter_start_wh=Decimal(str(meter_start_wh)),
            meter_stop_wh=Decimal(str(meter_stop_wh)),
            readings=[MeterPoint(when(t), Decimal(str(wh))) for t, wh in readings if start <= t <= stop],
        )  # fmt: skip
        cost = price_session(h.tariff, session)
        return tariff_id, cost_details(cost, tariff_id, started=when(start))
