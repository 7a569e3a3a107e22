"""Enumerated request values that accept any letter case (and ``-`` for ``_``).

The canonical spelling is kept in answers and in the OpenAPI document: OCPP enumerations as the
specification spells them (``Absolute``, ``Daily``, ``W``), ocppd's own version-neutral choices in
snake_case (``soft``, ``tx_default``). A caller need not remember which is which.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator


def _key(value: str) -> str:
    return value.strip().lower().replace("-", "_")


def choice(*values: str) -> Any:
    """``Literal[values]`` that also takes ``value`` in any case; anything else is refused as before."""
    canonical = {_key(v): v for v in values}

    def normalise(value: object) -> object:
        return canonical.get(_key(value), value) if isinstance(value, str) else value

    return Annotated[Literal[values], BeforeValidator(normalise)]  # type: ignore[valid-type]
