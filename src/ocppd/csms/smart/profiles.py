"""Charging profiles in the domain: what the CSMS set on every station, what the station answered,
and whether the station still agrees.

Every SetChargingProfile / ClearChargingProfile the CSMS sends passes :meth:`ChargingProfiles.observe`
(the generic call included), so the store knows each profile's purpose, stack level, kind, unit,
validity and the station's answer. TxProfiles end with their transaction. GetChargingProfiles
(answered by ReportChargingProfiles) and GetCompositeSchedule are compared with the store and with
the composite schedule the CSMS computes itself (the same ``ocppd.smart.schedule`` the simulator
enforces); a disagreement is flagged as drift on the rows concerned and published.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from ocppd.csms.events import EventBus
from ocppd.csms.smart.wire import profile_fields, sent_profile
from ocppd.smart.schedule import EXTERNAL, TX, ActiveTx, Profile, ProfileStore, parse_time
from ocppd.store import Store
from ocppd.store import smart_repo as sr

log = logging.getLogger("ocppd.smart")

# Who is sending the profile going out now: operator (API, CLI, generic call), balancer or fallback.
profile_source: ContextVar[str] = ContextVar("profile_source", default="operator")

_PURPOSE_OUT = {
    "ChargePointMaxProfile": "max",
    "ChargingStationMaxProfile": "max",
    "TxDefaultProfile": "txdefault",
    "TxProfile": "tx",
}


def _dt(value: str | None) -> datetime | None:
    ts = parse_time(value)
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class ChargingProfiles:
    def __init__(self, store: Store, events: EventBus) -> None:
        self.store = store
        self.events = events
        self._reports: dict[tuple[str, int], list[tuple[int, dict[str, Any], str]]] = {}
        self.requested: dict[tuple[str, int], dict[str, Any]] = {}  # GetChargingProfiles requests in flight

    # ------------------------------------------------------------------ what goes out
    async def observe(
        self,
        station_id: str,
        action: str,
        request: dict[str, Any],
        answer: dict[str, Any] | None,
        error: str | None = None,
    ) -> None:
        """Record a smart-charging CALL the CSMS made and the station's answer (None: no answer, ``error``)."""
        now = datetime.now(UTC)
        if action == "SetChargingProfile":
            evse, profile = sent_profile(request)
            f = profile_fields(profile)
            status = (answer or {}).get("status")
            state = sr.INSTALLED if status == "Accepted" else sr.REJECTED if answer is not None else sr.FAILED
            row = {
                **f,
                "valid_from": _dt(f["valid_from"]),
                "valid_to": _dt(f["valid_to"]),
                "station_id": station_id,
                "evse_id": evse,
                "source": profile_source.get(),
                "profile": profile,
                "state": state,
                "answer": answer if answer is not None else {"error": error},
                "sent_at": now,
            }
            await self.store.write(sr.record_profile, row)
            log.info(
                "%s SetChargingProfile %s id %s on EVSE %s (%s): %s",
                station_id,
                f["purpose"],
                f["profile_id"],
                evse,
                row["source"],
                status or error,
            )
            self.events.publish(
                "profile.sent",
                station_id,
                evse_id=evse,
                profile_id=f["profile_id"],
                purpose=f["purpose"],
                source=row["source"],
                state=state,
            )
        elif action == "ClearChargingProfile" and (answer or {}).get("status") == "Accepted":
            await self.store.write(sr.end_profiles, station_id, sr.CLEARED, now, **_clear_criteria(request))
        elif action == "GetChargingProfiles" and (answer or {}).get("status") == "Accepted":
            self.requested[(station_id, int(request["requestId"]))] = request

    async def transaction_ended(self, station_id: str, transaction_id: str) -> None:
        """TxProfiles end with their transaction (1.6 §3.13.4, 2.0.1 K01.FR.05)."""
        await self.store.write(
            sr.end_profiles, station_id, sr.ENDED, datetime.now(UTC), purpose=TX, transaction_id=transaction_id
        )

    # ------------------------------------------------------------------ reading
    async def installed(self, station_id: str | None = None) -> list[sr.ProfileRow]:
        return await self.store.read(sr.installed_profiles, station_id)

    async def history(self, station_id: str, limit: int = 200) -> list[sr.ProfileRow]:
        return await self.store.read(sr.profile_history, station_id, limit)

    @staticmethod
    def profile_store(rows: list[sr.ProfileRow], voltage: float = 230.0, phases: int = 3) -> ProfileStore:
        store = ProfileStore(voltage=voltage, phases=phases, max_stack_level=1000)
        for row in rows:
            try:
                store.install(Profile.from_ocpp(row.profile, row.evse_id, row.sent_at.timestamp()))
            except (KeyError, TypeError, ValueError):
                log.warning("%s: stored profile %s cannot be evaluated", row.station_id, row.profile_id)
        return store

    async def composite(
        self,
        station_id: str,
        evse: int,
        duration: int,
        unit: str = "A",
        tx: ActiveTx | None = None,
        start: float | None = None,
        voltage: float = 230.0,
        phases: int = 3,
        max_power_w: float = 1e9,
    ) -> list[dict[str, Any]]:
        """The composite schedule the station should have from what the CSMS installed (K08, 1.6 §3.13.5)."""
        store = self.profile_store(await self.installed(station_id), voltage, phases)
        begin = start if start is not None else datetime.now(UTC).timestamp()
        return store.composite(evse, begin, duration, unit, tx, max_power_w)

    # ------------------------------------------------------------------ reconciliation
    async def report(self, station_id: str, payload: dict[str, Any]) -> None:
        """One ReportChargingProfiles (2.x); after the last part (``tbc`` false) compare with the store."""
        key = (station_id, int(payload["requestId"]))
        part = self._reports.setdefault(key, [])
        for profile in payload.get("chargingProfile", []):
            part.append((int(payload["evseId"]), profile, payload.get("chargingLimitSource", "CSO")))
        if payload.get("tbc"):
            return
        reported = self._reports.pop(key)
        request = self.requested.pop(key, {})
        await self.reconcile(station_id, reported, request.get("evseId"))

    async def reconcile(
        self, station_id: str, reported: list[tuple[int, dict[str, Any], str]], evse: int | None = None
    ) -> dict[str, list[Any]]:
        """Compare what the station reports with what the store says is installed; flag the differences."""
        stored = [r for r in await self.installed(station_id) if r.purpose != EXTERNAL]
        if evse is not None:
            stored = [r for r in stored if r.evse_id == evse]
        seen: dict[tuple[int, int], dict[str, Any]] = {}
        foreign: list[dict[str, Any]] = []
        for ev, profile, source in reported:
            f = profile_fields(profile)
            if source != "CSO":
                foreign.append({"evse_id": ev, "profile_id": f["profile_id"], "source": source})
                continue
            seen[(ev, f["profile_id"])] = profile
        drift: dict[int, str | None] = {}
        missing, differs = [], []
        for row in stored:
            got = seen.pop((row.evse_id, row.profile_id), None)
            if got is None:
                drift[row.id] = "missing on the station"
                missing.append(row.profile_id)
            elif _essence(got) != _essence(row.profile):
                drift[row.id] = "the station's copy differs"
                differs.append(row.profile_id)
            else:
                drift[row.id] = None
        unknown = [pid for (_, pid) in seen]
        await self.store.write(sr.set_drift, station_id, drift)
        result = {"missing": missing, "differs": differs, "unknown": unknown, "external": foreign}
        if missing or differs or unknown:
            log.warning("%s: charging profiles drifted: %s", station_id, result)
            self.events.publish("profile.drift", station_id, **result)
        return result

    async def check_composite(
        self, station_id: str, evse: int, answer: dict[str, Any], tx: ActiveTx | None = None
    ) -> dict[str, Any]:
        """Compare a station's GetCompositeSchedule answer with the schedule the CSMS computes."""
        schedule = answer.get("chargingSchedule") or answer.get("schedule")
        if answer.get("status") != "Accepted" or not schedule:
            return {"status": answer.get("status"), "agrees": None}
        unit = schedule.get("chargingRateUnit", "A")
        start = parse_time(schedule.get("startSchedule") or schedule.get("scheduleStart"))
        duration = int(schedule.get("duration") or 3600)
        theirs = schedule.get("chargingSchedulePeriod", [])
        ours = await self.composite(station_id, evse, duration, unit, tx, start)

        def at(periods: list[dict[str, Any]], offset: float) -> float | None:
            value = None
            for p in periods:
                if p["startPeriod"] <= offset:
                    value = p["limit"]
            return value

        offsets = sorted({p["startPeriod"] for p in theirs} | {p["startPeriod"] for p in ours})
        diffs = [
            (o, at(ours, o), at(theirs, o))
            for o in offsets
            if at(ours, o) is not None
            and at(theirs, o) is not None
            and abs(float(at(ours, o)) - float(at(theirs, o))) > max(0.5, 0.02 * float(at(ours, o)))
        ]  # type: ignore[arg-type]
        if diffs:
            log.warning("%s EVSE %s: composite schedule differs from the CSMS's: %s", station_id, evse, diffs)
            self.events.publish("profile.drift", station_id, evse_id=evse, composite=diffs)
        return {
            "status": "Accepted",
            "agrees": not diffs,
            "ours": ours,
            "theirs": theirs,
            "differences": [{"start_period": o, "expected": a, "reported": b} for o, a, b in diffs],
        }


def _essence(profile: dict[str, Any]) -> tuple[Any, ...]:
    """What must agree between the CSMS's copy and the station's (stations may add or reformat the rest)."""
    f = profile_fields(profile)
    schedule = profile["chargingSchedule"]
    schedule = schedule[0] if isinstance(schedule, list) else schedule
    periods = tuple((p["startPeriod"], round(float(p["limit"]), 1)) for p in schedule.get("chargingSchedulePeriod", []))
    return f["purpose"], f["stack_level"], f["kind"], f["unit"], periods


def _clear_criteria(request: dict[str, Any]) -> dict[str, Any]:
    """The store's ClearChargingProfile criteria from a 1.6 or 2.x request."""
    if "chargingProfileCriteria" in request or "chargingProfileId" in request:  # 2.x
        c = request.get("chargingProfileCriteria") or {}
        purpose = c.get("chargingProfilePurpose")
        return {
            "profile_id": request.get("chargingProfileId"),
            "evse_id": c.get("evseId"),
            "purpose": _PURPOSE_OUT.get(purpose) if purpose else None,
            "stack_level": c.get("stackLevel"),
        }
    purpose = request.get("chargingProfilePurpose")
    return {
        "profile_id": request.get("id"),
        "evse_id": request.get("connectorId"),
        "purpose": _PURPOSE_OUT.get(purpose) if purpose else None,
        "stack_level": request.get("stackLevel"),
    }
