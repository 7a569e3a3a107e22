"""Templates, scripted scenarios, the Fleet API and the simulate CLI against the ocpp-package CSMS."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ocppd.protocol.versions import OcppVersion
from ocppd.station.fleet import Fleet
from ocppd.station.station import Station
from ocppd.station.template import StationGroup, Template, TemplateError, expand, load_script, load_template
from tests.station.csms import OcppCsms

TEMPLATE = """
stations:
  - id: "ACME-{n:03d}"
    count: 3
    ocpp: mixed
    vendor: ACME
    model: Wallbox
    evses: [1, 2]
    max_power_kw: 11
    config: {HeartbeatInterval: "1", MeterValueSampleInterval: "1"}
  - id: "TOML-ish-{n}"
    ocpp: "2.1"
"""

SCRIPT = """
repeat: 1
steps:
  - plug: 1
  - start: 1
    id_tag: SCRIPTED
  - wait_status: 1
    status: Charging
  - wait: 1.2
  - stop: 1
  - unplug: 1
"""


def test_template_expands(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(TEMPLATE)
    configs = expand(load_template(path), "ws://127.0.0.1:1/ocpp")
    assert [c.identity for c in configs] == ["ACME-001", "ACME-002", "ACME-003", "TOML-ish-1"]
    assert [c.version for c in configs] == [OcppVersion.V16, OcppVersion.V201, OcppVersion.V21, OcppVersion.V21]
    assert configs[0].evses == [1, 2] and configs[0].max_power_w == 11000
    assert configs[0].settings["heartbeat_interval"] == 1


def test_iso15118_share_and_watts_only_from_the_template(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("stations:\n  - ocpp: '2.0.1'\n    ev_iso15118: 0.5\n"
                    "    config: {SmartChargingCtrlr.RateUnit: W}\n")  # fmt: skip
    [config] = expand(load_template(path), "ws://127.0.0.1:1/ocpp")
    assert config.iso15118_share == 0.5
    from ocppd.station.settings import Settings, rate_units

    assert rate_units("Current,Power") == ("A", "W") and rate_units("W") == ("W",) and rate_units("Power") == ("W",)
    settings = Settings(config.settings)
    assert settings.rate_units() == ("W",) and settings.render_2x("rate_units") == "W"


def test_toml_template(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text('url = "ws://x/ocpp"\n[[stations]]\nid = "T-{n}"\ncount = 2\nocpp = "1.6"\n')
    assert [c.identity for c in expand(load_template(path), None)] == ["T-1", "T-2"]


@pytest.mark.parametrize(("text", "field"), [
    ("stations:\n  - ocpp: '1.7'\n", "stations.0.ocpp"),
    ("stations:\n  - count: -1\n", "stations.0.count"),
    ("stations:\n  - evses: [0]\n", "stations.0.evses"),
    ("stations:\n  - colour: red\n", "stations.0.colour"),
    ("stations:\n  - config: {NoSuchKey: '1'}\n", "stations.0.config"),
    ("stations: []\n", "stations"),
    ("stations:\n  - id: 'X-{m}'\n", "stations.0.id"),
    ("stations:\n  - ev_iso15118: 1.5\n", "stations.0.ev_iso15118"),
])  # fmt: skip
def test_invalid_template_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TemplateError, match=f"field '{field}'"):
        load_template(path)


def test_invalid_script_names_the_step(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("steps:\n  - wait: 1\n  - plug: 1\n    unplug: 1\n")
    with pytest.raises(TemplateError, match=r"field 'steps\.1'"):
        load_script(path)


async def test_fleet_api_with_script(csms: OcppCsms, tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text(TEMPLATE)
    (tmp_path / "script.yaml").write_text(SCRIPT)
    configs = expand(load_template(tmp_path / "fleet.yaml"), csms.url)
    steps: list[str] = []
    async with Fleet(configs, scenario=load_script(tmp_path / "script.yaml"),
                     on_event=lambda st, kind, data: steps.append(kind)) as fleet:  # fmt: skip
        await fleet.wait_booted(timeout=10)
        await asyncio.wait_for(_sessions_done(fleet, 4), 15)
        summary = fleet.summary()
    assert summary["sessions"] == 4 and summary["error_count"] == 0
    assert summary["energy_kwh"] > 0
    assert steps.count("step") == 4 * 6
    assert csms.errors == []


async def _sessions_done(fleet: Fleet, count: int) -> None:
    while sum(st.counters["sessions"] for st in fleet.stations) < count or fleet.charging():
        await asyncio.sleep(0.05)


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ocppd.station.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_simulate_and_load(csms: OcppCsms, tmp_path: Path) -> None:
    code, out, err = await _cli("--url", csms.url, "-n", "6", "--duration", "3", "--no-live", "--ramp-up", "0",
                                "--arrival-mean", "0.5", "--session-min", "0.5", "--session-max", "1",
                                "--badge-delay", "0.2", "--meter-interval", "1", "--seed", "7")  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["booted"] == 6 and summary["error_count"] == 0 and summary["sessions"] > 0
    code, out, err = await _cli("--url", csms.url, "-n", "3", "--load", "--messages", "60", "--ramp-up", "0",
                                "--mix", "Heartbeat=1,MeterValues=2,DataTransfer=1")  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["messages"] >= 60 and result["errors"] == 0 and result["latency"]["p50_ms"] > 0
    assert csms.errors == []


async def test_cli_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[stations]]\nmax_power_kw = 'lots'\n")
    code, _, err = await _cli("--url", "ws://127.0.0.1:1/ocpp", "--template", str(bad))
    assert code == 2 and "stations.0.max_power_kw" in err
    code, _, err = await _cli("--url", "ws://127.0.0.1:1/ocpp", "--load", "--mix", "Coffee=1")
    assert code == 2 and "Coffee" in err


async def test_default_scenario_never_uses_one_card_twice_at_once(csms: OcppCsms) -> None:
    """Six connectors, two drivers' cards: a card charges one car at a time, as it would for real
    (a CSMS answers a second concurrent start with ConcurrentTx)."""
    group = StationGroup(id="CARDS-{n}", count=3, ocpp="mixed", evses=[1, 1], id_tags=["A", "B"])
    configs = expand(Template(stations=[group]), csms.url, overrides={"meter_sample_interval": 1})
    charging: dict[str, str] = {}  # card -> station/connector charging with it
    overlaps: list[str] = []

    def on_event(st: Station, kind: str, data: dict[str, Any]) -> None:
        where = f"{st.identity}/{data.get('connector')}"
        if kind == "tx_started":
            if data["id_tag"] in charging:
                overlaps.append(f"{data['id_tag']} at {where} while at {charging[data['id_tag']]}")
            charging[data["id_tag"]] = where
        elif kind == "tx_stopped":
            for card, at in list(charging.items()):
                if at == where:
                    del charging[card]

    options = {"arrival_mean_s": 0.2, "session_min_s": 0.3, "session_max_s": 0.6, "badge_delay_max_s": 0.05,
               "seed": 3}  # fmt: skip
    async with Fleet(configs, scenario="default", scenario_options=options, on_event=on_event) as fleet:
        await fleet.wait_booted(timeout=10)
        deadline = asyncio.get_running_loop().time() + 20
        while sum(st.counters["sessions"] for st in fleet.stations) < 6:
            assert asyncio.get_running_loop().time() < deadline, "fewer than 6 sessions in 20 s"
            await asyncio.sleep(0.05)
    assert overlaps == []
    assert csms.errors == []
