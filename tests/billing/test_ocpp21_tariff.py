"""ocppd tariffs as OCPP 2.1 Tariffs (pure): the mapping, what is refused naming the element, schema
validity, and the way back pricing a session to the same cent (a 2.1 station's local cost)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ocppd.csms.billing.cost import MeterPoint, SessionData, price_session
from ocppd.csms.billing.ocpp21 import NotMappable, cost_details, from_ocpp21, station_total, to_ocpp21
from ocppd.csms.billing.tariff import parse_tariff
from ocppd.protocol.validation import schemas
from ocppd.protocol.versions import OcppVersion

MULTI = {
    "currency": "EUR",
    "time_zone": "Europe/Berlin",
    "vat": "19",
    "min_price": "0.50",
    "max_price": "80.00",
    "text": {"en": "Day/night, idle 6 EUR/h, 1 EUR per session", "de": "Tag/Nacht"},
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": "0.30"}, {"type": "TIME", "price": "1.20"}],
         "restrictions": {"start_time": "08:00", "end_time": "18:00", "day_of_week": ["MONDAY", "TUESDAY"]}},
        {"price_components": [{"type": "ENERGY", "price": "0.25"}, {"type": "TIME", "price": "0.60"}]},
        {"price_components": [{"type": "PARKING_TIME", "price": "6.00"}, {"type": "FLAT", "price": "1.00"}],
         "restrictions": {"start_date": "2026-01-01"}},
        {"price_components": [{"type": "ENERGY", "price": "0.20"}],
         "restrictions": {"min_kwh": "50", "min_power": "50"}},
    ],
}  # fmt: skip


def test_a_multi_part_tariff_maps_onto_the_2_1_tariff() -> None:
    out = to_ocpp21(parse_tariff(MULTI), "day-night-v3", datetime(2026, 1, 1, tzinfo=UTC))
    assert out["tariffId"] == "day-night-v3" and out["currency"] == "EUR" and out["validFrom"] == "2026-01-01T00:00:00Z"
    assert out["energy"]["taxRates"] == [{"type": "VAT", "tax": 19}]
    assert [p["priceKwh"] for p in out["energy"]["prices"]] == [0.3, 0.25, 0.2]
    assert out["energy"]["prices"][0]["conditions"] == {
        "startTimeOfDay": "08:00", "endTimeOfDay": "18:00", "dayOfWeek": ["Monday", "Tuesday"]}  # fmt: skip
    assert out["energy"]["prices"][2]["conditions"] == {"minEnergy": 50000, "minPower": 50000}
    assert [p["priceMinute"] for p in out["chargingTime"]["prices"]] == [0.02, 0.01]
    assert out["idleTime"]["prices"] == [{"priceMinute": 0.1, "conditions": {"validFromDate": "2026-01-01"}}]
    assert out["fixedFee"]["prices"][0]["priceFixed"] == 1
    assert out["minCost"] == {"exclTax": 0.5, "taxRates": [{"type": "VAT", "tax": 19}]}
    assert out["maxCost"]["exclTax"] == 80
    assert out["description"][1] == {"format": "UTF8", "language": "de", "content": "Tag/Nacht"}


def test_what_2_1_cannot_express_is_refused_naming_the_element() -> None:
    def refused(body: dict[str, Any]) -> str:
        with pytest.raises(NotMappable) as info:
            to_ocpp21(parse_tariff(body), "t")
        return info.value.where

    one = {"currency": "EUR", "vat": "19"}
    stepped = one | {"elements": [{"price_components": [{"type": "ENERGY", "price": "0.3", "step_size": 100}]}]}
    assert refused(stepped) == "elements[0].price_components[0].step_size"
    mixed_vat = one | {"elements": [
        {"price_components": [{"type": "ENERGY", "price": "0.3"}]},
        {"price_components": [{"type": "ENERGY", "price": "0.2", "vat": "7"}]},
    ]}  # fmt: skip
    assert refused(mixed_vat) == "elements[1].price_components[0].vat"
    flat_by_energy = one | {"elements": [{"price_components": [{"type": "FLAT", "price": "1"}],
                                          "restrictions": {"min_kwh": "10"}}]}  # fmt: skip
    assert refused(flat_by_energy) == "elements[0].restrictions.min_kwh"
    with pytest.raises(NotMappable, match="tariff_id"):
        to_ocpp21(parse_tariff(one | {"elements": [{"price_components": [{"type": "FLAT", "price": "1"}]}]}), "x" * 61)


def test_the_mapped_tariff_is_schema_valid_in_set_default_tariff_and_change_transaction_tariff() -> None:
    tariff = to_ocpp21(parse_tariff(MULTI), "day-night-v3", datetime(2026, 1, 1, tzinfo=UTC))
    v21 = schemas(OcppVersion.V21)
    assert v21.validate("SetDefaultTariff", {"evseId": 0, "tariff": tariff}) == ()
    assert v21.validate("ChangeTransactionTariff", {"transactionId": "tx-1", "tariff": tariff}) == ()


START = datetime(2026, 6, 8, 17, 30, tzinfo=UTC)  # a Monday, 19:30 in Berlin: the night element


def _session() -> SessionData:
    readings = [MeterPoint(START + timedelta(minutes=10 * k), Decimal(1000 * 2 * k)) for k in range(7)]
    return SessionData(started_at=START, stopped_at=START + timedelta(hours=2), meter_start_wh=Decimal(0),
                       meter_stop_wh=Decimal(12_000), readings=readings)  # fmt: skip


def test_the_way_back_prices_a_session_to_the_same_cent() -> None:
    ours = parse_tariff(MULTI)
    theirs = from_ocpp21(to_ocpp21(ours, "t"), time_zone="Europe/Berlin")
    a, b = price_session(ours, _session()), price_session(theirs, _session())
    assert (a.excl_vat, a.incl_vat) == (b.excl_vat, b.incl_vat)
    details = cost_details(b, "t", started=START)
    assert station_total(details) == b.incl_vat
    assert details["totalUsage"] == {"energy": 12000, "chargingTime": 7200, "idleTime": 3600}
    v21 = schemas(OcppVersion.V21)
    event = {"eventType": "Ended", "timestamp": "2026-06-08T19:30:00Z", "triggerReason": "EVDeparted", "seqNo": 3,
             "transactionInfo": {"transactionId": "tx-1", "tariffId": "t"}, "costDetails": details}  # fmt: skip
    assert v21.validate("TransactionEvent", event) == ()


def test_what_ocppd_cannot_price_is_refused_on_the_way_back() -> None:
    base = {"tariffId": "t", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0.3}]}}
    with pytest.raises(NotMappable, match="reservationTime"):
        from_ocpp21(base | {"reservationTime": {"prices": [{"priceMinute": 0.1}]}})
    with pytest.raises(NotMappable, match=r"energy.prices\[0\].conditions.minCurrent"):
        from_ocpp21(base | {"energy": {"prices": [{"priceKwh": 0.3, "conditions": {"minCurrent": 16}}]}})
    assert station_total({"totalCost": {"total": {"exclTax": 1.5}}, "failureToCalculate": True}) is None
