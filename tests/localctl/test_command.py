"""``ocppd local-controller`` as a command: --help explains it, bad configuration and a busy port
end it with one clear line and exit 2; the pure pieces (frame heads, upstream URLs) on their own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ocppd.localctl.frames import UNREADABLE, head
from ocppd.localctl.relay import upstream_url
from tests.csms_process import free_port


def run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "OCPPD_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200", **env}
    full.pop("OCPPD_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "ocppd.cli", "local-controller", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_says_what_it_does(tmp_path: Path) -> None:
    out = run(["--help"], {}, tmp_path)
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    for words in ("local controller", "upstream_url", "relays every frame", "[local_controller.credentials]"):
        assert words in text, text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "local_controller.upstream_url must be a ws:// or wss:// URL"),
        ({"OCPPD_LOCAL_CONTROLLER__UPSTREAM_URL": "http://csms"}, "local_controller.upstream_url must be"),
        (
            {"OCPPD_LOCAL_CONTROLLER__UPSTREAM_URL": "ws://csms", "OCPPD_LOCAL_CONTROLLER__GROUP_AMPS": "-1"},
            "group_amps / group_watts cannot be negative",
        ),
        (
            {"OCPPD_LOCAL_CONTROLLER__UPSTREAM_URL": "ws://csms", "OCPPD_LOCAL_CONTROLLER__UPSTREAM_CA": "/nope.pem"},
            "local_controller.upstream_ca: /nope.pem does not exist",
        ),
        ({"OCPPD_LOCAL_CONTROLLER__PORTT": "1"}, "unknown setting(s) portt"),
        (
            {
                "OCPPD_LOCAL_CONTROLLER__UPSTREAM_URL": "ws://csms",
                "OCPPD_LOCAL_CONTROLLER__UPSTREAM_CERT": "/no/{identity}",
            },
            "local_controller.upstream_cert: folder /no does not exist",
        ),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(tmp_path: Path, env: dict[str, str], message: str) -> None:
    out = run([], env, tmp_path)
    assert out.returncode == 2, out
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], out.stderr


def test_bad_file_setting_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "lc.toml"
    config.write_text('[local_controller]\nupstream_url = "ws://csms"\ncredentials = "CP1=secret"\n')
    out = run(["--config", str(config)], {}, tmp_path)
    assert out.returncode == 2 and "local_controller.credentials is a table" in out.stderr, out.stderr


def test_busy_port_is_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {
            "OCPPD_LOCAL_CONTROLLER__UPSTREAM_URL": "ws://127.0.0.1:9",
            "OCPPD_LOCAL_CONTROLLER__HOST": "127.0.0.1",
            "OCPPD_LOCAL_CONTROLLER__PORT": str(port),
            "OCPPD_LOCAL_CONTROLLER__METRICS_PORT": str(free_port()),
        }
        out = run([], env, tmp_path)
    assert out.returncode == 2, out
    assert "cannot start: cannot listen on 127.0.0.1" in out.stderr and "local_controller.port" in out.stderr


def test_frame_heads_are_read_without_parsing() -> None:
    assert head(b'[2,"a1","BootNotification",{"x":1}]') == head(b' [ 2 , "a1" , "BootNotification", {}]')
    h = head(b'[2,"a1","BootNotification",{}]')
    assert (h.kind, h.message_id, h.action, h.is_call) == (2, "a1", "BootNotification", True)
    h = head(b'[3,"lc-1",{"status":"Accepted"}]')
    assert (h.kind, h.message_id, h.action, h.is_reply) == (3, "lc-1", "", True)
    h = head(b'[4,"x","NotImplemented","",{}]')
    assert (h.kind, h.message_id, h.action) == (4, "x", "")  # an error code is no action
    assert head(b'[2,"a\\"b","Heartbeat",{}]').message_id == 'a"b'
    for junk in (b"", b"hello", b'{"a":1}', b'[7,"x"]', b'[2,17,"Heartbeat",{}]'):
        assert head(junk) is UNREADABLE


def test_upstream_url_keeps_the_station_path() -> None:
    assert upstream_url("ws://csms:9000", "/ocpp/CP1") == "ws://csms:9000/ocpp/CP1"
    assert upstream_url("wss://csms.example.com/", "/ocpp/CP%201") == "wss://csms.example.com/ocpp/CP%201"
    assert upstream_url("wss://csms.example.com/prefix", "/ocpp/CP1") == "wss://csms.example.com/prefix/ocpp/CP1"
