"""The pure cost calculator, checked against hand calculations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from ocppd.csms.billing.cost import (
    BACKWARDS,
    MISSING_STOP_READING,
    MISSING_STOP_TIME,
    MeterPoint,
    SessionData,
    price_session,
)
from ocppd.csms.billing.tariff import parse_tariff

BERLIN = ZoneInfo("Europe/Berlin")
D = Decimal


def local(day: str, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=BERLIN).astimezone(UTC)


def points(day: str, *pairs: tuple[str, int]) -> list[MeterPoint]:
    return [MeterPoint(local(day, t), D(wh)) for t, wh in pairs]


DAY_NIGHT = {
    "currency": "EUR",
    "time_zone": "Europe/Berlin",
    "vat": "19",
    "elements": [
        {
            "price_components": [{"type": "ENERGY", "price": "0.30"}, {"type": "TIME", "price": "1.20"}],
            "restrictions": {"start_time": "08:00", "end_time": "18:00"},
        },
        {
            "price_components": [{"type": "ENERGY", "price": "0.25"}, {"type": "TIME", "price": "0.60"}],
            "restrictions": {"start_time": "18:00", "end_time": "08:00"},
        },
        {"price_components": [{"type": "PARKING_TIME", "price": "6.00"}, {"type": "FLAT", "price": "1.00"}]},
    ],
}


def test_multi_part_session_across_a_period_boundary_matches_the_hand_calculation() -> None:
    """Wednesday 2026-06-10, Berlin. 17:00 start at 10,000 Wh; 17:40 17,000; 18:20 23,000; 18:30 25,000
    (full); stopped 19:00 at 25,000. The 17:40-18:20 interval straddles 18:00: 3,000 Wh each side.

    ENERGY day   10 kWh x 0.30 = 3.00      TIME day   1.0 h x 1.20 = 1.20
    ENERGY night  5 kWh x 0.25 = 1.25      TIME night 0.5 h x 0.60 = 0.30
    PARKING 18:30-19:00 0.5 h x 6.00 = 3.00   FLAT 1.00
    excl. VAT 9.75; VAT 19 % 1.8525 -> 1.85; total 11.60 EUR
    """
    day = "2026-06-10"
    session = SessionData(
        started_at=local(day, "17:00"),
        stopped_at=local(day, "19:00"),
        meter_start_wh=D(10_000),
        meter_stop_wh=D(25_000),
        readings=points(day, ("17:40", 17_000), ("18:20", 23_000), ("18:30", 25_000)),
    )
    cost = price_session(parse_tariff(DAY_NIGHT), session)
    by_line = {(line.dimension, line.element): line for line in cost.lines}
    assert by_line[("ENERGY", 0)].quantity == D(10)
    assert by_line[("ENERGY", 0)].excl_vat == D("3.00")
    assert by_line[("ENERGY", 1)].quantity == D(5)
    assert by_line[("ENERGY", 1)].excl_vat == D("1.25")
    assert by_line[("TIME", 0)].excl_vat == D("1.20")
    assert by_line[("TIME", 1)].excl_vat == D("0.30")
    assert by_line[("PARKING_TIME", 2)].quantity == D("0.5")
    assert by_line[("PARKING_TIME", 2)].excl_vat == D("3.00")
    assert by_line[("FLAT", 2)].excl_vat == D("1.00")
    assert len(cost.lines) == 6
    assert cost.excl_vat == D("9.75")
    assert cost.vat == D("1.85")
    assert cost.incl_vat == D("11.60")
    assert cost.energy_wh == D(15_000)
    assert cost.charging_s == D(5400)
    assert cost.parking_s == D(1800)
    assert cost.flags == ()
    assert [(p.start, p.end, p.charging) for p in cost.periods] == [
        (local(day, "17:00"), local(day, "18:00"), True),
        (local(day, "18:00"), local(day, "18:30"), True),
        (local(day, "18:30"), local(day, "19:00"), False),
    ]
    as_json = cost.to_json()
    assert as_json["incl_vat"] == "11.60"
    assert as_json["vat_by_rate"] == [{"percent": "19", "base": "9.75", "vat": "1.85"}]


def test_the_charging_states_decide_charging_versus_parking_when_known() -> None:
    day = "2026-06-10"
    start = local(day, "10:00")
    session = SessionData(
        started_at=start,
        stopped_at=local(day, "11:00"),
        meter_start_wh=D(0),
        meter_stop_wh=D(6_000),
        charging=[(start, True), (local(day, "10:45"), False)],
    )
    cost = price_session(parse_tariff(DAY_NIGHT), session)
    assert cost.charging_s == D(2700)
    assert cost.parking_s == D(900)
    lines = {line.dimension: line.excl_vat for line in cost.lines}
    # 6 kWh is interpolated over the whole hour; 4.5 kWh fall in the charging part, 1.5 in parking,
    # all priced at the day rate: 6 x 0.30. TIME 0.75 h x 1.20; PARKING 0.25 h x 6.
    assert lines == {"ENERGY": D("1.80"), "TIME": D("0.90"), "PARKING_TIME": D("1.50"), "FLAT": D("1.00")}


def test_a_reading_that_goes_backwards_is_not_priced_and_is_flagged() -> None:
    day = "2026-06-10"
    session = SessionData(
        started_at=local(day, "10:00"),
        stopped_at=local(day, "11:00"),
        meter_start_wh=D(0),
        meter_stop_wh=D(5_100),
        readings=points(day, ("10:20", 5_000), ("10:40", 4_000)),
    )
    cost = price_session(parse_tariff(DAY_NIGHT), session)
    assert cost.energy_wh == D(5_100)  # not 5,000 + 1,100
    assert BACKWARDS in cost.flags
    assert all(line.excl_vat >= 0 for line in cost.lines)


def test_a_register_reset_mid_session_never_gives_a_negative_or_inflated_cost() -> None:
    day = "2026-06-10"
    session = SessionData(
        started_at=local(day, "10:00"),
        stopped_at=local(day, "11:00"),
        meter_start_wh=D(1_000_000),
        meter_stop_wh=D(2_000),
        readings=points(day, ("10:20", 1_005_000), ("10:30", 0)),
    )
    cost = price_session(parse_tariff(DAY_NIGHT), session)
    assert cost.energy_wh == D(2_000)  # only what follows the reset is trustworthy
    assert BACKWARDS in cost.flags
    assert cost.excl_vat >= 0


def test_a_spike_later_contradicted_is_not_priced() -> None:
    day = "2026-06-10"
    session = SessionData(
        started_at=local(day, "10:00"),
        stopped_at=local(day, "11:00"),
        meter_start_wh=D(0),
        meter_stop_wh=D(5_100),
        readings=points(day, ("10:30", 999_999_999)),
    )
    cost = price_session(parse_tariff(DAY_NIGHT), session)
    assert cost.energy_wh == D(5_100)
    assert BACKWARDS in cost.flags


def test_a_whole_wh_stop_reading_just_below_a_sample_with_decimals_is_rounding_not_backwards() -> None:
    """1.6 meterStop is a whole number of Wh: 1,234 after a sample of 1,234.6 Wh is the same register."""
    day = "2026-06-10"
    session = SessionData(
        started_at=local(day, "10:00"),
        stopped_at=local(day, "11:00"),
        meter_start_wh=D(0),
        meter_stop_wh=D(1_234),
        readings=[*points(day, ("10:59", 0)), MeterPoint(local(day, "10:59") + timedelta(seconds=30), D("1234.6"))],
    )
    cost = price_session(parse_tariff(DAY_NIGHT), session)
    assert cost.flags == ()
    assert cost.energy_wh == D(1_234)  # never above the stop reading
    one_wh_lower = SessionData(
        started_at=session.started_at,
        stopped_at=session.stopped_at,
        meter_start_wh=D(0),
        meter_stop_wh=D(1_234),
        readings=[MeterPoint(local(day, "10:30"), D(1_235))],
    )
    assert BACKWARDS in price_session(parse_tariff(DAY_NIGHT), one_wh_lower).flags  # a whole Wh less: flagged


def test_a_missing_stop_reading_prices_energy_to_the_last_trusted_reading() -> None:
    day = "2026-06-10"
    session = SessionData(
        started_at=local(day, "10:00"),
        stopped_at=local(day, "11:00"),
        meter_start_wh=D(0),
        readings=points(day, ("10:30", 3_000)),
    )
    cost = price_session(parse_tariff(DAY_NIGHT), session)
    assert cost.energy_wh == D(3_000)
    assert MISSING_STOP_READING in cost.flags


def test_a_missing_stop_time_prices_to_the_last_reading() -> None:
    day = "2026-06-10"
    session = SessionData(started_at=local(day, "10:00"), meter_start_wh=D(0), readings=points(day, ("10:30", 3_000)))
    cost = price_session(parse_tariff(DAY_NIGHT), session)
    assert cost.ended_at == local(day, "10:30")
    assert MISSING_STOP_TIME in cost.flags
    assert cost.charging_s == D(1800)


def test_a_running_session_is_priced_up_to_now_without_flags() -> None:
    day = "2026-06-10"
    session = SessionData(started_at=local(day, "10:00"), meter_start_wh=D(0), readings=points(day, ("10:30", 3_000)))
    cost = price_session(parse_tariff(DAY_NIGHT), session, now=local(day, "10:30"))
    assert cost.flags == ()
    # 3 kWh x 0.30 + 0.5 h x 1.20 + 1.00
    assert cost.excl_vat == D("2.50")


def _simple(**extra: object) -> dict[str, object]:
    return {"currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": "0.50"}]}], **extra}


def _energy_session(wh: int) -> SessionData:
    start = datetime(2026, 6, 10, 10, tzinfo=UTC)
    return SessionData(start, start + timedelta(hours=1), D(0), D(wh))


def test_min_and_max_price_adjust_the_total_with_a_line_of_their_own() -> None:
    low = price_session(parse_tariff(_simple(min_price="2.00")), _energy_session(1_000))
    assert [line.dimension for line in low.lines] == ["ENERGY", "MIN_PRICE"]
    assert low.excl_vat == D("2.00")
    high = price_session(parse_tariff(_simple(max_price="10.00")), _energy_session(30_000))
    assert high.lines[-1].dimension == "MAX_PRICE"
    assert high.lines[-1].excl_vat == D("-5.00")
    assert high.excl_vat == D("10.00")


def test_step_size_bills_the_last_step_whole() -> None:
    tariff = parse_tariff(
        {"currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": "1", "step_size": 1000}]}]}
    )
    cost = price_session(tariff, _energy_session(1_200))
    assert cost.lines[0].quantity == D(2)
    assert cost.excl_vat == D("2.00")


def test_a_currency_without_minor_units_rounds_to_whole_units() -> None:
    tariff = parse_tariff(
        {"currency": "JPY", "elements": [{"price_components": [{"type": "ENERGY", "price": "33.3"}]}]}
    )
    assert price_session(tariff, _energy_session(1_000)).excl_vat == D(33)


def test_energy_tiers_split_at_the_kwh_threshold() -> None:
    tariff = parse_tariff(
        {
            "currency": "EUR",
            "elements": [
                {"price_components": [{"type": "ENERGY", "price": "0.40"}], "restrictions": {"max_kwh": 10}},
                {"price_components": [{"type": "ENERGY", "price": "0.30"}]},
            ],
        }
    )
    cost = price_session(tariff, _energy_session(16_000))  # 10 x 0.40 + 6 x 0.30
    assert [(line.element, line.quantity) for line in cost.lines] == [(0, D(10)), (1, D(6))]
    assert cost.excl_vat == D("5.80")


def test_parking_is_free_for_the_first_hour_of_the_session() -> None:
    tariff = parse_tariff(
        {
            "currency": "EUR",
            "elements": [
                {"price_components": [{"type": "ENERGY", "price": "0.30"}]},
                {"price_components": [{"type": "PARKING_TIME", "price": "12"}], "restrictions": {"min_duration": 3600}},
            ],
        }
    )
    start = datetime(2026, 6, 10, 10, tzinfo=UTC)
    session = SessionData(start, start + timedelta(minutes=90), D(0), D(1000), charging=[(start, False)])
    cost = price_session(tariff, session)
    parking = next(line for line in cost.lines if line.dimension == "PARKING_TIME")
    assert parking.quantity == D("0.5")
    assert parking.excl_vat == D("6.00")


def test_weekend_elements_apply_by_local_day_of_week() -> None:
    tariff = parse_tariff(
        {
            "currency": "EUR",
            "time_zone": "Europe/Berlin",
            "elements": [
                {
                    "price_components": [{"type": "ENERGY", "price": "0.20"}],
                    "restrictions": {"day_of_week": ["SATURDAY", "SUNDAY"]},
                },
                {"price_components": [{"type": "ENERGY", "price": "0.40"}]},
            ],
        }
    )
    # Friday 23:00 to Saturday 01:00 Berlin, 2 kWh evenly: 1 kWh each side of local midnight
    session = SessionData(local("2026-06-12", "23:00"), local("2026-06-13", "01:00"), D(0), D(2000))
    cost = price_session(tariff, session)
    assert {line.element: line.quantity for line in cost.lines} == {0: D(1), 1: D(1)}
    assert cost.excl_vat == D("0.60")


def test_a_period_boundary_on_a_daylight_saving_day_is_local_wall_time() -> None:
    # 2026-03-29: Berlin jumps 02:00 -> 03:00. 01:00-05:00 local is 3 real hours; the 04:00 boundary
    # is 2 real hours after the start.
    tariff = parse_tariff(
        {
            "currency": "EUR",
            "time_zone": "Europe/Berlin",
            "elements": [
                {
                    "price_components": [{"type": "TIME", "price": "1"}],
                    "restrictions": {"start_time": "04:00", "end_time": "22:00"},
                },
                {"price_components": [{"type": "TIME", "price": "2"}]},
            ],
        }
    )
    session = SessionData(
        local("2026-03-29", "01:00"), local("2026-03-29", "05:00"), charging=[(local("2026-03-29", "01:00"), True)]
    )
    cost = price_session(tariff, session)
    assert {line.element: line.quantity for line in cost.lines} == {0: D(1), 1: D(2)}
    assert cost.excl_vat == D("5.00")


def test_a_component_vat_rate_of_its_own_is_totalled_separately() -> None:
    tariff = parse_tariff(
        {
            "currency": "EUR",
            "vat": "19",
            "elements": [
                {"price_components": [{"type": "ENERGY", "price": "1"}, {"type": "FLAT", "price": "1", "vat": "7"}]}
            ],
        }
    )
    cost = price_session(tariff, _energy_session(1_000))
    assert cost.vat_by_rate == ((D(7), D("1.00"), D("0.07")), (D(19), D("1.00"), D("0.19")))
    assert cost.incl_vat == D("2.26")
