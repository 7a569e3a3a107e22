"""The live terminal view of a running fleet (rich), refreshed a few times per second."""

from __future__ import annotations

import asyncio
import time

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ocppd.station.fleet import Fleet

REFRESH_PER_SECOND = 4


class LiveView:
    def __init__(self, fleet: Fleet, console: Console | None = None, title: str = "ocppd simulate") -> None:
        self.fleet = fleet
        self.console = console or Console(stderr=True)
        self.title = title
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.console,
        )  # fmt: skip
        total = len(fleet.stations)
        self._started = self.progress.add_task("started", total=total)
        self._booted = self.progress.add_task("booted ", total=total)
        self._last = (time.monotonic(), 0)
        self._rate = 0.0

    def render(self) -> Group:
        f = self.fleet
        s = f.stats
        now = time.monotonic()
        messages = s.sent + s.received
        then, before = self._last
        if now - then >= 0.5:
            self._rate = (messages - before) / (now - then)
            self._last = (now, messages)
        self.progress.update(self._started, completed=f.started)
        self.progress.update(self._booted, completed=f.booted())
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_row("connected", f"{f.connected()}/{len(f.stations)}", "messages/s", f"{self._rate:,.0f}")
        table.add_row("charging", str(f.charging()), "messages", f"{messages:,}")
        table.add_row("faulted", str(f.faulted()), "errors", f"[{'red' if s.error_count() else 'green'}]"
                      f"{s.error_count()}[/]")  # fmt: skip
        pct = s.percentiles()
        table.add_row("queued tx msgs", f"{sum(st.queued for st in f.stations)}", "latency p50/p99",
                      f"{pct.get('p50_ms', 0):.1f}/{pct.get('p99_ms', 0):.1f} ms")  # fmt: skip
        cost = f.last_cost()
        if cost is not None:  # what the CSMS tells drivers (2.x CostUpdated / totalCost)
            table.add_row("cost msgs", f"{f.cost_messages():,}", "last cost", cost)
        parts: list[object] = [self.progress, table]
        if f.step_log:
            parts.append(Panel("\n".join(list(f.step_log)[-5:]), title="scenario steps", border_style="dim"))
        if s.recent_errors:
            parts.append(Panel("\n".join(list(s.recent_errors)[-5:]), title="recent errors", border_style="red"))
        return Group(Panel(Group(*parts), title=self.title))  # type: ignore[arg-type]

    async def run(self, until: asyncio.Event) -> None:
        """Redraw until ``until`` is set."""
        with Live(self.render(), console=self.console, refresh_per_second=REFRESH_PER_SECOND,
                  transient=False) as live:  # fmt: skip
            while not until.is_set():
                live.update(self.render())
                try:
                    await asyncio.wait_for(until.wait(), 1 / REFRESH_PER_SECOND)
                except TimeoutError:
                    pass
            live.update(self.render())
