"""Persistence for ocppd: ``Store`` (lifecycle, group-commit writer, reads) and ``repo`` functions.

Nothing outside this package writes SQL; see docs/dev/store-spec.md.
"""

from . import ops_repo, repo, tx_repo
from .rows import (
    ConnectorStatusRow,
    EventRow,
    MessageLogRow,
    MeterSampleRow,
    Reading,
    Sample,
    StationRow,
    StatusHistoryRow,
    TokenRow,
    TxEventRow,
    TxRow,
    VariableRow,
)
from .store import Store
from .writer import WriterStats

__all__ = [
    "ConnectorStatusRow",
    "EventRow",
    "MessageLogRow",
    "MeterSampleRow",
    "Reading",
    "Sample",
    "StationRow",
    "StatusHistoryRow",
    "Store",
    "TokenRow",
    "TxEventRow",
    "TxRow",
    "VariableRow",
    "WriterStats",
    "ops_repo",
    "repo",
    "tx_repo",
]
