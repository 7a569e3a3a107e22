"""ocppd's tariff model onto the OCPP 2.1 Tariff and back (pure).

Both are close to OCPI: ocppd's elements each price some dimensions under restrictions; 2.1 lists, per
dimension (energy, chargingTime, idleTime, fixedFee), prices with conditions, the first that holds
applying, and one set of tax rates per dimension. So each ocppd price component becomes one price in
its dimension's list, in element order, with the element's restrictions as its conditions:

=========================  ==========================================
ocppd                      OCPP 2.1
=========================  ==========================================
ENERGY price per kWh       energy.prices[].priceKwh
TIME price per hour        chargingTime.prices[].priceMinute (/ 60)
PARKING_TIME per hour      idleTime.prices[].priceMinute (/ 60)
FLAT per session           fixedFee.prices[].priceFixed
vat (percent)              <dimension>.taxRates [{type: VAT, tax}]
min_price / max_price      minCost / maxCost (exclTax, taxRates)
start_time / end_time      startTimeOfDay / endTimeOfDay (local)
day_of_week                dayOfWeek
start_date / end_date      validFromDate / validToDate
min_kwh / max_kwh          minEnergy / maxEnergy (Wh)
min_power / max_power      minPower / maxPower (W)
min_duration / max_duration  minTime / maxTime (s)
text                       description (UTF8, per language)
=========================  ==========================================

What 2.1 cannot say is refused (``NotMappable`` names the ocppd element), never approximated: a
``step_size`` other than 1 (2.1 has none), two price components of one dimension with different VAT
(2.1 taxes per dimension), energy / power / duration restrictions on a FLAT fee (fixed-fee conditions
have no such fields). The tariff's ``time_zone`` is not carried: 2.1 times of day are the station's
local time, so a timed tariff must be in the station's zone (docs/billing.md).

The other way (a station computing its local cost, the simulator) refuses what ocppd cannot price:
reservation prices, current / charging-time / idle-time conditions, EVSE kind and payment brand.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ocppd.csms.billing.tariff import PriceComponent, Restrictions, Tariff, TariffError, parse_tariff

DIMENSION_OF = {"ENERGY": "energy", "TIME": "chargingTime", "PARKING_TIME": "idleTime", "FLAT": "fixedFee"}
PRICE_FIELD = {"energy": "priceKwh", "chargingTime": "priceMinute", "idleTime": "priceMinute", "fixedFee": "priceFixed"}
TARIFF_ID_MAX = 60
_MINUTE_DIGITS = Decimal("0.00000001")  # a per-minute price: 8 decimals (under 0.00001 per day of error)


class NotMappable(ValueError):
    """The tariff cannot be said in OCPP 2.1; ``where`` names the ocppd field (for a 400)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def _number(value: Decimal) -> float | int:
    """A JSON number that reads back as the same decimal."""
    return int(value) if value == value.to_integral_value() else float(str(value.normalize()))


def _tax(rate: Decimal) -> list[dict[str, Any]] | None:
    return [{"type": "VAT", "tax": _number(rate)}] if rate > 0 else None


def _conditions(r: Restrictions, where: str, fixed: bool) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if r.start_time is not None and r.end_time is not None:
        out["startTimeOfDay"] = f"{r.start_time:%H:%M}"
        out["endTimeOfDay"] = f"{r.end_time:%H:%M}"
    if r.day_of_week:
        out["dayOfWeek"] = [d.capitalize() for d in r.day_of_week]
    if r.start_date is not None:
        out["validFromDate"] = r.start_date.isoformat()
    if r.end_date is not None:
        out["validToDate"] = r.end_date.isoformat()
    measured = {
        "minEnergy": None if r.min_kwh is None else r.min_kwh * 1000,
        "maxEnergy": None if r.max_kwh is None else r.max_kwh * 1000,
        "minPower": None if r.min_power_kw is None else r.min_power_kw * 1000,
        "maxPower": None if r.max_power_kw is None else r.max_power_kw * 1000,
        "minTime": None if r.min_duration_s is None else Decimal(r.min_duration_s),
        "maxTime": None if r.max_duration_s is None else Decimal(r.max_duration_s),
    }
    names = {"minEnergy": "min_kwh", "maxEnergy": "max_kwh", "minPower": "min_power", "maxPower": "max_power",
             "minTime": "min_duration", "maxTime": "max_duration"}  # fmt: skip
    for key, value in measured.items():
        if value is None:
            continue
        if fixed:
            raise NotMappable(f"{where}.{names[key]}", "OCPP 2.1 fixed-fee conditions have no energy, power or time")
        out[key] = _number(value)
    return out or None


def to_ocpp21(tariff: Tariff, tariff_id: str, valid_from: datetime | None = None) -> dict[str, Any]:
    """The 2.1 TariffType of ``tariff``; raises NotMappable naming what 2.1 cannot express."""
    if not 1 <= len(tariff_id) <= TARIFF_ID_MAX:
        raise NotMappable("tariff_id", f"OCPP 2.1 tariff ids are 1 to {TARIFF_ID_MAX} characters")
    dims: dict[str, dict[str, Any]] = {}
    rates: dict[str, tuple[Decimal, str]] = {}
    for i, element in enumerate(tariff.elements):
        for j, component in enumerate(element.components):
            where = f"elements[{i}].price_components[{j}]"
            dim = DIMENSION_OF[component.type]
            if component.step_size != 1:
                raise NotMappable(f"{where}.step_size", "OCPP 2.1 tariffs have no step size (billed per unit)")
            rate = tariff.vat if component.vat is None else component.vat
            if dim in rates and rates[dim][0] != rate:
                raise NotMappable(
                    f"{where}.vat", f"OCPP 2.1 has one tax rate per dimension; {rates[dim][1]} uses {rates[dim][0]}%"
                )
            rates.setdefault(dim, (rate, where))
            price = _price(component)
            entry: dict[str, Any] = {PRICE_FIELD[dim]: _number(price)}
            conditions = _conditions(element.restrictions, f"elements[{i}].restrictions", fixed=dim == "fixedFee")
            if conditions:
                entry["conditions"] = conditions
            dims.setdefault(dim, {"prices": []})["prices"].append(entry)
    out: dict[str, Any] = {"tariffId": tariff_id, "currency": tariff.currency}
    for dim, body in dims.items():
        tax = _tax(rates[dim][0])
        out[dim] = body | ({"taxRates": tax} if tax else {})
    for name, bound in (("minCost", tariff.min_price), ("maxCost", tariff.max_price)):
        if bound is not None:
            tax = _tax(tariff.vat)
            out[name] = {"exclTax": _number(bound)} | ({"taxRates": tax} if tax else {})
    if tariff.text:
        out["description"] = [
            {"format": "UTF8", "language": lang[:8], "content": text[:1024]}
            for lang, text in list(tariff.text.items())[:10]
        ]
    if valid_from is not None:
        out["validFrom"] = valid_from.isoformat().replace("+00:00", "Z")
    return out


def _price(component: PriceComponent) -> Decimal:
    if component.type in ("TIME", "PARKING_TIME"):  # per hour -> per minute
        return (component.price / 60).quantize(_MINUTE_DIGITS).normalize()
    return component.price


# --------------------------------------------------------------------------- 2.1 -> ocppd (local cost)

_UNSUPPORTED = ("minCurrent", "maxCurrent", "minChargingTime", "maxChargingTime", "minIdleTime", "maxIdleTime",
                "evseKind", "paymentBrand", "paymentRecognition")  # fmt: skip


def _restrictions(conditions: dict[str, Any] | None, where: str) -> dict[str, Any] | None:
    if not conditions:
        return None
    for key in _UNSUPPORTED:
        if key in conditions:
            raise NotMappable(f"{where}.{key}", "a condition ocppd's calculator does not apply")
    out: dict[str, Any] = {}
    if "startTimeOfDay" in conditions or "endTimeOfDay" in conditions:
        # 2.1: one side alone is open-ended (from the start time to midnight, midnight to the end time)
        out["start_time"] = conditions.get("startTimeOfDay", "00:00")
        out["end_time"] = conditions.get("endTimeOfDay", "00:00")
    if conditions.get("dayOfWeek"):
        out["day_of_week"] = [str(d).upper() for d in conditions["dayOfWeek"]]
    if "validFromDate" in conditions:
        out["start_date"] = conditions["validFromDate"]
    if "validToDate" in conditions:
        out["end_date"] = conditions["validToDate"]
    for key, name, scale in (("minEnergy", "min_kwh", 1000), ("maxEnergy", "max_kwh", 1000),
                             ("minPower", "min_power", 1000), ("maxPower", "max_power", 1000)):  # fmt: skip
        if key in conditions:
            out[name] = str(Decimal(str(conditions[key])) / scale)
    for key, name in (("minTime", "min_duration"), ("maxTime", "max_duration")):
        if key in conditions:
            out[name] = int(conditions[key])
    return out


def from_ocpp21(payload: dict[str, Any], time_zone: str = "UTC") -> Tariff:
    """A 2.1 TariffType as ocppd's Tariff, to price a session the way the CSMS does; NotMappable names
    the 2.1 field ocppd cannot price (a station answers ConditionNotSupported)."""
    for key in ("reservationTime", "reservationFixed"):
        if key in payload:
            raise NotMappable(key, "reservation prices are not priced by ocppd's calculator")
    elements: list[dict[str, Any]] = []
    vat_of: dict[str, Decimal] = {}
    for kind, dim in DIMENSION_OF.items():
        body = payload.get(dim)
        if not body:
            continue
        taxes = body.get("taxRates") or []
        if any(t.get("stack", 0) for t in taxes):
            raise NotMappable(f"{dim}.taxRates", "stacked taxes are not priced by ocppd's calculator")
        vat_of[dim] = sum((Decimal(str(t["tax"])) for t in taxes), Decimal(0))
        for k, price in enumerate(body["prices"]):
            value = Decimal(str(price[PRICE_FIELD[dim]]))
            if dim in ("chargingTime", "idleTime"):
                value = (value * 60).quantize(Decimal("0.000001")).normalize()
            component = {"type": kind, "price": str(value), "vat": str(vat_of[dim])}
            element: dict[str, Any] = {"price_components": [component]}
            restrictions = _restrictions(price.get("conditions"), f"{dim}.prices[{k}].conditions")
            if restrictions:
                element["restrictions"] = restrictions
            elements.append(element)
    if not elements:
        raise NotMappable("tariff", "prices nothing (no energy, chargingTime, idleTime or fixedFee)")
    body: dict[str, Any] = {"currency": payload["currency"], "time_zone": time_zone, "elements": elements}
    rates = set(vat_of.values())
    body["vat"] = str(rates.pop()) if len(rates) == 1 else "0"
    for name, key in (("min_price", "minCost"), ("max_price", "maxCost")):
        bound = payload.get(key)
        if bound is not None:
            if "exclTax" not in bound:
                raise NotMappable(f"{key}.exclTax", "ocppd bounds the price excluding tax")
            body[name] = str(Decimal(str(bound["exclTax"])))
    if payload.get("description"):
        body["text"] = {d.get("language") or "en": d["content"] for d in payload["description"]}
    try:
        return parse_tariff(body, today=date.today())
    except TariffError as exc:
        raise NotMappable(exc.where, exc.message) from None


def cost_details(cost: Any, tariff_id: str, *, started: datetime) -> dict[str, Any]:
    """A priced session (``cost.Cost``) as 2.1 CostDetailsType, as a station reports its local cost."""

    def price(dimension: str) -> dict[str, Any] | None:
        lines = [line for line in cost.lines if line.dimension == dimension]
        if not lines:
            return None
        excl = sum((line.excl_vat for line in lines), Decimal(0))
        rate = lines[0].vat_percent
        incl = excl + (excl * rate / 100).quantize(Decimal(1).scaleb(-cost.digits))
        return {"exclTax": _number(excl), "inclTax": _number(incl)}

    total = {"currency": cost.currency, "typeOfCost": "NormalCost",
             "total": {"exclTax": _number(cost.excl_vat), "inclTax": _number(cost.incl_vat)}}  # fmt: skip
    for dimension, key in (("FLAT", "fixed"), ("ENERGY", "energy"), ("TIME", "chargingTime"),
                           ("PARKING_TIME", "idleTime")):  # fmt: skip
        part = price(dimension)
        if part is not None:
            total[key] = part
    return {
        "chargingPeriods": [{"tariffId": tariff_id, "startPeriod": started.isoformat().replace("+00:00", "Z")}],
        "totalCost": total,
        "totalUsage": {
            "energy": _number(cost.energy_wh.quantize(Decimal("0.001"))),
            "chargingTime": int(cost.charging_s + cost.parking_s),
            "idleTime": int(cost.parking_s),
        },
    }


def station_total(details: dict[str, Any]) -> Decimal | None:
    """The total incl. tax a station reported in costDetails (excl. when it gave only that)."""
    total = (details.get("totalCost") or {}).get("total") or {}
    value = total.get("inclTax", total.get("exclTax"))
    return None if value is None or details.get("failureToCalculate") else Decimal(str(value))
