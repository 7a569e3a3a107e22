"""OSCP 2.0 messages, sans-I/O: validation names the field; forecasts become node limits."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from ocppd.protocol import oscp

T0 = "2026-12-01T12:00:00Z"
T1 = "2026-12-01T13:00:00Z"
T2 = "2026-12-01T14:00:00+01:00"  # = 13:00Z


def blk(capacity: float = 16, unit: str = "A", phase: str = "ALL", start: str = T0, end: str = T1) -> dict:
    return {"capacity": capacity, "phase": phase, "unit": unit, "start_time": start, "end_time": end}


def fc(*blocks: dict, kind: str = "CONSUMPTION") -> dict:
    return {"group_id": "g1", "type": kind, "forecasted_blocks": list(blocks)}


def field_of(fn: Callable[[Any], Any], body: Any) -> str:
    with pytest.raises(oscp.OscpInvalid) as info:
        fn(body)
    return info.value.field


def test_register_picks_the_version_this_side_speaks() -> None:
    reg = oscp.parse_register(
        {
            "token": "t",
            "version_url": [
                {"version": "1.0", "base_url": "http://x/1"},
                {"version": "2.0", "base_url": "https://x/2.0/"},
            ],
        }
    )
    assert reg.supported() == oscp.VersionUrl("2.0", "https://x/2.0")
    assert (
        oscp.parse_register({"token": "t", "version_url": [{"version": "1.0", "base_url": "http://x"}]}).supported()
        is None
    )
    assert field_of(oscp.parse_register, {"version_url": []}) == "token"
    assert field_of(oscp.parse_register, {"token": "t", "version_url": []}) == "version_url"
    assert field_of(
        oscp.parse_register, {"token": "t", "version_url": [{"version": "2.0", "base_url": "ftp://x"}]}
    ) == ("version_url[0].base_url")


def test_handshake_and_heartbeat() -> None:
    hs = oscp.parse_handshake(
        {"required_behaviour": {"heartbeat_interval": 30, "measurement_configuration": ["CONTINUOUS"]}}
    )
    assert hs.required_behaviour == oscp.RequiredBehaviour(30, ("CONTINUOUS",))
    assert field_of(oscp.parse_handshake, {}) == "required_behaviour"
    bad = {"required_behaviour": {"heartbeat_interval": 0}}
    assert field_of(oscp.parse_handshake, bad) == "required_behaviour.heartbeat_interval"
    bad = {"required_behaviour": {"measurement_configuration": ["SOMETIMES"]}}
    assert field_of(oscp.parse_handshake, bad) == "required_behaviour.measurement_configuration[0]"
    assert oscp.parse_handshake_acknowledgement({}).required_behaviour is None
    assert oscp.parse_heartbeat({"offline_mode_at": T2}).offline_mode_at == oscp.parse_time(T1, "x")
    assert field_of(oscp.parse_heartbeat, {"offline_mode_at": "2026-12-01T12:00:00"}) == "offline_mode_at"  # no zone
    assert field_of(oscp.parse_heartbeat, {}) == "offline_mode_at"


@pytest.mark.parametrize(
    ("block", "where"),
    [
        ({**blk(), "capacity": None}, "forecasted_blocks[0].capacity"),
        ({**blk(), "capacity": -1}, "forecasted_blocks[0].capacity"),
        ({**blk(), "capacity": True}, "forecasted_blocks[0].capacity"),
        ({**blk(), "phase": "FOUR"}, "forecasted_blocks[0].phase"),
        ({**blk(), "unit": "MW"}, "forecasted_blocks[0].unit"),
        ({**blk(), "start_time": "noon"}, "forecasted_blocks[0].start_time"),
        ({**blk(), "end_time": T0}, "forecasted_blocks[0].end_time"),
    ],
)
def test_a_malformed_block_names_its_field(block: dict, where: str) -> None:
    assert field_of(oscp.parse_forecast, fc(block)) == where


def test_forecast_fields() -> None:
    assert field_of(oscp.parse_forecast, {"type": "CONSUMPTION", "forecasted_blocks": []}) == "group_id"
    assert field_of(oscp.parse_forecast, {**fc(), "type": "MAYBE"}) == "type"
    assert field_of(oscp.parse_forecast, {"group_id": "g1", "type": "CONSUMPTION"}) == "forecasted_blocks"
    assert field_of(oscp.parse_forecast, [1]) == "(body)"


def limits(*blocks: dict, node_amps: tuple[float, float, float] | None = None) -> list[oscp.BlockLimit]:
    return oscp.block_limits(oscp.parse_forecast(fc(*blocks)).forecasted_blocks, 230.0, node_amps)


def test_forecast_blocks_become_limits_per_span_and_phase() -> None:
    (one,) = limits(blk(16))
    assert one.amps == (16, 16, 16) and one.watts is None and one.end - one.start == 3600
    (kw,) = limits(blk(11, unit="KW"))
    assert kw.amps is None and kw.watts == 11000
    (phased,) = limits(blk(10, phase="ONE"), blk(12, phase="TWO"), blk(2300, unit="W", phase="THREE"))
    assert phased.amps == (10, 12, 10)
    (partial,) = limits(blk(10, phase="TWO"), node_amps=(32.0, 32.0, 25.0))
    assert partial.amps == (32, 10, 25)
    (unknown,) = limits(blk(20, phase="UNKNOWN"))
    assert unknown.amps == (20, 20, 20)
    two = limits(blk(16, end=T1), blk(8, start=T1, end="2026-12-01T14:00:00Z"))
    assert [x.amps for x in two] == [(16, 16, 16), (8, 8, 8)]


def test_forecasts_that_cannot_apply_are_refused() -> None:
    with pytest.raises(oscp.OscpInvalid) as info:
        limits(blk(10, unit="KWH"))
    assert info.value.field == "forecasted_blocks[0].unit"
    with pytest.raises(oscp.OscpInvalid) as info:
        limits(blk(10, phase="ONE"))  # the node has no per-phase limit for the others
    assert info.value.field == "forecasted_blocks[0].phase"
    with pytest.raises(oscp.OscpInvalid) as info:
        limits(blk(10), blk(12, start="2026-12-01T12:30:00Z", end="2026-12-01T13:30:00Z"))
    assert info.value.field == "forecasted_blocks[1].start_time"
    with pytest.raises(oscp.OscpInvalid) as info:
        limits(blk(10), blk(12))
    assert info.value.field == "forecasted_blocks[1].phase"


def test_outgoing_messages() -> None:
    assert oscp.register("tok", "https://me/oscp/fp/2.0") == {
        "token": "tok",
        "version_url": [{"version": "2.0", "base_url": "https://me/oscp/fp/2.0"}],
    }
    assert oscp.required_behaviour(60) == {"measurement_configuration": ["CONTINUOUS"], "heartbeat_interval": 60}
    assert oscp.heartbeat(0) == {"offline_mode_at": "1970-01-01T00:00:00.000Z"}
    (b,) = oscp.parse_forecast(fc(blk())).forecasted_blocks
    err = oscp.compliance_error("g1", "too much", [b])
    assert err["group_id"] == "g1" and oscp.parse_block(err["forecasted_blocks"][0], "x") == b
    m = oscp.group_measurements("g1", [oscp.EnergyReading(1.23456, "ONE", 60, 0)])
    assert m["measurements"][0] == {
        "value": 1.235,
        "phase": "ONE",
        "unit": "WH",
        "direction": "IMPORT",
        "energy_type": "FLEXIBLE",
        "measure_time": "1970-01-01T00:01:00.000Z",
        "initial_measure_time": "1970-01-01T00:00:00.000Z",
    }
    assert math.isclose(oscp.parse_time(T2, "x"), oscp.parse_time(T1, "x"))
