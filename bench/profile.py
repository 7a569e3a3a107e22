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
    "store writer thread (SQL, commit)",
    "encode (CallResult)",
    "logging",
    "metrics",
    "other",
]


def classify(frames: list[str]) -> str:
    thread = frames[0]
    if "store-writer" in thread:
        return "store writer thread (SQL, commit)"
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
        count = int(n)
        frames = stack.split(";")
        total += count
        stages[classify(frames)] += count
        leaves[frames[-1]] += count
    return stages, leaves, total


def py_spy() -> str | None:
    cand = Path(sys.executable).parent / "py-spy"
    return str(cand) if cand.exists() else shutil.which("py-spy")


def profile_run(srv: Any, version: str, *, stations: int, duration: float, loadgen: Any,
                results_dir: Path) -> dict[str, Any]:
    spy = py_spy()
    if spy is None:
        raise RuntimeError("py-spy not installed (pip install -e '.[bench]')")
    warmup = 2.0
    raw = results_dir / f"profile-{version}.txt"
    holder: dict[str, Any] = {}

    def record() -> None:
        time.sleep(warmup + 0.5)
        holder["rc"] = subprocess.run(
            [spy, "record", "-p", str(srv.proc.pid), "-d", str(int(duration - 1)), "-r", "250", "-f", "raw",
             "-o", str(raw), "--threads", "--nonblocking"], capture_output=True, text=True)

    th = threading.Thread(target=record)
    th.start()
    r = loadgen(srv, "throughput", version=version, stations=stations, duration=duration, warmup=warmup)
    th.join()
    if not raw.exists():
        raise RuntimeError(f"py-spy failed: {holder['rc'].stderr[-500:]}")
    stages, leaves, total = parse_raw(raw)
    cpu_us = (r["server_cpu_pct"] / 100) / max(r["msgs_per_s"], 1e-9) * 1e6
    breakdown = [(s, stages[s] / total, stages[s] / total * cpu_us) for s in STAGES if stages[s]]
    top = [(n / total, f) for f, n in leaves.most_common(15)]
    summary = ", ".join(f"{s.split(' (')[0]} {us:.0f}µs" for s, _, us in breakdown)
    return {"version": version, "stations": stations, "msgs_per_s": r["msgs_per_s"],
            "server_cpu_pct": r["server_cpu_pct"], "cpu_us_per_msg": cpu_us, "samples": total,
            "breakdown": breakdown, "top": top, "raw": raw.name, "summary": summary, "run": r}
