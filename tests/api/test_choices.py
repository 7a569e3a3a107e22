"""Enumerated values of typed commands are taken in any letter case and kept in their canonical spelling."""

import pytest
from pydantic import ValidationError

from ocppd.api.commands import ChargingProfileBody, Reset


@pytest.mark.parametrize("given", ["soft", "SOFT", "Soft", " soft "])
def test_reset_type_in_any_case(given: str) -> None:
    assert Reset(type=given).type == "soft"


def test_dash_stands_for_underscore() -> None:
    assert Reset(type="immediate-and-resume").type == "immediate_and_resume"


def test_ocpp_spellings_stay_canonical() -> None:
    body = ChargingProfileBody(
        id=1, purpose="TX_DEFAULT", kind="absolute", unit="w", periods=[{"start_s": 0, "limit": 11000}]
    )
    assert (body.purpose, body.kind, body.unit) == ("tx_default", "Absolute", "W")


def test_other_values_are_still_refused() -> None:
    with pytest.raises(ValidationError, match="soft"):
        Reset(type="gentle")
