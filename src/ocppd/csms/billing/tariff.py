"""The tariff model, close to OCPI 2.2's Tariff (elements, price components, restrictions).

A tariff is a list of elements; each element has price components (ENERGY per kWh, TIME per hour of
charging, PARKING_TIME per hour of not charging, FLAT per session) and optional restrictions. As in
OCPI, for each dimension the FIRST element whose restrictions match and which prices that dimension
applies. Prices exclude VAT; ``vat`` is a percentage. Times of day and dates are local wall time in
the tariff's ``time_zone``.

``parse_tariff`` turns the JSON an operator sends into a Tariff, or raises TariffError naming the
element and field that cannot be right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ocppd.csms.billing.currencies import minor_units

DIMENSIONS = ("ENERGY", "TIME", "PARKING_TIME", "FLAT")
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


class TariffError(ValueError):
    """A tariff that cannot be right; ``where`` names the element and field (``elements[1].restrictions``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True, slots=True)
class PriceComponent:
    type: str  # one of DIMENSIONS
    price: Decimal  # excl. VAT: per kWh, per hour, or per session (FLAT)
    vat: Decimal | None = None  # percent; None: the tariff's vat
    step_size: int = 1  # Wh for ENERGY, seconds for TIME / PARKING_TIME: the last step is billed whole


@dataclass(frozen=True, slots=True)
class Restrictions:
    start_time: time | None = None  # local, inclusive
    end_time: time | None = None  # local, exclusive; before start_time: the period crosses midnight
    start_date: date | None = None  # local, inclusive
    end_date: date | None = None  # local, exclusive
    min_kwh: Decimal | None = None  # energy so far in the session, inclusive
    max_kwh: Decimal | None = None  # exclusive
    min_power_kw: Decimal | None = None
    max_power_kw: Decimal | None = None
    min_duration_s: int | None = None  # session time so far, inclusive
    max_duration_s: int | None = None  # exclusive
    day_of_week: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self == _NO_RESTRICTIONS


_NO_RESTRICTIONS = Restrictions()


@dataclass(frozen=True, slots=True)
class TariffElement:
    components: tuple[PriceComponent, ...]
    restrictions: Restrictions = _NO_RESTRICTIONS

    def component(self, dimension: str) -> PriceComponent | None:
        return next((c for c in self.components if c.type == dimension), None)


@dataclass(frozen=True, slots=True)
class Tariff:
    currency: str
    elements: tuple[TariffElement, ...]
    time_zone: str = "UTC"
    vat: Decimal = Decimal(0)  # percent, for components without their own
    min_price: Decimal | None = None  # excl. VAT, for the whole session
    max_price: Decimal | None = None
    text: dict[str, str] = field(default_factory=dict)  # language -> text shown to the driver

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def digits(self) -> int:
        return minor_units(self.currency) or 0

    def to_json(self) -> dict[str, Any]:
        return tariff_json(self)


# --- parsing and validation -------------------------------------------------------------------


def _decimal(value: Any, where: str, *, minimum: Decimal | None = Decimal(0)) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TariffError(where, "must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise TariffError(where, f"{value!r} is not a number") from None
    if not number.is_finite():
        raise TariffError(where, "must be a finite number")
    if minimum is not None and number < minimum:
        raise TariffError(where, f"must not be negative (got {value})")
    return number


def _optional_decimal(obj: dict[str, Any], key: str, where: str) -> Decimal | None:
    return None if obj.get(key) is None else _decimal(obj[key], f"{where}.{key}")


def _time(value: Any, where: str) -> time:
    try:
        hours, minutes = str(value).split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise TariffError(where, f"{value!r} is not a time of day HH:MM") from None


def _date(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise TariffError(where, f"{value!r} is not a date YYYY-MM-DD") from None


def _seconds(obj: dict[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TariffError(f"{where}.{key}", "must be a whole number of seconds, not negative")
    return value


def _component(obj: Any, where: str) -> PriceComponent:
    if not isinstance(obj, dict):
        raise TariffError(where, "must be an object")
    kind = obj.get("type")
    if kind not in DIMENSIONS:
        raise TariffError(f"{where}.type", f"must be one of {', '.join(DIMENSIONS)} (got {kind!r})")
    if "price" not in obj:
        raise TariffError(f"{where}.price", "is required")
    step = obj.get("step_size", 1)
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise TariffError(f"{where}.step_size", "must be a whole number of at least 1")
    vat = None if obj.get("vat") is None else _decimal(obj["vat"], f"{where}.vat")
    return PriceComponent(kind, _decimal(obj["price"], f"{where}.price"), vat, step)


def _restrictions(obj: Any, where: str) -> Restrictions:
    if obj is None:
        return _NO_RESTRICTIONS
    if not isinstance(obj, dict):
        raise TariffError(where, "must be an object")
    known = {
        "start_time",
        "end_time",
        "start_date",
        "end_date",
        "min_kwh",
        "max_kwh",
        "min_power",
        "max_power",
        "min_duration",
        "max_duration",
        "day_of_week",
    }
    unknown = sorted(set(obj) - known)
    if unknown:
        raise TariffError(f"{where}.{unknown[0]}", "is not a restriction this CSMS applies")
    start_time = None if obj.get("start_time") is None else _time(obj["start_time"], f"{where}.start_time")
    end_time = None if obj.get("end_time") is None else _time(obj["end_time"], f"{where}.end_time")
    if (start_time is None) != (end_time is None):
        raise TariffError(where, "start_time and end_time go together")
    if start_time is not None and start_time == end_time:
        raise TariffError(f"{where}.end_time", "equals start_time: an empty period")
    start_date = None if obj.get("start_date") is None else _date(obj["start_date"], f"{where}.start_date")
    end_date = None if obj.get("end_date") is None else _date(obj["end_date"], f"{where}.end_date")
    if start_date and end_date and end_date <= start_date:
        raise TariffError(f"{where}.end_date", "must be after start_date")
    days = obj.get("day_of_week") or []
    if not isinstance(days, list) or any(d not in DAYS for d in days):
        raise TariffError(f"{where}.day_of_week", f"must be a list of {', '.join(DAYS)}")
    restrictions = Restrictions(
        start_time=start_time,
        end_time=end_time,
        start_date=start_date,
        end_date=end_date,
        min_kwh=_optional_decimal(obj, "min_kwh", where),
        max_kwh=_optional_decimal(obj, "max_kwh", where),
        min_power_kw=_optional_decimal(obj, "min_power", where),
        max_power_kw=_optional_decimal(obj, "max_power", where),
        min_duration_s=_seconds(obj, "min_duration", where),
        max_duration_s=_seconds(obj, "max_duration", where),
        day_of_week=tuple(dict.fromkeys(days)),
    )
    for low, high, name in (
        (restrictions.min_kwh, restrictions.max_kwh, "max_kwh"),
        (restrictions.min_power_kw, restrictions.max_power_kw, "max_power"),
        (restrictions.min_duration_s, restrictions.max_duration_s, "max_duration"),
    ):
        if low is not None and high is not None and high <= low:
            raise TariffError(f"{where}.{name}", "must be above its minimum")
    return restrictions


def _nonexistent(local: datetime, zone: ZoneInfo) -> bool:
    """A wall time skipped by a daylight-saving jump: it does not survive a round trip through UTC."""
    from datetime import UTC

    back = local.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return back != local


def _check_boundaries_exist(restrictions: Restrictions, zone: ZoneInfo, where: str, around: date) -> None:
    """Refuse a time-of-day boundary that falls into a daylight-saving gap on some day of its validity."""
    first = restrictions.start_date or around - timedelta(days=366)
    last = restrictions.end_date or around + timedelta(days=2 * 366)
    for name in ("start_time", "end_time"):
        boundary: time | None = getattr(restrictions, name)
        if boundary is None:
            continue
        day = first
        while day < last:
            if _nonexistent(datetime.combine(day, boundary), zone):
                raise TariffError(
                    f"{where}.{name}",
                    f"{boundary:%H:%M} does not exist in {zone.key} on {day} (daylight-saving change)",
                )
            day += timedelta(days=1)


def _time_windows(r: Restrictions) -> list[tuple[int, int]]:
    """The restriction's time of day as minute ranges within one day (a period over midnight is two)."""
    if r.start_time is None or r.end_time is None:
        return [(0, 24 * 60)]
    start = r.start_time.hour * 60 + r.start_time.minute
    end = r.end_time.hour * 60 + r.end_time.minute
    return [(start, end)] if start < end else [(start, 24 * 60), (0, end)]


def _overlap(a: Restrictions, b: Restrictions) -> bool:
    """Two time/day periods that would both claim the same moment (their other restrictions equal)."""
    others_a = (a.min_kwh, a.max_kwh, a.min_power_kw, a.max_power_kw, a.min_duration_s, a.max_duration_s)
    others_b = (b.min_kwh, b.max_kwh, b.min_power_kw, b.max_power_kw, b.min_duration_s, b.max_duration_s)
    if others_a != others_b:
        return False
    if a.start_date and b.end_date and a.start_date >= b.end_date:
        return False
    if b.start_date and a.end_date and b.start_date >= a.end_date:
        return False
    if a.day_of_week and b.day_of_week and not set(a.day_of_week) & set(b.day_of_week):
        return False
    return any(s1 < e2 and s2 < e1 for s1, e1 in _time_windows(a) for s2, e2 in _time_windows(b))


def _check_overlaps(elements: tuple[TariffElement, ...]) -> None:
    """Periods are meant to partition time: two timed elements pricing one dimension at one moment is a
    mistake (only the first would ever apply). An element without time/day restrictions is the fallback."""
    for i, first in enumerate(elements):
        r1 = first.restrictions
        if r1.start_time is None and not r1.day_of_week and r1.start_date is None and r1.end_date is None:
            continue
        for j in range(i + 1, len(elements)):
            second = elements[j]
            r2 = second.restrictions
            shared = {c.type for c in first.components} & {c.type for c in second.components}
            timed = r2.start_time is not None or r2.day_of_week or r2.start_date or r2.end_date
            if shared and timed and _overlap(r1, r2):
                raise TariffError(
                    f"elements[{j}].restrictions",
                    f"overlaps elements[{i}] for {', '.join(sorted(shared))}",
                )


def parse_tariff(obj: Any, *, today: date | None = None) -> Tariff:
    """The operator's JSON as a Tariff; TariffError names the first field that cannot be right."""
    if not isinstance(obj, dict):
        raise TariffError("tariff", "must be an object")
    currency = obj.get("currency")
    if not isinstance(currency, str) or minor_units(currency) is None:
        raise TariffError("currency", f"{currency!r} is not an ISO 4217 currency code")
    zone_name = obj.get("time_zone", "UTC")
    try:
        zone = ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise TariffError("time_zone", f"{zone_name!r} is not a known time zone (IANA name)") from None
    raw_elements = obj.get("elements")
    if not isinstance(raw_elements, list) or not raw_elements:
        raise TariffError("elements", "must be a non-empty list")
    around = today or date.today()
    elements = []
    for i, raw in enumerate(raw_elements):
        where = f"elements[{i}]"
        if not isinstance(raw, dict):
            raise TariffError(where, "must be an object")
        components = raw.get("price_components")
        if not isinstance(components, list) or not components:
            raise TariffError(f"{where}.price_components", "must be a non-empty list")
        parsed = tuple(_component(c, f"{where}.price_components[{k}]") for k, c in enumerate(components))
        kinds = [c.type for c in parsed]
        if len(set(kinds)) != len(kinds):
            raise TariffError(f"{where}.price_components", "names one type twice")
        restrictions = _restrictions(raw.get("restrictions"), f"{where}.restrictions")
        _check_boundaries_exist(restrictions, zone, f"{where}.restrictions", around)
        elements.append(TariffElement(parsed, restrictions))
    frozen = tuple(elements)
    _check_overlaps(frozen)
    min_price = _optional_decimal(obj, "min_price", "tariff")
    max_price = _optional_decimal(obj, "max_price", "tariff")
    if min_price is not None and max_price is not None and max_price < min_price:
        raise TariffError("max_price", "must not be below min_price")
    text = obj.get("text") or {}
    if not isinstance(text, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in text.items()):
        raise TariffError("text", "must map a language code to a text")
    return Tariff(
        currency=currency,
        elements=frozen,
        time_zone=zone.key,
        vat=_decimal(obj.get("vat", 0), "vat"),
        min_price=min_price,
        max_price=max_price,
        text=dict(text),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, time):
        return f"{value:%H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    return value


def tariff_json(tariff: Tariff) -> dict[str, Any]:
    """The tariff as the JSON ``parse_tariff`` reads (prices as strings, exact)."""
    renames = {"min_power_kw": "min_power", "max_power_kw": "max_power"}
    renames |= {"min_duration_s": "min_duration", "max_duration_s": "max_duration"}
    elements = []
    for element in tariff.elements:
        r = element.restrictions
        restrictions = {
            renames.get(name, name): (list(value) if name == "day_of_week" else _plain(value))
            for name in Restrictions.__slots__
            if (value := getattr(r, name)) not in (None, ())
        }
        components = [
            {"type": c.type, "price": str(c.price), "step_size": c.step_size}
            | ({"vat": str(c.vat)} if c.vat is not None else {})  # 0 % is an override too
            for c in element.components
        ]
        elements.append({"price_components": components} | ({"restrictions": restrictions} if restrictions else {}))
    out: dict[str, Any] = {
        "currency": tariff.currency,
        "time_zone": tariff.time_zone,
        "vat": str(tariff.vat),
        "elements": elements,
    }
    if tariff.min_price is not None:
        out["min_price"] = str(tariff.min_price)
    if tariff.max_price is not None:
        out["max_price"] = str(tariff.max_price)
    if tariff.text:
        out["text"] = dict(tariff.text)
    return out
