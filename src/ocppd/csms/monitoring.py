"""2.x variable monitors of each station (docs/device-management.md): kept from what ocppd set
(SetVariableMonitoring with the station's answer; the ones it refused too, with why), removed when
cleared (ClearVariableMonitoring, SetMonitoringBase HardWiredOnly), and reconciled with what the
station reports (NotifyMonitoringReport: a report of the whole list, asked without criteria, removes
the monitors the station no longer has).

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

    async def monitors(self, station_id: str | None) -> list[dict[str, Any]]:
        """The station's monitors (None: every station's), then the ones it refused (``state`` refused,
        with its answer)."""
        return [_jsonable(m) for m in await self.store.read(arepo.monitor_view, station_id)]

    async def monitor_page(
        self, state: str | None, after: arepo.MonitorKey | None, limit: int
    ) -> tuple[list[dict[str, Any]], arepo.MonitorKey | None]:
        """Every station's monitors in ``state`` (None: all), a page of ``limit`` after ``after``; the
        key of its last row when there are more."""
        rows, last = await self.store.read(arepo.monitor_page, state, after, limit)
        return [_jsonable(m) for m in rows], last

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
            answers = result.get("clearMonitoringResult", [])
            ids = [int(r["id"]) for r in answers if r.get("status") != "Rejected"]
            refused = {int(r["id"]): _reason(r) for r in answers if r.get("status") == "Rejected"}
            await self.store.write(arepo.record_clear, station_id, ids, refused)
            metrics.MONITOR_CHANGES.labels("cleared").inc(len(ids))
            self._severities(station_id, [], ids)
        elif action == "SetMonitoringBase":
            if request.get("monitoringBase") == "HardWiredOnly" and result.get("status") == "Accepted":
                await self.store.write(arepo.delete_monitors, station_id, None, None)  # custom ones are cleared
                await self.store.write(arepo.forget_refusals, station_id)  # and what was asked of them
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
        """Keep each accepted monitor with the id the station gave, and each refused one by what was
        asked (component, variable, type) with the station's answer."""
        asked = request.get("setMonitoringData", [])
        answers = result.get("setMonitoringResult", [])
        rows, refusals = [], []
        for i, r in enumerate(answers):
            sent = asked[i] if len(asked) == len(answers) else {}
            common = {
                "component": _where(r["component"]),
                "variable": _variable(r["variable"]),
                "type": str(r["type"]),
                "value": float(sent.get("value", 0.0)),
                "severity": int(r["severity"]),
                "transaction": bool(sent.get("transaction", False)),
                "reason": _reason(r),
            }
            if r.get("status") == "Accepted" and r.get("id") is not None:
                rows.append({**common, "monitor_id": int(r["id"]), "status": "Accepted", "origin": "set"})
            elif r.get("status") != "Accepted":
                monitor_id = sent.get("id")
                refusals.append({**common, "status": str(r.get("status")),
                                 "monitor_id": int(monitor_id) if monitor_id is not None else None})  # fmt: skip
        await self.store.write(arepo.record_set, station_id, rows, refusals)
        self._severities(station_id, rows)
        metrics.MONITOR_CHANGES.labels("set").inc(len(rows))
        if refusals:
            metrics.MONITOR_CHANGES.labels("refused").inc(len(refusals))
            log.info("%s: SetVariableMonitoring refused for %s", station_id,
                     ", ".join(f"{r['variable']} ({r['status']})" for r in refusals))  # fmt: skip


def _reason(answer: dict[str, Any]) -> str | None:
    """The statusInfo of an answer as one line: its reasonCode, and its additionalInfo when given."""
    info = answer.get("statusInfo") or {}
    if not info.get("reasonCode"):
        return None
    extra = info.get("additionalInfo")
    return f"{info['reasonCode']}: {extra}" if extra else str(info["reasonCode"])


def _jsonable(monitor: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in monitor.items()}
