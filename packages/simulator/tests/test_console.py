"""Terminal output: live progress on a terminal, silence elsewhere, and the summaries."""

from __future__ import annotations

import io
from typing import Any

from iot_pipeline_simulator.console import live_progress, run_summary, verify_summary
from iot_pipeline_simulator.devices import Fleet
from iot_pipeline_simulator.outcomes import RunResult
from iot_pipeline_simulator.profiles import PROFILES
from iot_pipeline_simulator.report import build_report
from iot_pipeline_simulator.runner import LoadRunner, RunOptions
from iot_pipeline_simulator.verify import verify_run
from rich.console import Console


def _console(*, terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=120), out


async def _run(pipeline: Any, console: Console, *, enabled: bool) -> RunResult:
    fleet = Fleet(
        profile=PROFILES["greenhouse"], devices=5, rate=10, seed=2, start_ms=1_700_000_000_000
    )
    runner = LoadRunner(sink=pipeline, fleet=fleet, options=RunOptions(duration_s=0.6))
    async with live_progress(runner, console=console, duration_s=0.6, enabled=enabled):
        return await runner.run()


async def test_given_a_terminal_when_running_then_live_progress_is_drawn(
    memory_pipeline: Any,
) -> None:
    console, out = _console(terminal=True)
    await _run(memory_pipeline(), console, enabled=True)
    drawn = out.getvalue()
    assert "acknowledged" in drawn
    assert "schedule lag p99" in drawn
    assert "sent/s" in drawn


async def test_given_progress_disabled_when_running_then_nothing_is_drawn(
    memory_pipeline: Any,
) -> None:
    console, out = _console(terminal=True)
    await _run(memory_pipeline(), console, enabled=False)
    assert out.getvalue() == ""


async def test_given_a_finished_run_then_the_summaries_show_counts_and_percentiles(
    memory_pipeline: Any,
) -> None:
    pipeline = memory_pipeline()
    result = await _run(pipeline, Console(file=io.StringIO()), enabled=False)
    result_report = build_report(
        result, endpoint="http://127.0.0.1:1/prod", region="us-east-1", aws_profile=None
    )
    console, out = _console(terminal=False)
    console.print(run_summary(result_report))
    verdict = await verify_run(result_report, pipeline.stored, wait_s=0)
    console.print(verify_summary(verdict))
    text = out.getvalue()
    for label in ("acknowledged", "rejected as expected", "latency ms", "schedule lag ms", "OK"):
        assert label in text
    assert f"{result_report.totals.acknowledged:,}" in text
