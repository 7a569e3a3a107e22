"""Registration in force on a connection: what a Pending or Rejected station may send, and telling
a connected station that the operator changed its registration.

OCPP 2.0.1 B02.FR.09 / B03 (and B01.FR.10): while a station's BootNotification was answered Pending
or Rejected, every other message it sends is answered with CALLERROR ``SecurityError``, except what
the CSMS asked for: the message a TriggerMessage requested, the NotifyReport of a GetBaseReport /
GetReport, and so on. OCPP 1.6 tells the station the same ("SHALL NOT send requests unless
triggered") but prescribes no answer for the CSMS; ocppd answers it the same way (1.6 has the
``SecurityError`` code), so nothing a not-yet-accepted station sends is processed as if accepted.

A station that connects and speaks without booting first gets the registration the directory holds
for it; if that is not Accepted, the CSMS asks it for a BootNotification (TriggerMessage, allowed
while Pending), once per connection, so it learns where it stands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from ocppd.csms import verbs
from ocppd.csms.provisioning import REGISTRATION_TO_OCPP, StationDirectory
from ocppd.protocol.errors import ErrorKind, OcppError
from ocppd.rpc import Handler, Payload, Session

log = logging.getLogger(__name__)

# What a station sends because the CSMS asked with <action> (answered with a status it accepted).
_FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "GetBaseReport": ("NotifyReport",),
    "GetReport": ("NotifyReport",),
    "GetMonitoringReport": ("NotifyMonitoringReport",),
    "GetLog": ("LogStatusNotification",),
    "GetDiagnostics": ("DiagnosticsStatusNotification",),
    "UpdateFirmware": ("FirmwareStatusNotification",),
    "SignedUpdateFirmware": ("SignedFirmwareStatusNotification",),
    "PublishFirmware": ("PublishFirmwareStatusNotification",),
    "CustomerInformation": ("NotifyCustomerInformation",),
    "GetDisplayMessages": ("NotifyDisplayMessages",),
    "GetChargingProfiles": ("ReportChargingProfiles",),
}
# TriggerMessage requestedMessage values whose message has another action name.
_TRIGGERED_ACTION = {
    "SignChargingStationCertificate": "SignCertificate",
    "SignV2GCertificate": "SignCertificate",
    "SignCombinedCertificate": "SignCertificate",
    "SignChargePointCertificate": "SignCertificate",
}
SOLICITED = "solicited"  # session.context key: actions the CSMS asked this connection to send
_SEEN_ACCEPTED = "seen_accepted"


def solicited_actions(action: str, request: Payload, answer: Payload) -> tuple[str, ...]:
    """The station-initiated actions an exchange invites (empty when the station refused)."""
    status = answer.get("status")
    if action in ("TriggerMessage", "ExtendedTriggerMessage"):
        if status != "Accepted":
            return ()
        requested = str(request.get("requestedMessage"))
        return (_TRIGGERED_ACTION.get(requested, requested),)
    follow = _FOLLOW_UPS.get(action, ())
    if action == "UpdateFirmware" and status is None:  # 1.6 UpdateFirmware.conf is empty
        return follow
    if action == "GetDiagnostics":  # 1.6: a file name means an upload will be reported
        return follow if answer.get("fileName") else ()
    return follow if status in ("Accepted", "AcceptedCanceled") else ()


class Registration:
    def __init__(self, directory: StationDirectory, unknown_station_status: str) -> None:
        self.directory = directory
        self.unknown_station_status = unknown_station_status  # OCPP status for a station not in the directory
        self._send: Callable[[str, verbs.Verb[Any]], Coroutine[Any, Any, Any]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # Called (session, booted) once per connection when its registration is first seen Accepted,
        # and again after every BootNotification answered Accepted (``booted`` True).
        self.accepted_listeners: list[Callable[[Session, bool], None]] = []

    def attach(self, send: Callable[[str, verbs.Verb[Any]], Coroutine[Any, Any, Any]]) -> None:
        """The outbound path (``Csms.send``), for asking a station to boot again."""
        self._send = send

    def in_force(self, session: Session) -> str:
        """The OCPP registration status of this connection: its last boot's answer, else the directory's."""
        booted = session.context.get("registration")
        if booted is not None:
            return str(booted)
        entry = self.directory.get(session.identity)
        if entry is None:
            return self.unknown_station_status
        return REGISTRATION_TO_OCPP.get(entry.registration, "Pending")

    def guard(self, handlers: Mapping[str, Handler]) -> dict[str, Handler]:
        """Wrap every handler but BootNotification with the Pending/Rejected rule."""
        return {
            action: self._boot(h) if action == "BootNotification" else self._guarded(action, h)
            for action, h in handlers.items()
        }

    def _boot(self, handler: Handler) -> Handler:
        async def boot(session: Session, payload: Payload) -> Payload | None:
            answer = await handler(session, payload)  # sets session.context["registration"]
            session.context.pop(SOLICITED, None)  # a new boot: earlier invitations are void
            if answer is not None and answer.get("status") == "Accepted":
                self._accepted(session, booted=True)
            return answer

        return boot

    def _guarded(self, action: str, handler: Handler) -> Handler:
        async def guarded(session: Session, payload: Payload) -> Payload | None:
            registration = self.in_force(session)
            if registration != "Accepted" and action not in session.context.get(SOLICITED, ()):
                if "registration" not in session.context:
                    self._ask_for_boot_once(session)
                raise OcppError(ErrorKind.SECURITY_ERROR, f"station registration is {registration}")
            if registration == "Accepted" and not session.context.get(_SEEN_ACCEPTED):
                self._accepted(session, booted=False)
            return await handler(session, payload)

        return guarded

    def _accepted(self, session: Session, *, booted: bool) -> None:
        session.context[_SEEN_ACCEPTED] = True
        for listener in self.accepted_listeners:
            try:
                listener(session, booted)
            except Exception:
                log.exception("%s: accepted-connection listener failed", session.identity)

    def invite(self, session: Session, action: str, request: Payload) -> frozenset[str]:
        """Before sending ``action``: allow what it would invite if accepted; returns what was newly allowed."""
        hoped = solicited_actions(action, request, {"status": "Accepted", "fileName": "?"})
        if not hoped:
            return frozenset()
        allowed = session.context.setdefault(SOLICITED, set())
        new = frozenset(hoped) - allowed
        allowed.update(new)
        return new

    def exchanged(
        self, session: Session, action: str, request: Payload, answer: Payload | None, invited: frozenset[str]
    ) -> None:
        """After the answer (None: no answer): keep what it really invites, withdraw the rest of ``invited``."""
        actions = solicited_actions(action, request, answer) if answer is not None else ()
        allowed = session.context.setdefault(SOLICITED, set())
        allowed.difference_update(invited - set(actions))
        allowed.update(actions)

    def changed(self, session: Session | None) -> None:
        """The operator changed the registration: a connected station is asked to boot again, so that
        it learns the new status at once (TriggerMessage BootNotification; OCA TC_B_31)."""
        if session is not None and not session.closed:
            log.info(
                "%s registration changed to %s: asking for a new boot",
                session.identity,
                self._directory_status(session),
            )
            self._spawn(session.identity)

    def _directory_status(self, session: Session) -> str:
        entry = self.directory.get(session.identity)
        return entry.registration if entry is not None else "unknown"

    def _ask_for_boot_once(self, session: Session) -> None:
        if session.context.get("boot_requested"):
            return
        session.context["boot_requested"] = True
        self._spawn(session.identity)

    def _spawn(self, station_id: str) -> None:
        if self._send is None:
            return
        task = asyncio.get_running_loop().create_task(self._trigger_boot(station_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _trigger_boot(self, station_id: str) -> None:
        assert self._send is not None
        try:
            sent = await self._send(station_id, verbs.TriggerMessage("BootNotification"))
            log.info("%s asked for a BootNotification: %s", station_id, sent.result.status)
        except Exception as exc:  # the station may be gone or refuse; the next boot settles it anyway
            log.info("%s could not be asked for a BootNotification: %s", station_id, exc)
