"""Which tariff assignment applies (pure): token > group > EVSE > station > site > default; combined
assignments outrank their parts; ties go to the newest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocppd.csms.billing.service import choose_assignment
from ocppd.store.billing_repo import AssignmentRow

_ids = iter(range(1, 1000))


def assignment(tariff: str, **where: Any) -> AssignmentRow:
    fields: dict[str, Any] = {"station_id": None, "evse_id": None, "group_id": None, "id_token": None, "site_id": None}
    fields.update(where)
    return AssignmentRow(id=next(_ids), tariff_id=tariff, created_at=datetime.now(UTC), created_by=None, **fields)


def test_the_most_specific_assignment_wins_in_the_documented_order() -> None:
    ladder = [
        assignment("default"),
        assignment("site", site_id="depot"),
        assignment("station", station_id="CP1"),
        assignment("evse", station_id="CP1", evse_id=1),
        assignment("group", group_id="FLEET"),
        assignment("token", id_token="04A10001"),
    ]
    for top in range(len(ladder)):  # each one beats everything below it, whatever the insertion order
        candidates = list(reversed(ladder[: top + 1]))
        chosen = choose_assignment(candidates, evse_id=1)
        assert chosen is not None and chosen.tariff_id == ladder[top].tariff_id


def test_an_evse_assignment_applies_only_at_its_evse() -> None:
    station, evse2 = assignment("station", station_id="CP1"), assignment("evse2", station_id="CP1", evse_id=2)
    chosen = choose_assignment([station, evse2], evse_id=1)
    assert chosen is not None and chosen.tariff_id == "station"


def test_combined_assignments_outrank_their_parts_and_ties_go_to_the_newest() -> None:
    group, fleet_on_site = (
        assignment("group", group_id="FLEET"),
        assignment("fleet-site", group_id="FLEET", site_id="depot"),
    )
    chosen = choose_assignment([fleet_on_site, group], evse_id=None)
    assert chosen is not None and chosen.tariff_id == "fleet-site"
    older, newer = assignment("older", site_id="depot"), assignment("newer", site_id="depot")
    chosen = choose_assignment([newer, older], evse_id=None)
    assert chosen is not None and chosen.tariff_id == "newer"
    assert choose_assignment([], evse_id=None) is None
