"""Fold several runs of validators.py / ws_echo.py into the Markdown tables of docs/measurements.md.

    python bench/micro/summarize.py validators run1.json run2.json run3.json
    python bench/micro/summarize.py echo echo1.json [echo2.json ...]

Validators: per cell, the median over runs of each run's median, and the minimum over runs of each
run's minimum (the least disturbed figure on a shared machine). Echo: per pair, the median over
every run of messages per second and of the server's CPU µs per message.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any


def validators(docs: list[dict[str, Any]]) -> None:
    for section in ("validate_dict", "decode_and_validate_bytes", "json_frame"):
        cases = list(docs[0][section])
        libs = list(docs[0][section][cases[0]])
        print(f"\n{section} (µs per call: median of run medians / min of run minima)\n")
        print("| payload | " + " | ".join(libs) + " |")
        print("|---" * (len(libs) + 1) + "|")
        for case in cases:
            cells = []
            for lib in libs:
                medians = [doc[section][case][lib]["median_us"] for doc in docs]
                minima = [doc[section][case][lib]["min_us"] for doc in docs]
                cells.append(f"{_fmt(statistics.median(medians))} / {_fmt(min(minima))}")
            print(f"| {case} ({docs[0]['payload_bytes'][case]} B) | " + " | ".join(cells) + " |")


def echo(docs: list[dict[str, Any]]) -> None:
    rows: dict[str, dict[str, list[float]]] = {}
    for doc in docs:
        for result in doc["results"]:
            key = f"{result['server']} | {result['client']} | {result['conns']}"
            row = rows.setdefault(key, {"rate": [], "cpu": []})
            row["rate"].append(result["msgs_per_s"])
            row["cpu"].append(result["server_cpu_us_per_msg"])
    print("| server | client | connections | msgs/s (median) | range | server CPU µs/msg (median) | runs |")
    print("|---|---|---|---|---|---|---|")
    for key, row in rows.items():
        rate, cpu = row["rate"], row["cpu"]
        print(f"| {key} | {statistics.median(rate):,.0f} | {min(rate):,.0f}–{max(rate):,.0f} | "
              f"{statistics.median(cpu):.0f} | {len(rate)} |")  # fmt: skip


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def main() -> None:
    kind, paths = sys.argv[1], sys.argv[2:]
    docs = [json.loads(Path(path).read_text(encoding="utf-8")) for path in paths]
    {"validators": validators, "echo": echo}[kind](docs)


if __name__ == "__main__":
    main()
