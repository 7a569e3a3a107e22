"""Per-message cost of schema validation and JSON coding: the measurements behind our choices.

Validators, each on an already-parsed payload (a dict), the way the RPC session uses them:

* ``jsonschema_rs``       -- our choice: ``validator.is_valid(payload)`` on the compiled OCA schema;
* ``ocppd``               -- the same through our wrapper, ``schemas(version).validate(action, payload)``;
* ``fastjsonschema``      -- code generated from the same schema (checks formats too);
* ``jsonschema``          -- ``Draft4Validator(schema).validate(payload)``, exactly what the ``ocpp``
  package does (no format checker);
* ``msgspec_convert``     -- ``msgspec.convert(payload, type=Struct)`` with Structs generated from the
  schema (bench/micro/msgspec_structs.py; see the differential test for where they disagree).

And from the raw frame payload bytes: ``orjson.loads`` + jsonschema-rs versus ``msgspec`` decoding
straight into the Struct. Then orjson versus the standard ``json`` module, decode and encode of the
whole frame.

Run: ``python bench/micro/validators.py [--repeat 7] [--target 0.2]``; prints one JSON document.
Each figure is the median (and minimum) over ``repeat`` timing runs of the per-call time in µs;
each run loops enough calls to last about ``target`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fastjsonschema
import jsonschema
import jsonschema_rs
import msgspec
import orjson
from msgspec_structs import struct_for

from ocppd.protocol import OcppVersion, schemas

V16, V201 = OcppVersion.V16, OcppVersion.V201

_MEASURANDS_16 = [
    ("Energy.Active.Import.Register", None, "Wh", "Outlet", "123456.7"),
    ("Power.Active.Import", None, "W", "Outlet", "11040.0"),
    ("Current.Import", "L1", "A", "Outlet", "16.0"),
    ("Current.Import", "L2", "A", "Outlet", "16.1"),
    ("Current.Import", "L3", "A", "Outlet", "15.9"),
    ("Voltage", "L1-N", "V", "Outlet", "230.1"),
    ("Voltage", "L2-N", "V", "Outlet", "229.8"),
    ("Voltage", "L3-N", "V", "Outlet", "231.0"),
    ("SoC", None, "Percent", "EV", "57"),
    ("Temperature", None, "Celsius", "Body", "31.5"),
]


def meter_values_16() -> dict[str, Any]:
    samples = []
    for measurand, phase, unit, location, value in _MEASURANDS_16:
        sample = {"value": value, "context": "Sample.Periodic", "format": "Raw", "measurand": measurand,
                  "location": location, "unit": unit}  # fmt: skip
        if phase:
            sample["phase"] = phase
        samples.append(sample)
    return {
        "connectorId": 1,
        "transactionId": 4711,
        "meterValue": [{"timestamp": "2024-05-01T12:30:00.000Z", "sampledValue": samples}],
    }


def boot_notification_16() -> dict[str, Any]:
    return {
        "chargePointVendor": "ExampleVendor",
        "chargePointModel": "WallBox-22",
        "chargePointSerialNumber": "WB22-000123",
        "chargeBoxSerialNumber": "CB-000123",
        "firmwareVersion": "1.4.2",
        "iccid": "8931440000000000001",
        "imsi": "204080000000001",
        "meterType": "EM340",
        "meterSerialNumber": "EM-998877",
    }


def transaction_event_201() -> dict[str, Any]:
    samples = []
    for measurand, phase, unit, location, value in _MEASURANDS_16:
        if measurand == "Temperature":  # not a 2.0.1 measurand
            measurand, unit, location, value = "Frequency", "Hz", "Inlet", "50.01"
        sample: dict[str, Any] = {"value": float(value), "context": "Sample.Periodic", "measurand": measurand,
                                  "location": location, "unitOfMeasure": {"unit": unit}}  # fmt: skip
        if phase:
            sample["phase"] = phase
        samples.append(sample)
    return {
        "eventType": "Updated",
        "timestamp": "2024-05-01T12:30:00.000Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 17,
        "transactionInfo": {"transactionId": "f3b1c2d4-0000-4a5b-9c8d-123456789abc", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": "2024-05-01T12:30:00.000Z", "sampledValue": samples}],
    }


def boot_notification_201() -> dict[str, Any]:
    return {
        "reason": "PowerUp",
        "chargingStation": {
            "model": "WallBox-22",
            "vendorName": "ExampleVendor",
            "serialNumber": "WB22-000123",
            "firmwareVersion": "1.4.2",
            "modem": {"iccid": "8931440000000000001", "imsi": "204080000000001"},
        },
    }


CASES: list[tuple[str, OcppVersion, str, Callable[[], dict[str, Any]]]] = [
    ("1.6 MeterValues (10 samples)", V16, "MeterValues", meter_values_16),
    ("1.6 BootNotification", V16, "BootNotification", boot_notification_16),
    ("2.0.1 TransactionEvent Updated (10 samples)", V201, "TransactionEvent", transaction_event_201),
    ("2.0.1 BootNotification", V201, "BootNotification", boot_notification_201),
]


def measure(fn: Callable[[], Any], *, repeat: int, target: float) -> dict[str, float]:
    """Median and minimum per-call time in µs over ``repeat`` runs of about ``target`` seconds."""
    fn()
    number = 1
    while True:  # calibrate
        started = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - started
        if elapsed >= target / 4:
            break
        number *= 4
    number = max(1, int(number * target / elapsed))
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - started) / number * 1e6)
    return {"median_us": round(statistics.median(runs), 3), "min_us": round(min(runs), 3), "calls": number}


def validators_for(version: OcppVersion, action: str, payload: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    schema = schemas(version).schema(action)
    rs = jsonschema_rs.validator_for(schema)
    fast = fastjsonschema.compile(schema)
    draft4 = jsonschema.Draft4Validator(schema)  # what ocpp.messages.get_validator builds
    struct = struct_for(version, action)
    schema_set = schemas(version)
    assert rs.is_valid(payload) and draft4.is_valid(payload), f"{action} payload is not valid"
    fast(payload)  # each of these raises on an invalid payload
    msgspec.convert(payload, type=struct)
    assert schema_set.validate(action, payload) == ()
    return {
        "jsonschema_rs": lambda: rs.is_valid(payload),
        "ocppd": lambda: schema_set.validate(action, payload),
        "fastjsonschema": lambda: fast(payload),
        "jsonschema": lambda: draft4.validate(payload),
        "msgspec_convert": lambda: msgspec.convert(payload, type=struct),
    }


def from_bytes_for(version: OcppVersion, action: str, payload: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    raw = orjson.dumps(payload)
    rs = jsonschema_rs.validator_for(schemas(version).schema(action))
    decoder = msgspec.json.Decoder(struct_for(version, action))
    return {
        "orjson+jsonschema_rs": lambda: rs.is_valid(orjson.loads(raw)),
        "msgspec_decode": lambda: decoder.decode(raw),
    }


def json_for(action: str, payload: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    frame = [2, "0a1b2c3d-17", action, payload]
    raw = orjson.dumps(frame)
    text = raw.decode()
    return {
        "orjson_loads": lambda: orjson.loads(raw),
        "json_loads": lambda: json.loads(text),
        "orjson_dumps": lambda: orjson.dumps(frame).decode(),
        "json_dumps": lambda: json.dumps(frame, separators=(",", ":")),
    }


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cpus_online": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--target", type=float, default=0.2, help="seconds per timing run")
    args = parser.parse_args()
    libs = ["jsonschema_rs", "jsonschema", "fastjsonschema", "msgspec", "orjson", "ocpp"]
    results: dict[str, Any] = {
        "machine": machine(),
        "versions": {lib.replace("_", "-"): dist_version(lib.replace("_", "-")) for lib in libs},
        "unit": "µs per call; median and min over repeat runs",
        "validate_dict": {},
        "decode_and_validate_bytes": {},
        "json_frame": {},
        "payload_bytes": {},
    }
    for label, version, action, build in CASES:
        payload = build()
        results["payload_bytes"][label] = len(orjson.dumps(payload))
        results["validate_dict"][label] = {
            name: measure(fn, repeat=args.repeat, target=args.target)
            for name, fn in validators_for(version, action, payload).items()
        }
        results["decode_and_validate_bytes"][label] = {
            name: measure(fn, repeat=args.repeat, target=args.target)
            for name, fn in from_bytes_for(version, action, payload).items()
        }
        results["json_frame"][label] = {
            name: measure(fn, repeat=args.repeat, target=args.target) for name, fn in json_for(action, payload).items()
        }
    results["machine"]["loadavg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
