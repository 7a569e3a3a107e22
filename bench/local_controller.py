"""The local controller, end to end: a real ``ocppd serve``, a real ``ocppd local-controller``.

    .venv/bin/python -m bench.local_controller               # 2000 round trips each way, the outage
    .venv/bin/python -m bench.local_controller --messages 500 --no-outage

1. Added latency: two stations boot, one straight at the CSMS, one through the controller; each then
   sends ``--messages`` Heartbeat CALLs, one at a time, alternating between them so that both see the
   same machine. A round trip through the controller crosses it twice (the CALL up, the answer
   down). Printed: median and p99 of both, the difference and the ratio. Then ``--commands``
   CSMS-initiated ClearCache calls to each, through the CSMS's API (the other direction).
2. Balancing through an upstream outage: three simulated 2.0.1 stations (ocppd's simulator, applying
   their profiles) charge through the controller; the CSMS gives the controller's identity a
   station-max profile of ``--limit`` A that steps down to half ``--step-after`` seconds later; the
   CSMS is killed before the step. Printed: whether the stations stayed connected to the controller,
   how long after the step every station had its new limit, the highest total of the stations'
   limits after it (against the lowered limit), and after the CSMS is started again, how long until
   every station is relayed again (timed from its health).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.health import wait_healthy
from ocppd.protocol.versions import OcppVersion
from ocppd.station.station import Station, StationConfig
from ocppd.transport.websocket import Link, connect

TAGS = ["0A0C0001", "0A0C0002", "0A0C0003"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def csms(tmp: Path, ocpp: int, http: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "OCPPD_DATA_DIR": str(tmp / "csms"),
        "OCPPD_OCPP__HOST": "127.0.0.1",
        "OCPPD_OCPP__PORT": str(ocpp),
        "OCPPD_HTTP__HOST": "127.0.0.1",
        "OCPPD_HTTP__PORT": str(http),
    }
    subprocess.run([sys.executable, "-m", "ocppd.cli", "tokens", "add", *TAGS], env=env, check=True,
                   capture_output=True)  # fmt: skip
    log = tmp / "serve.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ocppd.cli", "serve"], env=env, stdout=out, stderr=out)
    try:
        wait_healthy(proc, http, log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)


@contextmanager
def controller(tmp: Path, upstream: int, port: int, metrics: int, limit: float) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "OCPPD_DATA_DIR": str(tmp / "lc"),
        "OCPPD_LOCAL_CONTROLLER__HOST": "127.0.0.1",
        "OCPPD_LOCAL_CONTROLLER__PORT": str(port),
        "OCPPD_LOCAL_CONTROLLER__METRICS_PORT": str(metrics),
        "OCPPD_LOCAL_CONTROLLER__UPSTREAM_URL": f"ws://127.0.0.1:{upstream}",
        "OCPPD_LOCAL_CONTROLLER__GROUP_AMPS": str(limit),
        "OCPPD_LOCAL_CONTROLLER__IDENTITY": "BENCH-LC",
        "OCPPD_LOCAL_CONTROLLER__RECONNECT_MAX_S": "2",
        "OCPPD_SMART__INTERVAL_S": "5",
        "OCPPD_SMART__MIN_INTERVAL_S": "0",
        "OCPPD_SMART__DEBOUNCE_S": "0.1",
    }
    log = tmp / "controller.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ocppd.cli", "local-controller"], env=env, stdout=out,
                                stderr=out)  # fmt: skip
    deadline = time.monotonic() + 30
    while "local controller on" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the controller did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)


def metric(port: int, name: str, **labels: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if m and (m.group(1) or "") == wanted:
            return float(m.group(2))
    return 0.0


# ---------------------------------------------------------------------------------------- latency
class Client:
    """A minimal 1.6 station on ocppd's own transport: one CALL at a time, timed."""

    def __init__(self) -> None:
        self.link: Link | None = None
        self.waiting: asyncio.Future[bytes] | None = None
        self.n = 0

    async def open(self, url: str) -> None:
        def on_open(link: Link) -> Any:
            return self.received

        self.link = await connect(url, [OcppVersion.V16], on_open)
        await self.call("BootNotification", '{"chargePointVendor":"bench","chargePointModel":"lc"}')

    def received(self, data: bytes) -> None:
        if data.startswith(b"[2,"):  # a CSMS CALL (ClearCache, from the bench through the API): answered at once
            assert self.link is not None
            message_id = data.split(b'"', 2)[1].decode()
            self.link.send(f'[3,"{message_id}",{{"status":"Accepted"}}]')
            return
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(data)

    async def call(self, action: str, payload: str = "{}") -> float:
        assert self.link is not None
        self.n += 1
        self.waiting = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        self.link.send(f'[2,"b{self.n}","{action}",{payload}]')
        answer = await asyncio.wait_for(self.waiting, 10)
        took = time.perf_counter() - started
        if not answer.startswith(b"[3,"):
            raise SystemExit(f"unexpected answer to {action}: {answer[:200]!r}")
        return took


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def api_calls(api_port: int, token: str, commands: int) -> dict[str, Any]:
    """CSMS-initiated: ClearCache through the API's generic call, the station answering at once; the
    HTTP request is in both figures, so the difference is the controller's (two relayed frames)."""
    times: dict[str, list[float]] = {"BENCH-DIRECT": [], "BENCH-RELAYED": []}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", headers=headers, timeout=30) as api:
        for i in range(commands + 20):
            order = list(times) if i % 2 == 0 else list(reversed(times))
            for identity in order:
                started = time.perf_counter()
                r = await api.post(f"/api/v1/stations/{identity}/call/ClearCache", json={})
                if r.status_code != 200:
                    raise SystemExit(f"ClearCache to {identity}: {r.status_code} {r.text}")
                if i >= 20:  # the first ones warm up both paths
                    times[identity].append(time.perf_counter() - started)
    out: dict[str, Any] = {"calls_each": commands, "what": "ClearCache through the CSMS's API, to the station and back"}
    for name, key in (("direct", "BENCH-DIRECT"), ("through_controller", "BENCH-RELAYED")):
        values = times[key]
        out[name] = {"median_ms": statistics.median(values) * 1000, "p99_ms": percentile(values, 0.99) * 1000}
    d, r = out["direct"], out["through_controller"]
    out["added_ms"] = {"median": r["median_ms"] - d["median_ms"], "p99": r["p99_ms"] - d["p99_ms"]}
    return out


async def latency(csms_port: int, lc_port: int, messages: int, api_port: int = 0, token: str = "",
                  commands: int = 0) -> dict[str, Any]:  # fmt: skip
    direct, relayed = Client(), Client()
    await direct.open(f"ws://127.0.0.1:{csms_port}/ocpp/BENCH-DIRECT")
    await relayed.open(f"ws://127.0.0.1:{lc_port}/ocpp/BENCH-RELAYED")
    for _ in range(50):  # warm up both paths
        await direct.call("Heartbeat")
        await relayed.call("Heartbeat")
    times: dict[str, list[float]] = {"direct": [], "through_controller": []}
    for i in range(messages):
        pair = ((direct, "direct"), (relayed, "through_controller"))
        for client, name in pair if i % 2 == 0 else reversed(pair):
            times[name].append(await client.call("Heartbeat"))
    out: dict[str, Any] = {"messages_each": messages, "what": "Heartbeat round trip, station to CSMS and back"}
    for name, values in times.items():
        out[name] = {"median_ms": statistics.median(values) * 1000, "p99_ms": percentile(values, 0.99) * 1000}
    d, r = out["direct"], out["through_controller"]
    out["added_ms"] = {"median": r["median_ms"] - d["median_ms"], "p99": r["p99_ms"] - d["p99_ms"]}
    out["ratio"] = {"median": r["median_ms"] / d["median_ms"], "p99": r["p99_ms"] / d["p99_ms"]}
    if commands:
        out["csms_to_station"] = await api_calls(api_port, token, commands)
    for client in (direct, relayed):
        if client.link is not None:
            client.link.close()
    return out


# ---------------------------------------------------------------------------------------- outage
async def outage(tmp: Path, args: argparse.Namespace, ports: dict[str, int], proc: Any) -> dict[str, Any]:
    limit = args.limit
    stations = []
    for i, tag in enumerate(TAGS):
        config = StationConfig(identity=f"BENCH-OUT-{i + 1}", url=f"ws://127.0.0.1:{ports['lc']}/ocpp",
                               version=OcppVersion.V201, settings={"meter_sample_interval": 2}, call_timeout=5,
                               reconnect_min=0.2, reconnect_max=1.0, boot_retry=1.0, id_tags=[tag])  # fmt: skip
        st = Station(config)
        await st.start()
        stations.append(st)
    for st in stations:
        await st.wait_booted(timeout=30)
        st.plug_in(1)
        if await st.start_transaction(1, st.config.id_tags[0]) is None:
            raise SystemExit(f"{st.identity}: the transaction did not start")

    def limits_a() -> list[float | None]:
        out = []
        for st in stations:
            w = st.connector(1).limit_w
            out.append(None if w is None else round(w / (230.0 * 3), 1))
        return out

    share = round(limit / len(stations), 1)
    await until(lambda: limits_a() == [share] * len(stations), f"each station at {share} A", 60, limits_a)
    # the CSMS limits the group through the controller's identity: the limit, then half of it
    step_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=args.step_after)
    start = datetime.now(UTC).replace(microsecond=0)
    profile = {"id": 1, "evse_id": 0, "purpose": "station_max", "stack_level": 0, "unit": "A", "kind": "Absolute",
               "start": start.isoformat(), "periods": [{"start_s": 0, "limit": limit},
                                                      {"start_s": int((step_at - start).total_seconds()),
                                                       "limit": limit / 2}]}  # fmt: skip
    token = (tmp / "csms" / "admin.token").read_text().strip()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['http']}",
                                 headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:  # fmt: skip
        await until_async(lambda: _connected(api, "BENCH-LC"), "the controller's identity at the CSMS", 30)
        r = await api.post("/api/v1/stations/BENCH-LC/charging-profiles", json=profile)
        if r.status_code != 200 or r.json().get("status") != "Accepted":
            raise SystemExit(f"the station-max profile was not accepted: {r.text}")
    # the CSMS goes away before the step
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    killed = time.time()
    lowered = round(limit / 2 / len(stations), 1)
    samples: list[tuple[float, float, float]] = []  # (time, total of the stations' limits, total drawn)
    reached = None
    while time.time() < step_at.timestamp() + args.watch:
        current = limits_a()
        drawn = sum(st.connector(1).current_a for st in stations)
        samples.append((time.time(), sum(x or 0.0 for x in current), drawn))
        if reached is None and time.time() >= step_at.timestamp() and current == [lowered] * len(stations):
            reached = time.time()
        await asyncio.sleep(0.1)
    connected_offline = metric(ports["metrics"], "ocppd_lc_stations", upstream="offline")
    after_step = [total for t, total, _ in samples if reached is not None and t >= reached]
    # the cars follow a new limit after the simulated charger's delay (1-30 s in the field)
    settled = [drawn for t, _, drawn in samples if reached is not None and t >= reached + args.charger_delay]
    result = {
        "stations": len(stations),
        "limit_a": limit,
        "lowered_limit_a": limit / 2,
        "csms_killed_s_before_step": round(step_at.timestamp() - killed, 1),
        "stations_connected_to_controller_while_csms_down": connected_offline,
        "step_to_all_stations_limited_s": None if reached is None else round(reached - step_at.timestamp(), 2),
        "max_total_of_station_limits_after_step_a": max(after_step) if after_step else None,
        "max_total_drawn_after_step_and_charger_delay_a": round(max(settled), 1) if settled else None,
        "watched_after_step_s": args.watch,
        "unforwarded_frames_during_outage": metric(ports["metrics"], "ocppd_lc_unforwarded_frames_total"),
    }
    return result | {"_stations": stations}


async def _connected(api: httpx.AsyncClient, identity: str) -> bool:
    r = await api.get(f"/api/v1/stations/{identity}")
    return r.status_code == 200 and bool(r.json().get("connected"))


async def until(check: Any, what: str, timeout: float, show: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}" + (f" (now: {show()})" if show else ""))
        await asyncio.sleep(0.1)


async def until_async(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="round trips each way")
    parser.add_argument("--commands", type=int, default=300, help="CSMS-initiated calls each way (0: none)")
    parser.add_argument("--no-outage", action="store_true", help="only the latency")
    parser.add_argument("--limit", type=float, default=48.0, help="the group limit (A per phase)")
    parser.add_argument("--step-after", type=float, default=20.0, help="s until the CSMS's limit halves")
    parser.add_argument("--watch", type=float, default=20.0, help="s watched after the step")
    parser.add_argument(
        "--charger-delay", type=float, default=3.0, help="s until the cars draw a new limit (meter every 2 s)"
    )
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": "shared, 2 cores; other work running"}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        ports = {"ocpp": free_port(), "http": free_port(), "lc": free_port(), "metrics": free_port()}
        with (
            csms(tmp, ports["ocpp"], ports["http"]) as proc,
            controller(tmp, ports["ocpp"], ports["lc"], ports["metrics"], args.limit),
        ):
            token = (tmp / "csms" / "admin.token").read_text().strip()
            result["latency"] = asyncio.run(
                latency(ports["ocpp"], ports["lc"], args.messages, ports["http"], token, args.commands)
            )
            if not args.no_outage:

                async def run_outage() -> dict[str, Any]:
                    out = await outage(tmp, args, ports, proc)
                    stations = out.pop("_stations")
                    # the CSMS comes back on the same ports and data; timed from its health: all relayed again
                    with csms(tmp, ports["ocpp"], ports["http"]):
                        back = time.time()
                        await until(lambda: metric(ports["metrics"], "ocppd_lc_stations", upstream="up")
                                    >= len(stations), "every station relayed again", 60)  # fmt: skip
                        out["csms_back_to_all_relayed_s"] = round(time.time() - back, 2)
                        for st in stations:
                            await st.stop(flush_timeout=5)
                    return out

                result["outage"] = asyncio.run(run_outage())
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
