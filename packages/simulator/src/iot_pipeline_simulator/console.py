"""What ``iot-sim`` shows in a terminal: live progress while running, then summaries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from iot_pipeline_simulator.report import RunReport
from iot_pipeline_simulator.runner import LoadRunner
from iot_pipeline_simulator.verify import VerifyResult

#: How often the live view redraws (seconds).
_REFRESH_S = 0.5


def _progress_view(runner: LoadRunner, duration_s: float) -> Group:
    totals = runner.totals
    elapsed = runner.elapsed()
    table = Table.grid(padding=(0, 2))
    for _ in range(4):
        table.add_column(justify="right")
    rate = totals.sent / elapsed if elapsed > 0 else 0.0
    # A bare ProgressBar ends without a newline; inside a grid row it keeps its own line.
    header = Table.grid(padding=(0, 2))
    header.add_row(
        ProgressBar(total=duration_s, completed=min(elapsed, duration_s), width=40),
        f"{min(elapsed, duration_s):.1f} / {duration_s:g} s",
        f"{rate:,.0f} sent/s",
    )
    table.add_row("sent", f"{totals.sent:,}", "acknowledged", f"{totals.acknowledged:,}")
    table.add_row(
        "rejected (expected)",
        f"{totals.rejected_expected:,}",
        "rejected (unexpected)",
        f"{totals.rejected_unexpected:,}",
    )
    table.add_row(
        "errors", f"{sum(totals.errors.values()):,}", "in flight", f"{runner.in_flight:,}"
    )
    table.add_row(
        "latency p99",
        f"{runner.latency.percentile(99):,.1f} ms",
        "schedule lag p99",
        f"{runner.lag.percentile(99):,.1f} ms",
    )
    return Group(header, table)


@asynccontextmanager
async def live_progress(
    runner: LoadRunner, *, console: Console, duration_s: float, enabled: bool
) -> AsyncIterator[None]:
    """Redraw the run's counters while the body runs (a no-op when ``enabled`` is false)."""
    if not enabled:
        yield
        return
    with Live(
        _progress_view(runner, duration_s), console=console, auto_refresh=False, transient=True
    ) as live:

        async def redraw() -> None:
            while True:
                live.update(_progress_view(runner, duration_s), refresh=True)
                await asyncio.sleep(_REFRESH_S)

        task = asyncio.create_task(redraw())
        try:
            yield
        finally:
            task.cancel()


def run_summary(report: RunReport) -> Table:
    """The final summary of a run."""
    t = report.totals
    table = Table(
        title=f"iot-sim run: {report.profile}, {report.devices:,} devices", show_header=False
    )
    table.add_column("what")
    table.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [
        ("endpoint", report.endpoint),
        ("seed", str(report.seed)),
        ("readings generated", f"{t.readings:,} ({t.dropouts:,} slots dropped out)"),
        ("sent (incl. duplicates)", f"{t.sent:,} in {t.requests:,} requests"),
        (
            "acknowledged",
            f"{t.acknowledged:,} distinct readings ({t.acknowledgements:,} answers, "
            "duplicate sends included)",
        ),
        (
            "anomalies expected",
            f"{t.anomalies_expected:,} outside the default anomaly ranges (flagged when processed)",
        ),
        ("rejected as expected", f"{t.rejected_expected:,} (injected out-of-range)"),
        ("rejected unexpectedly", f"{t.rejected_unexpected:,}"),
        ("invalid but accepted", f"{t.accepted_invalid:,}"),
        ("errors", ", ".join(f"{k}: {v:,}" for k, v in report.errors.items()) or "0"),
        ("shed / unfinished", f"{t.shed:,} / {t.unfinished:,}"),
        (
            "throughput",
            f"offered {report.throughput.offered_per_s:,.1f}/s of "
            f"{report.throughput.target_per_s:,.1f}/s target, "
            f"acknowledged {report.throughput.acknowledged_per_s:,.1f}/s",
        ),
        (
            "latency ms",
            " ".join(f"{k} {v:,.1f}" for k, v in report.latency_ms.items() if k != "mean"),
        ),
        (
            "schedule lag ms",
            " ".join(f"{k} {v:,.1f}" for k, v in report.schedule_lag_ms.items() if k != "mean"),
        ),
    ]
    if t.previously_stored:
        rows.append(("already stored (seed reused)", f"{t.previously_stored:,}"))
    for what, value in rows:
        table.add_row(what, value)
    return table


def verify_summary(result: VerifyResult) -> Table:
    """The verdict of ``verify`` as a table."""
    totals = result.totals()
    verdict = "[green]OK[/green]" if result.ok else "[red]FAILED[/red]"
    table = Table(title=f"iot-sim verify: {verdict}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for name, value in totals.items():
        table.add_row(name.replace("_", " "), f"{value:,}")
    return table
