"""Authorization: id tokens with status, expiry and group; unknown tokens are Invalid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ocppd.store import Store, repo


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # Accepted | Blocked | Expired | Invalid | ConcurrentTx
    expiry: datetime | None = None
    group_id: str | None = None

    def id_tag_info(self) -> dict[str, Any]:
        """The 1.6 ``idTagInfo``."""
        info: dict[str, Any] = {"status": self.status}
        if self.expiry is not None:
            info["expiryDate"] = _rfc3339(self.expiry)
        if self.group_id:
            info["parentIdTag"] = self.group_id
        return info

    def id_token_info(self) -> dict[str, Any]:
        """The 2.0.1/2.1 ``idTokenInfo``."""
        info: dict[str, Any] = {"status": self.status}
        if self.expiry is not None:
            info["cacheExpiryDateTime"] = _rfc3339(self.expiry)
        if self.group_id:
            info["groupIdToken"] = {"idToken": self.group_id, "type": "Central"}
        return info


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def verdict_for(token: Any | None, now: datetime | None = None) -> Verdict:
    """Judge a stored token row (or its absence)."""
    if token is None:
        return Verdict("Invalid")
    now = now or datetime.now(UTC)
    if token.status != "Accepted":
        return Verdict(token.status, token.expiry, token.group_id)
    if token.expiry is not None and token.expiry <= now:
        return Verdict("Expired", token.expiry, token.group_id)
    return Verdict("Accepted", token.expiry, token.group_id)


class Authorization:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def authorize(self, id_token: str) -> Verdict:
        return verdict_for(await self.store.read(repo.get_token, id_token))
