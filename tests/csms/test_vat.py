"""The offline VAT number check behind VatNumberValidation (TC_C_108): country rules and check digits."""

from __future__ import annotations

import pytest

from ocppd.csms.vat import check_vat_number


@pytest.mark.parametrize(
    ("number", "normalised"),
    [("DE136695976", "DE136695976"), ("de 136 695 976", "DE136695976"), ("NL004495445B01", "NL004495445B01"),
     ("EL094259216", "EL094259216"), ("GB980780684", "GB980780684"), ("CHE-116.281.710 MWST", "CHE116281710MWST")],
)  # fmt: skip
def test_valid_numbers_pass_and_are_normalised(number: str, normalised: str) -> None:
    check = check_vat_number(number)
    assert (check.valid, check.normalised, check.reason_code) == (True, normalised, None)


@pytest.mark.parametrize("number", ["DE136695977", "NL004495446B01", "FR12", "ATU1358562", "CH123"])
def test_wrong_check_digits_or_lengths_are_invalid(number: str) -> None:
    check = check_vat_number(number)
    assert (check.valid, check.reason_code) == (False, "InvalidValue") and check.detail


@pytest.mark.parametrize("number", ["", "12", "1DE136695976"])
def test_a_number_without_its_country_prefix_is_invalid(number: str) -> None:
    check = check_vat_number(number)
    assert (check.valid, check.reason_code) == (False, "InvalidValue") and "country code" in str(check.detail)


def test_a_country_without_a_known_rule_is_not_called_valid() -> None:
    check = check_vat_number("XX123456789")
    assert (check.valid, check.reason_code) == (False, "NotSupported") and "XX" in str(check.detail)
