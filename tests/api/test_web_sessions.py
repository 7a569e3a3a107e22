"""Dashboard sessions are server-side records: logout, user removal, password/role changes and API key
revocation end them, also for a copy of the cookie; expired ones are refused and pruned.

Each test runs the real ``ocppd serve`` and the real CLI against the same data directory.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import create_engine, func, select, update

from ocppd.api.security import SESSION_COOKIE
from ocppd.store.auth_repo import web_sessions
from ocppd.store.engine import normalize_url
from tests.api.conftest import create_key, eventually, ok
from tests.csms_process import CsmsProcess

PASSWORD = "correct horse"
_names = itertools.count(1)


def new_user(server: CsmsProcess, role: str = "admin") -> str:
    name = f"sess-user-{next(_names)}"
    server.cli("users", "add", name, "--password", PASSWORD, "--role", role)
    return name


async def login(client: httpx.AsyncClient, **form: str) -> str:
    """Log in through the form; returns the page's CSRF token."""
    page = await client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text
    resp = await client.post("/login", data={"csrf_token": csrf.group(1), "next": "/stations", **form})
    assert resp.status_code == 303 and resp.headers["location"] == "/stations", resp.headers.get("location")
    stations = await client.get("/stations")
    assert stations.status_code == 200
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', stations.text)
    assert token, stations.text
    return token.group(1)


@pytest.fixture
async def browser(server: CsmsProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=60) as client:
        yield client


async def copy_of(server: CsmsProcess, browser: httpx.AsyncClient) -> httpx.AsyncClient:
    """A second client holding only a copy of ``browser``'s session cookie (the stolen-cookie case)."""
    cookie = browser.cookies[SESSION_COOKIE]
    return httpx.AsyncClient(base_url=server.http_url, cookies={SESSION_COOKIE: cookie}, timeout=60)


async def refused(client: httpx.AsyncClient) -> bool:
    """The session no longer works: the API says 401 and the dashboard sends the browser to the login."""
    me = await client.get("/api/v1/me")
    if me.status_code != 401:
        return False
    page = await client.get("/stations")
    return page.status_code == 303 and page.headers["location"].startswith("/login")


async def test_logout_kills_a_copied_cookie_at_once(server: CsmsProcess, browser: httpx.AsyncClient) -> None:
    user = new_user(server)
    csrf = await login(browser, username=user, password=PASSWORD)
    async with await copy_of(server, browser) as thief:
        assert ok(await thief.get("/api/v1/me")) == {"name": user, "role": "admin", "via": "session"}
        ok(await thief.post("/api/v1/tokens", json={"id_token": "COPY-1"}, headers={"X-CSRF-Token": csrf}), 201)
        assert (await browser.post("/logout", data={"csrf_token": csrf})).status_code == 303
        # The very next request of the copy is refused: no waiting for a cache to expire.
        assert (await thief.get("/api/v1/me")).status_code == 401
        stations = await thief.get("/stations")
        assert stations.status_code == 303 and stations.headers["location"].startswith("/login")
        write = await thief.post("/api/v1/tokens", json={"id_token": "COPY-2"}, headers={"X-CSRF-Token": csrf})
        assert write.status_code == 401
        assert (await thief.post("/logout", data={"csrf_token": csrf})).status_code == 303  # harmless
    # The browser itself (cookie deleted by the logout) is logged out, and logging in again works.
    assert await refused(browser)
    await login(browser, username=user, password=PASSWORD)
    assert ok(await browser.get("/api/v1/me"))["name"] == user


async def test_sessions_are_independent(server: CsmsProcess) -> None:
    user = new_user(server, "read-only")
    async with httpx.AsyncClient(base_url=server.http_url) as a, httpx.AsyncClient(base_url=server.http_url) as b:
        csrf_a = await login(a, username=user, password=PASSWORD)
        csrf_b = await login(b, username=user, password=PASSWORD)
        assert csrf_a != csrf_b and a.cookies[SESSION_COOKIE] != b.cookies[SESSION_COOKIE]
        # A CSRF token belongs to its session: b's token does not authorise a's logout.
        assert (await a.post("/logout", data={"csrf_token": csrf_b})).status_code == 403
        assert (await a.post("/logout", data={"csrf_token": csrf_a})).status_code == 303
        assert await refused(a)
        assert ok(await b.get("/api/v1/me")) == {"name": user, "role": "read-only", "via": "session"}


async def test_removing_the_user_with_the_cli_ends_its_sessions(server: CsmsProcess) -> None:
    user, other = new_user(server), new_user(server)
    async with (
        httpx.AsyncClient(base_url=server.http_url) as one,
        httpx.AsyncClient(base_url=server.http_url) as two,
        httpx.AsyncClient(base_url=server.http_url) as bystander,
    ):
        await login(one, username=user, password=PASSWORD)
        await login(two, username=user, password=PASSWORD)
        await login(bystander, username=other, password=PASSWORD)
        server.cli("users", "delete", user)
        await eventually(lambda: refused(one), "the first session of the deleted user to end", deadline=10)
        await eventually(lambda: refused(two), "the second session of the deleted user to end", deadline=10)
        assert ok(await bystander.get("/api/v1/me"))["name"] == other
        # Re-creating a user of the same name does not bring the old sessions back.
        server.cli("users", "add", user, "--password", PASSWORD)
        assert await refused(one)


async def test_password_change_ends_sessions(server: CsmsProcess, browser: httpx.AsyncClient) -> None:
    user = new_user(server)
    await login(browser, username=user, password=PASSWORD)
    server.cli("users", "add", user, "--password", "a new password", "--role", "admin")
    await eventually(lambda: refused(browser), "the session to end after the password change", deadline=10)
    await login(browser, username=user, password="a new password")
    assert ok(await browser.get("/api/v1/me"))["name"] == user


async def test_role_change_ends_sessions(server: CsmsProcess, browser: httpx.AsyncClient) -> None:
    user = new_user(server, "admin")
    await login(browser, username=user, password=PASSWORD)
    server.cli("users", "add", user, "--password", PASSWORD, "--role", "read-only")
    await eventually(lambda: refused(browser), "the admin session to end after demotion", deadline=10)
    await login(browser, username=user, password=PASSWORD)
    assert ok(await browser.get("/api/v1/me"))["role"] == "read-only"


async def test_users_logout_command(server: CsmsProcess, browser: httpx.AsyncClient) -> None:
    user = new_user(server)
    await login(browser, username=user, password=PASSWORD)
    assert "1 session(s)" in server.cli("users", "logout", user).stdout
    await eventually(lambda: refused(browser), "the session to end after `users logout`", deadline=10)
    await login(browser, username=user, password=PASSWORD)  # the user itself is still there


async def test_revoking_the_api_key_ends_sessions_opened_with_it(
    server: CsmsProcess, browser: httpx.AsyncClient
) -> None:
    key = create_key(server, "admin")
    await login(browser, token=key)
    assert ok(await browser.get("/api/v1/me"))["via"] == "session"
    key_id = key.split("_")[1]
    server.cli("apikeys", "revoke", key_id)
    await eventually(lambda: refused(browser), "the session opened with the revoked key to end", deadline=10)


def _db(server: CsmsProcess) -> str:
    return str(server.data_dir / "ocppd.db")


async def test_expired_session_is_refused_and_pruned(server: CsmsProcess, browser: httpx.AsyncClient) -> None:
    user = new_user(server)
    await login(browser, username=user, password=PASSWORD)
    engine = create_engine(normalize_url(f"sqlite:///{_db(server)}"))
    try:
        past = datetime.now(UTC) - timedelta(minutes=1)
        with engine.begin() as conn:  # the clock moved on: pretend the 12 h are over
            expired = conn.execute(
                update(web_sessions)
                .where(web_sessions.c.username == user)
                .values(expires_at=past.replace(tzinfo=None))  # SQLite stores naive UTC
            ).rowcount
        assert expired == 1
        await eventually(lambda: refused(browser), "the expired session to be refused", deadline=10)
        # The next login prunes it.
        async with httpx.AsyncClient(base_url=server.http_url) as again:
            await login(again, username=user, password=PASSWORD)

        def remaining() -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        select(func.count()).select_from(web_sessions).where(web_sessions.c.expires_at <= past)
                    ).scalar_one()
                )

        async def pruned() -> bool:
            return remaining() == 0

        await eventually(pruned, "the expired session row to be deleted", deadline=10)
    finally:
        engine.dispose()


async def test_transaction_page_of_an_id_beyond_64_bits_is_a_missing_page(
    server: CsmsProcess, browser: httpx.AsyncClient
) -> None:
    await login(browser, username=new_user(server, "read-only"), password=PASSWORD)
    for pk in (2**63, 0):  # the store keeps 64-bit ids from 1: the driver failed on a larger one (a 500)
        page = await browser.get(f"/transactions/{pk}")
        assert page.status_code == 404 and f"transaction {pk}" in page.text, (pk, page.status_code, page.text[:300])
