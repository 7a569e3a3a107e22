"""A lean OCPP load generator: many simulated stations multiplexed on ONE picows event loop.

Built to stay out of the way of the server it measures:

* frames are pre-encoded byte templates; sending one is a couple of byte concatenations
  (per-station message id counter, and for 2.0.1 a per-message ``seqNo``);
* replies are never JSON-decoded on the hot path: a reply is matched by checking that it starts
  with ``[3,"<the id we sent>"`` (a CALLERROR ``[4,...`` counts as an error);
* the hot loop is driven from picows' ``on_ws_frame`` callback (no task, no future per message);
  with ``--rate`` the next send is scheduled with ``loop.call_at`` instead (open loop per station,
  latency measured from the actual send);
* latency is taken per call with ``time.perf_counter_ns`` and kept in an ``array('q')``;
* the process reports its own CPU (``resource.getrusage``) over the measured window.

Scenarios (``--scenario``): ``throughput`` (``--unknown-tx``: 1.6 MeterValues naming transaction ids
the CSMS does not know), ``idle``, ``bootstorm``, ``fanout``. The result is one
JSON object on stdout (last line); progress lines go to stderr. ``idle`` prints a
``{"event": "booted"}`` line, then waits for a line on stdin before disconnecting (the orchestrator
samples the server's memory in between).

Run ``python -m bench.run`` rather than this module directly; see docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from array import array
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

NOW = "2025-01-01T12:00:00.000Z"

# The ten sampled values every meter-values message carries (same readings in 1.6 and 2.0.1 form).
_SAMPLES = [
    ("Energy.Active.Import.Register", None, "Wh", "12345.6"),
    ("Power.Active.Import", None, "W", "11000"),
    ("Current.Import", "L1", "A", "16.0"),
    ("Current.Import", "L2", "A", "16.1"),
    ("Current.Import", "L3", "A", "15.9"),
    ("Voltage", "L1-N", "V", "230.1"),
    ("Voltage", "L2-N", "V", "229.8"),
    ("Voltage", "L3-N", "V", "230.4"),
    ("SoC", None, "Percent", "42"),
    ("Frequency", None, None, "50.0"),
]


def sampled_values_16() -> list[dict[str, Any]]:
    out = []
    for measurand, phase, unit, value in _SAMPLES:
        sv = {"value": value, "context": "Sample.Periodic", "measurand": measurand, "location": "Outlet"}
        if unit:
            sv["unit"] = unit
        if phase:
            sv["phase"] = phase
        out.append(sv)
    return out


def sampled_values_201() -> list[dict[str, Any]]:
    out = []
    for measurand, phase, unit, value in _SAMPLES:
        sv: dict[str, Any] = {
            "value": float(value),
            "context": "Sample.Periodic",
            "measurand": measurand,
            "location": "Outlet",
            "unitOfMeasure": {"unit": unit or "Hz"},
        }
        if phase:
            sv["phase"] = phase
        out.append(sv)
    return out


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}


def boot_payload(version: str, serial: str) -> dict[str, Any]:
    if version == "1.6":
        return {
            "chargePointVendor": "BenchCo",
            "chargePointModel": "LoadGen-1",
            "chargePointSerialNumber": serial,
            "firmwareVersion": "1.0.0",
        }
    return {
        "reason": "PowerUp",
        "chargingStation": {
            "vendorName": "BenchCo",
            "model": "LoadGen-1",
            "serialNumber": serial,
            "firmwareVersion": "1.0.0",
        },
    }


def status_payload(version: str) -> dict[str, Any]:
    if version == "1.6":
        return {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": NOW}
    return {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}


class Stats:
    """Shared counters for the whole process (one event loop, no locking needed)."""

    def __init__(self) -> None:
        self.measuring = False
        self.lat = array("q")
        self.sent = 0
        self.ok = 0
        self.errors = 0
        self.error_samples: list[str] = []

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(text[:300])


class Station(WSListener):
    """One simulated station. ``call`` is for setup (awaitable); ``start_hot`` runs the callback loop."""

    __slots__ = (
        "answer_server",
        "closed",
        "connected",
        "counter",
        "expect",
        "head",
        "hot",
        "interval",
        "loop",
        "mid",
        "name",
        "next_at",
        "pending",
        "running",
        "seq",
        "stats",
        "suffix",
        "t_sent",
        "transport",
    )

    def __init__(self, name: str, stats: Stats, loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self.stats = stats
        self.loop = loop
        self.transport: WSTransport | None = None
        self.connected: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.counter = 0
        self.pending: asyncio.Future[bytes] | None = None
        self.expect = b""
        self.hot = False
        self.running = False
        self.t_sent = 0
        self.head = b""
        self.mid = b""
        self.suffix = b""
        self.seq: int | None = None
        self.interval = 0.0
        self.next_at = 0.0
        self.answer_server: dict[str, bytes] = {}

    # --------------------------------------------------------------- picows callbacks
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        if not self.connected.done():
            self.connected.set_result(None)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.running = False
        if not self.closed.done():
            self.closed.set_result(None)
        if self.pending is not None and not self.pending.done():
            self.pending.set_exception(ConnectionError(f"{self.name}: disconnected"))

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not WSMsgType.TEXT:
            if frame.msg_type is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            return
        data = frame.get_payload_as_bytes()
        if self.hot:
            now = time.perf_counter_ns()
            if data.startswith(self.expect):
                st = self.stats
                if st.measuring:
                    st.lat.append(now - self.t_sent)
                    st.ok += 1
                if self.running:
                    if self.interval:
                        self._schedule()
                    else:
                        self._send_hot()
                else:
                    self.hot = False
                return
            if data[1:2] == b"2":
                self._answer_call(data)
                return
            self.stats.error(f"{self.name}: unexpected reply {data[:200]!r}")
            if self.running:
                self._send_hot()
            return
        if data[1:2] == b"2":
            self._answer_call(data)
            return
        fut = self.pending
        if fut is not None and not fut.done() and data.startswith(self.expect):
            fut.set_result(data)
        elif fut is not None and not fut.done() and data[1:2] == b"4":
            fut.set_exception(RuntimeError(f"{self.name}: CALLERROR {data[:300]!r}"))
        else:
            self.stats.error(f"{self.name}: unmatched frame {data[:200]!r}")

    def _answer_call(self, data: bytes) -> None:
        msg = orjson.loads(data)
        action = msg[2]
        payload = self.answer_server.get(action, b'{"status":"Accepted"}')
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, b"[3," + orjson.dumps(msg[1]) + b"," + payload + b"]")

    # --------------------------------------------------------------- setup calls
    async def call(self, action: str, payload: dict[str, Any], timeout: float = 60.0) -> Any:
        assert self.transport is not None
        self.counter += 1
        mid = b"s%d" % self.counter
        self.expect = b'[3,"' + mid + b'"'
        self.pending = self.loop.create_future()
        self.transport.send(WSMsgType.TEXT, b'[2,"' + mid + b'","' + action.encode() + b'",' + dumps(payload) + b"]")
        data = await asyncio.wait_for(self.pending, timeout)
        self.pending = None
        return orjson.loads(data)[2]

    # --------------------------------------------------------------- hot loop
    def prepare_hot(self, action: str, payload: dict[str, Any], seq_key: str | None) -> None:
        """Pre-encode ``[2,"<id>","<action>",<payload>]``; with ``seq_key`` the payload ends in a counter."""
        self.head = b'[2,"'
        self.mid = b'","' + action.encode() + b'",'
        if seq_key is None:
            self.suffix = dumps(payload) + b"]"
            self.seq = None
        else:
            body = dumps({k: v for k, v in payload.items() if k != seq_key})
            self.mid += body[:-1] + b',"' + seq_key.encode() + b'":'
            self.suffix = b"}]"
            self.seq = int(payload.get(seq_key, 1))

    def start_hot(self, interval: float = 0.0, offset: float = 0.0) -> None:
        self.hot = True
        self.running = True
        self.interval = interval
        if interval:
            self.next_at = self.loop.time() + offset
            self.loop.call_at(self.next_at, self._send_hot)
        else:
            self._send_hot()

    def _schedule(self) -> None:
        self.next_at += self.interval
        now = self.loop.time()
        if self.next_at <= now:  # behind schedule: send at once (and do not try to catch up)
            self.next_at = now
            self._send_hot()
        else:
            self.loop.call_at(self.next_at, self._send_hot)

    def _send_hot(self) -> None:
        if not self.running or self.transport is None:
            return
        self.counter += 1
        mid = b"%d" % self.counter
        self.expect = b'[3,"' + mid + b'"'
        if self.seq is None:
            frame = self.head + mid + self.mid + self.suffix
        else:
            self.seq += 1
            frame = self.head + mid + self.mid + b"%d" % self.seq + self.suffix
        self.stats.sent += 1
        self.t_sent = time.perf_counter_ns()
        self.transport.send(WSMsgType.TEXT, frame)

    def disconnect(self) -> None:
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send_close()
            self.transport.disconnect()


# ---------------------------------------------------------------------------------- helpers
def event(name: str, **kw: Any) -> None:
    """A sync point for the orchestrator (stdout, one JSON object per line)."""
    print(json.dumps({"event": name, **kw}), flush=True)


def progress(**kw: Any) -> None:
    print(json.dumps(kw), file=sys.stderr, flush=True)


def percentiles(values: array | list[int], scale: float = 1e-6) -> dict[str, float | None]:
    """p50/p90/p99/p99.9/max in ms (values in ns)."""
    if not values:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "p999_ms": None, "max_ms": None}
    s = sorted(values)
    n = len(s)

    def q(p: float) -> float:
        return round(s[min(n - 1, int(p * n))] * scale, 3)

    return {
        "p50_ms": q(0.50),
        "p90_ms": q(0.90),
        "p99_ms": q(0.99),
        "p999_ms": q(0.999),
        "max_ms": round(s[-1] * scale, 3),
    }


class CpuMeter:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.r0 = resource.getrusage(resource.RUSAGE_SELF)

    def stop(self) -> dict[str, float]:
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter() - self.t0
        cpu = (r1.ru_utime - self.r0.ru_utime) + (r1.ru_stime - self.r0.ru_stime)
        return {"wall_s": round(wall, 3), "loadgen_cpu_s": round(cpu, 3), "loadgen_cpu_pct": round(100 * cpu / wall, 1)}


async def connect_station(url: str, name: str, version: str, stats: Stats, timeout: float = 30.0) -> Station:
    loop = asyncio.get_running_loop()
    holder: list[Station] = []

    def factory() -> Station:
        st = Station(name, stats, loop)
        holder.append(st)
        return st

    await ws_connect(
        factory,
        f"{url}/{name}",
        extra_headers={"Sec-WebSocket-Protocol": SUBPROTOCOL[version]},
        websocket_handshake_timeout=timeout,
        enable_auto_ping=False,
        max_frame_size=1 << 20,
    )
    return holder[0]


async def bring_up(
    url: str,
    names: list[str],
    version: str,
    stats: Stats,
    concurrency: int,
    status: bool = False,
    timeout: float = 60.0,
) -> list[Station]:
    """Connect and boot (and optionally send StatusNotification) with bounded concurrency."""
    sem = asyncio.Semaphore(concurrency)
    out: list[Station | None] = [None] * len(names)

    async def one(i: int, name: str) -> None:
        async with sem:
            st = await connect_station(url, name, version, stats, timeout)
            reply = await st.call("BootNotification", boot_payload(version, name), timeout)
            if reply.get("status") != "Accepted":
                raise RuntimeError(f"{name}: boot answered {reply}")
            if status:
                await st.call("StatusNotification", status_payload(version), timeout)
            out[i] = st

    await asyncio.gather(*(one(i, n) for i, n in enumerate(names)))
    return [s for s in out if s is not None]


# 1.6 transaction ids the CSMS never gave out (within the 32-bit integers OCPP allows).
UNKNOWN_TX_BASE = 1_900_000_000


async def start_transactions(
    stations: list[Station], version: str, concurrency: int = 200, *, unknown: bool = False
) -> None:
    """A running transaction per station so meter values are attributed (1.6 transactionId, 2.0.1 Started).

    ``unknown`` (1.6): no StartTransaction; every station's MeterValues name a transaction id the CSMS
    does not know (a station whose CSMS lost its database, or an independent load generator)."""
    sem = asyncio.Semaphore(concurrency)

    async def one(st: Station) -> None:
        async with sem:
            if version == "1.6" and unknown:
                tx = UNKNOWN_TX_BASE + stations.index(st)
                st.prepare_hot(
                    "MeterValues",
                    {
                        "connectorId": 1,
                        "transactionId": tx,
                        "meterValue": [{"timestamp": NOW, "sampledValue": sampled_values_16()}],
                    },
                    None,
                )
            elif version == "1.6":
                r = await st.call(
                    "StartTransaction", {"connectorId": 1, "idTag": "BENCH", "meterStart": 0, "timestamp": NOW}
                )
                tx = r.get("transactionId", 1)
                st.prepare_hot(
                    "MeterValues",
                    {
                        "connectorId": 1,
                        "transactionId": tx,
                        "meterValue": [{"timestamp": NOW, "sampledValue": sampled_values_16()}],
                    },
                    None,
                )
            else:
                txid = f"tx-{st.name}"
                started = {
                    "eventType": "Started",
                    "timestamp": NOW,
                    "triggerReason": "CablePluggedIn",
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": txid, "chargingState": "EVConnected"},
                    "evse": {"id": 1, "connectorId": 1},
                }
                await st.call("TransactionEvent", started)
                st.prepare_hot(
                    "TransactionEvent",
                    {
                        "eventType": "Updated",
                        "timestamp": NOW,
                        "triggerReason": "MeterValuePeriodic",
                        "transactionInfo": {"transactionId": txid, "chargingState": "Charging"},
                        "evse": {"id": 1, "connectorId": 1},
                        "meterValue": [{"timestamp": NOW, "sampledValue": sampled_values_201()}],
                        "seqNo": 0,
                    },
                    "seqNo",
                )

    await asyncio.gather(*(one(s) for s in stations))


# ---------------------------------------------------------------------------------- scenarios
async def scenario_throughput(a: argparse.Namespace) -> dict[str, Any]:
    stats = Stats()
    names = [f"{a.prefix}{i:05d}" for i in range(a.stations)]
    stations = await bring_up(a.url, names, a.version, stats, a.concurrency)
    await start_transactions(stations, a.version, unknown=a.unknown_tx)
    loop = asyncio.get_running_loop()
    interval = a.stations / a.rate if a.rate else 0.0
    for i, st in enumerate(stations):
        st.start_hot(interval, offset=(i / len(stations)) * interval if interval else 0.0)
    await asyncio.sleep(a.warmup)
    event("measure_start")
    stats.measuring = True
    meter = CpuMeter()
    await asyncio.sleep(a.duration)
    stats.measuring = False
    cpu = meter.stop()
    event("measure_end")
    for st in stations:
        st.running = False
    await asyncio.sleep(0.2)
    for st in stations:
        st.disconnect()
    await asyncio.sleep(0.1)
    del loop
    return {
        "scenario": "throughput",
        "unknown_tx": a.unknown_tx,
        "version": a.version,
        "stations": len(stations),
        "offered_rate": a.rate or None,
        "messages": stats.ok,
        "msgs_per_s": round(stats.ok / cpu["wall_s"], 1),
        **percentiles(stats.lat),
        **cpu,
        "errors": stats.errors,
        "error_samples": stats.error_samples,
    }


async def scenario_idle(a: argparse.Namespace) -> dict[str, Any]:
    """Connect and boot N stations, heartbeat every ``--heartbeat`` s (staggered), hold until stdin says stop."""
    stats = Stats()
    names = [f"{a.prefix}{i:05d}" for i in range(a.stations)]
    t0 = time.perf_counter()
    stations = await bring_up(a.url, names, a.version, stats, a.concurrency, status=True)
    up_s = time.perf_counter() - t0
    loop = asyncio.get_running_loop()
    hb_ok = 0
    hb_err = 0

    async def heartbeats(st: Station, offset: float) -> None:
        nonlocal hb_ok, hb_err
        await asyncio.sleep(offset)
        while not st.closed.done():
            try:
                await st.call("Heartbeat", {}, timeout=30)
                hb_ok += 1
            except Exception as exc:
                hb_err += 1
                stats.error(f"heartbeat: {exc!r}")
                if st.closed.done():
                    return
            await asyncio.sleep(a.heartbeat)

    tasks = [asyncio.ensure_future(heartbeats(st, a.heartbeat * i / len(stations))) for i, st in enumerate(stations)]
    event("booted", stations=len(stations), up_s=round(up_s, 3))
    meter = CpuMeter()
    await loop.run_in_executor(None, sys.stdin.readline)
    cpu = meter.stop()
    for t in tasks:
        t.cancel()
    connected = sum(1 for s in stations if not s.closed.done())
    for st in stations:
        st.disconnect()
    await asyncio.sleep(0.5)
    return {
        "scenario": "idle",
        "version": a.version,
        "stations": len(stations),
        "still_connected": connected,
        "bring_up_s": round(up_s, 3),
        "heartbeats_ok": hb_ok,
        "heartbeat_errors": hb_err,
        **cpu,
        "errors": stats.errors,
        "error_samples": stats.error_samples,
    }


async def scenario_bootstorm(a: argparse.Namespace) -> dict[str, Any]:
    """All stations at once: connect, BootNotification, StatusNotification; time until all are accepted."""
    stats = Stats()
    names = [f"{a.prefix}{i:05d}" for i in range(a.stations)]
    done_ns = array("q")
    connect_ns = array("q")
    failures: dict[str, int] = {}
    stations: list[Station] = []
    meter = CpuMeter()
    t0 = time.perf_counter_ns()

    async def one(name: str) -> None:
        try:
            st = await connect_station(a.url, name, a.version, stats, timeout=a.timeout)
            stations.append(st)
            connect_ns.append(time.perf_counter_ns() - t0)
            reply = await st.call("BootNotification", boot_payload(a.version, name), a.timeout)
            if reply.get("status") != "Accepted":
                raise RuntimeError(f"boot {reply.get('status')}")
            await st.call("StatusNotification", status_payload(a.version), a.timeout)
            done_ns.append(time.perf_counter_ns() - t0)
        except Exception as exc:
            key = type(exc).__name__ + ": " + str(exc)[:80]
            failures[key] = failures.get(key, 0) + 1

    await asyncio.gather(*(one(n) for n in names))
    total_s = (time.perf_counter_ns() - t0) / 1e9
    cpu = meter.stop()
    for st in stations:
        st.disconnect()
    await asyncio.sleep(0.5)
    errors = sum(failures.values()) + stats.errors
    return {
        "scenario": "bootstorm",
        "version": a.version,
        "stations": a.stations,
        "accepted": len(done_ns),
        "errors": errors,
        "failures": dict(sorted(failures.items(), key=lambda kv: -kv[1])[:5]),
        "all_accepted_s": round(max(done_ns) / 1e9, 3) if len(done_ns) == a.stations else None,
        "total_s": round(total_s, 3),
        "connected_p50_s": percentiles(connect_ns, 1e-9)["p50_ms"],
        "connected_p99_s": percentiles(connect_ns, 1e-9)["p99_ms"],
        "accepted_p50_s": percentiles(done_ns, 1e-9)["p50_ms"],
        "accepted_p99_s": percentiles(done_ns, 1e-9)["p99_ms"],
        **cpu,
        "error_samples": stats.error_samples,
    }


async def http_post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, token: str, body: bytes
) -> tuple[int, bytes]:
    writer.write(
        b"POST "
        + path.encode()
        + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        + token.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    return status, await reader.readexactly(length)


async def scenario_fanout(a: argparse.Namespace) -> dict[str, Any]:
    """Boot N stations (answering RemoteStart/RequestStart with Accepted), then command all of them via the API."""
    stats = Stats()
    names = [f"{a.prefix}{i:05d}" for i in range(a.stations)]
    stations = await bring_up(a.url, names, a.version, stats, a.concurrency, status=True)
    token = a.token
    queue = list(reversed(names))
    lat = array("q")
    failures: dict[str, int] = {}
    answered = 0
    body = orjson.dumps({"id_token": "BENCHTAG", "evse_id": 1})
    host, port = a.http.split(":")

    async def worker() -> None:
        nonlocal answered
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while queue:
                name = queue.pop()
                t = time.perf_counter_ns()
                try:
                    status, resp = await http_post(
                        reader, writer, f"/api/v1/stations/{name}/commands/remote-start", token, body
                    )
                except Exception as exc:
                    key = f"{type(exc).__name__}: {exc}"[:100]
                    failures[key] = failures.get(key, 0) + 1
                    reader, writer = await asyncio.open_connection(host, int(port))
                    continue
                lat.append(time.perf_counter_ns() - t)
                ok = status == 200 and b'"Accepted"' in resp
                if ok:
                    answered += 1
                else:
                    key = f"HTTP {status}: {resp[:80]!r}"
                    failures[key] = failures.get(key, 0) + 1
        finally:
            writer.close()

    meter = CpuMeter()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(a.http_concurrency)))
    total = time.perf_counter() - t0
    cpu = meter.stop()
    for st in stations:
        st.disconnect()
    await asyncio.sleep(0.3)
    return {
        "scenario": "fanout",
        "version": a.version,
        "stations": len(stations),
        "http_concurrency": a.http_concurrency,
        "answered": answered,
        "errors": sum(failures.values()) + stats.errors,
        "failures": failures,
        "all_answered_s": round(total, 3),
        "commands_per_s": round(answered / total, 1),
        **percentiles(lat),
        **cpu,
        "error_samples": stats.error_samples,
    }


SCENARIOS = {
    "throughput": scenario_throughput,
    "idle": scenario_idle,
    "bootstorm": scenario_bootstorm,
    "fanout": scenario_fanout,
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/ocpp (station id is appended)")
    p.add_argument("--scenario", choices=SCENARIOS, required=True)
    p.add_argument("--version", choices=["1.6", "2.0.1"], default="1.6")
    p.add_argument("--stations", type=int, default=100)
    p.add_argument("--prefix", default="BENCH")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=0.0, help="total offered msgs/s (0: as fast as possible)")
    p.add_argument("--concurrency", type=int, default=500, help="connections set up at a time (not bootstorm)")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--heartbeat", type=float, default=10.0)
    p.add_argument("--http", default="127.0.0.1:8180")
    p.add_argument("--token", default="")
    p.add_argument("--http-concurrency", type=int, default=100)
    p.add_argument("--uvloop", action="store_true", help="run on uvloop (the default for the bench)")
    p.add_argument("--unknown-tx", action="store_true", help="throughput 1.6: MeterValues for unknown transaction ids")
    a = p.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if a.uvloop:
        import uvloop

        result = uvloop.run(SCENARIOS[a.scenario](a))
    else:
        result = asyncio.run(SCENARIOS[a.scenario](a))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
