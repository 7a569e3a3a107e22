"""OSCP 2.0 state (docs/smart-charging.md#oscp-20): the peers ocppd is registered with and the groups
it maps onto nodes of the limit tree, so registration, tokens, peer URLs, heartbeats and the last
forecasts survive a restart.

Only the SHA-256 of a token a peer presents is kept (it is compared, never sent); the token ocppd
presents to a peer is kept as given (it has to be sent). Functions take a ``Connection`` first and
never commit, like ``repo``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    false,
    insert,
    select,
    update,
)

from .rows import _RowMixin
from .schema import NAMING_CONVENTION
from .types import UTCDateTime, utcnow

# Own metadata (like auth_repo): revision 0023 mirrors these tables.
metadata = MetaData(naming_convention=NAMING_CONVENTION)
_BigId = BigInteger().with_variant(Integer(), "sqlite")
_Json = JSON(none_as_null=True)

# Peer states
AWAITING_REGISTER = "awaiting_register"  # we issued a token; the peer has not registered with it yet
REGISTERING = "registering"  # we registered with the peer; its Register with our token is due
REGISTERED = "registered"  # tokens exchanged both ways
UNREGISTERED = "unregistered"  # the peer (or the operator) ended the registration

CAPACITY_PROVIDER = "capacity_provider"
CAPACITY_OPTIMIZER = "capacity_optimizer"

oscp_peers = Table(
    "oscp_peers",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("token_hash", String(64), unique=True),  # SHA-256 of the token the peer presents to us
    Column("their_token", Text),  # the token we present to the peer
    Column("base_url", Text),
    Column("version", String(16)),
    Column("state", String(24), nullable=False),
    Column("requires_heartbeat_s", Integer),  # the interval the peer wants our heartbeats at
    Column("measurement_configuration", _Json),
    Column("handshake_at", UTCDateTime),  # the last completed handshake (either direction)
    Column("last_seen_at", UTCDateTime),  # its last authenticated message
    Column("offline_mode_at", UTCDateTime),  # from its last Heartbeat
    Column("silent", Boolean, nullable=False, default=False, server_default=false()),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

oscp_groups = Table(
    "oscp_groups",
    metadata,
    Column("group_id", String(255), primary_key=True),
    Column("node_id", String(255), nullable=False, unique=True),
    Column("peer_id", BigInteger),  # the capacity provider of the group, once known
    Column("fallback_amps", _Json),  # [L1, L2, L3] while the capacity provider is silent
    Column("fallback_watts", Float),
    Column("forecast", _Json),  # the last CONSUMPTION forecast's blocks (OSCP JSON)
    Column("fallback_forecast", _Json),  # FALLBACK_CONSUMPTION blocks
    Column("adjust", _Json),  # the last AdjustGroupCapacityForecast's blocks (a capacity optimizer)
    Column("energy_wh", _Json),  # [L1, L2, L3]: the group's import since energy_since (CONTINUOUS)
    Column("energy_since", UTCDateTime),
    Column("measured_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PeerRow(_RowMixin):
    id: int
    name: str
    role: str
    token_hash: str | None
    their_token: str | None
    base_url: str | None
    version: str | None
    state: str
    requires_heartbeat_s: int | None
    measurement_configuration: list[str] | None
    handshake_at: datetime | None
    last_seen_at: datetime | None
    offline_mode_at: datetime | None
    silent: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class GroupRow(_RowMixin):
    group_id: str
    node_id: str
    peer_id: int | None
    fallback_amps: list[float] | None
    fallback_watts: float | None
    forecast: list[dict[str, Any]] | None
    fallback_forecast: list[dict[str, Any]] | None
    adjust: list[dict[str, Any]] | None
    energy_wh: list[float] | None
    energy_since: datetime | None
    measured_at: datetime | None
    updated_at: datetime


def list_peers(conn: Connection) -> list[PeerRow]:
    return [PeerRow.from_row(r) for r in conn.execute(select(oscp_peers).order_by(oscp_peers.c.id))]


def add_peer(conn: Connection, values: dict[str, Any]) -> PeerRow:
    now = utcnow()
    pid = conn.execute(insert(oscp_peers).values(created_at=now, updated_at=now, **values)).inserted_primary_key[0]
    return PeerRow.from_row(conn.execute(select(oscp_peers).where(oscp_peers.c.id == pid)).one())


def update_peer(conn: Connection, peer_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(oscp_peers).where(oscp_peers.c.id == peer_id).values(updated_at=utcnow(), **values))


def delete_peer(conn: Connection, peer_id: int) -> int:
    conn.execute(update(oscp_groups).where(oscp_groups.c.peer_id == peer_id).values(peer_id=None))
    return int(conn.execute(delete(oscp_peers).where(oscp_peers.c.id == peer_id)).rowcount or 0)


def list_groups(conn: Connection) -> list[GroupRow]:
    return [GroupRow.from_row(r) for r in conn.execute(select(oscp_groups).order_by(oscp_groups.c.group_id))]


def put_group(conn: Connection, group_id: str, values: dict[str, Any]) -> None:
    """Create the group or change the given columns."""
    exists = conn.execute(select(oscp_groups.c.group_id).where(oscp_groups.c.group_id == group_id)).first()
    if exists:
        conn.execute(
            update(oscp_groups).where(oscp_groups.c.group_id == group_id).values(updated_at=utcnow(), **values)
        )
    else:
        conn.execute(insert(oscp_groups).values(group_id=group_id, updated_at=utcnow(), **values))


def delete_group(conn: Connection, group_id: str) -> int:
    return int(conn.execute(delete(oscp_groups).where(oscp_groups.c.group_id == group_id)).rowcount or 0)
