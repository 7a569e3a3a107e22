"""Named relaxations for real chargers that break the schemas.

Strict validation is the default. A relaxation is switched on per station or per model (the CSMS
configuration decides which); every time one lets a payload through, the validator reports its
name so that the caller logs and counts it: nothing is ever relaxed silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Relaxation(StrEnum):
    UNKNOWN_ENUM_VALUES = "accept_unknown_enum_values"
    """An enum field carries a value the schema does not list (e.g. an invented measurand)."""

    TRUNCATE_LONG_STRINGS = "truncate_long_strings"
    """A string is longer than its maxLength (e.g. a 30-character serial number): cut it to fit."""

    LENIENT_DATETIME = "lenient_datetime"
    """A date-time that is not RFC 3339 (typically local time without an offset)."""

    SKIP_VALIDATION = "skip_validation"
    """No validation at all for the actions listed in :attr:`CompatProfile.skip_actions`."""


@dataclass(frozen=True, slots=True)
class CompatProfile:
    """The relaxations in force for one station."""

    relaxations: frozenset[Relaxation] = frozenset()
    skip_actions: frozenset[str] = field(default_factory=frozenset)

    @property
    def strict(self) -> bool:
        return not self.relaxations and not self.skip_actions

    @classmethod
    def parse(cls, names: list[str] | tuple[str, ...]) -> CompatProfile:
        """Build a profile from configuration strings: relaxation names, or ``skip_validation:Action``.

        Raises ValueError naming the offending entry.
        """
        relaxations: set[Relaxation] = set()
        skip: set[str] = set()
        for name in names:
            if name.startswith(Relaxation.SKIP_VALIDATION.value + ":"):
                skip.add(name.split(":", 1)[1])
                relaxations.add(Relaxation.SKIP_VALIDATION)
                continue
            try:
                relaxations.add(Relaxation(name))
            except ValueError:
                known = ", ".join(r.value for r in Relaxation)
                raise ValueError(f"unknown relaxation {name!r} (known: {known})") from None
        return cls(frozenset(relaxations), frozenset(skip))


STRICT = CompatProfile()
