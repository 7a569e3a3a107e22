"""The local controller's status surface: ``local_controller.http_port`` (off by default, loopback).

- ``GET /`` -- the status as a page (the CSMS dashboard's templates and style, a plot of the group's
  draw against its limit; no script but the dashboard's own chart drawing);
- ``GET /api/status`` -- the same as JSON; ``GET /api/stations/{identity}`` -- one station;
- ``PUT /api/group-limit`` -- ``{"amps": A, "watts": W}``: the group's own limit until a restart.

With ``local_controller.http_token`` every request needs ``Authorization: Bearer <token>`` (the page
also takes the token as the password of HTTP Basic, which a browser asks for). Thin: the data comes
from ``ocppd.localctl.status``, the verb from the controller.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import socket
import time
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from ocppd.api import errors
from ocppd.api.errors import ApiError
from ocppd.api.headers import SecurityHeaders
from ocppd.localctl.status import History, controller_status
from ocppd.web.charts import series, time_chart
from ocppd.web.pages import HERE, templates

if TYPE_CHECKING:
    from ocppd.localctl.controller import LocalController

log = logging.getLogger("ocppd.localctl")
REALM = 'Basic realm="ocppd local controller", charset="UTF-8"'


class GroupLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # strict: a lax float takes true as 1 (a 1 A group limit from a typo)
    amps: float | None = Field(None, strict=True, description="Per phase, A; 0 removes the group's amps limit")
    watts: float | None = Field(None, strict=True, description="Total, W; 0 removes the group's power limit")


def presented_token(authorization: str | None) -> str | None:
    """The token in ``Bearer <token>`` or as the password of ``Basic`` (any user name)."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def create_app(controller: LocalController) -> FastAPI:
    token = controller.lc.http_token
    app = FastAPI(title="ocppd local controller", docs_url=None, redoc_url=None, openapi_url=None)
    errors.install(app)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def allowed(request: Request) -> bool:
        if not token:
            return True
        given = presented_token(request.headers.get("Authorization"))
        return given is not None and secrets.compare_digest(given.encode(), token.encode())

    def check(request: Request) -> None:
        if not allowed(request):
            raise ApiError(401, "Authorization: Bearer <local_controller.http_token> is required", "unauthorized")

    @app.get("/api/status")
    async def status(request: Request) -> dict[str, Any]:
        check(request)
        return controller_status(controller)

    @app.get("/api/stations/{identity}")
    async def station(request: Request, identity: str) -> dict[str, Any]:
        check(request)
        found = next((s for s in controller_status(controller)["stations"] if s["identity"] == identity), None)
        if found is None:
            raise ApiError(404, f"identity: no station {identity!r} is connected to this controller", "not_found")
        return found

    @app.put("/api/group-limit")
    async def group_limit(request: Request, body: GroupLimit) -> dict[str, Any]:
        check(request)
        try:
            return await controller.set_group_limit(body.amps, body.watts)
        except ValueError as exc:
            raise ApiError(400, str(exc), "invalid_input") from None

    @app.get("/", include_in_schema=False)
    async def page(request: Request) -> Response:
        if not allowed(request):
            return HTMLResponse("The local controller's status needs its token (local_controller.http_token).",
                                status_code=401, headers={"WWW-Authenticate": REALM})  # fmt: skip
        now = time.time()
        context = {"s": controller_status(controller, now), "chart": history_chart(controller.history, now),
                   "user": None, "nav": "local_controller.html"}  # fmt: skip
        return templates.TemplateResponse(request, "local_controller.html", context,
                                          headers={"Cache-Control": "no-store"})  # fmt: skip

    return app


class StatusServer:
    """uvicorn on the controller's loop, on a socket bound first (a busy port: one line, exit 2)."""

    def __init__(self, controller: LocalController) -> None:
        self.controller = controller
        lc = controller.lc
        self.host, self.port = lc.http_host, lc.http_port
        config = uvicorn.Config(create_app(controller), log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=2)  # fmt: skip
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from ocppd.localctl.controller import StartupError

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            sock = socket.create_server((self.host, self.port), family=family)
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {self.host}:{self.port} (local_controller.http_port): {exc.strerror or exc}"
            ) from None
        self._task = asyncio.create_task(self.server.serve(sockets=[sock]))
        log.info("local controller status on http://%s:%d/ (%s)", self.host, self.port,
                 "token required" if self.controller.lc.http_token else "no token: loopback only")  # fmt: skip

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task


def history_chart(history: History, now: float) -> dict[str, Any]:
    """Highest phase drawn and allocated against the lowest phase limit, in A."""
    s = list(history.samples)
    start = s[0].at if s else now - 60
    lines = [
        series("limit (lowest phase)", "limit", [(x.at, x.limit_a) for x in s], end=now),
        series(
            "allocated (highest phase)",
            "allocated",
            [(x.at, max(x.allocated_a) if x.allocated_a else None) for x in s],
            end=now,
        ),
        series("drawn (highest phase)", "measured", [(x.at, max(x.measured_a)) for x in s], end=now),
    ]
    return time_chart("A", start, max(now, start + 60), lines, "No sample yet")
