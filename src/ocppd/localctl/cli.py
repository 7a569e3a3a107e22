"""``ocppd local-controller``: run a local controller between a site's stations and a CSMS."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from ocppd.clicommon import ConfigOption, fail, settings_for

HELP = (
    "Run a local controller (OCPP 2.0.1 Part 4 §6, 1.6 §3.13 local smart charging)."
    "\n\n"
    "Point the stations of a site at ws://HOST:PORT/<path>/<station-id> (wss:// with "
    "local_controller.tls_cert). For each station the controller opens one connection to the CSMS at "
    "local_controller.upstream_url + the station's own path, with the station's identity, subprotocol and"
    " Basic auth (or the password configured in \\[local_controller.credentials]), and relays every frame"
    " both ways unchanged. It balances the group with the same balancer as `ocppd serve` within the group"
    " limit (local_controller.group_amps / group_watts, a \\[smart] sites_file, and the station-max "
    "profiles the CSMS sends to local_controller.identity), and keeps balancing while the CSMS is "
    "unreachable. If the CSMS drops a station's connection the controller drops the station's (it "
    "reconnects and stays connected, balanced, until the CSMS is back)."
    "\n\n"
    "Configuration: the \\[local_controller] and \\[smart] sections of the ocppd file, or "
    "OCPPD_LOCAL_CONTROLLER__KEY environment variables (e.g. "
    "OCPPD_LOCAL_CONTROLLER__UPSTREAM_URL=wss://csms.example.com). Prometheus metrics on "
    "local_controller.metrics_port; a status page and its JSON on local_controller.http_port (off by "
    "default). See docs/smart-charging.md, section A local controller."
)


def local_controller(
    config: ConfigOption = None,
    upstream: Annotated[
        str | None, typer.Option(help="The CSMS, e.g. ws://csms:9000 (local_controller.upstream_url).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port the stations connect to (default 9100).")] = None,
    group_amps: Annotated[float | None, typer.Option(help="The group's limit in A per phase.")] = None,
    data_dir: Annotated[str | None, typer.Option(help="Where the controller keeps its limit tree (SQLite).")] = None,
) -> None:
    from ocppd.localctl.controller import StartupError, run
    from ocppd.logs import setup_logging

    settings = settings_for(config)
    lc = settings.local_controller
    if upstream is not None:
        lc.upstream_url = upstream
    if port is not None:
        lc.port = port
    if group_amps is not None:
        lc.group_amps = group_amps
    if data_dir is not None:
        settings.data_dir = data_dir
    try:
        settings.validate()
        lc.validate()
        from ocppd.localctl.controller import server_context, upstream_context

        server_context(settings)
        upstream_context(settings)
    except ValueError as exc:
        raise fail(f"configuration error: {exc}") from None
    setup_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(run(settings))
    except StartupError as exc:
        raise fail(f"cannot start: {exc}") from None


def register(app: typer.Typer) -> None:
    app.command("local-controller", help=HELP)(local_controller)
