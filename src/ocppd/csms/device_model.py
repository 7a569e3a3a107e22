"""The device model inventory of each station (docs/device-management.md).

2.x: every component (EVSE and connector included), variable and attribute the station reported
(NotifyReport of GetBaseReport / GetReport), read (GetVariables) or was asked to set (SetVariables), with
the characteristics (unit, data type, limits, values list, monitoring) and mutability. 1.6: the
configuration keys with their readonly flag, and the station's feature profiles.

:func:`refusal` decides, without I/O, whether a value may be sent at all: a value outside what the
station itself declared (range, data type, values list, read-only) is refused before anything is sent.
A station's answer RebootRequired is remembered until its next BootNotification.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ocppd import metrics
from ocppd.csms import verbs
from ocppd.csms.reporting import Reporting, qualified, report_rows
from ocppd.store import Store
from ocppd.store import device_repo as drepo

log = logging.getLogger("ocppd.device_model")


_PHASES = ("L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1")


@dataclass(frozen=True, slots=True)
class Characteristics:
    """What a station declared about a variable (2.x) or what the 1.6 spec says about a standard key."""

    mutability: str | None = None  # ReadOnly | ReadWrite | WriteOnly
    data_type: str | None = None  # string, decimal, integer, dateTime, boolean, OptionList, SequenceList, MemberList
    min_limit: float | None = None
    max_limit: float | None = None  # for a string: its maximum length
    values_list: str | None = None
    unit: str | None = None

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> Characteristics:
        mutability = row.get("mutability") or ("ReadOnly" if row.get("readonly") else None)
        return cls(mutability, row.get("data_type"), row.get("min_limit"), row.get("max_limit"),
                   row.get("values_list"), row.get("unit"))  # fmt: skip


def key16_characteristics(readonly: bool) -> Characteristics:
    """A 1.6 configuration key: only what the station itself said (readonly) decides. The spec's types
    of the standard keys are not checked: the station answers Rejected for a bad value, and the OCA
    tests want to see it do so (TC_040_2)."""
    return Characteristics("ReadOnly" if readonly else None)


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _members(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def refusal(c: Characteristics, value: str) -> str | None:
    """Why ``value`` cannot be set on a variable with these characteristics, or None when it can."""
    if c.mutability == "ReadOnly":
        return "is read-only"
    kind = c.data_type
    if kind in ("integer", "decimal"):
        number = _number(value)
        if number is None or (kind == "integer" and not re.fullmatch(r"\s*[+-]?\d+\s*", value)):
            return f"must be {'an integer' if kind == 'integer' else 'a decimal number'}, not {value!r}"
        if c.min_limit is not None and number < c.min_limit:
            return f"must be at least {c.min_limit:g}{_unit(c)}, not {value}"
        if c.max_limit is not None and number > c.max_limit:
            return f"must be at most {c.max_limit:g}{_unit(c)}, not {value}"
    elif kind == "boolean":
        if value.strip().lower() not in ("true", "false"):
            return f"must be true or false, not {value!r}"
    elif kind == "dateTime":
        try:
            datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return f"must be a date and time (RFC 3339), not {value!r}"
    elif kind == "OptionList":
        allowed = _members(c.values_list or "")
        if allowed and value.strip() not in allowed:
            return f"must be one of {', '.join(allowed)}, not {value!r}"
    elif kind in ("MemberList", "SequenceList"):
        allowed = set(_members(c.values_list or ""))
        for member in _members(value):
            base = member.rsplit(".", 1)[0] if member.rsplit(".", 1)[-1] in _PHASES else member
            if allowed and member not in allowed and base not in allowed:
                return f"{member!r} is not one of {', '.join(sorted(allowed))}"
    elif kind == "string" and c.max_limit is not None and len(value) > c.max_limit:
        return f"must be at most {c.max_limit:g} characters long, not {len(value)}"
    return None


def _unit(c: Characteristics) -> str:
    return f" {c.unit}" if c.unit else ""


class ValueRefused(Exception):
    """A setting refused before sending; ``name`` is the variable (component.variable) or 1.6 key."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name} {reason}")
        self.name = name
        self.reason = reason


def ref_key(ref: verbs.VariableRef, v16: bool) -> tuple[str, str, str]:
    """``(component, variable, attribute)`` as stored for a verb's variable reference."""
    if v16:
        return "", ref.variable, "Actual"
    component: dict[str, Any] = {"name": ref.component, "instance": ref.component_instance}
    if ref.evse_id is not None:
        component["evse"] = {"id": ref.evse_id, "connectorId": ref.connector_id}
    return qualified(component), qualified({"name": ref.variable, "instance": ref.instance}), ref.attribute or "Actual"


_EVSE = re.compile(r"^(?P<name>[^@\[]+)(?:\[(?P<instance>[^\]]*)\])?(?:@evse(?P<evse>\d+)(?:\.(?P<conn>\d+))?)?$")


def parse_component(text: str) -> dict[str, Any]:
    """The stored component ``Connector[x]@evse1.2`` back as its parts."""
    m = _EVSE.match(text or "")
    if not m:
        return {"name": text, "instance": None, "evse_id": None, "connector_id": None}
    return {
        "name": m["name"],
        "instance": m["instance"],
        "evse_id": int(m["evse"]) if m["evse"] else None,
        "connector_id": int(m["conn"]) if m["conn"] else None,
    }


def report_characteristics(report_data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NotifyReport ``reportData`` as rows: every attribute with its variable's characteristics."""
    rows = []
    for item in report_data:
        component, variable = qualified(item["component"]), qualified(item["variable"])
        ch = item.get("variableCharacteristics") or {}
        shared = {
            "data_type": ch.get("dataType"), "unit": ch.get("unit"), "min_limit": ch.get("minLimit"),
            "max_limit": ch.get("maxLimit"), "values_list": ch.get("valuesList"),
            "supports_monitoring": ch.get("supportsMonitoring"),
        }  # fmt: skip
        for attribute in item.get("variableAttribute", []):
            mutability = attribute.get("mutability", "ReadWrite")  # the schema's default
            rows.append({
                "component": component, "variable": variable, "attribute": attribute.get("type", "Actual"),
                "value": attribute.get("value"), "readonly": mutability == "ReadOnly", "mutability": mutability,
                **shared,
            })  # fmt: skip
    return rows


def set_results(action: str, request: dict[str, Any], result: dict[str, Any]) -> list[dict[str, Any]]:
    """The answer of a SetVariables (each item) or ChangeConfiguration as rows of ``record_set_results``."""
    if action == "ChangeConfiguration":
        return [{"component": "", "variable": request["key"], "set_value": request["value"],
                 "set_status": result.get("status", "Rejected")}]  # fmt: skip
    if action != "SetVariables":
        return []
    asked = {
        (qualified(d["component"]), qualified(d["variable"]), d.get("attributeType") or "Actual"): d
        for d in request.get("setVariableData", [])
    }
    rows = []
    for r in result.get("setVariableResult", []):
        key = (qualified(r["component"]), qualified(r["variable"]), r.get("attributeType") or "Actual")
        info = r.get("attributeStatusInfo") or {}
        reason = info.get("reasonCode")
        if reason and info.get("additionalInfo"):
            reason = f"{reason}: {info['additionalInfo']}"
        rows.append({"component": key[0], "variable": key[1], "attribute": key[2],
                     "set_value": (asked.get(key) or {}).get("attributeValue"),
                     "set_status": r.get("attributeStatus", "Rejected"), "set_reason": reason})  # fmt: skip
    return rows


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


class DeviceModel:
    def __init__(self, store: Store, reporting: Reporting) -> None:
        self.store = store
        self.reporting = reporting

    # ------------------------------------------------------------------ what stations tell
    async def report(self, station_id: str, report_data: list[dict[str, Any]]) -> None:
        """A NotifyReport part: values, mutability and characteristics of every variable in it."""
        rows = report_characteristics(report_data)
        if rows:
            await self.store.write(drepo.record_report, station_id, rows)
            await self.reporting.stored(station_id, report_rows(report_data))

    async def observe(self, station_id: str, action: str, request: dict[str, Any], result: dict[str, Any]) -> None:
        """An exchange the CSMS started: keep what each SetVariables / ChangeConfiguration got back."""
        rows = set_results(action, request, result)
        if rows:
            await self.store.write(drepo.record_set_results, station_id, rows, datetime.now(UTC))
            for row in rows:
                metrics.SETTINGS_SET.labels(row["set_status"]).inc()
                if row["set_status"] not in ("Accepted",):
                    log.info("%s: %s %s = %r: %s%s", station_id, action, ".".join(filter(None, (row["component"],
                             row["variable"]))), row["set_value"], row["set_status"],
                             f" ({row['set_reason']})" if row.get("set_reason") else "")  # fmt: skip

    # ------------------------------------------------------------------ before sending
    async def check(self, station_id: str, settings: tuple[verbs.VariableSetting, ...], v16: bool) -> None:
        """Raise ValueRefused for the first setting the stored characteristics refuse; settings of
        variables ocppd knows nothing about go to the station, which decides."""
        keys = [ref_key(s.ref, v16) for s in settings]
        known = await self.store.read(drepo.known_variables, station_id, sorted({(c, v) for c, v, _ in keys}))
        for setting, (component, variable, attribute) in zip(settings, keys, strict=True):
            rows = known.get((component, variable))
            if not rows and not v16:
                continue
            row = next((r for r in rows or [] if r["attribute"] == attribute), None) or (rows or [{}])[0]
            if v16:
                c = key16_characteristics(bool(row.get("readonly")))
            else:
                c = Characteristics.of_row(row)
                if row.get("attribute") != attribute:  # mutability is per attribute
                    c = Characteristics(None, c.data_type, c.min_limit, c.max_limit, c.values_list, c.unit)
            why = refusal(c, setting.value)
            if why is not None:
                name = variable if v16 else f"{component}.{variable}" + (f" ({attribute})" if attribute != "Actual"
                                                                           else "")  # fmt: skip
                log.info("%s: set %s = %r refused before sending: %s", station_id, name, setting.value, why)
                metrics.SETTINGS_SET.labels("refused_before_sending").inc()
                raise ValueRefused(name, why)

    # ------------------------------------------------------------------ views
    async def view(self, station_id: str, v16: bool) -> dict[str, Any]:
        """The station's device model, components with their variables (2.x) or keys (1.6)."""
        rows = await self.store.read(drepo.device_model, station_id)
        pending = await self.store.read(drepo.pending_reboot, station_id)
        components: dict[str, dict[str, Any]] = {}
        for r in rows:
            comp = components.setdefault(
                r["component"],
                {"component": r["component"] or None, **parse_component(r["component"]), "variables": {}},
            )
            var = comp["variables"].setdefault(r["variable"], {
                "variable": r["variable"], "attributes": [],
                **{k: r[k] for k in drepo.CHARACTERISTICS},
            })  # fmt: skip
            for k in drepo.CHARACTERISTICS:  # the row that carries them (a report) wins over a bare read
                if var[k] is None and r[k] is not None:
                    var[k] = r[k]
            var["attributes"].append({
                "type": r["attribute"], "value": r["value"], "readonly": r["readonly"],
                "mutability": r["mutability"] or ("ReadOnly" if r["readonly"] else None),
                "updated_at": _iso(r["updated_at"]),
                "last_set": None if r["set_status"] is None else {
                    "value": r["set_value"], "status": r["set_status"], "reason": r["set_reason"],
                    "at": _iso(r["set_at"]),
                },
            })  # fmt: skip
        out = []
        for comp in components.values():
            comp["variables"] = list(comp["variables"].values())
            out.append(comp)
        feature_profiles = None
        if v16:
            value = next((r["value"] for r in rows if r["variable"] == "SupportedFeatureProfiles"), None)
            feature_profiles = _members(value) if value else None
        return {
            "station_id": station_id,
            "components": out,
            "feature_profiles": feature_profiles,
            "reboot_required": bool(pending),
            "pending_reboot": [{k: _iso(v) for k, v in p.items() if k != "station_id"} for p in pending],
        }

    async def pending_reboot(self) -> list[dict[str, Any]]:
        return [{k: _iso(v) for k, v in p.items()} for p in await self.store.read(drepo.pending_reboot)]

    async def identity_counts(self, field: str, search: str | None) -> list[dict[str, Any]]:
        return await self.store.read(drepo.identity_counts, field, search)

    async def stations_by_identity(
        self, filters: dict[str, str | None], after: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self.store.read(drepo.stations_by_identity, filters, after, limit)
        return [{k: _iso(v) for k, v in r.items()} for r in rows]

    async def stations_with_setting(self, variable: str, component: str | None, value: str | None,
                                    after: tuple[str, str] | None, limit: int) -> list[dict[str, Any]]:  # fmt: skip
        rows = await self.store.read(drepo.stations_with_setting, variable, component, value, "Actual", after, limit)
        return [{k: _iso(v) for k, v in r.items()} for r in rows]

    async def setting_values(self, variable: str, component: str | None) -> list[dict[str, Any]]:
        return await self.store.read(drepo.setting_values, variable, component)
