"""WebSocket echo throughput: picows versus websockets, server and client in separate processes.

Each client connection plays ping-pong: it sends a ~300-byte text message (an OCPP-J frame), waits
for the echo, sends the next. Two shapes: one connection (latency-bound), and 100 concurrent
connections (throughput-bound: 100 messages in flight). The server runs under ``taskset -c 0`` and
the client under ``taskset -c 1`` so that they do not fight over one core. Both libraries run on the
default asyncio event loop (what ``ocppd serve`` uses) with compression off (picows has none).

Run everything (prints one JSON document)::

    python bench/micro/ws_echo.py [--duration 5] [--runs 3] [--pairs picows:picows,websockets:websockets]

``--pairs`` lists server:client pairs; the cross pairs (e.g. websockets:picows) separate the
server's cost from the client's. The server and client roles are subcommands of the same script.
Figures: messages echoed per second, over the measured window after a short warm-up, plus the CPU
time the server process spent per message (from /proc), per run and the median over runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

MESSAGE = ('[2,"0a1b2c3d-17","MeterValues",{"connectorId":1,"transactionId":4711,"meterValue":[{"timestamp":'
           '"2024-05-01T12:30:00.000Z","sampledValue":[{"value":"123456.7","context":"Sample.Periodic",'
           '"measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"11040.0",'
           '"measurand":"Power.Active.Import","unit":"W"}]}]}]')  # fmt: skip
WARMUP = 0.5


# ------------------------------------------------------------------ servers
async def serve_picows(port: int) -> None:
    from picows import WSListener, WSMsgType, ws_create_server

    class Echo(WSListener):
        def on_ws_frame(self, transport, frame):
            if frame.msg_type is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
                transport.send(frame.msg_type, frame.get_payload_as_memoryview())

    server = await ws_create_server(lambda request: Echo(), "127.0.0.1", port)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


async def serve_websockets(port: int) -> None:
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    async def echo(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:  # the client leaves while an echo is on its way: not an error here
            pass

    async with serve(echo, "127.0.0.1", port, compression=None, max_size=2**20, ping_interval=None) as server:
        print(f"PORT {next(iter(server.sockets)).getsockname()[1]}", flush=True)
        await asyncio.Future()


# ------------------------------------------------------------------ clients
class Counter:
    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.count = 0  # echoes received inside the measured window
        self.total = 0  # echoes received, warm-up included
        self.counting = False
        self.stop = False
        self.window: tuple[int, float] = (0, 0.0)

    def received(self) -> None:
        self.total += 1
        if self.counting:
            self.count += 1

    async def run_clock(self) -> None:
        await asyncio.sleep(WARMUP)
        self.counting = True
        started = time.perf_counter()
        await asyncio.sleep(self.duration)
        self.window = (self.count, time.perf_counter() - started)
        self.counting = False
        self.stop = True


async def client_picows(port: int, conns: int, counter: Counter) -> None:
    from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

    payload = MESSAGE.encode()

    class PingPong(WSListener):
        def on_ws_connected(self, transport):
            self.transport = transport

        def on_ws_frame(self, transport, frame):
            if frame.msg_type is not WSMsgType.TEXT:
                return
            counter.received()
            if not counter.stop:
                transport.send(WSMsgType.TEXT, payload)

    clients = [await ws_connect(PingPong, f"ws://127.0.0.1:{port}/") for _ in range(conns)]
    for transport, _listener in clients:
        transport.send(WSMsgType.TEXT, payload)
    await counter.run_clock()
    for transport, _listener in clients:
        transport.send_close(WSCloseCode.OK)
        transport.disconnect()


async def client_websockets(port: int, conns: int, counter: Counter) -> None:
    from websockets.asyncio.client import connect

    sockets = [
        await connect(f"ws://127.0.0.1:{port}/", compression=None, max_size=2**20, ping_interval=None)
        for _ in range(conns)
    ]

    async def ping_pong(ws) -> None:
        while not counter.stop:
            await ws.send(MESSAGE)
            await ws.recv()
            counter.received()

    loops = [asyncio.ensure_future(ping_pong(ws)) for ws in sockets]
    await counter.run_clock()
    await asyncio.gather(*loops)
    for ws in sockets:
        await ws.close()


# ------------------------------------------------------------------ orchestration
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pinned(core: int, args: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *args]


def run_pair(server_lib: str, client_lib: str, conns: int, duration: float) -> dict:
    script = str(Path(__file__).resolve())
    server = subprocess.Popen(
        pinned(0, [sys.executable, script, "server", "--lib", server_lib]), stdout=subprocess.PIPE, text=True
    )
    try:
        line = server.stdout.readline() if server.stdout else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"{server_lib} server did not start: {line!r}")
        port = int(line.split()[1])
        cpu_before = cpu_seconds(server.pid)
        client = [sys.executable, script, "client", "--lib", client_lib, "--port", str(port)]
        client += ["--conns", str(conns), "--duration", str(duration)]
        out = subprocess.run(pinned(1, client), capture_output=True, text=True, timeout=duration + 60, check=True)
        server_cpu = cpu_seconds(server.pid) - cpu_before
        result = json.loads(out.stdout)
    finally:
        server.terminate()
        server.wait(timeout=10)
    total = result["messages"]
    # the server's CPU covers connect + warm-up + window; spread over every message it echoed
    result["server_cpu_us_per_msg"] = round(server_cpu / max(1, result["messages_total"]) * 1e6, 2)
    result["server_cpu_share"] = round(server_cpu / (duration + WARMUP), 3)
    result.update(server=server_lib, client=client_lib, conns=conns)
    result["msgs_per_s"] = round(total / result["seconds"])
    return result


def machine() -> dict:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    from importlib.metadata import version

    return {
        "cpu": model,
        "cpus_online": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "picows": version("picows"),
        "websockets": version("websockets"),
        "loadavg": os.getloadavg(),
        "message_bytes": len(MESSAGE.encode()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="role")
    srv = sub.add_parser("server")
    srv.add_argument("--lib", choices=["picows", "websockets"], required=True)
    srv.add_argument("--port", type=int, default=0)
    cli = sub.add_parser("client")
    cli.add_argument("--lib", choices=["picows", "websockets"], required=True)
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--conns", type=int, default=1)
    cli.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--conns", default="1,100")
    parser.add_argument("--pairs", default="picows:picows,websockets:websockets,websockets:picows,picows:websockets")
    args = parser.parse_args()

    if args.role == "server":
        asyncio.run(serve_picows(args.port) if args.lib == "picows" else serve_websockets(args.port))
        return
    if args.role == "client":
        counter = Counter(args.duration)
        run = client_picows if args.lib == "picows" else client_websockets
        asyncio.run(run(args.port, args.conns, counter))
        count, elapsed = counter.window
        print(json.dumps({"messages": count, "seconds": round(elapsed, 3), "messages_total": counter.total}))
        return

    results = []
    for run in range(args.runs):
        for conns in [int(c) for c in args.conns.split(",")]:
            for pair in args.pairs.split(","):
                server_lib, client_lib = pair.split(":")
                result = run_pair(server_lib, client_lib, conns, args.duration)
                result["run"] = run
                results.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
    summary = {}
    for result in results:
        key = f"server={result['server']} client={result['client']} conns={result['conns']}"
        summary.setdefault(key, []).append(result["msgs_per_s"])
    print(json.dumps({
        "machine": machine(),
        "duration_s": args.duration,
        "runs": args.runs,
        "median_msgs_per_s": {key: round(statistics.median(values)) for key, values in summary.items()},
        "all_msgs_per_s": summary,
        "results": results,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
