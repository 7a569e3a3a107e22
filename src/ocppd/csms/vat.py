"""VAT number checks for VatNumberValidation (OCPP 2.1, TC_C_108): offline, by each country's format and
check digits (python-stdnum), without asking a tax authority's online register (VIES): a number that
passes is well formed and its check digits match, which is what ocppd can vouch for."""

from __future__ import annotations

from dataclasses import dataclass

import stdnum
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError

_EU_PREFIXES = ("EL", "EU")  # Greece's VAT prefix; the EU one-stop-shop scheme


@dataclass(frozen=True)
class VatCheck:
    valid: bool
    normalised: str
    reason_code: str | None = None  # OCPP StatusInfo.reasonCode when not valid
    detail: str | None = None


def check_vat_number(number: str) -> VatCheck:
    """The number's country (its two-letter prefix) decides the format and check digits that apply."""
    compact = "".join(ch for ch in number if ch.isalnum()).upper()
    country = compact[:2]
    if len(compact) < 3 or not country.isalpha():
        return VatCheck(False, compact, "InvalidValue", "a VAT number starts with its two-letter country code")
    in_eu = country.lower() in eu_vat.MEMBER_STATES or country in _EU_PREFIXES
    module = eu_vat if in_eu else stdnum.get_cc_module(country.lower(), "vat")
    if module is None:  # no rule known: we cannot say valid, and say why rather than pretend it is invalid
        return VatCheck(False, compact, "NotSupported", f"no VAT number rule known for country {country}")
    try:
        normalised = module.validate(compact)  # the country modules take the number with its prefix
    except ValidationError as error:
        return VatCheck(False, compact, "InvalidValue", f"{country}: {error.message}")
    if not str(normalised).upper().startswith(country):
        normalised = country + str(normalised)
    return VatCheck(True, str(normalised).upper())
