"""Run ``ocppd serve`` with a change applied from outside src/, to measure a proposed fix before making it.

    python -m bench.serve_variant [--uvloop] [--backlog N] serve [ocppd serve options]

--uvloop       run the server on uvloop instead of the default asyncio loop
--backlog N    listen backlog of the OCPP socket (ocppd passes none: asyncio's default is 100)
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
    if "--backlog" in args:
        i = args.index("--backlog")
        backlog = int(args[i + 1])
        del args[i : i + 2]
        import ocppd.transport.websocket as ws

        ws.ws_create_server = functools.partial(ws.ws_create_server, backlog=backlog)
    from ocppd.cli import app

    sys.argv = ["ocppd", *args]
    app()


if __name__ == "__main__":
    main()
