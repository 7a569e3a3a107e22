"""Smart charging on the CSMS side: charging profiles in the domain, sites and limits, balancing.

``SmartCharging`` is what ``Csms`` holds: the profile store (``profiles``), the limit tree
(``sites``) and the balancing service (``balancing``), plus the handlers for what 2.x stations
report about charging limits. The deciding cores are pure and live in ``ocppd.smart``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING, Any

from ocppd.csms import verbs as v
from ocppd.csms.outbound import NotExpressible, Sent, Target
from ocppd.csms.smart.balancing import Balancing
from ocppd.csms.smart.oscp import Oscp
from ocppd.csms.smart.profiles import ChargingProfiles, profile_source
from ocppd.csms.smart.sites import Sites, evse_node_id
from ocppd.csms.smart.wire import family, problems, sent_profile
from ocppd.rpc import Handler, Payload, Session
from ocppd.smart.schedule import TX, parse_time
from ocppd.smart.tree import phase_amps

if TYPE_CHECKING:
    from ocppd.csms.service import Csms

log = logging.getLogger("ocppd.smart")


_TRANSFER_PHASES = {"AC_single_phase": 1, "AC_two_phase": 2, "AC_three_phase": 3}


def ev_energy_wh(needs: dict[str, Any]) -> float | None:
    """The energy an ISO 15118 EV asked for (Wh), AC or DC."""
    for key in ("acChargingParameters", "dcChargingParameters"):
        amount = (needs.get(key) or {}).get("energyAmount")
        if isinstance(amount, int | float) and amount >= 0:
            return float(amount)
    return None


def ev_current_range(needs: dict[str, Any]) -> tuple[float | None, float | None]:
    """(max, min) current per phase an ISO 15118 EV reported (AC directly; DC from its power)."""
    ac = needs.get("acChargingParameters")
    if ac:
        return float(ac["evMaxCurrent"]), float(ac.get("evMinCurrent", 0)) or None
    dc = needs.get("dcChargingParameters")
    if dc and dc.get("evMaxPower"):
        return round(float(dc["evMaxPower"]) / (230.0 * 3), 1), None
    return None, None


class ProfileRefused(ValueError):
    """The CSMS will not send this profile: a station would have to refuse it (the reasons name fields)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class SmartCharging:
    def __init__(self, csms: Csms) -> None:
        self.csms = csms
        self.settings = csms.settings.smart
        self.profiles = ChargingProfiles(csms.store, csms.events)
        self.sites = Sites(csms.store)
        self.balancing = Balancing(csms, self.sites, self.settings)
        self._resending: set[asyncio.Task[None]] = set()
        oscp = csms.settings.oscp
        self.oscp = Oscp(csms, self.sites, self.balancing, oscp) if oscp.enabled else None  # OSCP 2.0 FP

    async def start(self) -> None:
        await self.sites.load(self.settings.sites_file or None)
        if self.settings.enabled:
            self.balancing.start()
        if self.oscp is not None:
            await self.oscp.start()

    async def stop(self) -> None:
        if self.oscp is not None:
            await self.oscp.stop()
        await self.balancing.stop()

    # ------------------------------------------------------------------ the operator's verbs
    async def install(self, station_id: str, verb: v.SetChargingProfile) -> Sent[v.Status]:
        """Check a profile the way the station will, then send it (SetChargingProfile as a domain verb).

        The generic call (``Csms.call``) sends any profile unchecked, for the OCA K test cases.
        """
        session = self.csms.sessions.get(station_id)
        if session is None:
            return await self.csms.send(station_id, verb)  # raises StationOffline
        from ocppd.csms.service import outbound_adapters

        try:
            plan = outbound_adapters(session.version).plan(verb, Target(station_id, session.version))
        except NotExpressible as exc:
            raise ProfileRefused([str(exc)]) from None
        evse, profile = sent_profile(plan.calls[0].payload)
        reasons = problems(evse, profile, family(session.version.label))
        reserved = self.settings.stack_level
        if (
            self.sites.station_site(station_id)
            and verb.profile.purpose != "station_max"
            and (verb.profile.stack_level >= reserved)
        ):
            reasons.append(f"stackLevel: {reserved} and above are the balancer's on this balanced station")
        if reasons:
            raise ProfileRefused(reasons)
        sent = await self.csms.send(station_id, verb)
        self.balancing.poke()
        return sent

    def transaction_resumed(self, station_id: str, transaction_id: str) -> None:
        """2.1 TxResumed (E_117, B_116): the station came back from a reboot with the transaction, and
        may have lost its TxProfiles on the way: the ones installed for it go out again, after the
        TransactionEvent is answered."""
        task = asyncio.get_running_loop().create_task(self._resend_tx_profiles(station_id, transaction_id))
        self._resending.add(task)
        task.add_done_callback(self._resending.discard)

    async def _resend_tx_profiles(self, station_id: str, transaction_id: str) -> None:
        rows = [r for r in await self.profiles.installed(station_id)
                if r.purpose == TX and r.transaction_id == transaction_id]  # fmt: skip
        for row in rows:
            source = profile_source.set(row.source)  # recorded again as what it was: operator or balancer
            try:
                await self.csms.call(station_id, "SetChargingProfile", {"evseId": row.evse_id,
                                                                        "chargingProfile": row.profile})  # fmt: skip
                log.info("%s: TxProfile %s of resumed transaction %s sent again", station_id, row.profile_id,
                         transaction_id)  # fmt: skip
            except Exception as exc:  # offline again, refused, timed out: recorded by the call itself
                log.warning("%s: TxProfile %s of resumed transaction %s not sent again: %s", station_id,
                            row.profile_id, transaction_id, exc)  # fmt: skip
            finally:
                profile_source.reset(source)

    # ------------------------------------------------------------------ 2.x station reports
    def v2x_handlers(self) -> dict[str, Handler]:
        async def report_charging_profiles(session: Session, p: Payload) -> Payload:
            await self.profiles.report(session.identity, p)
            return {}

        async def notify_charging_limit(session: Session, p: Payload) -> Payload:
            await self.station_limit(session.identity, p)
            return {}

        async def cleared_charging_limit(session: Session, p: Payload) -> Payload:
            node = self._limit_node(session.identity, p.get("evseId"))
            if node is not None:
                await self.sites.remove_external(node_id=node, source="station")
            await self.csms.reporting.record(session.identity, "ClearedChargingLimit", p)
            return {}

        async def notify_ev_charging_needs(session: Session, p: Payload) -> Payload:
            await self.csms.reporting.record(session.identity, "NotifyEVChargingNeeds", p)
            return await self.ev_charging_needs(session.identity, session.version.label, p)

        async def notify_ev_charging_schedule(session: Session, p: Payload) -> Payload:
            await self.csms.reporting.record(session.identity, "NotifyEVChargingSchedule", p)
            return self.ev_charging_schedule(session.identity, p)

        return {
            "ReportChargingProfiles": report_charging_profiles,
            "NotifyChargingLimit": notify_charging_limit,
            "ClearedChargingLimit": cleared_charging_limit,
            "NotifyEVChargingNeeds": notify_ev_charging_needs,
            "NotifyEVChargingSchedule": notify_ev_charging_schedule,
        }

    # ------------------------------------------------------------------ ISO 15118 (2.0.1 K15-K17)
    async def ev_charging_needs(self, station_id: str, version: str, p: Payload) -> Payload:
        """NotifyEVChargingNeeds: on a balanced station the EV's current range, departure time and energy
        join the balancer and a TxProfile within its allocation goes out at once (K15.FR.08: within
        60 s); elsewhere Rejected. When the site cannot give the EV what its departure needs, the
        answer still accepts (a schedule follows) and says so in ``statusInfo``."""
        from ocppd.csms.adapters.v2x import REFUSED

        if not self.settings.enabled or self.sites.station_site(station_id) is None:
            refusal = REFUSED["NotifyEVChargingNeeds"]
            return dict(refusal.get(version, refusal["*"]))
        needs = p.get("chargingNeeds", {})
        evse = int(p["evseId"])
        max_a, min_a = ev_current_range(needs)
        departure = parse_time(needs.get("departureTime"))
        energy = ev_energy_wh(needs)
        balancing = self.balancing
        await balancing.set_needs(
            station_id,
            evse,
            departure,
            energy,
            "ev",
            max_a=max_a,
            min_a=min_a,
            needs=needs,
            max_tuples=p.get("maxScheduleTuples"),
        )
        c = balancing.charging.get((station_id, evse))
        if c is None:
            # no transaction known on that EVSE yet: the schedule follows when it starts
            return {"status": "Processing"}
        c.ev_max_a = max_a
        phases = _TRANSFER_PHASES.get(str(needs.get("requestedEnergyTransfer", "")))
        if phases is not None and c.phases is None:
            c.phases = phases  # until its meter values say otherwise
        log.info("%s EVSE %s: ISO 15118 charging needs %s A max, %s Wh by %s; a TxProfile follows", station_id, evse,
                 max_a, energy, needs.get("departureTime"))  # fmt: skip
        answer: Payload = {"status": "Accepted"}
        grant = balancing.preview(station_id, evse) if departure is not None and energy is not None else None
        if grant is not None and grant.on_time is False:
            if grant.planned_wh is not None and energy is not None:
                info = (f"departure not reachable within the site limit: {grant.planned_wh / 1000:.2f} of "
                        f"{(grant.energy_wh or 0) / 1000:.2f} kWh by then, {grant.amps:.1f} A now")  # fmt: skip
            else:
                need = "more than it can take" if math.isinf(grant.need_a or 0) else f"{grant.need_a:.1f} A"
                info = f"departure not reachable within the site limit: needs {need}, gets {grant.amps:.1f} A"
            log.info("%s EVSE %s: %s", station_id, evse, info)
            answer["statusInfo"] = {"reasonCode": "LimitExceeded", "additionalInfo": info[:1024]}
        return answer

    def ev_charging_schedule(self, station_id: str, p: Payload) -> Payload:
        """NotifyEVChargingSchedule: Accepted if the EV's schedule stays within what the balancer gave
        the EVSE; otherwise Rejected and the profile is sent again (K17)."""
        evse = int(p["evseId"])
        c = self.balancing.charging.get((station_id, evse))
        if c is None or self.sites.station_site(station_id) is None:
            return {"status": "Accepted"}  # not balanced: no site limit to hold it against
        schedule = p.get("chargingSchedule", {})
        unit = schedule.get("chargingRateUnit", "A")
        phases = c.phases or 3
        base = parse_time(p.get("timeBase")) or self.csms.now().timestamp()
        over = []
        for period in schedule.get("chargingSchedulePeriod", []):
            amps = float(period["limit"]) if unit == "A" else float(period["limit"]) / (230.0 * phases)
            allowed = c.sent_at_time(base + float(period["startPeriod"]))  # a plan allows more at some times
            if allowed is not None and amps > allowed + 0.1:
                over.append(period["startPeriod"])
        if over:
            allowed = c.sent_at_time(base + float(over[0]))
            log.info("%s EVSE %s: EV schedule exceeds its %s A allocation at %s; Rejected", station_id, evse,
                     allowed, over)  # fmt: skip
            c.sent_a = None
            self.balancing.poke()
            info = {"reasonCode": "LimitExceeded", "additionalInfo": f"allocation {allowed} A per phase"}
            return {"status": "Rejected", "statusInfo": info}
        return {"status": "Accepted"}

    def _limit_node(self, station_id: str, evse: int | None) -> str | None:
        tree = self.sites.tree
        if evse and evse_node_id(station_id, evse) in tree.nodes:
            return evse_node_id(station_id, evse)
        return station_id if station_id in tree.nodes else None

    async def station_limit(self, station_id: str, p: Payload) -> None:
        """A 2.x NotifyChargingLimit (a local EMS or the grid operator limits the station, K12):
        the limit becomes an external limit on the station (or its EVSE) for the balancer."""
        await self.csms.reporting.record(station_id, "NotifyChargingLimit", p)
        node = self._limit_node(station_id, p.get("evseId"))
        if node is None:
            return
        source = p.get("chargingLimit", {}).get("chargingLimitSource", "EMS")
        for schedule in p.get("chargingSchedule") or []:
            start = parse_time(schedule.get("startSchedule"))
            periods = schedule.get("chargingSchedulePeriod") or []
            if not periods:
                continue
            unit = schedule.get("chargingRateUnit", "A")
            base = start if start is not None else self.csms.now().timestamp()
            await self.sites.remove_external(node_id=node, source="station", notify=False)
            for i, period in enumerate(periods):
                begin = base + period["startPeriod"]
                nxt = periods[i + 1]["startPeriod"] + base if i + 1 < len(periods) else None
                if nxt is None and schedule.get("duration"):
                    nxt = base + schedule["duration"]
                limit = float(period["limit"])
                await self.sites.add_external(
                    node,
                    "station",
                    phase_amps(limit) if unit == "A" else None,
                    limit if unit == "W" else None,
                    begin,
                    nxt,
                    note=f"NotifyChargingLimit from {source}",
                )
            return

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.settings.enabled,
            "sites": [n.id for n in self.sites.tree.nodes.values() if n.kind == "site"],
            "charging": len(self.balancing.charging),
            "excluded": dict(self.balancing.excluded),
            "profiles_sent": self.balancing.sent_total,
            "owner": self.balancing.owner_view(),
        }
