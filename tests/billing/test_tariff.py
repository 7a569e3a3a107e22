"""Tariff validation: what cannot be right is refused, naming the element and field."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ocppd.csms.billing.tariff import TariffError, parse_tariff, tariff_json


def tariff(*elements: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"currency": "EUR", "time_zone": "Europe/Berlin", "elements": list(elements), **extra}


def energy(price: Any = "0.30", **restrictions: Any) -> dict[str, Any]:
    element: dict[str, Any] = {"price_components": [{"type": "ENERGY", "price": price}]}
    if restrictions:
        element["restrictions"] = restrictions
    return element


def refused(obj: Any) -> TariffError:
    with pytest.raises(TariffError) as caught:
        parse_tariff(obj, today=date(2026, 6, 1))
    return caught.value


def test_a_negative_price_is_refused_naming_the_component() -> None:
    error = refused(tariff(energy(), energy("-0.10")))
    assert error.where == "elements[1].price_components[0].price"
    assert "negative" in error.message


def test_an_unknown_currency_is_refused() -> None:
    assert refused(tariff(energy(), currency="EUX")).where == "currency"
    assert refused(tariff(energy(), currency="eur")).where == "currency"


def test_an_unknown_time_zone_is_refused() -> None:
    assert refused(tariff(energy(), time_zone="Mars/Olympus")).where == "time_zone"


def test_a_boundary_in_a_daylight_saving_gap_is_refused() -> None:
    error = refused(tariff(energy(start_time="02:30", end_time="06:00"), energy()))
    assert error.where == "elements[0].restrictions.start_time"
    assert "does not exist in Europe/Berlin" in error.message


def test_the_same_boundary_in_a_zone_without_daylight_saving_is_fine() -> None:
    parsed = parse_tariff(tariff(energy(start_time="02:30", end_time="06:00"), energy(), time_zone="Asia/Tokyo"))
    assert parsed.elements[0].restrictions.start_time is not None


def test_overlapping_periods_are_refused_naming_both() -> None:
    error = refused(tariff(energy(start_time="08:00", end_time="18:00"), energy(start_time="17:00", end_time="20:00")))
    assert error.where == "elements[1].restrictions"
    assert "elements[0]" in error.message


def test_overlap_across_midnight_is_found() -> None:
    error = refused(tariff(energy(start_time="22:00", end_time="06:00"), energy(start_time="05:00", end_time="08:00")))
    assert error.where == "elements[1].restrictions"


def test_adjacent_periods_and_different_days_do_not_overlap() -> None:
    parse_tariff(
        tariff(
            energy(start_time="08:00", end_time="18:00", day_of_week=["MONDAY"]),
            energy(start_time="08:00", end_time="18:00", day_of_week=["TUESDAY"]),
            energy(start_time="18:00", end_time="08:00"),
            energy(),
        ),
        today=date(2026, 6, 1),
    )


def test_bad_restriction_values_are_named() -> None:
    assert refused(tariff(energy(start_time="8am", end_time="18:00"))).where == "elements[0].restrictions.start_time"
    assert refused(tariff(energy(start_time="08:00"))).where == "elements[0].restrictions"
    assert refused(tariff(energy(day_of_week=["FUNDAY"]))).where == "elements[0].restrictions.day_of_week"
    assert refused(tariff(energy(min_kwh=10, max_kwh=5))).where == "elements[0].restrictions.max_kwh"
    assert refused(tariff(energy(min_duration=-1))).where == "elements[0].restrictions.min_duration"
    assert refused(tariff(energy(reservation="RESERVATION"))).where == "elements[0].restrictions.reservation"


def test_structure_errors_are_named() -> None:
    assert refused([]).where == "tariff"
    assert refused(tariff()).where == "elements"
    assert refused(tariff({"price_components": []})).where == "elements[0].price_components"
    bad_type = {"price_components": [{"type": "KWH", "price": 1}]}
    assert refused(tariff(bad_type)).where == "elements[0].price_components[0].type"
    twice = {"price_components": [{"type": "TIME", "price": 1}, {"type": "TIME", "price": 2}]}
    assert refused(tariff(twice)).where == "elements[0].price_components"
    assert refused(tariff(energy("abc"))).where == "elements[0].price_components[0].price"
    assert refused(tariff(energy(), min_price="5", max_price="1")).where == "max_price"


def test_json_round_trips_exactly() -> None:
    source = tariff(
        energy("0.305", start_time="08:00", end_time="18:00", day_of_week=["MONDAY"], min_kwh="1.5"),
        {
            "price_components": [
                {"type": "FLAT", "price": "1.00", "vat": "7"},
                {"type": "TIME", "price": "2", "step_size": 60},
            ]
        },
        vat="19",
        min_price="0.50",
        text={"en": "0.31 EUR/kWh"},
    )
    parsed = parse_tariff(source, today=date(2026, 6, 1))
    assert parse_tariff(parsed.to_json(), today=date(2026, 6, 1)) == parsed


def test_a_zero_vat_component_keeps_its_override_when_stored() -> None:
    # 0 % on one component of a 19 % tariff is a real override (e.g. a tax-free session fee); the
    # stored form must keep it, or a recompute would charge 19 % on it.
    obj = tariff(
        {"price_components": [{"type": "ENERGY", "price": "0.30"}, {"type": "FLAT", "price": "1.00", "vat": "0"}]},
        vat="19",
    )
    stored = tariff_json(parse_tariff(obj, today=date(2026, 6, 1)))
    assert stored["elements"][0]["price_components"][1]["vat"] == "0"
    again = parse_tariff(stored, today=date(2026, 6, 1))
    assert again.elements[0].components[1].vat == 0
