"""``ocppd simulate``: a fleet of simulated stations against any OCPP CSMS.

The main ``ocppd`` CLI registers :func:`simulate`; ``python -m ocppd.station.cli`` runs it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ocppd.station.template import StationGroup, Template, TemplateError, expand, load_script, load_template

app = typer.Typer(add_completion=False, help="Simulate OCPP charging stations.")


def simulate(
    url: Annotated[
        str | None,
        typer.Option(
            help="CSMS endpoint without the station id, e.g. ws://host:9000/ocpp; "
            "for 1.xS the Central System service, e.g. http://host:8180/ocpp/soap"
        ),
    ] = None,
    stations: Annotated[int, typer.Option("--stations", "-n", help="Number of stations (without --template)")] = 1,
    template: Annotated[Path | None, typer.Option(help="Fleet template, YAML or TOML")] = None,
    ocpp: Annotated[
        str,
        typer.Option(help="1.6 | 2.0 | 2.0.1 | 2.1 | mixed (rotates 1.6, 2.0.1, 2.1) | 1.2S | 1.5S | 1.6S (SOAP)"),
    ] = "mixed",
    soap_listen: Annotated[
        str,
        typer.Option(help="1.xS: host:port where the stations' Charge Point service listens (the CSMS calls it)"),
    ] = "127.0.0.1:0",
    id_pattern: Annotated[str, typer.Option(help="Station identity pattern")] = "SIM-{n:05d}",
    evses: Annotated[int, typer.Option(help="EVSEs per station")] = 1,
    connectors: Annotated[int, typer.Option(help="Connectors per EVSE")] = 1,
    max_power_kw: Annotated[float, typer.Option(help="Max power per connector")] = 22.0,
    iso15118: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="2.0.1/2.1: share of cars that send ISO 15118 charging needs (0..1)"),
    ] = 0.0,
    password: Annotated[str | None, typer.Option(help="Basic-auth password (security profile 1/2)")] = None,
    ca_file: Annotated[Path | None, typer.Option(help="CA bundle for wss:// (security profile 2)")] = None,
    cert: Annotated[
        str | None, typer.Option(help="Client certificate, PEM (security profile 3); {id} = station id, e.g. {id}.pem")
    ] = None,
    key: Annotated[str | None, typer.Option(help="Private key of --cert, PEM (default: in the --cert file)")] = None,
    insecure: Annotated[bool, typer.Option(help="wss:// without certificate checks")] = False,
    scenario: Annotated[str, typer.Option(help="'default' (random sessions), 'idle', or a script file")] = "default",
    arrival_mean: Annotated[float, typer.Option(help="Default scenario: mean idle gap per connector, s")] = 600.0,
    session_min: Annotated[float, typer.Option(help="Default scenario: shortest stay, s")] = 300.0,
    session_max: Annotated[float, typer.Option(help="Default scenario: longest stay, s")] = 3600.0,
    badge_delay: Annotated[float, typer.Option(help="Default scenario: longest wait from plug-in to badge, s")] = 5.0,
    duration: Annotated[float, typer.Option(help="Stop after this many seconds (0: until Ctrl-C)")] = 0.0,
    ramp_up: Annotated[float, typer.Option(help="Stations started per second (0: all at once)")] = 50.0,
    heartbeat: Annotated[int | None, typer.Option(help="Heartbeat interval until the CSMS sets one, s")] = None,
    meter_interval: Annotated[int | None, typer.Option(help="MeterValueSampleInterval, s")] = None,
    aligned_interval: Annotated[int | None, typer.Option(help="ClockAlignedDataInterval, s")] = None,
    store: Annotated[Path | None, typer.Option(help="SQLite file for the durable queue")] = None,
    flush_timeout: Annotated[
        float, typer.Option(help="On exit, wait up to this long for queued messages to be delivered, s")
    ] = 10.0,
    load: Annotated[bool, typer.Option("--load", help="Load mode: send --mix as fast as possible")] = False,
    mix: Annotated[
        str, typer.Option(help="Load mode message mix, e.g. Heartbeat=1,MeterValues=3")
    ] = "Heartbeat=1,StatusNotification=1,MeterValues=3,Authorize=1",
    messages: Annotated[int | None, typer.Option(help="Load mode: stop after this many messages")] = None,
    live: Annotated[bool, typer.Option(help="Live terminal view")] = True,
    summary: Annotated[Path | None, typer.Option(help="Also write the JSON summary to this file")] = None,
    log_level: Annotated[str, typer.Option(help="Logging level (logs go to stderr)")] = "WARNING",
    seed: Annotated[int | None, typer.Option(help="Random seed for the default scenario")] = None,
    signed_meter_values: Annotated[
        bool, typer.Option(help="Without --template: sign energy readings (OCMF) with a test key per EVSE meter")
    ] = False,
    meter_key_file: Annotated[
        Path | None, typer.Option(help="Without --template: sign with this EC P-256 private key (PEM) instead")
    ] = None,
    firmware_fault: Annotated[
        str | None,
        typer.Option(
            help="Without --template: firmware updates fail on purpose: download | corrupt | install | "
            "keep-version (reports Installed, boots with the old version)"
        ),
    ] = None,
) -> None:
    """Run simulated charging stations against a CSMS; print a JSON summary at the end."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    if seed is not None:
        import random

        random.seed(seed)
    from ocppd.station.firmware import FAULTS

    if firmware_fault is not None and firmware_fault not in FAULTS:
        typer.echo(f"error: --firmware-fault: {firmware_fault!r} is none of {', '.join(FAULTS)}", err=True)
        raise typer.Exit(2)
    overrides: dict[str, Any] = {}
    for name, value in (("heartbeat_interval", heartbeat), ("meter_sample_interval", meter_interval),
                        ("aligned_interval", aligned_interval)):  # fmt: skip
        if value is not None:
            overrides[name] = value
    try:
        if template is not None:
            tpl = load_template(template)
        else:
            tpl = Template(stations=[StationGroup(
                id=id_pattern, count=stations, ocpp=ocpp, evses=[connectors] * evses, max_power_kw=max_power_kw,
                password=password, firmware_fault=firmware_fault, ev_iso15118=iso15118,
                signed_meter_values=signed_meter_values,
                meter_key_file=str(meter_key_file) if meter_key_file else None,
            )], soap_listen=soap_listen)  # fmt: skip
        configs = expand(tpl, url, ca_file=str(ca_file) if ca_file else None, cert=cert, key=key, insecure=insecure,
                         overrides=overrides)  # fmt: skip
        script = None
        if scenario not in ("default", "idle"):
            script = load_script(scenario)
    except (TemplateError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if load:
        from ocppd.station.load import parse_mix, run_load

        try:
            weights = parse_mix(mix)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        result = asyncio.run(run_load(configs, mix=weights, duration=duration or 30.0, messages=messages,
                                      ramp_up=ramp_up))  # fmt: skip
    else:
        options: dict[str, Any] = {
            "arrival_mean_s": arrival_mean,
            "session_min_s": session_min,
            "session_max_s": session_max,
            "badge_delay_max_s": badge_delay,
            "seed": seed,
        }
        chosen: Any = script if script is not None else (None if scenario == "idle" else "default")
        result = asyncio.run(_simulate(configs, chosen, options, duration, ramp_up, store, live, flush_timeout))
    text = json.dumps(result, indent=2)
    print(text)
    if summary is not None:
        summary.write_text(text + "\n", encoding="utf-8")
    never = result.get("never_booted") or {}
    if never:
        reasons = "; ".join(f"{reason} ({count})" for reason, count in never.items())
        typer.echo(f"error: {sum(never.values())} of {result['stations']} stations never booted: {reasons}", err=True)
        raise typer.Exit(1)
    if result.get("error_count", result.get("errors", 0)):
        raise typer.Exit(1)


async def _simulate(configs: list[Any], scenario: Any, options: dict[str, Any], duration: float, ramp_up: float,
                    store: Path | None, live: bool, flush_timeout: float) -> dict[str, Any]:  # fmt: skip
    from ocppd.station.fleet import Fleet

    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, done.set)
    fleet = Fleet(configs, store=store, ramp_up=ramp_up, scenario=scenario, scenario_options=options)
    await fleet.start()
    view_task = None
    if live:
        from ocppd.station.view import LiveView

        view_task = asyncio.create_task(LiveView(fleet).run(done))
    try:
        if duration > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), duration)
        else:
            await done.wait()
    finally:
        done.set()
        if view_task is not None:
            await view_task
        result = fleet.summary()
        await fleet.stop(flush_timeout)
    return result


app.command()(simulate)

if __name__ == "__main__":
    app()
