"""2.x customer information (CustomerInformation / NotifyCustomerInformation, OCA N_27..N_32, N_62, N_63).

Each request (whichever path sent it) is kept with its answer; the station's NotifyCustomerInformation
parts for its requestId are appended in order into one text (``data``), ``complete`` once a part
without ``tbc`` arrived. A report the station sends for a requestId it was never asked for is kept too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ocppd.csms import verbs
from ocppd.csms.events import EventBus
from ocppd.csms.outbound import next_request_id
from ocppd.store import Store, ops_repo

log = logging.getLogger("ocppd.customer_info")

_RECENT = timedelta(days=7)  # requestIds restart with the process: match only recent requests


class CustomerInfo:
    def __init__(self, store: Store, events: EventBus) -> None:
        self.store = store
        self.events = events
        self._asked_by: dict[tuple[str, int], str | None] = {}
        # called with (station_id, id_token) when a station accepted to clear a token's data
        self.cleared_listeners: list[Callable[[str, str], None]] = []

    async def request(self, station_id: str, send: Any, verb: verbs.CustomerInformation,
                      created_by: str | None) -> dict[str, Any]:  # fmt: skip
        """Send the request (kept with who asked, see :meth:`before`); ``send`` is ``Csms.send``."""
        rid = verb.request_id if verb.request_id is not None else next_request_id()
        verb = verbs.CustomerInformation(verb.report, verb.clear, verb.id_token, verb.id_token_type,
                                         verb.customer_identifier, verb.customer_certificate, rid)  # fmt: skip
        self._asked_by[(station_id, rid)] = created_by
        try:
            await send(station_id, verb)
        finally:
            self._asked_by.pop((station_id, rid), None)
        row = await self.store.read(ops_repo.customer_request, station_id, rid, datetime.now(UTC) - _RECENT)
        return _public(row) if row is not None else {}

    async def before(self, station_id: str, payload: dict[str, Any]) -> None:
        """The request is about to go out: keep it first, so that no part of its report can come early."""
        rid = int(payload["requestId"])
        token = payload.get("idToken") or {}
        row = {"station_id": station_id, "request_id": rid, "report": payload["report"], "clear": payload["clear"],
               "id_token": token.get("idToken"), "id_token_type": token.get("type"),
               "customer_identifier": payload.get("customerIdentifier"),
               "certificate": payload.get("customerCertificate"), "status": "Requested", "data": "", "parts": 0,
               "complete": False, "created_by": self._asked_by.get((station_id, rid))}  # fmt: skip
        await self.store.write(ops_repo.create_customer_request, row)

    async def observe(self, station_id: str, payload: dict[str, Any], answer: dict[str, Any] | None,
                      failure: str | None = None) -> None:  # fmt: skip
        status = str(answer.get("status")) if answer is not None else "NoAnswer"
        rid = int(payload["requestId"])
        row = await self.store.read(ops_repo.customer_request, station_id, rid, datetime.now(UTC) - _RECENT)
        if row is None:
            return
        await self.store.write(ops_repo.update_customer_request, row["id"], status=status)
        token = (payload.get("idToken") or {}).get("idToken")
        if status == "Accepted" and payload.get("clear") and token:
            for listener in self.cleared_listeners:
                listener(station_id, token)
        log.info("%s: customer information request %d: %s%s", station_id, rid, status,
                 f" ({failure})" if failure else "")  # fmt: skip
        self.events.publish("customer_information.changed", station_id, id=row["id"], status=status)

    async def notify(self, station_id: str, payload: dict[str, Any]) -> None:
        rid = int(payload["requestId"])
        complete = not payload.get("tbc", False)

        def op(conn: Any) -> int:
            row = ops_repo.customer_request(conn, station_id, rid, datetime.now(UTC) - _RECENT)
            if row is None:
                return ops_repo.create_customer_request(conn, {
                    "station_id": station_id, "request_id": rid, "report": True, "clear": False,
                    "status": "Unrequested", "data": payload["data"], "parts": 1, "complete": complete})  # fmt: skip
            ops_repo.update_customer_request(conn, row["id"], data=row["data"] + payload["data"],
                                             parts=row["parts"] + 1, complete=complete)  # fmt: skip
            return int(row["id"])

        pk = await self.store.write(op)
        if complete:
            log.info("%s: customer information %d reported", station_id, rid)
            self.events.publish("customer_information.reported", station_id, id=pk, request_id=rid)

    async def get(self, pk: int) -> dict[str, Any] | None:
        row = await self.store.read(ops_repo.customer_request_by_id, pk)
        return _public(row) if row is not None else None

    async def list(self, station_id: str | None, limit: int = 50) -> list[dict[str, Any]]:
        return [_public(r) for r in await self.store.read(ops_repo.list_customer_requests, station_id, limit)]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in ("created_at", "updated_at"):
        if isinstance(out.get(name), datetime):
            out[name] = out[name].isoformat()
    return out
