"""Dashboard routes: login/logout and the pages. Data comes from the same ``OperatorService`` as the API.

Pages mark their live regions as Jinja blocks; ``?fragment=<block>`` renders just that block so the
browser can refresh it on a Server-Sent Event without reloading the page (and without a second,
JavaScript copy of every table).
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ocppd.api import paging
from ocppd.api.auth import Authenticator, background, current_principal
from ocppd.api.errors import ApiError
from ocppd.api.models import TRANSACTION_PK_MAX
from ocppd.api.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Principal,
    check_password,
    login_csrf,
)
from ocppd.api.service import OperatorService
from ocppd.csms import certificates as certificate_views
from ocppd.csms.availability import effective as availability_effective
from ocppd.csms.billing import reports
from ocppd.csms.campaigns import FAILURE as campaign_failures
from ocppd.csms.campaigns import campaign_summary, wave_rows
from ocppd.logs import RateLimitedLog
from ocppd.protocol.actions import csms_initiated
from ocppd.protocol.versions import ALL_VERSIONS, OcppVersion
from ocppd.smart.schedule import parse_time
from ocppd.store import auth_repo, billing_repo, repo, tx_repo
from ocppd.web.charts import capacity_chart

HERE = Path(__file__).resolve().parent
_login_log = RateLimitedLog(logging.getLogger("ocppd.api.auth"))  # failed and throttled logins
ATTENTION_ROWS = 20  # open alerts on the overview, newest first; the rest through GET /api/v1/alerts
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _kw(value: float | None) -> str:
    return "–" if value is None else f"{value / 1000:.1f} kW"


def _kwh(value: float | None) -> str:
    return "–" if value is None else f"{value / 1000:.2f} kWh"


def _when(value: str | datetime | float | None) -> str:
    if not value:
        return "–"
    if isinstance(value, int | float):  # UNIX seconds
        value = datetime.fromtimestamp(value, UTC)
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ago(value: str | None) -> str:
    if not value:
        return "never"
    seconds = int((datetime.now(UTC) - datetime.fromisoformat(value)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{max(seconds, 0)} s ago"


def _status_class(status: str | None) -> str:
    return "status-" + (status or "unknown").lower()


templates.env.filters.update(kw=_kw, kwh=_kwh, when=_when, ago=_ago, status_class=_status_class)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let a phishing link bounce through the login.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    auth: Authenticator = app.state.auth
    service: OperatorService = app.state.service
    store = service.store

    async def principal_of(request: Request) -> Principal | None:
        return await auth.session(request.cookies.get(SESSION_COOKIE))

    async def render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> Response:
        principal = await principal_of(request)
        if principal is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
        context = {"request": request, "user": principal, "csrf": principal.csrf, "nav": name, **ctx}
        fragment = request.query_params.get("fragment")
        if fragment:
            template = templates.get_template(name)
            block = template.blocks.get(fragment)
            if block is None:
                return HTMLResponse("unknown fragment", status_code=404)
            html = "".join(block(template.new_context(context)))
            return HTMLResponse(html, headers={"Cache-Control": "no-store"})
        return templates.TemplateResponse(
            request, name, context, status_code=status, headers={"Cache-Control": "no-store"}
        )

    # ------------------------------------------------------------------ login / logout
    @app.get("/login", include_in_schema=False)
    async def login_page(request: Request, next: str = "/", error: str | None = None) -> Response:
        return await login_form(request, next, error, 401 if error else 200)

    async def login_form(request: Request, next: str, error: str | None, status: int) -> Response:
        nonce = secrets.token_urlsafe(16)
        has_users = bool(await store.read(auth_repo.list_users))
        response = templates.TemplateResponse(
            request,
            "login.html",
            {
                "csrf": login_csrf(auth.session_key, nonce),
                "next": _safe_next(next),
                "error": error,
                "has_users": has_users,
                "data_dir": service.csms.settings.data_dir,
                "user": None,
                "nav": "login",
            },
            status_code=status,
        )
        response.set_cookie(LOGIN_CSRF_COOKIE, nonce, httponly=True, samesite="strict", path="/login",
                            secure=request.url.scheme == "https")  # fmt: skip
        return response

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        nxt = _safe_next(str(form.get("next", "/")))
        nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        sent = str(form.get("csrf_token", ""))
        if not nonce or not secrets.compare_digest(sent, login_csrf(auth.session_key, nonce)):
            return RedirectResponse("/login?" + urlencode({"next": nxt, "error": "Session expired, try again."}), 303)
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        token = str(form.get("token", "")).strip()
        throttle, address = auth.login_throttle, request.client.host if request.client else ""
        throttled_user = "" if token else username
        wait = throttle.retry_after(throttled_user, address)
        if wait > 0:
            seconds = math.ceil(wait)
            _login_log.log(logging.WARNING, "throttled", "dashboard login for %r from %s refused: throttled for %d s",
                           throttled_user or "(token)", address, seconds)  # fmt: skip
            response = await login_form(request, nxt, f"Too many failed logins: try again in {seconds} s.", 429)
            response.headers["Retry-After"] = str(seconds)
            return response
        principal: Principal | None = None
        login_with = auth_repo.PASSWORD_LOGIN
        if token:
            try:
                principal = await auth.bearer(token)
                login_with = auth.token_login(token)
            except ApiError:
                principal = None
        elif username:
            user = await store.read(auth_repo.get_user, username)
            if user is not None and check_password(user.password_hash, password):
                principal = Principal(user.username, user.role, "session")
                background(store.write(auth_repo.touch_user, username, datetime.now(UTC)))
        if principal is None:
            failures = throttle.failed(throttled_user, address)
            _login_log.log(logging.WARNING, "failed", "dashboard login for %r from %s failed (%d in a row)",
                           throttled_user or "(token)", address, failures)  # fmt: skip
            return RedirectResponse(
                "/login?" + urlencode({"next": nxt, "error": "Wrong username, password or token."}), 303
            )
        throttle.succeeded(throttled_user)
        response = RedirectResponse(nxt, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            await auth.open_session(principal, login_with),
            max_age=auth.session_lifetime_s,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        principal = await auth.session(cookie)
        form = await request.form()
        if principal is not None and not secrets.compare_digest(str(form.get("csrf_token", "")), principal.csrf or ""):
            return HTMLResponse("invalid CSRF token", status_code=403)
        if principal is not None:
            await auth.close_session(cookie)  # server-side: a copy of the cookie dies with it
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # ------------------------------------------------------------------ API documentation
    @app.get("/api/docs", include_in_schema=False)
    async def api_docs(request: Request) -> Response:
        """Swagger UI. Its requests carry the page's session, so its script adds the session's CSRF
        token to them (a session alone never authorises a change); an API key entered under
        Authorize works as well."""
        try:
            principal = await current_principal(request, None)
        except ApiError:  # a browser without a session: log in first, then come back
            return RedirectResponse("/login?next=/api/docs", status_code=303)
        return templates.TemplateResponse(
            request, "api_docs.html", {"csrf": principal.csrf or ""}, headers={"Cache-Control": "no-store"}
        )

    # ------------------------------------------------------------------ pages
    # Every list is one server-side page (keyset cursor, see api/paging.py) with its filters in the
    # query string, so a link to a page is a link to what the operator saw.
    @app.get("/", include_in_schema=False)
    async def overview_page(request: Request) -> Response:
        overview = await service.overview(sample=OVERVIEW_SAMPLE, max_age_s=OVERVIEW_MAX_AGE_S)
        attention = await request.app.state.csms.alerts.list(state="open", limit=ATTENTION_ROWS)
        return await render(request, "overview.html", {"overview": overview, "attention": attention})

    @app.get("/stations", include_in_schema=False)
    async def stations_page(request: Request) -> Response:
        q = _query(request, "q", "status", "connected")
        connected = {"true": True, "false": False}.get(q["connected"])
        filters = {"search": q["q"] or None, "status": q["status"] or None, "connected": connected}
        if request.query_params.get("fragment") == "rows":  # the live rows the page asks for
            ids = [i for i in request.query_params.get("ids", "").split(",") if i][:PAGE]
            rows, _ = await service.station_page(**filters, station_ids=ids, limit=PAGE)
            return await render(request, "stations.html", {"stations": rows})
        error, after = None, None
        try:
            after = _cursor(request, str)
        except ApiError:
            error = STALE_LINK
        rows, last = await service.station_page(**filters, after=after[0] if after else None, limit=PAGE)
        return await render(
            request,
            "stations.html",
            {
                "stations": rows,
                "q": q,
                "error": error,
                "page_after": after[0] if after else "",
                "next_url": _page_url(request, [last]) if last else None,
                "first_url": _page_url(request, None) if after else None,
                "statuses": STATION_STATUSES,
            },
        )

    @app.get("/stations/{station_id}", include_in_schema=False)
    async def station_page(request: Request, station_id: str) -> Response:
        try:
            station = await service.station(station_id)
        except ApiError:
            return await render(request, "missing.html", {"what": f"station {station_id}"})
        messages = await service.messages(station_id=station_id, limit=30)
        label = station["ocpp_version"] or ""
        # OCPP-S stations ("1.5S") are commanded with the 1.6 messages (docs/soap.md)
        version = OcppVersion.V16 if label.endswith("S") else next((v for v in ALL_VERSIONS if v.label == label), None)
        actions = sorted(csms_initiated(version)) if version is not None else []
        queued = await service.queued(station_id, "queued")
        local_list = await service.csms.local_lists.view(station_id)
        reservations = await store.read(tx_repo.list_reservations, station_id, True, 50)
        csms = service.csms
        files = {"log_jobs": await csms.logs.list(station_id, 10), "images": await csms.firmware.images(50),
                 "firmware_jobs": await csms.firmware.jobs(station_id, 10)}  # fmt: skip
        wishes = await csms.availability.wanted(station_id)  # the operative state wanted, next to the status
        wanted = {f"{c['evse_id']}-{c['connector_id']}": availability_effective(wishes, c["evse_id"], c["connector_id"])
                  for c in station["connectors"] if c["evse_id"] > 0}  # fmt: skip
        return await render(
            request,
            "station.html",
            {"s": station, "messages": messages, "actions": actions, "queued": queued, "local_list": local_list,
             "reservations": reservations, "wanted": wanted, **files},
        )  # fmt: skip

    @app.get("/stations/{station_id}/device-model", include_in_schema=False)
    async def device_model_page(request: Request, station_id: str) -> Response:
        row = await store.read(repo.get_station, station_id)
        if row is None:
            return await render(request, "missing.html", {"what": f"station {station_id}"})
        dm = await service.csms.device_model.view(station_id, (row.ocpp_version or "").startswith("1."))
        monitors = await service.csms.monitoring.monitors(station_id)
        context = {"station_id": station_id, "dm": dm, "monitors": monitors,
                   "connected": service.csms.is_connected(station_id)}  # fmt: skip
        return await render(request, "device_model.html", context)

    # Availability and resets, display messages, customer information (docs/device-management.md)
    async def _station_or_missing(request: Request, station_id: str) -> dict[str, Any] | Response:
        try:
            return await service.station(station_id)
        except ApiError:
            return await render(request, "missing.html", {"what": f"station {station_id}"})

    @app.get("/stations/{station_id}/availability", include_in_schema=False)
    async def station_availability_page(request: Request, station_id: str) -> Response:
        station = await _station_or_missing(request, station_id)
        if isinstance(station, Response):
            return station
        csms = service.csms
        wishes = await csms.availability.wanted(station_id)
        connectors = []
        for c in station["connectors"]:
            if c["evse_id"] > 0:
                w = availability_effective(wishes, c["evse_id"], c["connector_id"])
                connectors.append({**c, "wanted": w["operational_status"] if w else None,
                                   "wanted_state": w["state"] if w else None})  # fmt: skip
        return await render(request, "station_availability.html", {
            "s": station, "availability": {"wishes": wishes, "connectors": connectors},
            "resets": await csms.resets.list(station_id, 20)})  # fmt: skip

    @app.get("/stations/{station_id}/display-messages", include_in_schema=False)
    async def station_display_page(request: Request, station_id: str) -> Response:
        station = await _station_or_missing(request, station_id)
        if isinstance(station, Response):
            return station
        messages = await service.csms.display_messages.list(station_id)
        next_id = max((m["message_id"] for m in messages), default=0) + 1
        return await render(request, "station_display.html", {"s": station, "messages": messages, "next_id": next_id})

    @app.get("/stations/{station_id}/customer-information", include_in_schema=False)
    async def station_customers_page(request: Request, station_id: str) -> Response:
        station = await _station_or_missing(request, station_id)
        if isinstance(station, Response):
            return station
        requests = await service.csms.customer_info.list(station_id, 50)
        return await render(request, "station_customers.html", {"s": station, "requests": requests})

    # Certificates (docs/security.md "Watching and renewing certificates"): the views of csms/certificates.py
    @app.get("/certificates", include_in_schema=False)
    async def certificates_page(request: Request) -> Response:
        security = service.csms.security
        q = _query(request, "station", "type", "within")
        summary = await security.expiry_summary(certificate_views.EXPIRY_WARNING_DAYS)
        rows: list[dict[str, Any]] = []
        last, after, error = None, None, None
        try:
            within = float(q["within"]) if q["within"] else None
            if within is not None and not 0 <= within <= certificate_views.MAX_HORIZON_DAYS:
                raise ValueError(within)
            after = _cursor(request, datetime, str, str, str)
            filters = {"station_id": q["station"] or None, "certificate_type": q["type"] or None}
            rows, last = await security.expiring(within_days=within, after=after, limit=PAGE, **filters)
        except ValueError:
            error = "Within must be a number of days (0 or more)."
        except ApiError:
            error = STALE_LINK
        types = sorted({r["certificate_type"] for r in summary["by_type"]} | set(certificate_views.RENEWABLE)
                       | set(certificate_views.INSTALLABLE))  # fmt: skip
        return await render(request, "certificates.html", {
            "summary": summary, "rows": rows, "q": q, "error": error, "types": types,
            "next_url": _page_url(request, last) if last else None,
            "first_url": _page_url(request, None) if after else None})  # fmt: skip

    @app.get("/stations/{station_id}/certificates", include_in_schema=False)
    async def station_certificates_page(request: Request, station_id: str) -> Response:
        station = await _station_or_missing(request, station_id)
        if isinstance(station, Response):
            return station
        view = await service.csms.security.station_view(station_id)
        return await render(request, "station_certificates.html", {
            "s": station, "view": view, "renewable": certificate_views.RENEWABLE,
            "installable": certificate_views.INSTALLABLE})  # fmt: skip

    @app.get("/inventory", include_in_schema=False)
    async def inventory_page(request: Request) -> Response:
        """Counts by vendor / model / firmware version, the stations behind each (paged), and which
        stations have a setting (paged): the views of csms/device_model.py."""
        dm = service.csms.device_model
        q = _query(request, "field", "value", "unknown", "variable", "component", "setting_value", "q")
        counts = {field: await dm.identity_counts(field, q["q"] or None) for field, _ in INVENTORY_FIELDS}
        ctx: dict[str, Any] = {"fields": INVENTORY_FIELDS, "counts": counts, "q": q, "drill": None, "having": None,
                               "values": None, "error": None, "next_url": None, "first_url": None}  # fmt: skip
        try:
            if q["field"] in counts:
                after = _cursor(request, str)
                value = None if q["unknown"] else q["value"]
                rows = await dm.stations_by_identity({q["field"]: value}, after[0] if after else None, PAGE + 1)
                label = dict(INVENTORY_FIELDS)[q["field"]]
                ctx["drill_title"] = f"{label}: {value if value is not None else 'not reported'}"
                ctx["drill"] = rows[:PAGE]
                if len(rows) > PAGE:
                    ctx["next_url"] = _page_url(request, [rows[PAGE - 1]["station_id"]])
                ctx["first_url"] = _page_url(request, None) if after else None
            elif q["variable"]:
                after = _cursor(request, str, str)
                component = q["component"] or None
                rows = await dm.stations_with_setting(q["variable"], component, q["setting_value"] or None,
                                                      after, PAGE + 1)  # fmt: skip
                ctx["having"] = rows[:PAGE]
                ctx["values"] = await dm.setting_values(q["variable"], component)
                if len(rows) > PAGE:
                    last = rows[PAGE - 1]
                    ctx["next_url"] = _page_url(request, [last["station_id"], last["component"]])
                ctx["first_url"] = _page_url(request, None) if after else None
        except ApiError:
            ctx["error"] = STALE_LINK
        return await render(request, "inventory.html", ctx)

    @app.get("/firmware", include_in_schema=False)
    async def firmware_page(request: Request) -> Response:
        csms = service.csms
        campaigns = [{**c, "summary": campaign_summary(c)} for c in await csms.campaigns.list(50)]
        return await render(request, "firmware.html",
                            {"images": await csms.firmware.images(100), "campaigns": campaigns})  # fmt: skip

    @app.get("/firmware/campaigns/{campaign_id}", include_in_schema=False)
    async def campaign_page(request: Request, campaign_id: int) -> Response:
        csms = service.csms
        campaign = await csms.campaigns.get(campaign_id)
        if campaign is None:
            return await render(request, "missing.html", {"what": f"firmware campaign {campaign_id}"})
        image = await csms.firmware.image(campaign["image_id"])
        return await render(request, "campaign.html", {"c": campaign, "image": image, "waves": wave_rows(campaign),
                                                        "failures": campaign_failures})  # fmt: skip

    @app.get("/sites", include_in_schema=False)
    async def sites_page(request: Request) -> Response:
        smart = service.csms.smart
        rows = []
        for node in smart.sites.tree.nodes.values():
            if node.kind != "site":
                continue
            view = smart.balancing.view(node.id) or {}
            rows.append({
                "site": node.id,
                "limit_text": _limit_text(view.get("limit")),
                "allocated_text": _phases_text(view.get("allocated")),
                "measured_text": _phases_text(view.get("measured")),
                "evs": sum(1 for a in view.get("allocations", []) if a["amps"] > 0),
                "excluded": list(view.get("excluded", {})),
            })  # fmt: skip
        return await render(request, "sites.html", {"sites": rows})

    @app.get("/sites/{site_id}", include_in_schema=False)
    async def site_page(request: Request, site_id: str) -> Response:
        smart = service.csms.smart
        node = smart.sites.tree.nodes.get(site_id)
        if node is None or node.kind != "site":
            return await render(request, "missing.html", {"what": f"site {site_id}"})
        view = smart.balancing.view(site_id) or {"limit": None, "allocated": None, "measured": None,
                                                 "allocations": [], "excluded": {}, "compute_ms": None}  # fmt: skip
        phases = []
        for i, name in enumerate(("L1", "L2", "L3")):
            limit = (view.get("limit") or {}).get("amps", [None] * 3)[i]
            allocated = (view.get("allocated") or {}).get("amps", [None] * 3)[i]
            measured = (view.get("measured") or {}).get("amps", [None] * 3)[i]
            phases.append({
                "name": name, "limit": "none" if limit is None else f"{limit:.1f} A",
                "allocated": "" if allocated is None else f"{allocated:.1f} A",
                "measured": "" if measured is None else f"{measured:.1f} A",
                "ratio": None if not limit or measured is None else round(min(measured / limit, 1.5), 3),
            })  # fmt: skip
        tree = smart.sites.tree
        nodes = [smart.sites.specs[n] for n in smart.sites.specs if tree.site_of(n) == site_id]
        now = time.time()
        externals = [{"node": e.node, "source": e.source, "amps": e.amps[0] if e.amps else None, "watts": e.watts,
                      "end": None if e.end == float("inf") else datetime.fromtimestamp(e.end, UTC).isoformat()}
                     for _, e in smart.sites.externals if e.end > now and tree.site_of(e.node) == site_id]  # fmt: skip
        offline = [s.id for s in tree.stations(site_id) if not service.csms.is_connected(s.id)]
        context = {"site_id": site_id, "view": view, "phases": phases, "nodes": nodes, "externals": externals,
                   "offline": offline}  # fmt: skip
        return await render(request, "site.html", context)

    @app.get("/oscp", include_in_schema=False)
    async def oscp_page(request: Request) -> Response:
        """The OSCP 2.0 Flexibility Provider: peers, groups with the capacity forecast against the draw,
        the last compliance errors sent (``Oscp.overview``)."""
        return await _oscp(request, None)

    @app.get("/oscp/groups/{group_id}", include_in_schema=False)
    async def oscp_group_page(request: Request, group_id: str) -> Response:
        return await _oscp(request, group_id)

    async def _oscp(request: Request, group_id: str | None) -> Response:
        oscp = service.csms.smart.oscp
        if oscp is None:
            return await render(request, "oscp.html", {"enabled": False})
        now = time.time()
        overview = oscp.overview(now)
        groups = overview["groups"]
        if group_id is not None:
            groups = [g for g in groups if g["group_id"] == group_id]
            if not groups:
                return await render(request, "missing.html", {"what": f"OSCP group {group_id}"}, status=404)
        for g in groups:
            g["chart"] = capacity_chart(g, now)
            g["site"] = service.csms.smart.sites.tree.site_of(g["node"]) if g["node_kind"] else None
        context = {"enabled": True, "o": overview, "groups": groups, "group_id": group_id}
        return await render(request, "oscp.html", context)

    @app.get("/stations/{station_id}/profiles", include_in_schema=False)
    async def station_profiles_page(request: Request, station_id: str) -> Response:
        """Every charging profile sent to the station (when, by whom, what it answered, when it ended)
        and the composite schedule the CSMS computes from those installed."""
        smart = service.csms.smart
        rows = await smart.profiles.history(station_id, 500)
        evses = sorted({r.evse_id for r in rows if r.evse_id > 0} | {1})
        try:
            evse = int(request.query_params.get("evse") or evses[0])
        except ValueError:
            evse = evses[0]
        site = smart.sites.station_site(station_id)
        context = {
            "station_id": station_id,
            "timeline": [_profile_row(r) for r in rows],
            "evses": evses,
            "evse": evse,
            "site": site,
            "excluded": smart.balancing.excluded.get(station_id),
            "unit": smart.balancing.units.get(station_id),
            "composite_src": f"/api/v1/stations/{quote(station_id, safe='')}/charging-profiles/composite"
                             f"?evse_id={evse}&duration_s=86400",
        }  # fmt: skip
        return await render(request, "station_profiles.html", context)

    @app.get("/transactions", include_in_schema=False)
    async def transactions_page(request: Request) -> Response:
        q = _query(request, "station", "id_token", "since", "until", "active")
        active = q["active"] in ("1", "true", "on")
        filters: dict[str, Any] = {"station_id": q["station"] or None, "id_token": q["id_token"] or None}
        rows: list[dict[str, Any]] = []
        last, before, error = None, None, None
        try:
            filters |= _times(q)
            before = _cursor(request, datetime, int)
            rows, last = await service.transaction_page(active_only=active, before=before, limit=PAGE, **filters)
        except ValueError:
            error = BAD_DATE
        except ApiError:
            error = STALE_LINK
        export = {k: v for k, v in {**q, "active": "true" if active else ""}.items() if v}
        costs = await service.csms.billing.costs_for([r["id"] for r in rows]) if rows else {}
        return await render(
            request,
            "transactions.html",
            {
                "rows": rows,
                "costs": costs,
                "q": q,
                "error": error,
                "export_url": "/api/v1/transactions/export.csv?" + urlencode(export),
                "page_wh": sum(r["energy_wh"] or 0 for r in rows),
                "next_url": _page_url(request, last) if last else None,
                "first_url": _page_url(request, None) if before else None,
            },
        )

    @app.get("/transactions/{pk}", include_in_schema=False)
    async def transaction_page(request: Request, pk: int) -> Response:
        try:
            if not 1 <= pk <= TRANSACTION_PK_MAX:  # the API's TransactionPk bound: the driver fails beyond 64 bits
                raise ApiError(404, f"no transaction {pk}")
            tx = await service.transaction(pk)
        except ApiError:
            return await render(request, "missing.html", {"what": f"transaction {pk}"}, status=404)
        history = await store.read(billing_repo.cost_history, pk)
        return await render(request, "transaction.html", {"tx": tx, "cost_history": history})

    @app.get("/billing", include_in_schema=False)
    async def billing_page(request: Request) -> Response:
        q = _query(request, "period", "by", "tz", "since", "until", "site_id", "station_id", "group_id", "id_token")
        q["period"] = q["period"] if q["period"] in reports.PERIODS else "day"
        q["by"] = q["by"] if q["by"] in reports.DIMENSIONS else ""
        q["tz"] = q["tz"] or "UTC"
        filters = {k: q[k] or None for k in ("site_id", "station_id", "group_id", "id_token")}
        rows: list[dict[str, Any]] = []
        error = None
        try:
            zone = reports.zone_of(q["tz"])
            if not q["since"] and not q["until"]:  # the recent past by default: a page view never sums all history
                q["since"] = reports.default_since(datetime.now(zone).date(), q["period"]).isoformat()
            since, until = reports.bound(q["since"], zone, "since"), reports.bound(q["until"], zone, "until")
            rows = await service.csms.billing.totals(
                period=q["period"], by=q["by"] or None, zone=zone, since=since, until=until, **filters,
                limit=BILLING_ROWS + 1,  # the rows shown and one more, to say there are more
            )  # fmt: skip
        except reports.ReportError as exc:
            error = str(exc)
        chart_params = {k: v for k, v in q.items() if v and k != "by"}
        table_params = {k: v for k, v in q.items() if v}
        sites = sorted(n.id for n in service.csms.smart.sites.tree.nodes.values() if n.kind == "site")
        return await render(
            request,
            "billing.html",
            {
                "q": q,
                "rows": rows[:BILLING_ROWS],
                "more": len(rows) > BILLING_ROWS,
                "error": error,
                "sites": sites,
                "key": reports.DIMENSIONS.get(q["by"]),
                "chart_src": "/api/v1/billing/totals?" + urlencode({**chart_params, "limit": 10_000}),
                "csv_url": "/api/v1/billing/totals?" + urlencode({**table_params, "format": "csv"}),
                "export_url": "/api/v1/billing/export?"
                + urlencode({k: v for k, v in filters.items() if v} | {"format": "csv"}),
            },
        )

    @app.get("/tokens", include_in_schema=False)
    async def tokens_page(request: Request) -> Response:
        q = _query(request, "q", "status")
        rows: list[dict[str, Any]] = []
        last, after, error = None, None, None
        try:
            after = _cursor(request, str)
            rows, last = await service.token_page(
                search=q["q"] or None, status=q["status"] or None, after=after[0] if after else None, limit=PAGE
            )
        except ApiError:
            error = STALE_LINK
        return await render(
            request,
            "tokens.html",
            {
                "tokens": rows,
                "q": q,
                "error": error,
                "next_url": _page_url(request, [last]) if last else None,
                "first_url": _page_url(request, None) if after else None,
            },
        )

    @app.get("/messages", include_in_schema=False)
    async def messages_page(request: Request) -> Response:
        q = _query(request, "station", "action", "since", "until")
        rows: list[dict[str, Any]] = []
        last, before, error = None, None, None
        try:
            filters = {"station_id": q["station"] or None, "action": q["action"] or None, **_times(q)}
            before = _cursor(request, datetime, int)
            rows, last = await service.message_page(before=before, limit=MESSAGES_PAGE, **filters)
        except ValueError:
            error = BAD_DATE
        except ApiError:
            error = STALE_LINK
        return await render(
            request,
            "messages.html",
            {
                "rows": rows,
                "q": q,
                "error": error,
                "next_url": _page_url(request, last) if last else None,
                "first_url": _page_url(request, None) if before else None,
            },
        )


PAGE = 50  # rows per dashboard page
BILLING_ROWS = 500  # totals shown on the billing page (the CSV has them all)
INVENTORY_FIELDS = [("vendor", "Vendor"), ("model", "Model"), ("firmware_version", "Firmware version")]
MESSAGES_PAGE = 100
OVERVIEW_SAMPLE = 20  # stations listed per overview box (with a link to all of them)
OVERVIEW_MAX_AGE_S = 1.0  # open overview pages share one read of the whole network per second
STATION_STATUSES = ["Offline", "Available", "Charging", "Preparing", "SuspendedEV", "SuspendedEVSE", "Finishing",
                    "Reserved", "Unavailable", "Faulted"]  # fmt: skip
BAD_DATE = "Dates must look like 2026-01-31T08:00."
STALE_LINK = "This page link is no longer valid: start again from the first page."


def _query(request: Request, *names: str) -> dict[str, str]:
    """The page's filters as given (empty string when absent), to refill the form."""
    return {name: request.query_params.get(name, "").strip() for name in names}


def _times(q: dict[str, str]) -> dict[str, datetime]:
    """``since``/``until`` of the filter form (``datetime-local``: naive means UTC); ValueError if bad."""
    out = {}
    for key in ("since", "until"):
        if q.get(key):
            at = datetime.fromisoformat(q[key])
            out[key] = at if at.tzinfo else at.replace(tzinfo=UTC)
    return out


def _cursor(request: Request, *types: type) -> tuple[Any, ...] | None:
    cursor = request.query_params.get("cursor")
    return paging.decode(cursor, *types) if cursor else None


def _page_url(request: Request, key: Any) -> str:
    """This page's URL (its filters) at another cursor; ``key`` None: the first page."""
    params = {k: v for k, v in request.query_params.items() if k not in ("cursor", "fragment") and v}
    if key is not None:
        params["cursor"] = paging.encode(key if isinstance(key, list | tuple) else [key])
    return request.url.path + ("?" + urlencode(params) if params else "")


def _profile_row(r: Any) -> dict[str, Any]:
    """One row of the profile timeline: what was sent, by whom, and what became of it."""
    schedule = r.profile.get("chargingSchedule") or {}
    schedule = schedule[0] if isinstance(schedule, list) and schedule else schedule
    periods = schedule.get("chargingSchedulePeriod") or [] if isinstance(schedule, dict) else []
    start = parse_time(schedule.get("startSchedule")) if isinstance(schedule, dict) else None

    def begins(offset: float) -> str:  # a clock time (UTC) for a schedule with a start: a plan reads as one
        if start is None:
            return f"{offset:g} s"
        return datetime.fromtimestamp(start + offset, UTC).strftime("%H:%M:%S UTC")

    limits = ", ".join(f"{p.get('limit')} from {begins(p.get('startPeriod', 0))}" for p in periods[:4])
    if len(periods) > 4:
        limits += f", +{len(periods) - 4} more"
    answer = r.answer or {}
    said = answer.get("status") or answer.get("error") or ""
    info = answer.get("statusInfo") or {}
    if info.get("reasonCode"):
        said += f" ({info['reasonCode']})"
    return {
        "sent_at": r.sent_at, "evse_id": r.evse_id, "profile_id": r.profile_id, "purpose": r.purpose,
        "stack_level": r.stack_level, "kind": r.kind, "unit": r.unit, "limits": limits, "source": r.source,
        "answer": said, "state": r.state, "ended_at": r.ended_at, "transaction_id": r.transaction_id,
        "drift": r.drift,
    }  # fmt: skip


def _phases_text(totals: dict[str, Any] | None) -> str:
    if not totals:
        return ""
    return " / ".join("" if a is None else f"{a:.1f}" for a in totals["amps"]) + " A"


def _limit_text(limit: dict[str, Any] | None) -> str:
    if not limit:
        return ""
    parts = []
    if any(a is not None for a in limit["amps"]):
        parts.append(" / ".join("-" if a is None else f"{a:.0f}" for a in limit["amps"]) + " A")
    if limit.get("watts") is not None:
        parts.append(f"{limit['watts'] / 1000:.1f} kW")
    return ", ".join(parts)
