"""A template's 2.1 ``tx_limit`` (the limit a simulated station sets itself) is checked when loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocppd.station.template import TemplateError, expand, load_template


def test_a_stations_own_limit_comes_from_the_template(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("stations:\n  - ocpp: '2.1'\n    tx_limit: {maxEnergy: 6000, maxTime: 120}\n")
    [config] = expand(load_template(good), "ws://127.0.0.1:1/ocpp")
    assert config.tx_limit == {"maxEnergy": 6000, "maxTime": 120}
    for bad, why in (("{maxWatts: 5}", "unknown limit 'maxWatts'"), ("{maxTime: 1.5}", "maxTime must be a positive"),
                     ("{maxEnergy: -1}", "maxEnergy must be a positive")):  # fmt: skip
        path = tmp_path / "bad.yaml"
        path.write_text(f"stations:\n  - ocpp: '2.1'\n    tx_limit: {bad}\n")
        with pytest.raises(TemplateError, match=why) as caught:
            load_template(path)
        assert "field 'stations.0.tx_limit" in str(caught.value)
