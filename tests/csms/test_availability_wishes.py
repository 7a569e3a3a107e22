"""The pure parts of ChangeAvailability as state: which scope a request names, when the reported
statuses show a wish applied, and which wish decides a connector."""

from __future__ import annotations

from typing import Any

from ocppd.csms.availability import applied, effective, scope_of


def test_scope_of_1_6_and_2_x_requests() -> None:
    assert scope_of(True, {"connectorId": 0, "type": "Inoperative"}) == ((0, 0), False)
    assert scope_of(True, {"connectorId": 2, "type": "Operative"}) == ((2, 0), True)
    assert scope_of(False, {"operationalStatus": "Inoperative"}) == ((0, 0), False)
    assert scope_of(False, {"operationalStatus": "Operative", "evse": {"id": 1}}) == ((1, 0), True)
    assert scope_of(False, {"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 2}}) == ((1, 2), False)


STATUSES = [(0, 0, "Available"), (1, 1, "Unavailable"), (1, 2, "Occupied"), (2, 1, "Unavailable")]


def test_applied_needs_every_connector_of_the_scope() -> None:
    assert applied((1, 1), False, STATUSES)
    assert not applied((1, 0), False, STATUSES)  # connector 2 of EVSE 1 still occupied
    assert applied((2, 0), False, STATUSES)
    assert not applied((0, 0), False, STATUSES)
    assert applied((1, 2), True, STATUSES)
    assert not applied((3, 0), False, STATUSES)  # nothing reported there: not shown yet


def test_a_station_scope_falls_back_to_connector_0_when_that_is_all_that_was_reported() -> None:
    assert applied((0, 0), False, [(0, 0, "Unavailable")])
    assert not applied((0, 0), False, [])


def wish(evse: int, connector: int, operative: bool, state: str = "applied") -> dict[str, Any]:
    return {"evse_id": evse, "connector_id": connector, "operative": operative, "state": state}


def test_an_inoperative_wish_above_a_connector_decides_it() -> None:
    wishes = [wish(0, 0, False), wish(1, 1, True)]
    assert effective(wishes, 1, 1) == wishes[0]
    assert effective([wish(1, 0, True), wish(1, 1, False)], 1, 1)["operative"] is False
    assert effective([wish(0, 0, True), wish(1, 0, True)], 1, 1) == wish(1, 0, True)  # the most specific
    assert effective([wish(2, 0, False)], 1, 1) is None
    assert effective([wish(0, 0, False, "rejected"), wish(1, 0, True)], 1, 1) == wish(1, 0, True)
