"""Availability (OCA block G, CSMS side): ChangeAvailability for an EVSE, a connector or the whole
station, with exactly the fields each case wants (evse omitted for the station, connectorId omitted
for an EVSE), against a 2.0.1 station of the `ocpp` package."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.csms_process import CsmsProcess
from tests.verbs.conftest import command, new_id
from tests.verbs.stations import connected

# case -> (typed command body, the evse the station must receive: None = field omitted)
CASES: dict[str, tuple[dict[str, Any], dict[str, int] | None]] = {
    "g_03_evse_inoperative": ({"operative": False, "evse_id": 1}, {"id": 1}),
    "g_04_evse_operative": ({"operative": True, "evse_id": 1}, {"id": 1}),
    "g_05_station_inoperative": ({"operative": False}, None),
    "g_06_station_operative": ({"operative": True}, None),
    "g_07_connector_inoperative": ({"operative": False, "evse_id": 1, "connector_id": 1}, {"id": 1, "connector_id": 1}),
    "g_08_connector_operative": ({"operative": True, "evse_id": 1, "connector_id": 1}, {"id": 1, "connector_id": 1}),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_tc_g_03_to_g_08_change_availability(csms: CsmsProcess, api: httpx.AsyncClient, case: str) -> None:
    body, evse = CASES[case]
    sid = new_id(case[:4].upper())
    async with connected(csms.ws_url, sid, "2.0.1") as st:
        r = await command(api, sid, "change-availability", body)
        assert r["action"] == "ChangeAvailability" and r["result"]["accepted"]
        sent = st.last("ChangeAvailability")
        assert sent["operational_status"] == ("Operative" if body["operative"] else "Inoperative")
        assert sent["evse"] == evse
        assert ("evse" in r["request"]) is (evse is not None)
        if evse is not None:
            assert ("connectorId" in r["request"]["evse"]) is ("connector_id" in evse)
