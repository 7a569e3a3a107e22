"""Profile ocppd's hot path with py-spy while the load generator drives it; break the CPU per message down.

py-spy samples every thread of the server (``--threads``, idle threads skipped) at 250 Hz. Each sample is
put into one stage by its innermost recognisable frame (leaf first):

* framing + event loop: asyncio's loop, selectors, socket reads/writes and picows (C; its WebSocket parsing
  is charged to the loop frame that called it) and ``transport/websocket.py``;
* decode: ``protocol/frames.py`` parsing (orjson.loads is C, charged here);
* validate: ``protocol/validation.py`` / jsonschema_rs;
* handler: ``csms/`` (adapters, metering, transactions, events);
* rpc session: ``rpc/session.py`` (dispatch, tasks, observer calls);
* store enqueue: ``store/`` on the event-loop thread (message-log row building, op submission);
* store writer: the writer thread (SQL building, sqlite3/psycopg execute, COMMIT);
* encode: ``Frame.encode``; logging; metrics (prometheus_client); other.

µs per message = stage share x (server CPU seconds / messages) over the same window.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

STAGES = [
    "framing + event loop (picows, asyncio)",
    "decode (parse_frame)",
    "validate (jsonschema-rs)",
    "handler (csms domain)",
    "rpc session (dispatch, tasks)",
    "store enqueue (event-loop thread)",
    "store writer: SQL (build + execute)",
    "store writer: COMMIT (incl. fsync wait)",
    "encode (CallResult)",
    "logging",
    "metrics",
    "other",
]


IDLE = "idle (epoll wait)"


def classify(frames: list[str]) -> str:
    thread = frames[0]
    if "selectors.py" in frames[-1] and "select" in frames[-1]:
        return IDLE  # blocked in epoll_wait: not CPU
    if "store-writer" in thread:
        if any("do_commit" in f for f in frames):
            return "store writer: COMMIT (incl. fsync wait)"
        return "store writer: SQL (build + execute)"
    for f in reversed(frames[1:]):
        if "protocol/validation.py" in f or "jsonschema" in f:
            return "validate (jsonschema-rs)"
        if "protocol/frames.py" in f:
            return "encode (CallResult)" if (".encode" in f or "_dumps" in f) else "decode (parse_frame)"
        if "prometheus_client" in f or "ocppd/metrics.py" in f:
            return "metrics"
        if "logging/" in f:
            return "logging"
        if "ocppd/store/" in f:
            return "store enqueue (event-loop thread)"
        if "ocppd/csms/" in f and "csms/service.py" not in f:
            return "handler (csms domain)"
        if "csms/service.py" in f:
            continue  # observer glue: charge to whatever it calls (store.log_frame, metrics)
        if "ocppd/rpc/" in f:
            return "rpc session (dispatch, tasks)"
        if "ocppd/transport/" in f or "asyncio/" in f or "selectors.py" in f or "picows" in f:
            return "framing + event loop (picows, asyncio)"
    return "other"


def parse_raw(path: Path) -> tuple[Counter[str], Counter[str], int]:
    stages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue  # a truncated line (py-spy still flushing)
        count = int(n)
        frames = stack.split(";")
        total += count
        stages[classify(frames)] += count
        leaves[frames[-1]] += count
    return stages, leaves, total


def _commit_metrics(srv: Any) -> tuple[float, float]:
    """(count, sum) of ocppd_db_commit_seconds from /metrics (over the whole run, warm-up included)."""
    import urllib.request

    count = total = 0.0
    try:
        with urllib.request.urlopen(f"http://{srv.http}/metrics", timeout=5) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith("ocppd_db_commit_seconds_count"):
                    count += float(line.split()[-1])
                elif line.startswith("ocppd_db_commit_seconds_sum"):
                    total += float(line.split()[-1])
    except OSError:
        pass
    return count, total


def py_spy() -> str | None:
    cand = Path(sys.executable).parent / "py-spy"
    return str(cand) if cand.exists() else shutil.which("py-spy")


def profile_run(
    srv: Any, version: str, *, stations: int, duration: float, loadgen: Any, results_dir: Path
) -> dict[str, Any]:
    spy = py_spy()
    if spy is None:
        raise RuntimeError("py-spy not installed (pip install -e '.[bench]')")
    warmup = 2.0
    raw = results_dir / f"profile-{version}.txt"
    holder: dict[str, Any] = {}

    def record() -> None:
        time.sleep(warmup + 0.5)
        holder["rc"] = subprocess.run(
            [
                spy,
                "record",
                "-p",
                str(srv.proc.pid),
                "-d",
                str(int(duration - 1)),
                "-r",
                "250",
                "-f",
                "raw",
                "-o",
                str(raw),
                "--threads",
                "--nonblocking",
            ],
            capture_output=True,
            text=True,
        )

    m0 = _commit_metrics(srv)
    th = threading.Thread(target=record)
    th.start()
    r = loadgen(srv, "throughput", version=version, stations=stations, duration=duration, warmup=warmup)
    th.join()
    if not raw.exists():
        raise RuntimeError(f"py-spy failed: {holder['rc'].stderr[-500:]}")
    stages, leaves, total = parse_raw(raw)
    cpu_us = (r["server_cpu_pct"] / 100) / max(r["msgs_per_s"], 1e-9) * 1e6
    busy = total - stages[IDLE]
    breakdown = [(s, stages[s] / busy, stages[s] / busy * cpu_us) for s in STAGES if stages[s]]
    m1 = _commit_metrics(srv)
    commits = m1[0] - m0[0]
    messages = r["msgs_per_s"] * r["wall_s"]
    top = [(n / total, f) for f, n in leaves.most_common(16) if "EpollSelector.select" not in f][:15]
    summary = ", ".join(f"{s.split(' (')[0]} {us:.0f}µs" for s, _, us in breakdown)
    return {
        "version": version,
        "stations": stations,
        "msgs_per_s": r["msgs_per_s"],
        "server_cpu_pct": r["server_cpu_pct"],
        "cpu_us_per_msg": cpu_us,
        "samples": total,
        "breakdown": breakdown,
        "top": [(n / busy, f) for n, f in ((t[0] * total, t[1]) for t in top)],
        "idle_samples": stages[IDLE],
        "commits": commits,
        "commits_per_s": round(commits / max(r["wall_s"], 1e-9), 1),
        "msgs_per_commit": round(messages / commits, 1) if commits else None,
        "avg_commit_ms": round(1000 * (m1[1] - m0[1]) / commits, 2) if commits else None,
        "raw": raw.name,
        "summary": summary,
        "run": r,
    }
