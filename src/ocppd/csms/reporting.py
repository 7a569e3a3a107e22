"""Notifications a station reports (firmware, diagnostics, logs, security events, reports, events),
vendor DataTransfer, and the device model / configuration values last read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ocppd.csms.events import EventBus
from ocppd.csms.metering import parse_time
from ocppd.store import Store, repo

# A vendor handler gets (station_id, messageId, data) and returns the DataTransfer answer payload.
VendorHandler = Callable[[str, str | None, Any], Awaitable[dict[str, Any]]]


class Reporting:
    def __init__(self, store: Store, events: EventBus) -> None:
        self.store = store
        self.events = events
        self.vendors: dict[str, VendorHandler] = {}
        self._reports: dict[tuple[str, int], asyncio.Event] = {}
        # Called with the station id after its stored configuration changed (caches of it drop it).
        self.variables_listeners: list[Callable[[str], None]] = []
        # Awaited with (station_id, rows) after they are stored (billing picks the meters' public keys).
        self.rows_listeners: list[Callable[[str, list[tuple[str, str, str, str | None, bool]]], Awaitable[None]]] = []

    def register_vendor(self, vendor_id: str, handler: VendorHandler) -> None:
        """Plug in a DataTransfer handler for one vendorId; others get ``UnknownVendorId``."""
        self.vendors[vendor_id] = handler

    async def record(self, station_id: str, kind: str, payload: dict[str, Any], timestamp: str | None = None) -> None:
        at = _parse(timestamp) if timestamp else datetime.now(UTC)
        await self.store.write(repo.record_event, station_id, kind, at, payload)
        self.events.publish(_event_name(kind), station_id, kind=kind, payload=payload)

    async def data_transfer(self, station_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        await self.record(station_id, "DataTransfer", payload)
        handler = self.vendors.get(payload["vendorId"])
        if handler is None:
            return {"status": "UnknownVendorId"}
        return await handler(station_id, payload.get("messageId"), payload.get("data"))

    def report_complete(self, station_id: str, request_id: int) -> None:
        """The last NotifyReport part of a requested report arrived (2.x ``tbc`` false)."""
        event = self._reports.get((station_id, request_id))
        if event is not None:
            event.set()

    async def wait_for_report(self, station_id: str, request_id: int, timeout: float) -> bool:
        """Wait until the report ``request_id`` is complete; False after ``timeout`` seconds.
        Call it before sending the request's answer can be processed (``expect_report``)."""
        event = self._reports.setdefault((station_id, request_id), asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._reports.pop((station_id, request_id), None)

    def expect_report(self, station_id: str, request_id: int) -> None:
        """Start listening for the report before requesting it (its parts may overtake the answer)."""
        self._reports.setdefault((station_id, request_id), asyncio.Event())

    def forget_report(self, station_id: str, request_id: int) -> None:
        self._reports.pop((station_id, request_id), None)

    async def variables(self, station_id: str, rows: list[tuple[str, str, str, str | None, bool | None]]) -> None:
        """Remember configuration keys (1.6) or device-model variables (2.x) as last read."""
        if rows:
            await self.store.write(repo.upsert_variables, station_id, rows)
            await self.stored(station_id, rows)

    async def stored(self, station_id: str, rows: list[tuple[str, str, str, str | None, bool | None]]) -> None:
        """These rows of the station's configuration were stored: caches of it drop it, and listeners of
        the rows (billing: the meter keys) see them."""
        self.changed(station_id)
        for rows_listener in self.rows_listeners:
            await rows_listener(station_id, rows)

    def changed(self, station_id: str) -> None:
        """The station's stored configuration changed: caches of it drop it."""
        for listener in self.variables_listeners:
            listener(station_id)


def _event_name(kind: str) -> str:
    return "security.event" if kind == "SecurityEventNotification" else "station.notification"


def _parse(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError:
        return datetime.now(UTC)


def report_rows(report_data: list[dict[str, Any]]) -> list[tuple[str, str, str, str | None, bool]]:
    """2.x ``reportData`` (NotifyReport) as (component, variable, attribute type, value, readonly) rows."""
    rows = []
    for item in report_data:
        component = qualified(item["component"])
        variable = qualified(item["variable"])
        for attribute in item.get("variableAttribute", []):
            rows.append(
                (
                    component,
                    variable,
                    attribute.get("type", "Actual"),
                    attribute.get("value"),
                    attribute.get("mutability") == "ReadOnly",
                )
            )
    return rows


def qualified(thing: dict[str, Any]) -> str:
    name = str(thing["name"])
    if thing.get("instance"):
        name += f"[{thing['instance']}]"
    evse = thing.get("evse")
    if evse:
        name += f"@evse{evse.get('id')}" + (f".{evse['connectorId']}" if evse.get("connectorId") else "")
    return name
