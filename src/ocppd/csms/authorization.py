"""Authorization: id tokens with status, expiry, type and group; verdicts for every message that carries one.

The verdict is a pure function of the stored token (and its group), what the station presented and
why (``Purpose``): starting a charge, stopping one, or a plain Authorize. The store lookups happen in
the callers, so the rules are tested without I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from ocppd.store import Store, TokenRow, repo

# OCPP 2.0.1 IdTokenEnumType (2.1 keeps these and allows others). 1.6 idTags carry no type.
TOKEN_TYPES = ("Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization")

_HEX = re.compile(r"[0-9A-Fa-f]+")
# ISO 15118-2 eMAID: country, provider, 9 characters of the instance, optional check digit; dashes optional.
_EMAID = re.compile(r"[A-Za-z]{2}-?[A-Za-z0-9]{3}-?[A-Za-z0-9]{9}(-?[A-Za-z0-9])?")
_MAC = re.compile(r"[0-9A-Fa-f]{12}|([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}")


def token_format_problem(token_type: str | None, value: str) -> str | None:
    """Why ``value`` cannot be an id token of ``token_type`` (None: it can).

    ISO14443 UIDs are 4 or 7 bytes (8 or 14 hex digits), ISO15693 UIDs 8 bytes (16), a MAC address
    6 bytes; NoAuthorization carries an empty id; the others are free text within the schema limits.
    """
    if token_type is None:
        return None
    if token_type == "ISO14443":
        if not (_HEX.fullmatch(value) and len(value) in (8, 14)):
            return "an ISO14443 id token is a 4- or 7-byte UID: 8 or 14 hexadecimal digits"
    elif token_type == "ISO15693":
        if not (_HEX.fullmatch(value) and len(value) == 16):
            return "an ISO15693 id token is an 8-byte UID: 16 hexadecimal digits"
    elif token_type == "eMAID":
        if not _EMAID.fullmatch(value):
            return "an eMAID is 14 or 15 characters (ISO 15118), e.g. NLABC123456789 or NL-ABC-123456789-5"
    elif token_type == "MacAddress":
        if not _MAC.fullmatch(value):
            return "a MacAddress id token is 6 bytes: 12 hexadecimal digits, optionally separated by ':' or '-'"
    elif token_type == "NoAuthorization":
        if value:
            return "a NoAuthorization id token is empty"
    elif token_type == "KeyCode":
        if not value:
            return "a KeyCode id token is not empty"
    elif token_type not in TOKEN_TYPES:
        return f"unknown id token type {token_type!r} (one of {', '.join(TOKEN_TYPES)})"
    return None


_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,4})?")  # RFC 5646, within idTokenInfo's 8 characters


def languages_problem(language1: str | None, language2: str | None) -> str | None:
    """Why these cannot be a driver's languages (None: they can). 2.x: language2 is not used without
    language1 and differs from it."""
    for name, language in (("language1", language1), ("language2", language2)):
        if language is not None and not _LANGUAGE.fullmatch(language):
            return f"{name}: {language!r} is not a language code (RFC 5646, e.g. nl, de-CH)"
    if language2 and not language1:
        return "language2: needs language1"
    if language2 and language1 and language2.lower() == language1.lower():
        return "language2: must differ from language1"
    return None


def same_language(a: str | None, b: str) -> bool:
    """nl matches nl-NL and the other way round (RFC 5646 primary subtag), any case."""
    return a is not None and (a.lower() == b.lower() or a.split("-")[0].lower() == b.split("-")[0].lower())


def in_language(texts: Sequence[str], preferred: Sequence[str]) -> int | None:
    """The index of the first of ``texts`` (language codes) in the first preferred language that has one."""
    for wanted in preferred:
        for i, language in enumerate(texts):
            if same_language(language, wanted):
                return i
    return None


class Purpose(Enum):
    AUTHORIZE = "authorize"  # Authorize: may start or stop, the station decides
    START = "start"  # StartTransaction, TransactionEvent starting or authorizing a transaction
    STOP = "stop"  # StopTransaction's idTag, TransactionEvent StopAuthorized / Ended with a token


@dataclass(frozen=True, slots=True)
class Verdict:
    # Accepted | Blocked | Expired | Invalid | ConcurrentTx | Unknown (2.x only; 1.6 says Invalid)
    status: str
    expiry: datetime | None = None
    group_id: str | None = None
    languages: tuple[str, ...] = ()  # the driver's preferred languages, first the most preferred

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"

    def id_tag_info(self) -> dict[str, Any]:
        """The 1.6 ``idTagInfo``."""
        info: dict[str, Any] = {"status": "Invalid" if self.status == "Unknown" else self.status}
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
        for key, language in zip(("language1", "language2"), self.languages, strict=False):
            info[key] = language
        return info


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def verdict_for(token: Any | None, now: datetime | None = None) -> Verdict:
    """Judge a stored token row by itself (or its absence: Unknown)."""
    if token is None:
        return Verdict("Unknown")
    now = now or datetime.now(UTC)
    languages = getattr(token, "languages", ())  # rows without languages (a cache entry) have none
    if token.status != "Accepted":
        return Verdict(token.status, token.expiry, token.group_id, languages)
    if token.expiry is not None and token.expiry <= now:
        return Verdict("Expired", token.expiry, token.group_id, languages)
    return Verdict("Accepted", token.expiry, token.group_id, languages)


@dataclass(frozen=True, slots=True)
class Presented:
    """An id token as a station presented it (``token_type`` None in 1.6)."""

    value: str
    token_type: str | None = None


def judge(
    presented: Presented,
    token: TokenRow | None,
    group: TokenRow | None,
    purpose: Purpose,
    *,
    master_pass_group: str = "",
    in_use_elsewhere: bool = False,
    concurrent_default: bool = False,
    now: datetime | None = None,
) -> Verdict:
    """The verdict on a presented token (pure).

    - a token whose type/format is impossible is Invalid; one stored with another type is Unknown;
    - NoAuthorization needs no token and is Accepted;
    - the token's own status/expiry, then its group's (a blocked group blocks its members);
    - a master-pass token (2.0.1 MasterPassGroupId) is Accepted to stop any transaction, never to start;
    - ConcurrentTx when starting with a token that is in a live transaction elsewhere and whose
      policy (token, else group, else the default) forbids concurrent use.
    """
    if presented.token_type == "NoAuthorization" and not presented.value:
        return Verdict("Accepted")
    if token_format_problem(presented.token_type, presented.value) is not None:
        return Verdict("Invalid")
    if token is None or (presented.token_type and token.token_type and presented.token_type != token.token_type):
        return Verdict("Unknown")
    verdict = verdict_for(token, now)
    if not verdict.accepted:
        return verdict
    if group is not None and group.id_token != token.id_token:
        group_verdict = verdict_for(group, now)
        if group_verdict.status in ("Blocked", "Expired", "Invalid"):
            return Verdict(group_verdict.status, verdict.expiry, verdict.group_id)
    if master_pass_group and token.group_id == master_pass_group:
        return verdict if purpose is not Purpose.START else Verdict("Invalid", verdict.expiry, verdict.group_id)
    if purpose is Purpose.START and in_use_elsewhere and not allows_concurrent(token, group, concurrent_default):
        return Verdict("ConcurrentTx", verdict.expiry, verdict.group_id)
    return verdict


def allows_concurrent(token: TokenRow, group: TokenRow | None, default: bool) -> bool:
    if token.concurrent_tx is not None:
        return token.concurrent_tx
    if group is not None and group.concurrent_tx is not None:
        return group.concurrent_tx
    return default


def same_group(a: TokenRow | None, b_value: str | None, b_group: str | None) -> bool:
    """Whether token ``a`` and the token ``b_value`` (with group ``b_group``) share a group (1.6 parentIdTag,
    2.x groupIdToken), a token counting as the group of itself."""
    if a is None or not b_value:
        return False
    groups_a = {a.id_token, a.group_id} - {None}
    groups_b = {b_value, b_group} - {None}
    return bool(groups_a & groups_b) and (a.group_id is not None or b_group is not None)


def lookup(conn: Any, value: str) -> tuple[TokenRow | None, TokenRow | None]:
    """The stored token and its group token (if the group is itself a stored token)."""
    token = repo.get_token(conn, value) if value else None
    group = repo.get_token(conn, token.group_id) if token is not None and token.group_id else None
    return token, group


class Authorization:
    def __init__(
        self,
        store: Store,
        *,
        master_pass_group: str = "",
        concurrent_default: bool = False,
    ) -> None:
        self.store = store
        self.master_pass_group = master_pass_group
        self.concurrent_default = concurrent_default
        # (conn, station_id, token) -> whether the token is in a live transaction on another station;
        # set by the transactions block, which knows which transactions are live.
        self.in_use_on_other_station: Callable[[Any, str, str], bool] | None = None

    def judge_in(self, conn: Any, presented: Presented, purpose: Purpose, *, in_use_elsewhere: bool = False) -> Verdict:
        token, group = lookup(conn, presented.value)
        return judge(
            presented,
            token,
            group,
            purpose,
            master_pass_group=self.master_pass_group,
            in_use_elsewhere=in_use_elsewhere,
            concurrent_default=self.concurrent_default,
        )

    async def authorize(self, station_id: str, presented: Presented) -> Verdict:
        """An Authorize request. ConcurrentTx only for a token charging on another station right now
        (on the same station the Authorize may be the one that stops it)."""

        def op(conn: Any) -> Verdict:
            check = self.in_use_on_other_station
            elsewhere = check is not None and bool(presented.value) and check(conn, station_id, presented.value)
            purpose = Purpose.START if elsewhere else Purpose.AUTHORIZE
            return self.judge_in(conn, presented, purpose, in_use_elsewhere=elsewhere)

        return await self.store.read(op)
