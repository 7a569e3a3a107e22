"""Several ``ocppd serve`` nodes on one database (docs/architecture.md).

What is built: state in the store, and one owner per site-wide job through leases (the balancer; each
firmware campaign's driver). What is not: routing a CSMS-initiated message to a station connected to
another node; a node sends only to the stations it holds the connection of.
"""

from __future__ import annotations

import os
import socket


def node_id() -> str:
    """This process's name in the cluster: who holds a lease when this node does."""
    return f"{socket.gethostname()}:{os.getpid()}"
