"""After an accepted boot: read the station's configuration and apply its group's settings.

Both steps are switched by ``[provisioning]`` (file or environment) and at run time by the API;
both are off by default so that nothing unsolicited reaches a station (OCA conformance tools treat a
surprise call as a failure). They run once, promptly after a BootNotification answered Accepted,
before any queued command; nothing is sent later on. A setting whose value the CSMS already knows
the station has (read earlier, or accepted before) is not sent again.
"""

from __future__ import annotations

import logging
from fnmatch import fnmatchcase
from typing import Any

from ocppd.config import ProvisioningSettings, StationGroupSettings
from ocppd.csms import verbs
from ocppd.csms.outbound import OutboundError, Sent, jsonable, next_request_id
from ocppd.csms.reporting import qualified
from ocppd.protocol.versions import OcppVersion

log = logging.getLogger(__name__)

# Domain setting -> (1.6 key, 2.x component, 2.x variable)
_NAMES = {
    "heartbeat_interval": ("HeartbeatInterval", "OCPPCommCtrlr", "HeartbeatInterval"),
    "meter_sample_interval": ("MeterValueSampleInterval", "SampledDataCtrlr", "TxUpdatedInterval"),
    "clock_aligned_interval": ("ClockAlignedDataInterval", "AlignedDataCtrlr", "Interval"),
    "measurands": ("MeterValuesSampledData", "SampledDataCtrlr", "TxUpdatedMeasurands"),
}


def group_for(
    groups: list[StationGroupSettings], station_id: str, vendor: str | None, model: str | None
) -> StationGroupSettings | None:
    """The first group whose patterns match the station id (and vendor/model, when the group names them)."""
    for group in groups:
        if group.vendor and group.vendor != vendor:
            continue
        if group.model and group.model != model:
            continue
        if any(fnmatchcase(station_id, pattern) for pattern in group.stations):
            return group
    return None


def settings_of(group: StationGroupSettings, version: OcppVersion) -> list[verbs.VariableSetting]:
    """The group's settings as the station's version names them."""
    values: dict[str, str] = {}
    for name in ("heartbeat_interval", "meter_sample_interval", "clock_aligned_interval"):
        seconds = getattr(group, name)
        if seconds:
            values[name] = str(seconds)
    if group.measurands:
        values["measurands"] = ",".join(group.measurands)
    out = []
    for name, value in values.items():
        key16, component, variable = _NAMES[name]
        ref = (
            verbs.VariableRef(variable=key16) if version is OcppVersion.V16 else verbs.VariableRef(component, variable)
        )
        out.append(verbs.VariableSetting(ref, value))
    if version is OcppVersion.V16:
        out += [verbs.VariableSetting(verbs.VariableRef(variable=k), v) for k, v in group.configuration.items()]
    else:
        for key, value in group.variables.items():
            component, _, variable = key.partition(".")  # Component.Variable or Component.Variable[instance]
            name, _, instance = variable.removesuffix("]").partition("[")
            ref = verbs.VariableRef(component, name, instance or None)
            out.append(verbs.VariableSetting(ref, value))
    return out


def stored_key(ref: verbs.VariableRef) -> tuple[str, str]:
    """How a variable is stored in the station's configuration (see csms.reporting.qualified)."""
    evse = {"id": ref.evse_id, "connectorId": ref.connector_id} if ref.evse_id is not None else None
    component = qualified({"name": ref.component, "instance": ref.component_instance, "evse": evse})
    return (component if ref.component else ""), qualified({"name": ref.variable, "instance": ref.instance})


class AutoProvisioning:
    def __init__(self, settings: ProvisioningSettings, csms: Any) -> None:
        self.settings = settings
        self.csms = csms

    def enabled(self) -> bool:
        return self.settings.read_configuration or self.settings.apply_settings

    async def after_boot(self, station_id: str, version: OcppVersion) -> None:
        """Run the switched-on steps for a station that was just accepted; failures are logged."""
        steps: dict[str, Any] = {}
        if self.settings.read_configuration:
            steps["read_configuration"] = await self._read(station_id)
        if self.settings.apply_settings:
            steps["apply_settings"] = await self._apply(station_id, version)
        if steps:
            await self.csms.reporting.record(station_id, "Provisioning", steps)

    async def _read(self, station_id: str) -> Any:
        """1.6: every key in the answer. 2.x: the full inventory report, waited for so that the limits
        it holds (ItemsPerMessage...) already shape the settings that follow."""
        reporting = self.csms.reporting
        rid = next_request_id()
        reporting.expect_report(station_id, rid)
        try:
            result = await self._send(station_id, verbs.ReadConfiguration(request_id=rid))
            if result.get("report_status") == "Accepted":
                timeout = self.csms.settings.ocpp.call_timeout
                result["report_complete"] = await reporting.wait_for_report(station_id, rid, timeout)
            return result
        finally:
            reporting.forget_report(station_id, rid)

    async def _apply(self, station_id: str, version: OcppVersion) -> Any:
        entry = self.csms.directory.get(station_id)
        group = group_for(
            self.settings.groups, station_id, entry.vendor if entry else None, entry.model if entry else None
        )
        if group is None:
            return {"group": None}
        wanted = settings_of(group, version)
        known = await self.csms.known_values(station_id, [stored_key(s.ref) for s in wanted])
        todo = tuple(s for s in wanted if known.get(stored_key(s.ref)) != s.value)
        if not todo:
            log.info("%s already has the settings of group %s", station_id, group.name)
            return {"group": group.name, "sent": 0}
        return {
            "group": group.name,
            "sent": len(todo),
            "result": await self._send(station_id, verbs.SetVariables(todo)),
        }

    async def _send(self, station_id: str, verb: verbs.Verb[Any]) -> Any:
        try:
            sent: Sent[Any] = await self.csms.send(station_id, verb)
        except (OutboundError, ValueError) as exc:
            log.info("%s provisioning %s failed: %s", station_id, verb.name, exc)
            return {"error": str(exc)}
        return jsonable(sent.result)
