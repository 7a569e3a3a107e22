"""OSCP 2.0 over HTTP: the Flexibility Provider endpoints peers call (``/oscp/fp/2.0/...``, token
authentication of OSCP, not API keys) and the operator's endpoints (``/api/v1/oscp/...``).

Thin: the domain (``ocppd.csms.smart.oscp``) validates, keeps state and answers. No
``from __future__ import annotations``: FastAPI reads the annotations at runtime.
"""

import json
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, Field

from ocppd.api.auth import current_principal, require_admin
from ocppd.api.choices import choice
from ocppd.api.errors import ApiError, error_responses
from ocppd.csms.smart.oscp import Oscp, OscpRefused, PeerError
from ocppd.protocol import oscp as proto
from ocppd.smart.tree import TreeError

# --------------------------------------------------------------------------- the peer-facing endpoints

fp = APIRouter(prefix="/oscp/fp/2.0", tags=["OSCP 2.0 Flexibility Provider"], responses=error_responses(400, 401))


def _oscp(request: Request) -> Oscp:
    oscp = request.app.state.csms.smart.oscp
    if oscp is None:
        raise ApiError(404, "OSCP is not enabled on this server (oscp.enabled)", "not_found")
    return oscp


async def _take(request: Request, message: str) -> Response:
    """Authenticate (401 before anything else), decode, hand to the domain; 204 when taken."""
    oscp = _oscp(request)
    try:
        peer = await oscp.authenticate(request.headers.get("Authorization"), message)
        request_id = request.headers.get("X-Request-ID", "")
        if not request_id:
            raise OscpRefused(400, "X-Request-ID: the header is required", "X-Request-ID")
        body: Any = None
        if request.method != "DELETE":
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                raise OscpRefused(400, "(body): not JSON", "(body)") from None
        if message == proto.REGISTER:
            await oscp.on_register(peer, body, request_id, request.method)
        elif message == proto.HANDSHAKE:
            await oscp.on_handshake(peer, body, request_id)
        elif message == proto.HANDSHAKE_ACKNOWLEDGEMENT:
            await oscp.on_handshake_acknowledgement(peer, body)
        elif message == proto.HEARTBEAT:
            await oscp.on_heartbeat(peer, body)
        else:
            await oscp.on_forecast(peer, body, adjust=message == proto.ADJUST_GROUP_CAPACITY_FORECAST)
    except OscpRefused as exc:
        code = "unauthorized" if exc.status == 401 else "invalid_input"
        raise ApiError(exc.status, exc.message, code, {"field": exc.field} if exc.field else None) from None
    return Response(status_code=204)


@fp.post("/register", status_code=204, summary="Register: the peer's token and version URL")
async def register(request: Request) -> Response:
    return await _take(request, proto.REGISTER)


@fp.put("/register", status_code=204, summary="Update the peer's token or URL")
async def register_update(request: Request) -> Response:
    return await _take(request, proto.REGISTER)


@fp.delete("/register", status_code=204, summary="The peer ends its registration")
async def register_delete(request: Request) -> Response:
    return await _take(request, proto.REGISTER)


@fp.post("/handshake", status_code=204, summary="Handshake: the behaviour the peer requires (heartbeats)")
async def handshake(request: Request) -> Response:
    return await _take(request, proto.HANDSHAKE)


@fp.post("/handshake_acknowledgement", status_code=204, summary="The peer acknowledges ocppd's handshake")
async def handshake_acknowledgement(request: Request) -> Response:
    return await _take(request, proto.HANDSHAKE_ACKNOWLEDGEMENT)


@fp.post("/heartbeat", status_code=204, summary="Heartbeat from the peer")
async def heartbeat(request: Request) -> Response:
    return await _take(request, proto.HEARTBEAT)


@fp.post("/update_group_capacity_forecast", status_code=204, summary="A capacity forecast for a group")
async def update_group_capacity_forecast(request: Request) -> Response:
    return await _take(request, proto.UPDATE_GROUP_CAPACITY_FORECAST)


@fp.post("/adjust_group_capacity_forecast", status_code=204, summary="A capacity optimizer adjusts a group")
async def adjust_group_capacity_forecast(request: Request) -> Response:
    return await _take(request, proto.ADJUST_GROUP_CAPACITY_FORECAST)


# --------------------------------------------------------------------------- the operator's endpoints

ops = APIRouter(
    prefix="/api/v1/oscp",
    dependencies=[Depends(current_principal)],
    tags=["OSCP 2.0"],
    responses=error_responses(400, 401, 403),
)
Admin = Depends(require_admin)


class PeerBody(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    role: choice("capacity_provider", "capacity_optimizer") = "capacity_provider"
    base_url: str | None = Field(None, max_length=2048, description="The peer's OSCP 2.0 base URL (to register there)")
    token: str | None = Field(None, max_length=2048, description="The registration token the peer gave")


class GroupBody(BaseModel):
    node: str = Field(min_length=1, max_length=255, description="A site or sub-circuit of the limit tree")
    fallback_amps: float | list[float] | None = Field(None, description="Per phase while the peer is silent")
    fallback_watts: float | None = None


def _peer_error(exc: PeerError) -> ApiError:
    codes = {400: "invalid_input", 404: "not_found", 409: "conflict", 502: "peer_error"}
    return ApiError(exc.status, exc.message, codes.get(exc.status, "error"))


@ops.get("", summary="OSCP status: this Flexibility Provider's URL, peers, groups")
async def status(request: Request) -> dict[str, Any]:
    return _oscp(request).status()


@ops.post(
    "/peers",
    dependencies=[Admin],
    status_code=201,
    responses=error_responses(409, 502),
    summary="Add a peer: issue it a registration token, or register with it (base_url + its token)",
)
async def add_peer(body: PeerBody, request: Request) -> dict[str, Any]:
    oscp = _oscp(request)
    try:
        peer, token = await oscp.create_peer(body.name, body.role, body.base_url, body.token)
    except PeerError as exc:
        raise _peer_error(exc) from None
    out = {**peer.view(), "register_url": oscp.base_url}
    if token is not None:
        out["token"] = token  # shown once; give it to the peer out of band
    return out


@ops.delete("/peers/{name}", dependencies=[Admin], responses=error_responses(404), summary="Remove a peer")
async def delete_peer(name: str, request: Request) -> dict[str, Any]:
    try:
        await _oscp(request).delete_peer(name)
    except PeerError as exc:
        raise _peer_error(exc) from None
    return {"deleted": name}


@ops.put(
    "/groups/{group_id}",
    dependencies=[Admin],
    responses=error_responses(404),
    summary="Map an OSCP group onto a site or sub-circuit, with its fallback capacity",
)
async def put_group(group_id: str, body: GroupBody, request: Request) -> dict[str, Any]:
    oscp = _oscp(request)
    try:
        group = await oscp.map_group(group_id, body.node, body.fallback_amps, body.fallback_watts)
    except KeyError:
        raise ApiError(404, f"node: no node {body.node!r} in the limit tree", "not_found") from None
    except TreeError as exc:
        raise ApiError(400, f"node: {exc}", "invalid_input", {"node": exc.node}) from None
    except ValueError as exc:
        raise ApiError(400, str(exc), "invalid_input") from None
    return oscp.group_view(group)


@ops.post(
    "/groups/{group_id}/adjust",
    dependencies=[Admin],
    responses=error_responses(404, 409, 502),
    summary="Ask the group's capacity provider for another capacity (AdjustGroupCapacityForecast)",
)
async def request_adjustment(group_id: str, request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    try:
        return await _oscp(request).request_adjustment(group_id, body)
    except PeerError as exc:
        raise _peer_error(exc) from None


@ops.delete("/groups/{group_id}", dependencies=[Admin], responses=error_responses(404), summary="Unmap a group")
async def delete_group(group_id: str, request: Request) -> dict[str, Any]:
    try:
        await _oscp(request).unmap_group(group_id)
    except KeyError:
        raise ApiError(404, f"no OSCP group {group_id!r}", "not_found") from None
    return {"deleted": group_id}
