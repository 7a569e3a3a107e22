"""An independent CSMS for the simulator's tests, built on the ``ocpp`` PyPI package and ``websockets``.

The ``ocpp`` package validates every request and response against its own copy of the official
schemas, so anything malformed the simulator sends fails here, not in our own code.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import ocpp.v16
import ocpp.v21
import ocpp.v201
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.exceptions import OCPPError
from websockets.asyncio.server import ServerConnection, serve

CP_CLASSES = {"ocpp1.6": ocpp.v16.ChargePoint, "ocpp2.0.1": ocpp.v201.ChargePoint, "ocpp2.1": ocpp.v21.ChargePoint}
CALL_MODULES = {"ocpp1.6": ocpp.v16.call, "ocpp2.0.1": ocpp.v201.call, "ocpp2.1": ocpp.v21.call}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class OcppCsms:
    """Accepts stations, answers everything, records every message, and can call stations."""

    def __init__(self, *, boot_status: str = "Accepted", heartbeat: int = 60) -> None:
        self.boot_statuses: list[str] = []  # consumed one per BootNotification; then boot_status
        self.boot_status = boot_status
        self.heartbeat = heartbeat
        self.blocked_tags: set[str] = set()
        self.received: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.errors: list[str] = []  # validation failures of what stations sent
        self.cps: dict[str, Any] = {}
        self.connected: dict[str, asyncio.Event] = {}
        self._tx_ids = itertools.count(1000)
        self._server: Any = None
        self.port = 0
        self.answer_override: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {}
        self.silent: set[str] = set()  # actions never answered (timeouts)
        self.raw: dict[str, list[list[Any]]] = {}  # every frame received, parsed
        self.password: str | None = None  # require HTTP basic auth with this password

    def _check_auth(self, connection: Any, request: Any) -> Any:
        if self.password is None:
            return None
        import base64
        from http import HTTPStatus

        identity = request.path.rstrip("/").rsplit("/", 1)[-1]
        expected = "Basic " + base64.b64encode(f"{identity}:{self.password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        return None

    async def start(self, port: int = 0, ssl: Any = None) -> None:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            port,
            subprotocols=["ocpp2.1", "ocpp2.0.1", "ocpp1.6"],  # type: ignore[list-item]
            process_request=self._check_auth,
            ssl=ssl,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def messages(self, identity: str, action: str | None = None) -> list[dict[str, Any]]:
        return [p for a, p in self.received.get(identity, []) if action is None or a == action]

    def actions(self, identity: str) -> list[str]:
        return [a for a, _ in self.received.get(identity, [])]

    async def wait_for(self, identity: str, action: str, count: int = 1,
                       predicate: Callable[[dict[str, Any]], bool] | None = None,
                       timeout: float = 10.0) -> dict[str, Any]:  # fmt: skip
        async def poll() -> dict[str, Any]:
            while True:
                found = [p for p in self.messages(identity, action) if predicate is None or predicate(p)]
                if len(found) >= count:
                    return found[count - 1]
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(poll(), timeout)

    async def wait_connected(self, identity: str, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.connected.setdefault(identity, asyncio.Event()).wait(), timeout)

    async def send_raw(self, identity: str, text: str) -> None:
        await self.cps[identity]._connection.send(text)

    async def reply_to(self, identity: str, message_id: str, timeout: float = 5.0) -> list[Any]:
        async def poll() -> list[Any]:
            while True:
                for frame in self.raw.get(identity, []):
                    if frame[0] in (3, 4) and frame[1] == message_id:
                        return frame
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(poll(), timeout)

    async def call(self, identity: str, action: str, **kwargs: Any) -> dict[str, Any]:
        """Send a CSMS-initiated request (snake_case kwargs); return the camelCase answer."""
        cp = self.cps[identity]
        cls = getattr(CALL_MODULES[cp._subprotocol], action)
        result = await cp.call(cls(**kwargs), suppress=False)
        from ocpp.charge_point import serialize_as_dict

        return snake_to_camel_case({k: v for k, v in serialize_as_dict(result).items() if v is not None})

    async def _handler(self, ws: ServerConnection) -> None:
        identity = ws.request.path.rstrip("/").rsplit("/", 1)[-1] if ws.request else "?"
        subprotocol = ws.subprotocol or "ocpp1.6"
        csms = self

        class CP(CP_CLASSES[subprotocol]):  # type: ignore[misc, valid-type]
            async def route_message(self, raw: str) -> None:  # record, then let the library handle it
                msg = json.loads(raw)
                csms.raw.setdefault(identity, []).append(msg)
                if msg[0] == 2:
                    csms.received.setdefault(identity, []).append((msg[2], msg[3]))
                    if msg[2] in csms.silent:
                        return
                    if msg[2] not in self.route_map:
                        self.route_map[msg[2]] = {"_on_action": csms._make_handler(msg[2], subprotocol)}
                await super().route_message(raw)

            async def _handle_call(self, msg: Any) -> Any:
                try:
                    return await super()._handle_call(msg)
                except OCPPError as exc:
                    csms.errors.append(f"{identity} {msg.action}: {exc}")
                    raise

        cp = CP(identity, ws, response_timeout=5)
        cp._subprotocol = subprotocol
        self.cps[identity] = cp
        self.connected.setdefault(identity, asyncio.Event()).set()
        try:
            with contextlib.suppress(Exception):
                await cp.start()
        finally:
            if self.cps.get(identity) is cp:
                del self.cps[identity]
                self.connected[identity] = asyncio.Event()

    def _make_handler(self, action: str, subprotocol: str) -> Callable[..., Any]:
        module = {"ocpp1.6": ocpp.v16.call_result, "ocpp2.0.1": ocpp.v201.call_result,
                  "ocpp2.1": ocpp.v21.call_result}[subprotocol]  # fmt: skip

        def handler(**kwargs: Any) -> Any:
            payload = snake_to_camel_case(kwargs)
            answer = self._answer(action, payload, subprotocol)
            return getattr(module, action)(**camel_to_snake_case(answer))

        return handler

    def _answer(self, action: str, p: dict[str, Any], subprotocol: str) -> dict[str, Any]:
        override = self.answer_override.get(action)
        if override is not None:
            answer = override(p)
            if answer is not None:
                return answer
        v16 = subprotocol == "ocpp1.6"
        if action == "BootNotification":
            status = self.boot_statuses.pop(0) if self.boot_statuses else self.boot_status
            return {"status": status, "currentTime": now(), "interval": self.heartbeat if status == "Accepted" else 1}
        if action == "Heartbeat":
            return {"currentTime": now()}
        if action == "Authorize":
            status = "Blocked" if (p.get("idTag") or p.get("idToken", {}).get("idToken")) in self.blocked_tags \
                else "Accepted"  # fmt: skip
            return {"idTagInfo": {"status": status}} if v16 else {"idTokenInfo": {"status": status}}
        if action == "StartTransaction":
            status = "Blocked" if p["idTag"] in self.blocked_tags else "Accepted"
            return {"transactionId": next(self._tx_ids), "idTagInfo": {"status": status}}
        if action == "StopTransaction":
            return {"idTagInfo": {"status": "Accepted"}} if "idTag" in p else {}
        if action == "TransactionEvent":
            if p["eventType"] == "Started" and "idToken" in p:
                token = p["idToken"]["idToken"]
                return {"idTokenInfo": {"status": "Blocked" if token in self.blocked_tags else "Accepted"}}
            return {}
        if action == "DataTransfer":
            return {"status": "Accepted"}
        if action in ("SignCertificate",):
            return {"status": "Accepted"}
        return {}
