"""An independent OSCP 2.0 Capacity Provider for the tests, written from the specification.

It does not import ocppd: its message checks are its own reading of OSCP 2.0 (HTTP POST of JSON to
``{base_url}/{message}``, ``Authorization: Token ...``, ``X-Request-ID`` on every request, 204 when
taken, 400 malformed, 401 bad token). It serves its endpoints on loopback with uvicorn in the test's
event loop, records every message it receives (and every problem it found in one), and can
register, hand-shake, send heartbeats and forecasts, and go silent.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PHASES = {"UNKNOWN", "ONE", "TWO", "THREE", "ALL"}
UNITS = {"A", "W", "KW", "WH", "KWH"}
ENERGY_UNITS = {"WH", "KWH"}
DIRECTIONS = {"NET", "IMPORT", "EXPORT"}
ENERGY_TYPES = {"FLEXIBLE", "NONFLEXIBLE", "TOTAL"}
CONFIGS = {"CONTINUOUS", "INTERMITTENT"}


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def at(seconds_from_now: float) -> str:
    return rfc3339(datetime.now(UTC) + timedelta(seconds=seconds_from_now))


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def _problems(message: str, body: Any) -> list[str]:
    """What in ``body`` does not follow OSCP 2.0 for ``message`` (empty: fine)."""
    p: list[str] = []
    if not isinstance(body, dict):
        return ["body is not an object"]
    if message == "register":
        if not isinstance(body.get("token"), str) or not body["token"]:
            p.append("token missing")
        urls = body.get("version_url")
        if not isinstance(urls, list) or not urls:
            p.append("version_url missing or empty")
        else:
            for v in urls:
                if not isinstance(v, dict) or not isinstance(v.get("version"), str):
                    p.append("version_url.version missing")
                elif not str(v.get("base_url", "")).startswith(("http://", "https://")):
                    p.append("version_url.base_url not a URL")
    elif message in ("handshake", "handshake_acknowledgement"):
        rb = body.get("required_behaviour")
        if rb is None and message == "handshake":
            p.append("required_behaviour missing")
        if rb is not None:
            hb = rb.get("heartbeat_interval")
            if hb is not None and (not isinstance(hb, int) or hb < 1):
                p.append("heartbeat_interval must be an integer >= 1")
            mc = rb.get("measurement_configuration")
            if not isinstance(mc, list) or any(c not in CONFIGS for c in mc):
                p.append("measurement_configuration must be a list of CONTINUOUS/INTERMITTENT")
    elif message == "heartbeat":
        if not _is_time(body.get("offline_mode_at")):
            p.append("offline_mode_at missing or not RFC 3339 with a zone")
    elif message == "update_group_measurements":
        if not isinstance(body.get("group_id"), str):
            p.append("group_id missing")
        ms = body.get("measurements")
        if not isinstance(ms, list) or not ms:
            p.append("measurements missing")
        for m in ms or []:
            if not isinstance(m.get("value"), int | float):
                p.append("measurement value missing")
            if m.get("phase") not in PHASES:
                p.append(f"measurement phase {m.get('phase')!r}")
            if m.get("unit") not in ENERGY_UNITS:
                p.append(f"measurement unit {m.get('unit')!r} is not WH/KWH")
            if m.get("direction") not in DIRECTIONS:
                p.append("measurement direction")
            if "energy_type" in m and m["energy_type"] not in ENERGY_TYPES:
                p.append("measurement energy_type")
            if not _is_time(m.get("measure_time")):
                p.append("measure_time")
            if "initial_measure_time" in m and not _is_time(m["initial_measure_time"]):
                p.append("initial_measure_time")
    elif message == "group_capacity_compliance_error":
        if not isinstance(body.get("message"), str) or not body["message"]:
            p.append("message missing")
        for b in body.get("forecasted_blocks", []):
            p.extend(_block_problems(b))
    elif message == "adjust_group_capacity_forecast":
        if not isinstance(body.get("group_id"), str):
            p.append("group_id missing")
        for b in body.get("forecasted_blocks", []):
            p.extend(_block_problems(b))
    return p


def _block_problems(b: Any) -> list[str]:
    p = []
    if not isinstance(b, dict):
        return ["block is not an object"]
    if not isinstance(b.get("capacity"), int | float):
        p.append("block capacity")
    if b.get("phase") not in PHASES:
        p.append("block phase")
    if b.get("unit") not in UNITS:
        p.append("block unit")
    if not (_is_time(b.get("start_time")) and _is_time(b.get("end_time"))):
        p.append("block times")
    return p


@dataclass
class Received:
    message: str
    body: Any
    headers: dict[str, str]


@dataclass
class CapacityProvider:
    """One Capacity Provider. ``issued`` is the token it gives ocppd out of band (register with it)."""

    heartbeat_interval: int = 1  # what it requires from ocppd
    port: int = 0
    issued: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    fp_url: str | None = None  # ocppd's base URL once registered
    fp_token: str | None = None  # the token it presents to ocppd
    fp_required_heartbeat: int | None = None  # the interval ocppd asked it for
    received: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    refused: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        self._valid_tokens = {self.issued}
        self._server: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._beating: asyncio.Task[Any] | None = None
        self.http = httpx.AsyncClient(timeout=10)
        names = (
            "register",
            "handshake",
            "handshake_acknowledgement",
            "heartbeat",
            "update_group_measurements",
            "group_capacity_compliance_error",
            "adjust_group_capacity_forecast",
        )
        routes = [Route(f"/oscp/cp/2.0/{n}", self._endpoint(n), methods=["POST", "PUT", "DELETE"]) for n in names]
        self.app = Starlette(routes=routes)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oscp/cp/2.0"

    def of(self, message: str) -> list[Received]:
        return [r for r in self.received if r.message == message]

    # ---------------------------------------------------------------- serving
    async def __aenter__(self) -> CapacityProvider:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._tasks.append(asyncio.create_task(self._server.serve()))
        while not self._server.started:
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.silence()
        if self._server is not None:
            self._server.should_exit = True
        for t in self._tasks:
            try:
                await asyncio.wait_for(t, 10)
            except (asyncio.CancelledError, Exception):
                pass
        await self.http.aclose()

    def _endpoint(self, message: str) -> Any:
        async def handle(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme != "Token" or token not in self._valid_tokens:
                self.refused.append((message, 401))
                return JSONResponse({"message": "unknown token"}, status_code=401)
            if not request.headers.get("x-request-id"):
                self.problems.append(f"{message}: no X-Request-ID")
            body = json.loads(await request.body() or b"null") if request.method != "DELETE" else {}
            found = _problems(message, body) if request.method != "DELETE" else []
            self.problems.extend(f"{message}: {x}" for x in found)
            self.received.append(Received(message, body, dict(request.headers)))
            if found:
                return JSONResponse({"message": "; ".join(found)}, status_code=400)
            if message == "register" and request.method == "POST":
                self._on_register(body, token, request.headers.get("x-request-id", ""))
            elif message == "handshake":
                self.fp_required_heartbeat = (body.get("required_behaviour") or {}).get("heartbeat_interval")
                self._later(self._send("handshake_acknowledgement", {"required_behaviour": self._behaviour()}))
            elif message == "handshake_acknowledgement":
                rb = body.get("required_behaviour") or {}
                self.fp_required_heartbeat = rb.get("heartbeat_interval") or self.fp_required_heartbeat
            return Response(status_code=204)

        return handle

    def _on_register(self, body: dict[str, Any], used: str, request_id: str) -> None:
        self.fp_token = body["token"]
        self.fp_url = next(v["base_url"] for v in body["version_url"] if v["version"] == "2.0").rstrip("/")
        if used == self.issued:
            # ocppd registered with the token we issued: answer with a fresh one replacing it
            fresh = secrets.token_urlsafe(16)
            self._valid_tokens = {fresh}
            reply = {"token": fresh, "version_url": [{"version": "2.0", "base_url": self.base_url}]}
            self._later(self._send("register", reply, correlation=request_id))

    def _behaviour(self) -> dict[str, Any]:
        return {"heartbeat_interval": self.heartbeat_interval, "measurement_configuration": ["CONTINUOUS"]}

    def _later(self, coro: Any) -> None:
        async def after() -> None:
            await asyncio.sleep(0.05)
            await coro

        self._tasks.append(asyncio.create_task(after()))

    # ---------------------------------------------------------------- sending
    async def _send(self, message: str, body: Any, token: str | None = None, correlation: str | None = None) -> int:
        headers = {"Authorization": f"Token {token or self.fp_token}", "X-Request-ID": str(uuid.uuid4())}
        if correlation:
            headers["X-Correlation-ID"] = correlation
        assert self.fp_url, "not registered"
        r = await self.http.post(f"{self.fp_url}/{message}", json=body, headers=headers)
        return r.status_code

    async def send(self, message: str, body: Any, token: str | None = None) -> httpx.Response:
        """One message as is (tests send malformed ones too)."""
        headers = {"Authorization": f"Token {token or self.fp_token}", "X-Request-ID": str(uuid.uuid4())}
        return await self.http.post(f"{self.fp_url}/{message}", json=body, headers=headers)

    async def register_with(self, fp_url: str, token: str) -> int:
        """Register with ocppd using the token its operator gave us out of band."""
        self.fp_url = fp_url.rstrip("/")
        mine = secrets.token_urlsafe(16)
        self._valid_tokens = {mine}
        body = {"token": mine, "version_url": [{"version": "1.0", "base_url": self.base_url + "/1.0"},
                                               {"version": "2.0", "base_url": self.base_url}]}  # fmt: skip
        return await self._send("register", body, token=token)

    async def handshake(self) -> int:
        return await self._send("handshake", {"required_behaviour": self._behaviour()})

    def beat(self, every: float, offline_after: float) -> None:
        async def loop() -> None:
            while True:
                try:
                    await self._send("heartbeat", {"offline_mode_at": at(offline_after)})
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(every)

        self.silence()
        self._beating = asyncio.create_task(loop())

    def silence(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
            self._beating = None

    async def forecast(self, group: str, blocks: list[dict[str, Any]], kind: str = "CONSUMPTION",
                       message: str = "update_group_capacity_forecast") -> httpx.Response:  # fmt: skip
        return await self.send(message, {"group_id": group, "type": kind, "forecasted_blocks": blocks})


def block(capacity: float, unit: str = "A", phase: str = "ALL", start: float = -5, end: float = 600) -> dict[str, Any]:
    return {"capacity": capacity, "phase": phase, "unit": unit, "start_time": at(start), "end_time": at(end)}
