"""OCPP-S stations on the CSMS: one :class:`SoapSession` per station, wired to the 1.6 adapter.

1.6S shares the 1.6J adapter (the codec decodes to the same dicts); 1.2 and 1.5 share it through the
thin translation in :mod:`ocppd.protocol.soap.dialect` (the differences are all of wire shape, and the
simulator needs the same translation from the other side). A SOAP station has no connection: it is
in ``Csms.sessions`` from its first message on (and again after a restart, from the endpoint kept in
``stations.attrs.soap``), and CSMS-initiated messages go to the endpoint its last ``From`` gave; a
station that gave none is reported as "cannot be reached" when something is sent to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ocppd import metrics
from ocppd.protocol.soap.wsdl import SoapVersion
from ocppd.rpc import Handler
from ocppd.store import repo
from ocppd.transport import tls
from ocppd.transport.soap import Endpoint, SoapClient, SoapSession

if TYPE_CHECKING:
    from ocppd.csms.service import Csms

log = logging.getLogger("ocppd.csms.soap")


class SoapStations:
    """The CSMS as the OCPP-S endpoint's application (:class:`ocppd.transport.soap.SoapApplication`)."""

    def __init__(self, csms: Csms, handlers: Mapping[str, Handler]) -> None:
        self.csms = csms
        self.client = SoapClient(verify=csms.settings.soap.client_verify())  # docs/soap.md: calls over https://
        self.handlers = handlers  # the 1.6 table, registration guard included
        # 1.2 meter values name no transaction: they belong to the one running on their connector
        self.handlers_12 = {**handlers, "MeterValues": self._meter_values_12(handlers["MeterValues"])}
        self._writes: set[asyncio.Task[Any]] = set()

    async def restore(self) -> None:
        """Sessions for the OCPP-S stations known before a restart, so they can be called at once."""
        rows = await self.csms.store.read(repo.soap_stations)
        for station_id, record in rows:
            version = SoapVersion.from_label(str(record.get("version", "")))
            if version is None or station_id in self.csms.sessions:
                continue
            session = self._new_session(station_id, version)
            session.endpoint = Endpoint(record.get("endpoint"), list(record.get("notes", [])))
            self._register(session, announce=False)
        if rows:
            log.info("OCPP-S: %d station endpoint(s) restored", len(rows))

    async def close(self) -> None:
        await self.client.close()

    # ------------------------------------------------------------------ SoapApplication
    def soap_admit(
        self, identity: str, headers: Mapping[str, str], remote: str, peer: tls.Peer | None = None
    ) -> int | None:
        # The security profiles as over OCPP-J (docs/soap.md): over plain HTTP (peer None) a station whose
        # profile needs TLS is refused; over HTTPS Basic auth gives 2, a client certificate 3.
        return self.csms.admit_peer(identity, headers, remote, peer)

    def soap_session(self, identity: str, version: SoapVersion, remote: str) -> SoapSession:
        current = self.csms.sessions.get(identity)
        if isinstance(current, SoapSession) and current.soap_version is version:
            return current
        session = self._new_session(identity, version)
        if isinstance(current, SoapSession):
            session.endpoint = current.endpoint
        self._register(session, announce=True)
        log.info("%s: OCPP %s station from %s", identity, version.label, remote)
        return session

    def soap_learnt(self, session: SoapSession) -> None:
        record = {
            **session.endpoint.as_record(),
            "version": session.label,
            "learnt_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "accepted": session.accepted,
        }
        task = asyncio.ensure_future(self.csms.store.write(repo.set_soap_endpoint, session.identity, record))
        self._writes.add(task)
        task.add_done_callback(self._written)
        self.csms.events.publish(
            "station.endpoint",
            session.identity,
            endpoint=session.endpoint.url,
            reachable=session.endpoint.url is not None,
        )

    def _written(self, task: asyncio.Task[Any]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("OCPP-S endpoint not recorded: %s", task.exception())

    def describe(self, station_id: str, attrs: dict[str, Any] | None) -> dict[str, Any] | None:
        """An OCPP-S station's callback endpoint for the operator (None for a JSON station):
        ``endpoint``, ``reachable`` (False: it sent no usable From), ``notes``, ``accepted``."""
        session = self.csms.sessions.get(station_id)
        if isinstance(session, SoapSession):
            return {**session.endpoint.as_record(), "version": session.label, "accepted": session.accepted}
        stored = (attrs or {}).get("soap")
        return stored if isinstance(stored, dict) else None

    def _meter_values_12(self, handler: Handler) -> Handler:
        store = self.csms.store

        async def meter_values(session: Any, payload: dict[str, Any]) -> dict[str, Any] | None:
            if "transactionId" not in payload:
                connector = payload.get("connectorId")
                running = await store.read(repo.list_transactions, session.identity, None, None, None, True, 20)
                uid = next((t.transaction_uid for t in running if t.connector_id == connector), None)
                if uid is not None and uid.isdigit():
                    payload = {**payload, "transactionId": int(uid)}
            return await handler(session, payload)

        return meter_values

    # ------------------------------------------------------------------ helpers
    def _new_session(self, identity: str, version: SoapVersion) -> SoapSession:
        o = self.csms.settings.ocpp
        return SoapSession(
            identity=identity,
            soap_version=version,
            own_side="cs",
            handlers=self.handlers_12 if version is SoapVersion.V12 else self.handlers,
            client=self.client,
            call_timeout=o.call_timeout,
            validate=o.validate,
            compat=self.csms.provisioning.compat_for(identity),
            observer=self.csms,
        )

    def _register(self, session: SoapSession, *, announce: bool) -> None:
        csms = self.csms
        old = csms.sessions.get(session.identity)
        if isinstance(old, SoapSession):  # a JSON session is counted down when its socket closes
            old.connection_lost()
            metrics.CONNECTED.labels(old.label).dec()
        csms.sessions[session.identity] = session  # type: ignore[assignment]
        csms.connected_at[session.identity] = datetime.now(UTC)
        metrics.CONNECTED.labels(session.label).inc()
        if announce:
            csms.events.publish("station.connected", session.identity, ocpp_version=session.label)
