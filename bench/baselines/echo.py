"""Baseline (a), the ceiling: a raw picows WebSocket server that answers each OCPP CALL at once.

It parses just enough to echo the message id: the bytes between the first two double quotes of
``[2,"<id>","<action>",{...}]``, and picks a canned CALLRESULT payload by action (Boot gets
``Accepted``, StartTransaction a transactionId, everything else ``{}``). No JSON decoding, no
validation, no storage: what is left is WebSocket framing and the event loop, i.e. the most any
Python server on picows can do per core with one call in flight per connection.

    python -m bench.baselines.echo --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import resource

from picows import (
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

CANNED = {
    b"BootNotification": b'{"status":"Accepted","currentTime":"2025-01-01T12:00:00.000Z","interval":300}',
    b"StartTransaction": b'{"transactionId":1,"idTagInfo":{"status":"Accepted"}}',
    b"Heartbeat": b'{"currentTime":"2025-01-01T12:00:00.000Z"}',
}


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not WSMsgType.TEXT:
            if frame.msg_type is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            return
        data = frame.get_payload_as_bytes()
        if data[1:2] != b"2":
            return  # replies to our (never sent) calls
        end = data.index(b'"', 4)
        a_end = data.index(b'"', end + 3)
        payload = CANNED.get(data[end + 3 : a_end], b"{}")
        transport.send(WSMsgType.TEXT, b"[3," + data[3 : end + 1] + b"," + payload + b"]")


def factory(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    proto = offered.split(",")[0].strip()
    return WSUpgradeResponseWithListener(
        WSUpgradeResponse.create_101_response({"Sec-WebSocket-Protocol": proto} if proto else None), Echo()
    )


async def main(port: int) -> None:
    server = await ws_create_server(factory, "127.0.0.1", port, backlog=4096)
    await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--uvloop", action="store_true")
    a = p.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    if a.uvloop:
        import uvloop

        uvloop.run(main(a.port))
    else:
        asyncio.run(main(a.port))
