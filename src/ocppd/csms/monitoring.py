"""2.x variable monitors of each station (docs/device-management.md): kept from what ocppd set
(SetVariableMonitoring with the station's answer), removed when cleared (ClearVariableMonitoring,
SetMonitoringBase HardWiredOnly), and reconciled with what the station reports (NotifyMonitoringReport:
a report of the whole list, asked without criteria, removes the monitors the station no longer has).

It watches the exchanges (``observe``, called for every CSMS-initiated call and its answer) rather than
wrapping the verbs, so the typed commands, the generic call endpoint and the command queue all count.
Each monitor's severity goes to the alerts of its events (csms/alerts.py).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime
from typing import Any

from ocppd import metrics
from ocppd.csms.alerts import Alerts, monitor_rows
from ocppd.store import Store
from ocppd.store import alerts_repo as arepo

log = logging.getLogger("ocppd.monitoring")

_OPEN_REPORTS = 1000  # reports being followed at once (ids seen so far); the oldest is forgotten past it


class _Report:
    __slots__ = ("complete", "full", "ids")

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.complete = False  # the part with tbc false arrived
        self.full: bool | None = None  # asked without criteria or variables (None: the answer is not in yet)


def _where(component: dict[str, Any]) -> str:
    """The component as the monitors table names it (as alerts.monitor_rows does)."""
    rows = monitor_rows([{"component": component, "variable": {"name": "_"}, "variableMonitoring": [{"id": 0}]}])
    return str(rows[0]["component"])


def _variable(variable: dict[str, Any]) -> str:
    name = str(variable.get("name", "?"))
    return name + (f"[{variable['instance']}]" if variable.get("instance") else "")


class Monitoring:
    def __init__(self, store: Store, alerts: Alerts) -> None:
        self.store = store
        self.alerts = alerts
        self._reports: OrderedDict[tuple[str, int], _Report] = OrderedDict()

    def _report(self, station_id: str, request_id: int) -> _Report:
        key = (station_id, request_id)
        report = self._reports.get(key)
        if report is None:
            report = self._reports[key] = _Report()
            while len(self._reports) > _OPEN_REPORTS:
                self._reports.popitem(last=False)
        return report

    async def monitors(self, station_id: str) -> list[dict[str, Any]]:
        out = []
        for m in await self.store.read(arepo.monitors_of, station_id):
            row = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in m.items()}
            row["state"] = row.get("origin") or "reported"
            out.append(row)
        return out

    def _severities(self, station_id: str, rows: list[dict[str, Any]], gone: list[int] | None = None) -> None:
        known = self.alerts.monitor_severity.setdefault(station_id, {})
        for row in rows:
            known[row["monitor_id"]] = row["severity"]
        for monitor_id in gone or ():
            known.pop(monitor_id, None)

    # ------------------------------------------------------------------ what the station reports
    async def report(self, station_id: str, payload: dict[str, Any]) -> None:
        """A NotifyMonitoringReport part: keep each monitor; the last part of a full report reconciles."""
        rows = monitor_rows(payload.get("monitor") or [])
        await self.store.write(arepo.upsert_monitors, station_id, rows)
        self._severities(station_id, rows)
        report = self._report(station_id, int(payload.get("requestId", -1)))
        report.ids.update(r["monitor_id"] for r in rows)
        if not payload.get("tbc"):
            report.complete = True
            await self._reconcile(station_id, int(payload.get("requestId", -1)))

    async def _reconcile(self, station_id: str, request_id: int) -> None:
        report = self._reports.get((station_id, request_id))
        if report is None or not report.complete or report.full is None:
            return
        self._reports.pop((station_id, request_id), None)
        if report.full:
            gone = await self.store.write(arepo.delete_monitors, station_id, None, sorted(report.ids))
            self._forget_missing(station_id, report.ids)
            if gone:
                metrics.MONITOR_CHANGES.labels("reconciled_away").inc(gone)
                log.info("%s: %d monitor(s) no longer reported by the station removed", station_id, gone)

    def _forget_missing(self, station_id: str, keep: set[int]) -> None:
        known = self.alerts.monitor_severity.get(station_id, {})
        for monitor_id in [i for i in known if i not in keep]:
            known.pop(monitor_id)

    # ------------------------------------------------------------------ what ocppd asked
    async def observe(self, station_id: str, action: str, request: dict[str, Any], result: dict[str, Any]) -> None:
        if action == "SetVariableMonitoring":
            await self._set(station_id, request, result)
        elif action == "ClearVariableMonitoring":
            # NotFound too: the station does not have it (any more)
            ids = [int(r["id"]) for r in result.get("clearMonitoringResult", []) if r.get("status") != "Rejected"]
            await self.store.write(arepo.delete_monitors, station_id, ids)
            metrics.MONITOR_CHANGES.labels("cleared").inc(len(ids))
            self._severities(station_id, [], ids)
        elif action == "SetMonitoringBase":
            if request.get("monitoringBase") == "HardWiredOnly" and result.get("status") == "Accepted":
                await self.store.write(arepo.delete_monitors, station_id, None, None)  # custom ones are cleared
                self._forget_missing(station_id, set())
        elif action == "GetMonitoringReport":
            request_id = int(request["requestId"])
            full = not request.get("monitoringCriteria") and not request.get("componentVariable")
            if result.get("status") == "EmptyResultSet":
                if full:  # the station has no monitor at all
                    await self.store.write(arepo.delete_monitors, station_id, None, None)
                    self._forget_missing(station_id, set())
                self._reports.pop((station_id, request_id), None)
            elif result.get("status") == "Accepted":
                report = self._report(station_id, request_id)
                report.full = full
                await self._reconcile(station_id, request_id)
            else:
                self._reports.pop((station_id, request_id), None)

    async def _set(self, station_id: str, request: dict[str, Any], result: dict[str, Any]) -> None:
        asked = request.get("setMonitoringData", [])
        answers = result.get("setMonitoringResult", [])
        rows = []
        for i, r in enumerate(answers):
            if r.get("status") != "Accepted" or r.get("id") is None:
                continue
            sent = asked[i] if len(asked) == len(answers) else {}
            info = r.get("statusInfo") or {}
            rows.append({
                "monitor_id": int(r["id"]),
                "component": _where(r["component"]),
                "variable": _variable(r["variable"]),
                "type": str(r["type"]),
                "value": float(sent.get("value", 0.0)),
                "severity": int(r["severity"]),
                "transaction": bool(sent.get("transaction", False)),
                "status": "Accepted",
                "reason": info.get("reasonCode"),
                "origin": "set",
            })  # fmt: skip
        await self.store.write(arepo.upsert_monitors, station_id, rows)
        self._severities(station_id, rows)
        metrics.MONITOR_CHANGES.labels("set").inc(len(rows))
        refused = [r for r in answers if r.get("status") != "Accepted"]
        if refused:
            metrics.MONITOR_CHANGES.labels("refused").inc(len(refused))
        if refused:
            log.info("%s: SetVariableMonitoring refused for %s", station_id,
                     ", ".join(f"{_variable(r['variable'])} ({r.get('status')})" for r in refused))  # fmt: skip
