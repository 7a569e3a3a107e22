"""The ocppd benchmark suite, one command: ``python -m bench.run [--quick]``.

Every server (ocppd and the two baselines) runs pinned to CPU 0 (``taskset -c 0``) with its file
limit raised (``prlimit``); the load generator (bench/loadgen.py, one process, one event loop) runs
pinned to CPU 1. All traffic is on 127.0.0.1. Each measurement gets a fresh server and (for ocppd) a
fresh database. Results: bench/results/latest.json, latest.md, throughput.png. See
docs/performance.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PY = sys.executable
SERVER_CPU = "0"
LOADGEN_CPU = "1"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
PG_BENCH_DB = "ocppd_bench"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nofile() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


NICE = 0
_PARTIAL: list[dict[str, Any]] = []  # every measurement so far, saved after each one (partial.json)


def pinned(cpu: str, cmd: list[str]) -> list[str]:
    nice = ["nice", "-n", str(NICE)] if NICE else []
    return [*nice, "taskset", "-c", cpu, "prlimit", f"--nofile={nofile()}:{nofile()}", *cmd]


def busy_cpu_s() -> float:
    """Busy CPU seconds (all processes) on the two benchmark CPUs."""
    total = 0.0
    for i in (int(SERVER_CPU), int(LOADGEN_CPU)):
        t = psutil.cpu_times(percpu=True)[i]
        total += sum(t) - t.idle - getattr(t, "iowait", 0.0)
    return total


# ------------------------------------------------------------------------------------ servers
@dataclass
class Server:
    kind: str
    proc: subprocess.Popen[bytes]
    ws_url: str
    workdir: Path
    http: str = ""
    token: str = ""
    ps: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.proc.pid)

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)


def _pg_recreate() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{PG_BENCH_DB}".replace("postgresql://", "postgresql+psycopg://", 1)


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} not open after {timeout}s")


def _wait_health(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ocppd exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url + "/health", timeout=1) as r:
            if r.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("ocppd did not become healthy")


@contextlib.contextmanager
def server(kind: str, *, heartbeat: int = 300) -> Iterator[Server]:
    """kind: ``ocppd`` (SQLite), ``ocppd-pg``, ``echo``, ``ocpp-pkg``, or ``ocppd+uvloop+backlog4096`` (variants)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    http = ""
    if kind.startswith("ocppd"):
        http_port = free_port()
        http = f"127.0.0.1:{http_port}"
        env.update(
            {
                "OCPPD_DATA_DIR": str(workdir / "data"),
                "OCPPD_OCPP__HOST": "127.0.0.1",
                "OCPPD_OCPP__PORT": str(port),
                "OCPPD_HTTP__HOST": "127.0.0.1",
                "OCPPD_HTTP__PORT": str(http_port),
                "OCPPD_OCPP__HEARTBEAT_INTERVAL": str(heartbeat),
            }
        )
        if kind == "ocppd-pg":
            env["OCPPD_DATABASE_URL"] = _pg_recreate()
        if kind.startswith("ocppd+"):  # e.g. ocppd+backlog4096, ocppd+uvloop: a proposed src fix, measured
            flags = []
            for part in kind.split("+")[1:]:
                if part == "uvloop":
                    flags.append("--uvloop")
                elif part.startswith("rbuf"):
                    flags += ["--rbuf", part.removeprefix("rbuf")]
                else:
                    flags += ["--backlog", part.removeprefix("backlog")]
            cmd = [PY, "-m", "bench.serve_variant", *flags, "serve"]
        else:
            cmd = [PY, "-m", "ocppd.cli", "serve"]
    elif kind == "echo":
        cmd = [PY, "-m", "bench.baselines.echo", "--port", str(port)]
    elif kind == "ocpp-pkg":
        cmd = [PY, "-m", "bench.baselines.ocpp_csms", "--port", str(port)]
    else:
        raise ValueError(kind)
    logf = open(workdir / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(pinned(SERVER_CPU, cmd), env=env, cwd=ROOT, stdout=logf, stderr=logf)
    try:
        if http:
            _wait_health(f"http://{http}", proc)
        else:
            _wait_port(port, proc)
        time.sleep(0.3)
        srv = Server(kind, proc, f"ws://127.0.0.1:{port}/ocpp", workdir, http)
        if http:
            srv.token = (workdir / "data" / "admin.token").read_text().strip()
        yield srv
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        logf.close()
        if proc.returncode not in (0, -signal.SIGTERM, None):
            tail = (workdir / "server.log").read_text(errors="replace")[-2000:]
            log(f"{kind} exited with {proc.returncode}; log tail:\n{tail}")
        shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------------------ load generator
def loadgen(srv: Server, scenario: str, *, idle_hold: float = 0.0, timeout: float = 600, **kw: Any) -> dict[str, Any]:
    """Run bench.loadgen pinned to CPU 1; sample the server's CPU over the measured window."""
    args = [PY, "-m", "bench.loadgen", "--uvloop", "--url", srv.ws_url, "--scenario", scenario]
    if srv.http:
        args += ["--http", srv.http, "--token", srv.token]
    for k, v in kw.items():
        if v is True:  # a switch
            args.append(f"--{k.replace('_', '-')}")
        elif v is not False:
            args += [f"--{k.replace('_', '-')}", str(v)]
    proc = subprocess.Popen(
        pinned(LOADGEN_CPU, args), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    rss0 = srv.rss()
    cpu0, t0, busy0 = srv.cpu_s(), time.perf_counter(), busy_cpu_s()
    extra: dict[str, Any] = {}
    result: dict[str, Any] | None = None
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None and proc.stdin is not None
    for raw in proc.stdout:
        line = json.loads(raw)
        event = line.get("event")
        if event == "measure_start":
            cpu0, t0, busy0 = srv.cpu_s(), time.perf_counter(), busy_cpu_s()
        elif event == "measure_end":
            wall = time.perf_counter() - t0
            server_s = srv.cpu_s() - cpu0
            extra["server_cpu_pct"] = round(100 * server_s / wall, 1)
            extra["_busy"] = (busy_cpu_s() - busy0 - server_s, wall)
        elif event == "booted":  # idle: let heartbeats flow, then sample memory
            cpu0, t0 = srv.cpu_s(), time.perf_counter()
            time.sleep(idle_hold)
            rss1 = srv.rss()
            extra.update(
                {
                    "server_rss_before_mb": round(rss0 / 2**20, 1),
                    "server_rss_after_mb": round(rss1 / 2**20, 1),
                    "rss_per_station_kb": round((rss1 - rss0) / 1024 / max(1, line["stations"]), 2),
                    "server_cpu_pct": round(100 * (srv.cpu_s() - cpu0) / (time.perf_counter() - t0), 1),
                }
            )
            proc.stdin.write(b"stop\n")
            proc.stdin.flush()
        elif "scenario" in line:
            result = line
        if time.monotonic() > deadline:
            proc.kill()
            break
    proc.wait()
    if result is None:
        err = proc.stderr.read().decode(errors="replace")[-3000:] if proc.stderr else ""
        raise RuntimeError(f"loadgen {scenario} failed (rc {proc.returncode}):\n{err}")
    if scenario in ("bootstorm", "fanout"):
        extra["server_cpu_pct"] = round(100 * (srv.cpu_s() - cpu0) / (time.perf_counter() - t0), 1)
    busy = extra.pop("_busy", None)
    result.update(extra)
    if busy is not None:  # CPU used on the two bench CPUs by anything but the server and the load generator
        result["other_cpu_pct"] = round(max(0.0, 100 * (busy[0] - result.get("loadgen_cpu_s", 0)) / busy[1]), 1)
    result["server"] = srv.kind
    _PARTIAL.append(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "partial.json").write_text(json.dumps(_PARTIAL, indent=1))
    if "server_cpu_pct" in result and result.get("msgs_per_s"):
        # per-core capacity: what a fully busy core would do at this per-message cost
        result["msgs_per_cpu_s"] = round(result["msgs_per_s"] / max(result["server_cpu_pct"], 1) * 100, 1)
    return result


# ------------------------------------------------------------------------------------ scenarios
@dataclass
class Plan:
    quick: bool
    duration: float
    warmup: float
    counts: list[int]
    versions: list[str]
    idle_n: int
    storm_n: int
    fanout_n: int
    pg: bool
    profile: bool
    baselines_at_scale: bool
    servers: list[str] | None = None  # None: every server of the scenario
    profile_stations: int = 100


def throughput(plan: Plan, results: list[dict[str, Any]]) -> None:
    kinds = ["echo", "ocpp-pkg", "ocppd"] + (["ocppd-pg"] if plan.pg else [])
    kinds = [k for k in kinds if plan.servers is None or k in plan.servers]
    for version in plan.versions:
        for n in plan.counts:
            for kind in kinds:
                dur = plan.duration
                with server(kind) as srv:
                    r = loadgen(srv, "throughput", version=version, stations=n, duration=dur, warmup=plan.warmup)
                log(
                    f"throughput {kind:9} {version:5} n={n:5}: {r['msgs_per_s']:>9} msg/s p99 {r['p99_ms']} ms "
                    f"server {r.get('server_cpu_pct')}% loadgen {r['loadgen_cpu_pct']}% errors {r['errors']}"
                )
                results.append(r)
        # p99 at 1,000 stations offered half of ocppd's max rate
        top = next(
            (
                r
                for r in results
                if r["scenario"] == "throughput"
                and r["server"] == "ocppd"
                and r["version"] == version
                and r["stations"] == max(plan.counts)
            ),
            None,
        )
        if top and top["msgs_per_s"]:
            rate = round(top["msgs_per_s"] / 2)
            with server("ocppd") as srv:
                r = loadgen(
                    srv,
                    "throughput",
                    version=version,
                    stations=max(plan.counts),
                    duration=plan.duration,
                    warmup=plan.warmup,
                    rate=rate,
                )
            r["scenario"] = "latency_at_half_rate"
            log(f"half-rate {version} n={r['stations']} offered {rate}/s: got {r['msgs_per_s']}/s p99 {r['p99_ms']} ms")
            results.append(r)


def idle(plan: Plan, results: list[dict[str, Any]]) -> None:
    kinds = ["ocppd"] + (["echo", "ocpp-pkg"] if plan.baselines_at_scale else [])
    for kind in kinds:
        with server(kind, heartbeat=10) as srv:
            r = loadgen(
                srv,
                "idle",
                version="1.6",
                stations=plan.idle_n,
                heartbeat=10,
                concurrency=500,
                idle_hold=15 if not plan.quick else 8,
                timeout=900,
            )
        log(
            f"idle {kind} n={r['stations']}: {r['rss_per_station_kb']} KB/station "
            f"(RSS {r['server_rss_before_mb']} -> {r['server_rss_after_mb']} MB), up in {r['bring_up_s']} s, "
            f"errors {r['errors']}"
        )
        results.append(r)


def bootstorm(plan: Plan, results: list[dict[str, Any]]) -> None:
    kinds = ["ocppd"] + (["echo", "ocpp-pkg"] if plan.baselines_at_scale else [])
    for kind in kinds:
        with server(kind) as srv:
            r = loadgen(srv, "bootstorm", version="1.6", stations=plan.storm_n, timeout=900)
        log(
            f"bootstorm {kind} n={r['stations']}: all accepted in {r['all_accepted_s']} s "
            f"(accepted {r['accepted']}, errors {r['errors']} {r['failures']})"
        )
        results.append(r)


def unknown_tx(plan: Plan, results: list[dict[str, Any]]) -> None:
    """1.6 MeterValues for transaction ids the CSMS does not know against the same for running ones: no
    input may make a hot-path message more than 1.5x as expensive (server CPU per message)."""
    for n in [c for c in plan.counts if c >= 100] or [100]:
        pair = {}
        for unknown in (False, True):
            with server("ocppd") as srv:
                r = loadgen(
                    srv,
                    "throughput",
                    version="1.6",
                    stations=n,
                    duration=plan.duration,
                    warmup=plan.warmup,
                    unknown_tx=unknown,
                )
            pair[unknown] = r
        known, unknown_r = pair[False], pair[True]
        row = {
            "scenario": "unknown_tx",
            "server": "ocppd",
            "version": "1.6",
            "stations": n,
            "known_msgs_per_s": known["msgs_per_s"],
            "unknown_msgs_per_s": unknown_r["msgs_per_s"],
            "known_cpu_us": _cpu_us_per_msg(known),
            "unknown_cpu_us": _cpu_us_per_msg(unknown_r),
            "known_p99_ms": known["p99_ms"],
            "unknown_p99_ms": unknown_r["p99_ms"],
            "errors": known["errors"] + unknown_r["errors"],
        }
        row["cost_ratio"] = round(row["unknown_cpu_us"] / row["known_cpu_us"], 2) if row["known_cpu_us"] else None
        log(
            f"unknown tx n={n}: known {row['known_msgs_per_s']}/s {row['known_cpu_us']} µs, unknown "
            f"{row['unknown_msgs_per_s']}/s {row['unknown_cpu_us']} µs: ratio {row['cost_ratio']}"
        )
        results.append(row)


def _cpu_us_per_msg(r: dict[str, Any]) -> float | None:
    if not r.get("msgs_per_s") or r.get("server_cpu_pct") is None:
        return None
    return round(r["server_cpu_pct"] / 100 / r["msgs_per_s"] * 1e6, 1)


def fanout(plan: Plan, results: list[dict[str, Any]]) -> None:
    for version in ["1.6", "2.0.1"]:
        with server("ocppd") as srv:
            r = loadgen(srv, "fanout", version=version, stations=plan.fanout_n, http_concurrency=100)
        log(
            f"fanout {version} n={r['stations']}: all answered in {r['all_answered_s']} s, p99 {r['p99_ms']} ms, "
            f"errors {r['errors']} {r['failures']}"
        )
        results.append(r)


def profile(plan: Plan, results: list[dict[str, Any]]) -> dict[str, Any]:
    from bench.profile import profile_run

    out = {}
    for version in plan.versions:
        with server("ocppd") as srv:
            out[version] = profile_run(
                srv,
                version,
                stations=plan.profile_stations,
                duration=max(plan.duration, 8),
                loadgen=loadgen,
                results_dir=RESULTS,
            )
        log(f"profile {version}: {out[version]['summary']}")
    return out


def variants(plan: Plan, results: list[dict[str, Any]]) -> None:
    """Proposed src fixes, measured from outside src/ (bench/serve_variant.py)."""
    with server("ocppd+backlog4096") as srv:
        r = loadgen(srv, "bootstorm", version="1.6", stations=plan.storm_n, timeout=900)
    log(f"variant bootstorm {r['server']}: all accepted in {r['all_accepted_s']} s, errors {r['errors']}")
    results.append(r)
    with server("ocppd+backlog4096+rbuf2048", heartbeat=10) as srv:
        r = loadgen(
            srv, "idle", version="1.6", stations=plan.idle_n, heartbeat=10, concurrency=500, idle_hold=15, timeout=900
        )
    log(f"variant idle {r['server']}: {r['rss_per_station_kb']} KB/station, up in {r['bring_up_s']} s")
    results.append(r)
    for kind in ("ocppd+uvloop", "ocppd"):
        with server(kind) as srv:
            r = loadgen(srv, "throughput", version="1.6", stations=1000, duration=plan.duration, warmup=plan.warmup)
        log(f"variant throughput {kind} 1.6 n=1000: {r['msgs_per_s']} msg/s, server {r.get('server_cpu_pct')}%")
        results.append(r)


# ------------------------------------------------------------------------------------ main
def machine() -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "?")

    def ver(mod: str) -> str:
        from importlib.metadata import version

        try:
            return version(mod)
        except Exception:
            return "?"

    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "packages": {
            p: ver(p)
            for p in ("picows", "ocpp", "websockets", "jsonschema-rs", "orjson", "sqlalchemy", "uvloop", "psycopg")
        },
        "server_cpu": SERVER_CPU,
        "loadgen_cpu": LOADGEN_CPU,
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "src_dirty": bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
        ),
        "nice": NICE,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="ocppd benchmark suite")
    p.add_argument("--quick", action="store_true", help="~2-minute subset (shorter windows, fewer points)")
    p.add_argument(
        "--only",
        default="",
        help="comma list: throughput,idle,bootstorm,fanout,unknown_tx,profile,variants (variants: not by default)",
    )
    p.add_argument("--no-pg", action="store_true")
    p.add_argument("--servers", default="", help="throughput: comma list of echo,ocpp-pkg,ocppd,ocppd-pg (default all)")
    p.add_argument("--versions", default="", help="comma list of 1.6,2.0.1 (default: the plan's)")
    p.add_argument("--profile-stations", type=int, default=100, help="stations during the profile run")
    p.add_argument("--counts", default="", help="throughput: comma list of station counts (default: the plan's)")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="niceness for server and load generator (default -10: a shared machine's other work "
        "yields to the benchmark; needs root, otherwise use 0)",
    )
    a = p.parse_args(argv)
    global NICE
    NICE = a.nice if os.geteuid() == 0 or a.nice >= 0 else 0
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs two CPUs (server on CPU 0, load generator on CPU 1)")
    if a.quick:
        plan = Plan(True, 3.0, 1.0, [100, 1000], ["1.6"], 3000, 3000, 300, not a.no_pg, False, False)
    else:
        plan = Plan(False, 10.0, 2.0, [1, 100, 1000], ["1.6", "2.0.1"], 10_000, 10_000, 1000, not a.no_pg, True, True)
    if a.servers:
        plan.servers = a.servers.split(",")
    if a.versions:
        plan.versions = a.versions.split(",")
    plan.profile_stations = a.profile_stations
    if a.counts:
        plan.counts = [int(n) for n in a.counts.split(",")]
    only = set(filter(None, a.only.split(","))) or {
        "throughput",
        "idle",
        "bootstorm",
        "fanout",
        "unknown_tx",
        "profile",
    }
    results: list[dict[str, Any]] = []
    prof: dict[str, Any] = {}
    started = time.time()
    if "throughput" in only:
        throughput(plan, results)
    if "idle" in only:
        idle(plan, results)
    if "bootstorm" in only:
        bootstorm(plan, results)
    if "fanout" in only:
        fanout(plan, results)
    if "unknown_tx" in only:
        unknown_tx(plan, results)
    if "variants" in only:
        variants(plan, results)
    if "profile" in only and plan.profile:
        prof = profile(plan, results)
    from bench.report import write_reports

    doc = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": "quick" if a.quick else "full",
        "elapsed_s": round(time.time() - started, 1),
        "machine": machine(),
        "results": results,
        "profile": prof,
    }
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    write_reports(doc, out)
    log(f"done in {doc['elapsed_s']} s: {out / 'latest.json'}, {out / 'latest.md'}, {out / 'throughput.png'}")


if __name__ == "__main__":
    main()
