"""Authentication, roles, stations registry, id tokens, message log: against a real ``ocppd serve``."""

from __future__ import annotations

import asyncio
import json

import httpx
from ocpp.v16 import call as c16

from tests.api.conftest import bearer, create_key, eventually, new_station_id, ok
from tests.api.stations import connected
from tests.csms_process import CsmsProcess

PROTECTED_GETS = [
    "/api/v1/stations",
    "/api/v1/overview",
    "/api/v1/me",
    "/api/v1/tokens",
    "/api/v1/transactions",
    "/api/v1/transactions/export.csv",
    "/api/v1/messages",
    "/api/v1/openapi.json",
    "/api/v1/events",
]


async def test_health_and_metrics_are_public(anon: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
    ok(await api.post("/api/v1/tokens", json={"id_token": "METRICS-1"}), 201)  # one group commit at least
    assert ok(await anon.get("/health"))["status"] == "ok"
    metrics = await anon.get("/metrics")
    assert metrics.status_code == 200
    assert "ocppd_connected_stations" in metrics.text
    # the server has committed at least its start-up writes, and says how long that took
    count = next(float(line.split()[-1]) for line in metrics.text.splitlines()
                 if line.startswith("ocppd_db_commit_seconds_count"))  # fmt: skip
    assert count > 0 and "ocppd_db_commit_ops_bucket" in metrics.text


async def test_everything_else_needs_credentials(anon: httpx.AsyncClient) -> None:
    for path in PROTECTED_GETS:
        response = await anon.get(path)
        assert response.status_code == 401, path
        assert response.json()["code"] == "unauthorized"
    assert (await anon.post("/api/v1/stations/X/commands/reset", json={})).status_code == 401
    bad = await anon.get("/api/v1/stations", headers=bearer("ocppd_nope_nope"))
    assert bad.status_code == 401
    assert "invalid" in bad.json()["detail"]
    # The docs page sends a browser to the login page.
    assert (await anon.get("/api/docs")).status_code == 303


async def test_roles_and_revocation(server: CsmsProcess, api: httpx.AsyncClient, ro_api: httpx.AsyncClient) -> None:
    assert ok(await api.get("/api/v1/me"))["role"] == "admin"
    assert ok(await ro_api.get("/api/v1/me"))["role"] == "read-only"
    ok(await ro_api.get("/api/v1/stations"))
    denied = await ro_api.post("/api/v1/tokens", json={"id_token": "RO-1"})
    assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    assert (await ro_api.post("/api/v1/stations/X/call/Reset", json={})).status_code == 403
    # The local admin token works as an admin bearer too (used by `ocppd call`).
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(server.admin_token)) as local:
        assert ok(await local.get("/api/v1/me"))["role"] == "admin"
    # A revoked key stops working at once.
    key = create_key(server, "admin")
    key_id = key.split("_")[1]
    async with httpx.AsyncClient(base_url=server.http_url, headers=bearer(key)) as client:
        ok(await client.get("/api/v1/me"))
        server.cli("apikeys", "revoke", key_id)
        assert (await client.get("/api/v1/me")).status_code == 401
    listing = server.cli("apikeys", "list", "--json").stdout
    row = next(k for k in json.loads(listing) if k["key_id"] == key_id)
    assert row["revoked_at"] and row["last_used_at"] and row["role"] == "admin"
    assert key.split("_", 2)[2] not in listing  # the secret is never shown again


async def test_openapi_and_docs(api: httpx.AsyncClient) -> None:
    spec = ok(await api.get("/api/v1/openapi.json"))
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in (
        "/api/v1/stations",
        "/api/v1/stations/{station_id}/commands/remote-start",
        "/api/v1/stations/{station_id}/call/{action}",
        "/api/v1/transactions/export.csv",
        "/api/v1/events",
    ):
        assert path in paths, path
    docs = await api.get("/api/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert (await api.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")).status_code == 200


async def test_station_registry(api: httpx.AsyncClient, ro_api: httpx.AsyncClient) -> None:
    sid = new_station_id("REG")
    created = ok(await api.post("/api/v1/stations", json={"station_id": sid, "registration": "pending"}), 201)
    assert created["registration"] == "pending" and created["connected"] is False and created["status"] == "Offline"
    dup = await api.post("/api/v1/stations", json={"station_id": sid})
    assert dup.status_code == 409
    assert (await api.post("/api/v1/stations", json={"station_id": "bad id"})).status_code == 400
    assert (await api.post("/api/v1/stations", json={"station_id": "X", "password": "short"})).status_code == 400
    assert ok(await api.post(f"/api/v1/stations/{sid}/approve"))["registration"] == "accepted"
    assert ok(await api.post(f"/api/v1/stations/{sid}/reject"))["registration"] == "rejected"
    assert (await ro_api.post(f"/api/v1/stations/{sid}/approve")).status_code == 403
    assert sid in [s["station_id"] for s in ok(await api.get("/api/v1/stations"))]
    assert ok(await api.get(f"/api/v1/stations/{sid}"))["station_id"] == sid
    assert (await api.delete(f"/api/v1/stations/{sid}")).status_code == 204
    for method, path in [
        ("GET", f"/api/v1/stations/{sid}"),
        ("POST", f"/api/v1/stations/{sid}/approve"),
        ("POST", f"/api/v1/stations/{sid}/reject"),
        ("DELETE", f"/api/v1/stations/{sid}"),
        ("GET", f"/api/v1/stations/{sid}/messages"),
        ("GET", f"/api/v1/stations/{sid}/power"),
        ("GET", f"/api/v1/stations/{sid}/notifications"),
    ]:
        response = await api.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == "unknown_station"


async def test_connected_station_list_and_detail(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_station_id("LIVE")
    async with connected(server.ws_url, sid, "1.6") as station:
        await station.call(c16.Heartbeat())

        async def listed() -> dict | None:
            rows = ok(await api.get("/api/v1/stations", params={"connected": "true"}))
            row = next((r for r in rows if r["station_id"] == sid), None)
            return row if row and row["last_heartbeat_at"] and row["connectors"] else None

        row = await eventually(listed, "station listed with heartbeat and connector status")
        assert row["connected"] is True and row["ocpp_version"] == "1.6" and row["status"] == "Available"
        assert row["vendor"] == "ACME" and row["model"] == "Wallbox 16"
        detail = ok(await api.get(f"/api/v1/stations/{sid}"))
        assert detail["evses"][0]["connectors"][0]["status"] == "Available"
        assert detail["configuration"] == []
        ok(await api.post(f"/api/v1/stations/{sid}/commands/get-configuration", json={}))
        detail = ok(await api.get(f"/api/v1/stations/{sid}"))
        config = {v["variable"]: v["value"] for v in detail["configuration"]}
        assert config["HeartbeatInterval"] == "60"
        overview = ok(await api.get("/api/v1/overview"))
        assert overview["connected"] >= 1
    rows = ok(await api.get("/api/v1/stations", params={"connected": "false"}))
    assert sid in [r["station_id"] for r in rows]  # gone offline, still registered


async def test_tokens(api: httpx.AsyncClient, ro_api: httpx.AsyncClient) -> None:
    tok = "TOK-" + new_station_id("T")
    created = ok(await api.post("/api/v1/tokens", json={"id_token": tok, "type": "Central", "group_id": "FLEET"}), 201)
    assert created["status"] == "Accepted" and created["group_id"] == "FLEET"
    assert (await api.post("/api/v1/tokens", json={"id_token": tok})).status_code == 409
    assert (await api.post("/api/v1/tokens", json={"id_token": ""})).status_code == 400
    bad_type = await api.post("/api/v1/tokens", json={"id_token": "TAG0001", "type": "ISO14443"})
    assert bad_type.status_code == 400 and bad_type.json()["detail"].startswith("type:")
    assert (await api.post("/api/v1/tokens", json={"id_token": "x", "status": "Nope"})).status_code == 400
    assert (await ro_api.post("/api/v1/tokens", json={"id_token": "x"})).status_code == 403
    assert tok in [t["id_token"] for t in ok(await ro_api.get("/api/v1/tokens"))]
    assert [t["id_token"] for t in ok(await api.get("/api/v1/tokens", params={"group": "FLEET"}))] == [tok]
    assert ok(await api.post(f"/api/v1/tokens/{tok}/block"))["status"] == "Blocked"
    assert ok(await api.get("/api/v1/tokens", params={"status": "Blocked"}))[0]["id_token"] == tok
    assert ok(await api.post(f"/api/v1/tokens/{tok}/unblock"))["status"] == "Accepted"
    patched = ok(await api.patch(f"/api/v1/tokens/{tok}", json={"group_id": "STAFF", "expiry": "2099-01-01T00:00:00Z"}))
    assert patched["group_id"] == "STAFF" and patched["expiry"].startswith("2099-01-01")
    expired = ok(await api.post(f"/api/v1/tokens/{tok}/expire"))
    assert expired["status"] == "Expired"
    assert (await api.delete(f"/api/v1/tokens/{tok}")).status_code == 204
    for method, path in [
        ("GET", f"/api/v1/tokens/{tok}"),
        ("POST", f"/api/v1/tokens/{tok}/block"),
        ("POST", f"/api/v1/tokens/{tok}/unblock"),
        ("POST", f"/api/v1/tokens/{tok}/expire"),
        ("PATCH", f"/api/v1/tokens/{tok}"),
        ("DELETE", f"/api/v1/tokens/{tok}"),
    ]:
        response = await api.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path)


async def test_message_log(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    sid = new_station_id("LOG")
    async with connected(server.ws_url, sid, "1.6") as station:
        await station.call(c16.Heartbeat())

        async def logged() -> list | None:
            rows = ok(await api.get(f"/api/v1/stations/{sid}/messages"))
            return rows if {"BootNotification", "Heartbeat"} <= {r["action"] for r in rows} else None

        rows = await eventually(logged, "boot and heartbeat in the message log")
    assert {r["direction"] for r in rows} == {"in", "out"}
    hb = ok(await api.get(f"/api/v1/stations/{sid}/messages", params={"action": "Heartbeat"}))
    assert hb and {r["action"] for r in hb} == {"Heartbeat"}
    newest = max(r["logged_at"] for r in rows)
    assert ok(await api.get(f"/api/v1/stations/{sid}/messages", params={"since": "2099-01-01T00:00:00Z"})) == []
    before = ok(await api.get(f"/api/v1/stations/{sid}/messages", params={"until": newest}))
    assert len(before) < len(rows)
    everywhere = ok(await api.get("/api/v1/messages", params={"station": sid, "limit": 1}))
    assert len(everywhere) == 1 and everywhere[0]["station_id"] == sid
    assert (await api.get(f"/api/v1/stations/{sid}/messages", params={"since": "yesterday"})).status_code == 400
    assert (await api.get(f"/api/v1/stations/{sid}/messages", params={"limit": 0})).status_code == 400


async def test_deleting_a_connected_station_disconnects_it(server: CsmsProcess, api: httpx.AsyncClient) -> None:
    """A deleted station must not stay connected and answer commands while no list shows it (API and CLI)."""
    for how in ("api", "cli"):
        sid = new_station_id(f"DEL{how.upper()}")
        async with connected(server.ws_url, sid, "1.6") as station:
            assert ok(await api.get(f"/api/v1/stations/{sid}"))["connected"] is True
            if how == "api":
                assert (await api.delete(f"/api/v1/stations/{sid}")).status_code == 204
            else:
                server.cli("stations", "delete", sid)
            await asyncio.wait_for(station._connection.wait_closed(), 30)
            assert station._connection.close_code == 1008  # policy violation: deleted by the operator
        r = await api.post(f"/api/v1/stations/{sid}/call/Reset", json={"type": "Soft"})
        assert r.status_code == 404, r.text
