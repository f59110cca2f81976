"""Reports (JSON round trip, self-contained HTML) and verify against an in-memory pipeline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from iot_pipeline_simulator.devices import Fleet
from iot_pipeline_simulator.errors import ReportError
from iot_pipeline_simulator.html_report import line_chart, write_html
from iot_pipeline_simulator.profiles import PROFILES
from iot_pipeline_simulator.report import RunReport, build_report, seq_ranges
from iot_pipeline_simulator.runner import LoadRunner, RunOptions
from iot_pipeline_simulator.verify import verify_run


async def _report(pipeline: Any, *, profile: str = "greenhouse", devices: int = 10) -> RunReport:
    fleet = Fleet(
        profile=PROFILES[profile], devices=devices, rate=40, seed=3, start_ms=1_700_000_000_000
    )
    runner = LoadRunner(
        sink=pipeline, fleet=fleet, options=RunOptions(duration_s=0.5, batch_size=8)
    )
    result = await runner.run()
    return build_report(
        result, endpoint="http://127.0.0.1:1/prod", region="us-east-1", aws_profile=None
    )


def test_given_seqs_then_ranges_are_inclusive_and_compact() -> None:
    assert seq_ranges([5, 0, 1, 2, 2, 6, 9]) == [(0, 2), (5, 6), (9, 9)]
    assert seq_ranges([]) == []


async def test_given_a_run_when_the_json_report_is_written_then_it_loads_back_equal(
    memory_pipeline: Any, tmp_path: Path
) -> None:
    report = await _report(memory_pipeline())
    path = tmp_path / "run.json"
    report.write(path)
    loaded = RunReport.load(path)
    assert loaded == report
    document = json.loads(path.read_text())
    assert {"endpoint", "region", "seed", "profile", "device_records"} <= document.keys()
    assert document["totals"]["acknowledged"] == report.totals.acknowledged > 0
    acked = sum(len(list(r.acked_seqs())) for r in loaded.device_records.values())
    assert acked == report.totals.acknowledged
    assert acked == report.totals.acknowledgements - report.deliveries.get("duplicate", 0)


def test_given_a_file_that_is_not_a_report_then_loading_names_the_problem(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"endpoint": "x"}')
    with pytest.raises(ReportError, match="not an iot-sim run report"):
        RunReport.load(bogus)
    with pytest.raises(ReportError, match="cannot read"):
        RunReport.load(tmp_path / "missing.json")


async def test_given_a_run_then_the_html_report_is_self_contained_with_svg_charts(
    memory_pipeline: Any, tmp_path: Path
) -> None:
    report = await _report(memory_pipeline(latency_s=0.01))
    path = tmp_path / "run.html"
    write_html(report, path)
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 3
    assert page.count("<polyline") >= 7  # sent + acknowledged, p50/p95/p99, lag p50/p99
    assert "<script" not in page
    assert not re.search(r"(src|href)=", page)
    assert "Throughput over time" in page
    assert f"{report.totals.acknowledged:,}" in page


def test_given_markup_in_a_name_then_the_html_escapes_it() -> None:
    svg = line_chart("<b>x</b>", {"a&b": [(0, 1), (1, 2)]}, x_label="s", y_label="n")
    assert "<b>" not in svg
    assert "&lt;b&gt;" in svg
    assert "a&amp;b" in svg


async def test_given_a_faithful_pipeline_when_verifying_then_nothing_is_lost_or_duplicated(
    memory_pipeline: Any,
) -> None:
    pipeline = memory_pipeline()
    report = await _report(pipeline)
    result = await verify_run(report, pipeline.stored, wait_s=0)
    totals = result.totals()
    assert result.ok
    assert totals["lost_raw"] == totals["lost_processed"] == totals["duplicated_raw"] == 0
    assert totals["acknowledged"] > 0
    assert totals["rejected_expected"] == report.totals.rejected_expected
    assert totals["rejected_stored"] == 0
    assert result.to_json()["problems"] == []


async def test_given_a_pipeline_that_drops_acknowledged_readings_then_verify_finds_them(
    memory_pipeline: Any,
) -> None:
    pipeline = memory_pipeline(lose_every=25)
    report = await _report(pipeline, profile="clean")
    result = await verify_run(report, pipeline.stored, wait_s=0)
    assert not result.ok
    assert result.totals()["lost_raw"] == report.totals.acknowledged // 25
    lost = [d for d in result.devices if d.lost_raw]
    assert lost
    problems = {p["device_id"]: p for p in result.to_json()["problems"]}
    for device in lost:
        ranges = problems[device.device_id]["lost_raw"]
        assert sum(last - first + 1 for first, last in ranges) == len(device.lost_raw)
        assert device.describe().startswith(f"{device.device_id}: lost raw {len(device.lost_raw)}")


async def test_given_a_pipeline_that_stores_twice_then_verify_counts_duplicates(
    memory_pipeline: Any,
) -> None:
    pipeline = memory_pipeline(store_twice_every=40)
    report = await _report(pipeline, profile="clean")
    result = await verify_run(report, pipeline.stored, wait_s=0)
    assert not result.ok
    assert result.totals()["duplicated_raw"] == report.totals.acknowledged // 40
    assert result.totals()["lost_raw"] == 0


async def test_given_slow_processing_then_verify_waits_for_processed_copies(
    memory_pipeline: Any,
) -> None:
    pipeline = memory_pipeline(processing_delay_s=2.0)
    report = await _report(pipeline, profile="clean")
    impatient = await verify_run(report, pipeline.stored, wait_s=0)
    assert impatient.totals()["lost_processed"] == report.totals.acknowledged
    patient = await verify_run(report, pipeline.stored, wait_s=10, poll_s=0.2)
    assert patient.ok


async def test_given_late_and_out_of_order_deliveries_then_verify_reports_reordering(
    memory_pipeline: Any,
) -> None:
    pipeline = memory_pipeline()
    report = await _report(pipeline, profile="cold-chain", devices=30)
    result = await verify_run(report, pipeline.stored, wait_s=0)
    assert result.ok
    assert report.deliveries.get("late", 0) + report.deliveries.get("out_of_order", 0) > 0
    assert result.totals()["reordered"] > 0


async def test_given_a_run_with_nothing_acknowledged_then_verify_does_not_pass(
    memory_pipeline: Any,
) -> None:
    pipeline = memory_pipeline(fail_with=503)
    report = await _report(pipeline, profile="clean", devices=2)
    result = await verify_run(report, pipeline.stored, wait_s=0)
    assert result.totals()["acknowledged"] == 0
    assert not result.ok
