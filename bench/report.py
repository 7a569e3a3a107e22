"""Turn a results document into latest.json, latest.md (tables + target verdicts) and throughput.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SERVERS = ["ocppd", "ocppd-pg", "echo", "ocpp-pkg"]
LABEL = {
    "ocppd": "ocppd (SQLite)",
    "ocppd-pg": "ocppd (PostgreSQL)",
    "echo": "raw picows echo (ceiling)",
    "ocpp-pkg": "ocpp package CSMS (status quo)",
}
MSG = {"1.6": "1.6 MeterValues (10 samples)", "2.0.1": "2.0.1 TransactionEvent Updated (10 samples)"}


def _order(kind: str) -> int:
    return SERVERS.index(kind) if kind in SERVERS else len(SERVERS)


def _find(results: list[dict[str, Any]], **kw: Any) -> dict[str, Any] | None:
    for r in results:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def _f(v: Any, nd: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what, measured, met, and the gap (how far from the target)."""
    res = doc["results"]
    out: list[dict[str, Any]] = []
    tp = [r for r in res if r["scenario"] == "throughput"]
    for version in sorted({r["version"] for r in tp}):
        for n in (100, 1000):
            o = _find(tp, server="ocppd", version=version, stations=n)
            if not o:
                continue
            b = _find(tp, server="ocpp-pkg", version=version, stations=n)
            e = _find(tp, server="echo", version=version, stations=n)
            if b and b["msgs_per_s"]:
                x = o["msgs_per_s"] / b["msgs_per_s"]
                out.append(
                    {
                        "target": f"{version} n={n}: SQLite throughput >= 30x ocpp package",
                        "measured": f"{x:.1f}x ({o['msgs_per_s']:,.0f} vs {b['msgs_per_s']:,.0f} msg/s)",
                        "met": x >= 30,
                        "gap": None if x >= 30 else f"needs {30 / x:.1f}x more",
                    }
                )
            if e and e["msgs_per_s"]:
                x = o["msgs_per_s"] / e["msgs_per_s"]
                out.append(
                    {
                        "target": f"{version} n={n}: SQLite throughput >= 25% of raw echo",
                        "measured": f"{100 * x:.1f}% ({o['msgs_per_s']:,.0f} vs {e['msgs_per_s']:,.0f} msg/s)",
                        "met": x >= 0.25,
                        "gap": None if x >= 0.25 else f"needs {0.25 / x:.1f}x more",
                    }
                )
            p = _find(tp, server="ocppd-pg", version=version, stations=n)
            if p:
                x = p["msgs_per_s"] / max(o["msgs_per_s"], 1e-9)
                out.append(
                    {
                        "target": f"{version} n={n}: PostgreSQL throughput >= 60% of SQLite",
                        "measured": f"{100 * x:.0f}% ({p['msgs_per_s']:,.0f} vs {o['msgs_per_s']:,.0f} msg/s)",
                        "met": x >= 0.6,
                        "gap": None if x >= 0.6 else f"needs {0.6 / x:.2f}x more",
                    }
                )
    for r in res:
        if r["scenario"] == "latency_at_half_rate":
            p99 = r["p99_ms"]
            out.append(
                {
                    "target": f"{r['version']} n={r['stations']}: p99 <= 5 ms at half of max rate "
                    f"({r['offered_rate']:,.0f} msg/s offered)",
                    "measured": f"p99 {p99} ms (p50 {r['p50_ms']} ms, got {r['msgs_per_s']:,.0f} msg/s)",
                    "met": p99 is not None and p99 <= 5,
                    "gap": None if p99 is not None and p99 <= 5 else f"{p99 / 5:.1f}x over",
                }
            )
        if r["scenario"] == "idle" and r["server"] == "ocppd":
            kb = r["rss_per_station_kb"]
            out.append(
                {
                    "target": f"<= 32 KB server memory per idle booted station at {r['stations']:,}",
                    "measured": f"{kb} KB/station",
                    "met": kb <= 32,
                    "gap": None if kb <= 32 else f"{kb / 32:.2f}x over",
                }
            )
        if r["scenario"] == "unknown_tx" and r["cost_ratio"] is not None:
            out.append(
                {
                    "target": f"1.6 n={r['stations']}: MeterValues for unknown transactions <= 1.5x the cost "
                    "of known ones (server CPU per message)",
                    "measured": f"{r['cost_ratio']}x ({r['unknown_cpu_us']} vs {r['known_cpu_us']} µs)",
                    "met": r["cost_ratio"] <= 1.5,
                    "gap": f"{r['cost_ratio'] / 1.5:.1f}x over",
                }
            )
        if r["scenario"] == "bootstorm" and r["server"] == "ocppd":
            t = r["all_accepted_s"]
            met = t is not None and t <= 15 and r["errors"] == 0
            out.append(
                {
                    "target": f"boot storm of {r['stations']:,} accepted within 15 s, zero errors",
                    "measured": f"{t} s, {r['accepted']:,} accepted, {r['errors']} errors",
                    "met": met,
                    "gap": None if met else (f"{t / 15:.2f}x over" if t else f"{r['errors']} errors"),
                }
            )
    return out


def markdown(doc: dict[str, Any]) -> str:
    res = doc["results"]
    m = doc["machine"]
    lines = [
        f"# ocppd benchmark results ({doc['mode']} run, {doc['generated']})",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, Python {m['python']}, kernel {m['kernel']}; git {m['git']}"
        f"{' (src has uncommitted changes)' if m.get('src_dirty') else ''}. Server pinned to CPU {m['server_cpu']}, "
        f"load generator to CPU {m['loadgen_cpu']}, nice {m.get('nice', 0)}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + ".",
        "",
        "`other CPU` is what processes outside the benchmark used on the two CPUs during the window "
        "(of 200%): anything well above 0 means the figures are depressed by a shared machine.",
        "",
    ]
    tp = [r for r in res if r["scenario"] == "throughput"]
    if tp:
        lines += [
            "## Throughput (one call in flight per station; validation on; ocppd stores every message)",
            "",
            "| message | stations | server | msg/s | msg per CPU-s | p50 ms | p99 ms | p99.9 ms | server CPU % "
            "| loadgen CPU % | other CPU % | errors |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in sorted(tp, key=lambda r: (r["version"], r["stations"], _order(r["server"]))):
            lines.append(
                f"| {r['version']} | {r['stations']:,} | {r['server']} | {_f(r['msgs_per_s'], 0)} | "
                f"{_f(r.get('msgs_per_cpu_s'), 0)} | {_f(r['p50_ms'], 2)} | {_f(r['p99_ms'], 2)} | "
                f"{_f(r['p999_ms'], 2)} | {_f(r.get('server_cpu_pct'))} | {_f(r['loadgen_cpu_pct'])} | "
                f"{_f(r.get('other_cpu_pct'))} | {r['errors']} |"
            )
        lines += [
            "",
            "### Ratios",
            "",
            "| message | stations | ocppd msg/s | x ocpp package | % of echo | per-core x ocpp package "
            "| per-core % of echo | PostgreSQL msg/s | PostgreSQL % of SQLite |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for version in sorted({r["version"] for r in tp}):
            for n in sorted({r["stations"] for r in tp}):
                o = _find(tp, server="ocppd", version=version, stations=n)
                if not o:
                    continue
                b = _find(tp, server="ocpp-pkg", version=version, stations=n)
                e = _find(tp, server="echo", version=version, stations=n)
                p = _find(tp, server="ocppd-pg", version=version, stations=n)

                def ratio(a: dict[str, Any] | None, key: str, pct: bool = False, o: dict[str, Any] = o) -> str:
                    if not a or not a.get(key) or not o.get(key):
                        return "–"
                    x = o[key] / a[key]
                    return f"{100 * x:.1f}%" if pct else f"{x:.1f}x"

                pg_pct = f"{100 * p['msgs_per_s'] / o['msgs_per_s']:.0f}%" if p and o["msgs_per_s"] else "–"
                lines.append(
                    f"| {version} | {n:,} | {_f(o['msgs_per_s'], 0)} | {ratio(b, 'msgs_per_s')} | "
                    f"{ratio(e, 'msgs_per_s', True)} | {ratio(b, 'msgs_per_cpu_s')} | "
                    f"{ratio(e, 'msgs_per_cpu_s', True)} | {_f(p['msgs_per_s'], 0) if p else '–'} | "
                    f"{pg_pct} |"
                )
        lines += [
            "",
            "`msg per CPU-s` = msg/s divided by the server's CPU share: the rate one fully busy core would "
            "sustain at the measured per-message cost (the per-core columns compare those).",
            "",
        ]
    hr = [r for r in res if r["scenario"] == "latency_at_half_rate"]
    if hr:
        lines += [
            "## Latency at half of ocppd's maximum rate",
            "",
            "| message | stations | offered msg/s | achieved msg/s | p50 ms | p99 ms | p99.9 ms | server CPU % |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in hr:
            lines.append(
                f"| {r['version']} | {r['stations']:,} | {_f(r['offered_rate'], 0)} | "
                f"{_f(r['msgs_per_s'], 0)} | {_f(r['p50_ms'], 2)} | {_f(r['p99_ms'], 2)} | "
                f"{_f(r['p999_ms'], 2)} | {_f(r.get('server_cpu_pct'))} |"
            )
        lines.append("")
    idle = [r for r in res if r["scenario"] == "idle"]
    if idle:
        lines += [
            "## Idle scale (connected, booted, heartbeating every 10 s)",
            "",
            "| server | stations | still connected | RSS before MB | RSS after MB | KB per station | bring-up s "
            "| heartbeats ok / errors | server CPU % | errors |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in idle:
            lines.append(
                f"| {r['server']} | {r['stations']:,} | {r['still_connected']:,} | "
                f"{r['server_rss_before_mb']} | {r['server_rss_after_mb']} | {r['rss_per_station_kb']} | "
                f"{r['bring_up_s']} | {r['heartbeats_ok']:,} / {r['heartbeat_errors']} | "
                f"{_f(r.get('server_cpu_pct'))} | {r['errors']} |"
            )
        lines.append("")
    bs = [r for r in res if r["scenario"] == "bootstorm"]
    if bs:
        lines += [
            "## Boot storm (all at once: connect, BootNotification, StatusNotification)",
            "",
            "| server | stations | accepted | all accepted s | p50 s | p99 s | connected p99 s | errors "
            "| server CPU % | loadgen CPU % | failures |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in bs:
            fails = "; ".join(f"{k} x{v}" for k, v in r["failures"].items()) or "–"
            lines.append(
                f"| {r['server']} | {r['stations']:,} | {r['accepted']:,} | {_f(r['all_accepted_s'], 2)} | "
                f"{_f(r['accepted_p50_s'], 2)} | {_f(r['accepted_p99_s'], 2)} | "
                f"{_f(r['connected_p99_s'], 2)} | {r['errors']} | {_f(r.get('server_cpu_pct'))} | "
                f"{_f(r['loadgen_cpu_pct'])} | {fails} |"
            )
        lines.append("")
    fo = [r for r in res if r["scenario"] == "fanout"]
    if fo:
        lines += [
            "## Command fan-out through the API (remote-start, 100 HTTP connections)",
            "",
            "| version | stations | answered | all answered s | commands/s | p50 ms | p99 ms | errors | server CPU % |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in fo:
            lines.append(
                f"| {r['version']} | {r['stations']:,} | {r['answered']:,} | {_f(r['all_answered_s'], 2)} | "
                f"{_f(r['commands_per_s'], 0)} | {_f(r['p50_ms'], 1)} | {_f(r['p99_ms'], 1)} | "
                f"{r['errors']} | {_f(r.get('server_cpu_pct'))} |"
            )
        lines.append("")
    ux = [r for r in res if r["scenario"] == "unknown_tx"]
    if ux:
        lines += [
            "## 1.6 MeterValues for unknown transaction ids (vs. running ones)",
            "",
            "| stations | known msg/s | unknown msg/s | known µs/msg | unknown µs/msg | cost ratio | "
            "known p99 ms | unknown p99 ms | errors |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in ux:
            lines.append(
                f"| {r['stations']:,} | {_f(r['known_msgs_per_s'], 0)} | {_f(r['unknown_msgs_per_s'], 0)} | "
                f"{_f(r['known_cpu_us'])} | {_f(r['unknown_cpu_us'])} | {_f(r['cost_ratio'], 2)} | "
                f"{_f(r['known_p99_ms'], 2)} | {_f(r['unknown_p99_ms'], 2)} | {r['errors']} |"
            )
        lines.append("")
    prof = doc.get("profile") or {}
    for version, p in prof.items():
        lines += [
            f"## Hot-path profile, {MSG.get(version, version)}, {p['stations']} stations (py-spy)",
            "",
            f"{p['msgs_per_s']:,.0f} msg/s at {p['server_cpu_pct']}% server CPU = "
            f"**{p['cpu_us_per_msg']:.0f} µs of server CPU per message** ({p['samples']:,} samples).",
            "",
            "| stage | share of server samples | µs per message |",
            "|---|---:|---:|",
        ]
        for stage, share, us in p["breakdown"]:
            lines.append(f"| {stage} | {100 * share:.1f}% | {us:.0f} |")
        lines += ["", "Top self-time frames:", ""]
        for share, frame in p["top"][:12]:
            lines.append(f"- {100 * share:.1f}% `{frame}`")
        lines.append("")
    tg = targets(doc)
    if tg:
        lines += ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
        for t in tg:
            verdict = "met" if t["met"] else f"**missed** ({t['gap']})"
            lines.append(f"| {t['target']} | {t['measured']} | {verdict} |")
        lines.append("")
    lines.append("![throughput and p99 against station count](throughput.png)")
    return "\n".join(lines) + "\n"


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tp = [r for r in doc["results"] if r["scenario"] == "throughput"]
    versions = sorted({r["version"] for r in tp})
    if not versions:
        return
    fig, axes = plt.subplots(2, len(versions), figsize=(6.5 * len(versions), 8), squeeze=False)
    styles = {
        "ocppd": ("tab:blue", "o"),
        "ocppd-pg": ("tab:purple", "s"),
        "echo": ("tab:gray", "^"),
        "ocpp-pkg": ("tab:red", "v"),
    }
    for col, version in enumerate(versions):
        for kind in [k for k in SERVERS if k in styles]:
            pts = sorted(
                (r["stations"], r["msgs_per_s"], r["p99_ms"])
                for r in tp
                if r["server"] == kind and r["version"] == version
            )
            if not pts:
                continue
            color, marker = styles[kind]
            xs = [p[0] for p in pts]
            axes[0][col].plot(xs, [p[1] for p in pts], marker=marker, color=color, label=LABEL[kind])
            axes[1][col].plot(xs, [p[2] for p in pts], marker=marker, color=color, label=LABEL[kind])
        axes[0][col].set_title(MSG.get(version, version))
        axes[0][col].set_ylabel("messages / s (log)")
        axes[1][col].set_ylabel("p99 latency, ms (log)")
        for row in (0, 1):
            ax = axes[row][col]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("stations (one call in flight each)")
            ax.grid(True, which="both", alpha=0.3)
        axes[0][col].legend(fontsize=8)
    fig.suptitle("Throughput and p99 vs station count (server on 1 core)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(doc: dict[str, Any], out: Path) -> None:
    doc["targets"] = targets(doc)
    (out / "latest.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "latest.md").write_text(markdown(doc))
    plot(doc, out / "throughput.png")


if __name__ == "__main__":  # re-render from a saved JSON: python -m bench.report bench/results/latest.json
    import sys

    src = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json")
    write_reports(json.loads(src.read_text()), src.parent)
