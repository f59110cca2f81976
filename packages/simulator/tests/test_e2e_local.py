"""End to end: ``iot-sim run`` then ``iot-sim verify`` against the local pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from iot_pipeline_simulator.cli import main
from iot_pipeline_simulator.devices import Fleet
from iot_pipeline_simulator.profiles import PROFILES

local = pytest.importorskip("iot_pipeline_backend.local.testing")

DEVICES, RATE, DURATION, SEED = 12, 5.0, 3.0, 31


def _expected_out_of_range() -> int:
    # The readings are a pure function of the seed: count the invalid ones the run will make.
    fleet = Fleet(profile=PROFILES["factory"], devices=DEVICES, rate=RATE, seed=SEED, start_ms=0)
    slots = int(DURATION * RATE) + 1
    return sum(
        send.reading.expect_rejection
        for device in range(DEVICES)
        for send in fleet.readings(device, slots)
        if send.reading.timestamp < DURATION * 1000 and send.kind != "duplicate"
    )


@pytest.mark.slow
def test_given_the_local_pipeline_when_run_then_verify_finds_nothing_lost(tmp_path: Path) -> None:
    expected_rejections = _expected_out_of_range()
    assert expected_rejections > 0, "pick a seed whose run injects out-of-range readings"
    report_json, report_html = tmp_path / "run.json", tmp_path / "run.html"
    with local.running_pipeline(data_dir=tmp_path / "pipeline") as pipeline:
        env = pipeline.sdk_environment()
        run = CliRunner().invoke(
            main,
            [
                "run",
                "--endpoint",
                pipeline.endpoint,
                "--devices",
                str(DEVICES),
                "--rate",
                str(RATE),
                "--duration",
                str(DURATION),
                "--profile",
                "factory",
                "--seed",
                str(SEED),
                "--batch",
                "10",
                "--report-json",
                str(report_json),
                "--report-html",
                str(report_html),
            ],
            env=env,
        )
        assert run.exit_code == 0, run.output
        report = json.loads(report_json.read_text())
        assert pipeline.wait_idle(30)
        verify = CliRunner().invoke(
            main, ["verify", "--report-json", str(report_json), "--json", "--wait", "20"], env=env
        )
    assert verify.exit_code == 0, verify.output
    verdict = json.loads(verify.output)
    totals = verdict["totals"]
    assert verdict["ok"] is True
    assert totals["lost_raw"] == totals["lost_processed"] == 0
    assert totals["duplicated_raw"] == totals["duplicated_processed"] == 0
    assert totals["acknowledged"] > 100
    # The invalid readings reached the pipeline, which refused every one, and none was stored.
    assert report["totals"]["rejected_expected"] == expected_rejections
    assert report["totals"]["rejected_before_sending"] == 0
    assert report["totals"]["rejected_unexpected"] == report["totals"]["accepted_invalid"] == 0
    assert totals["rejected_expected"] == expected_rejections
    assert totals["rejected_stored"] == 0
    # Injected duplicates were acknowledged twice but stored once.
    assert report["deliveries"].get("duplicate", 0) > 0
    assert "<svg" in report_html.read_text()
