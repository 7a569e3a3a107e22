"""What a first-time operator meets on the command line (issue 8): the real ``ocppd`` CLI as a subprocess,
``ocppd serve`` as a real process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import websockets

from tests.csms_process import CsmsProcess, free_port, run_csms

PASSWORD = "correct-horse-battery-staple"


def ocppd(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ocppd.cli", *args],
        env={**env, "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh user: no OCPPD_* of the test run, a HOME of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCPPD_", "XDG_"))}
    return {**env, "HOME": str(home), **extra}


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO) ")


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """One clear line (no traceback), and nothing logged as started before it (INFO lines about the
    process itself, such as the open-file limit, may come first)."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "OCPP endpoint" not in output and "Dashboard and API" not in output, output
    lines = [line for line in output.splitlines() if line.strip() and not LOG_LINE.match(line)]
    assert len(lines) == 1, output
    return lines[0]


# ------------------------------------------------------------------------------ item 2: one configuration
def test_commands_find_the_same_database_from_any_folder(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home")
    (here := tmp_path / "here").mkdir()
    (elsewhere := tmp_path / "elsewhere").mkdir()
    assert ocppd("tokens", "add", "04A1B2C3", env=env, cwd=here).returncode == 0
    listed = ocppd("tokens", "list", env=env, cwd=elsewhere)
    assert listed.returncode == 0 and "04A1B2C3" in listed.stdout
    assert not any(p.name == "ocppd-data" for p in tmp_path.rglob("*"))
    default = tmp_path / "home" / ".local" / "share" / "ocppd"
    verbose = ocppd("--verbose", "tokens", "list", env=env, cwd=elsewhere)
    assert f"data directory: {default} (default)" in verbose.stderr
    assert f"database: sqlite:///{default / 'ocppd.db'}" in verbose.stderr
    assert "~/.local/share/ocppd" in ocppd("--help", env=env).stdout


def test_a_read_command_never_creates_a_database(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    env = clean_env(tmp_path / "home", OCPPD_DATA_DIR=str(empty))
    for command in (["tokens", "list"], ["stations", "list"], ["transactions", "list"], ["users", "list"]):
        result = ocppd(*command, env=env)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "no database at" in one_line(result) and "OCPPD_DATA_DIR" in result.stderr
    assert not empty.exists()


def test_relative_data_dir_in_a_config_file_is_relative_to_the_file(tmp_path: Path) -> None:
    (etc := tmp_path / "etc").mkdir()
    (etc / "ocppd.toml").write_text('data_dir = "data"\n')
    env = clean_env(tmp_path / "home", OCPPD_CONFIG=str(etc / "ocppd.toml"))
    assert ocppd("tokens", "add", "04A1B2C3", env=env, cwd=tmp_path).returncode == 0
    assert (etc / "data" / "ocppd.db").exists()


def test_call_names_the_token_file_it_looked_for(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home", OCPPD_DATA_DIR=str(tmp_path / "d"))
    result = ocppd("call", "CS1", "Reset", '{"type": "Soft"}', env=env)
    assert result.returncode == 2
    assert f"no admin token at {tmp_path / 'd' / 'admin.token'}" in one_line(result)


# ------------------------------------------------------------------------------ item 8: OCPPD_* variables
def test_a_read_command_never_creates_the_tables_in_an_empty_postgresql_database(
    tmp_path: Path, pg_db_factory: Callable[[str], str]
) -> None:
    env = clean_env(tmp_path / "home", OCPPD_DATABASE_URL=pg_db_factory("ocppd_empty"))
    result = ocppd("tokens", "list", env=env)
    assert result.returncode == 2 and "has no ocppd tables" in one_line(result)
    assert ocppd("tokens", "add", "04A1B2C3", env=env).returncode == 0  # a creating command may
    assert "04A1B2C3" in ocppd("tokens", "list", env=env).stdout


def test_unrelated_ocppd_variables_do_not_break_commands(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home", OCPPD_DIR="/somewhere", OCPPD_USER_PASSWORD="a-long-password")
    added = ocppd("users", "add", "alice", env=env)
    assert added.returncode == 0, added.stderr
    assert "OCPPD_DIR is not an ocppd setting and is ignored" in added.stderr
    assert "OCPPD_USER_PASSWORD" not in added.stderr  # documented: the password of `users add`
    assert "alice" in ocppd("users", "list", env=env).stdout


@pytest.mark.parametrize(
    ("variable", "named"),
    [("OCPPD_HTTP__PROT", "prot"), ("OCPPD_HTPP__PORT", "htpp"), ("OCPPD_OCPP__PORT", "ocpp.port")],
)
def test_settings_stay_strict(tmp_path: Path, variable: str, named: str) -> None:
    env = clean_env(tmp_path / "home", **{variable: "nine"})
    result = ocppd("tokens", "list", env=env)
    assert result.returncode == 2 and named in one_line(result)


# ------------------------------------------------------------------------------ items 7 and 9: start-up failures
def serve_env(tmp_path: Path, ocpp_port: int, http_port: int, **extra: str) -> dict[str, str]:
    return clean_env(
        tmp_path / "home",
        OCPPD_DATA_DIR=str(tmp_path / "ocppd-data"),
        OCPPD_OCPP__HOST="127.0.0.1",
        OCPPD_OCPP__PORT=str(ocpp_port),
        OCPPD_HTTP__HOST="127.0.0.1",
        OCPPD_HTTP__PORT=str(http_port),
        **extra,
    )


def test_second_serve_on_one_data_directory_is_refused(tmp_path: Path) -> None:
    with run_csms(tmp_path) as server:
        second = ocppd("serve", env={**server.env, "OCPPD_OCPP__PORT": str(free_port()),
                                     "OCPPD_HTTP__PORT": str(free_port())})  # fmt: skip
        assert second.returncode == 2
        line = one_line(second)
        assert f"pid {server.process.pid}" in line and "already uses the data directory" in line
        assert server.process.poll() is None


@pytest.mark.parametrize("busy", ["ocpp", "http"])
def test_a_busy_port_is_one_line_and_exit_2(tmp_path: Path, busy: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = (port, free_port()) if busy == "ocpp" else (free_port(), port)
        result = ocppd("serve", env=serve_env(tmp_path, *ports))
    assert result.returncode == 2
    line = one_line(result)  # nothing logged as started before it
    assert f"{busy}.port" in line and str(port) in line


def test_unreachable_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nope?connect_timeout=3"
    result = ocppd("serve", env=serve_env(tmp_path, free_port(), free_port(), OCPPD_DATABASE_URL=url))
    assert result.returncode == 2
    assert "cannot open the database" in one_line(result)


def test_missing_postgresql_database_is_one_line_and_exit_2(tmp_path: Path, pg_server_url: str) -> None:
    from sqlalchemy import make_url

    url = make_url(pg_server_url).set(drivername="postgresql+psycopg", database="ocppd_no_such_db")
    env = serve_env(tmp_path, free_port(), free_port(), OCPPD_DATABASE_URL=url.render_as_string(hide_password=False))
    result = ocppd("serve", env=env)
    assert result.returncode == 2
    line = one_line(result)
    assert "cannot open the database" in line and "ocppd_no_such_db" in line


# ------------------------------------------------------------------------------ credentials apply at once
async def handshake_status(server: CsmsProcess, station: str, password: str | None) -> int:
    """101 if the upgrade succeeded, else the HTTP status of the refusal."""
    headers = {}
    if password is not None:
        import base64

        headers["Authorization"] = "Basic " + base64.b64encode(f"{station}:{password}".encode()).decode()
    try:
        async with websockets.connect(
            f"{server.ws_url}/{station}", subprotocols=["ocpp1.6"], additional_headers=headers, open_timeout=20
        ):
            return 101
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


@pytest.fixture
def csms_sqlite(tmp_path: Path) -> CsmsProcess:
    with run_csms(tmp_path) as server:
        yield server


async def test_a_new_password_holds_when_the_command_returns(csms: CsmsProcess) -> None:
    server = csms  # SQLite and PostgreSQL
    assert await handshake_status(server, "CS-PW", None) == 101  # known to nobody yet: accepted
    server.cli("stations", "add", "CS-PW", "--password", PASSWORD)
    assert await handshake_status(server, "CS-PW", "wrong-password-wrong") == 401
    assert await handshake_status(server, "CS-PW", None) == 401
    assert await handshake_status(server, "CS-PW", PASSWORD) == 101
    server.cli("stations", "delete", "CS-PW")
    assert await handshake_status(server, "CS-PW", None) == 101  # forgotten with its password


# ------------------------------------------------------------------------------ item 15: smaller CLI gaps
def test_token_and_station_commands(csms_sqlite: CsmsProcess) -> None:
    cli: Callable[..., subprocess.CompletedProcess[str]] = csms_sqlite.cli
    cli("tokens", "add", "04A1B2C3", "--expiry", "2020-01-01T00:00:00")
    cli("tokens", "add", "04A1B2C4")
    assert "Expired" in next(line for line in cli("tokens", "list").stdout.splitlines() if "04A1B2C3" in line)
    cli("tokens", "block", "04A1B2C4")
    assert "Blocked" in cli("tokens", "list").stdout
    cli("tokens", "unblock", "04A1B2C4")
    assert "Blocked" not in cli("tokens", "list").stdout
    cli("tokens", "delete", "04A1B2C4")
    assert "04A1B2C4" not in cli("tokens", "list").stdout
    assert cli("tokens", "delete", "04A1B2C4", check=False).returncode == 1

    cli("stations", "add", "CS-SHOW")
    shown = cli("stations", "show", "CS-SHOW").stdout
    assert '"registration_status": "accepted"' in shown and '"credentials": "none"' in shown
    cli("stations", "delete", "CS-SHOW")
    assert cli("stations", "show", "CS-SHOW", check=False).returncode == 1
    assert cli("transactions", "show", "999999", check=False).returncode == 1

    missing = cli("log", "NOPE", check=False)
    assert missing.returncode == 1 and "unknown station 'NOPE'" in missing.stderr


async def test_log_follow_prints_new_frames(csms_sqlite: CsmsProcess) -> None:
    import asyncio
    import json

    server = csms_sqlite
    async with websockets.connect(f"{server.ws_url}/FOLLOW-1", subprotocols=["ocpp1.6"]) as ws:
        await ws.send(
            json.dumps([2, "boot-1", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}])
        )
        await asyncio.wait_for(ws.recv(), 20)
        follower = subprocess.Popen(
            [sys.executable, "-m", "ocppd.cli", "log", "FOLLOW-1", "--follow"],
            env={**server.env, "COLUMNS": "100000"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert "boot-1" in await asyncio.wait_for(asyncio.to_thread(follower.stdout.readline), 60)
            await ws.send(json.dumps([2, "later-1", "Heartbeat", {}]))
            await asyncio.wait_for(ws.recv(), 20)
            lines: list[str] = []
            while not any("later-1" in line for line in lines):
                lines.append(await asyncio.wait_for(asyncio.to_thread(follower.stdout.readline), 60))
        finally:
            follower.terminate()
            follower.wait(30)
