"""Run ``ocppd serve`` with a change applied from outside src/, to measure a proposed fix before making it.

    python -m bench.serve_variant [--uvloop] [--backlog N] serve [ocppd serve options]

--uvloop       run the server on uvloop instead of the default asyncio loop
--backlog N    listen backlog of the OCPP socket (ocppd passes none: asyncio's default is 100)
--rbuf N       picows read_buffer_init_size per connection (picows default 16384)
"""

from __future__ import annotations

import functools
import sys


def main() -> None:
    args = sys.argv[1:]
    if "--uvloop" in args:
        args.remove("--uvloop")
        import uvloop

        uvloop.install()
    import ocppd.transport.websocket as ws

    extra: dict[str, int] = {}
    for flag, kw in (("--backlog", "backlog"), ("--rbuf", "read_buffer_init_size")):
        if flag in args:
            i = args.index(flag)
            extra[kw] = int(args[i + 1])
            del args[i : i + 2]
    if extra:
        ws.ws_create_server = functools.partial(ws.ws_create_server, **extra)
    from ocppd.cli import app

    sys.argv = ["ocppd", *args]
    app()


if __name__ == "__main__":
    main()
