"""``ocppd simulate`` as an operator runs it (issue 8): it says why stations never booted and exits
non-zero, and its default cards are valid in every OCPP version. A real ``ocppd serve`` process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocppd.station.model import default_id_tags
from tests.csms_process import CsmsProcess, run_csms
from tests.pki import Pki

pytestmark = pytest.mark.slow  # `ocppd simulate` fleets as real processes (minutes)


def simulate(url: str, *args: str, duration: float = 3) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "ocppd.cli", "simulate", "--url", url, "-n", "1", "--duration", str(duration),
         "--no-live", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    summary = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    return done.returncode, summary, done.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CsmsProcess]:
    with run_csms(tmp_path_factory.mktemp("simulate")) as s:
        yield s


def test_a_refused_password_exits_non_zero_and_says_so(server: CsmsProcess) -> None:
    server.cli("stations", "add", "SIM-00001", "--password", "the-right-password-1")
    code, summary, stderr = simulate(server.ws_url, "--scenario", "idle", "--password", "a-wrong-password-22")
    assert code == 1
    assert summary["booted"] == 0 and summary["never_booted"] == {"HTTP 401 (wrong or missing password)": 1}
    assert "1 of 1 stations never booted: HTTP 401 (wrong or missing password)" in stderr


def test_a_failed_tls_handshake_is_reported_as_such(tmp_path: Path) -> None:
    pki = Pki.create(tmp_path / "pki")
    env = {"OCPPD_OCPP__TLS_CERT": str(pki.server.cert), "OCPPD_OCPP__TLS_KEY": str(pki.server.key)}
    with run_csms(tmp_path, extra_env=env) as tls_server:
        url = f"wss://127.0.0.1:{tls_server.ocpp_port}/ocpp"
        code, summary, stderr = simulate(url, "--scenario", "idle")  # no --ca-file: the CA is unknown
    assert code == 1
    (reason,) = summary["never_booted"]
    assert reason.startswith("TLS handshake failed") and "CERTIFICATE_VERIFY_FAILED" in reason.upper(), reason
    assert "IndexError" not in stderr and "never booted: TLS handshake failed" in stderr


def test_all_booted_exits_zero(server: CsmsProcess) -> None:
    code, summary, stderr = simulate(server.ws_url, "--scenario", "idle", "--id-pattern", "SIMOK-{n:03d}")
    assert code == 0, stderr
    assert summary["booted"] == 1 and summary["never_booted"] == {}


def test_default_cards_are_iso14443_uids() -> None:
    tags = default_id_tags()
    assert len(tags) == 50 and len(set(tags)) == 50
    assert all(re.fullmatch(r"[0-9A-F]{8}", tag) for tag in tags)  # 2.0.1 ISO14443: 8 or 14 hex digits


def test_default_cards_charge_in_2_0_1_with_the_documented_tokens_command(server: CsmsProcess) -> None:
    server.cli("tokens", "add", *[f"04A1{i:04d}" for i in range(1, 51)])  # = $(seq -f 04A1%04g 1 50)
    code, summary, stderr = simulate(
        server.ws_url, "--ocpp", "2.0.1", "--id-pattern", "SIM201-{n:03d}", "--arrival-mean", "0.2",
        "--session-min", "1", "--session-max", "2", "--badge-delay", "0.1", "--seed", "1", duration=8,
    )  # fmt: skip
    assert code == 0, stderr
    assert summary["sessions"] >= 1, summary
    rows = json.loads(server.cli("transactions", "list", "--station", "SIM201-001", "--json").stdout)
    assert rows and all(re.fullmatch(r"04A1\d{4}", r["id_token"]) for r in rows), rows


def test_the_template_example_in_the_docs_works(tmp_path: Path) -> None:
    from ocppd.station.template import expand, load_template

    doc = (Path(__file__).parents[2] / "docs" / "simulator.md").read_text()
    example = next(block for block in doc.split("```yaml\n")[1:] if "\nstations:" in block.split("```")[0])
    path = tmp_path / "fleet.yaml"
    path.write_text(example.split("```")[0])
    configs = expand(load_template(path), "ws://127.0.0.1:9000/ocpp")
    assert len(configs) == 260 and configs[0].identity == "ACME-0001"
    assert all(re.fullmatch(r"[0-9A-F]{8}", tag) for tag in configs[0].id_tags)


def test_an_unknown_firmware_fault_is_one_line_and_exit_2() -> None:
    code, _summary, err = simulate("ws://127.0.0.1:1/ocpp", "--firmware-fault", "bogus", duration=1)
    assert code == 2 and err.strip().count("\n") == 0 and "--firmware-fault" in err and "keep-version" in err
