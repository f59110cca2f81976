"""End to end over MQTT: ``iot-sim run --protocol mqtt`` then ``iot-sim verify``, locally.

The local pipeline serves MQTT over TLS; the fleet's certificates are issued by its CA
through ``iot-pipeline devices add --reuse`` (the CLI, as a user would), every device
connects with its own and publishes its own readings; verify reads them back over HTTP.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from iot_pipeline_simulator.cli import main

runtime = pytest.importorskip("iot_pipeline_backend.local.runtime")
pytest.importorskip("iot_pipeline_backend.mqtt.server")


@contextmanager
def _pipeline_with_mqtt(data_dir: Path) -> Iterator[Any]:
    pipeline = runtime.LocalPipeline(data_dir=data_dir, port=0, mqtt_port=0)
    pipeline.start()
    try:
        yield pipeline
    finally:
        pipeline.stop()


def _env(pipeline: Any) -> dict[str, str]:
    creds = pipeline.credentials
    return {
        "AWS_SHARED_CREDENTIALS_FILE": str(creds.path),
        "AWS_PROFILE": creds.profile,
        "AWS_DEFAULT_REGION": pipeline.region,
        # `iot-pipeline` of this environment, for the fleet's certificates.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@pytest.mark.slow
def test_given_mqtt_devices_when_run_then_verify_finds_nothing_lost(tmp_path: Path) -> None:
    report_json = tmp_path / "run.json"
    with _pipeline_with_mqtt(tmp_path / "pipeline") as pipeline:
        env = _env(pipeline)
        run = CliRunner().invoke(
            main,
            ["run", "--endpoint", pipeline.endpoint, "--protocol", "mqtt",
             "--data-dir", str(pipeline.data_dir), "--devices", "12", "--rate", "5",
             "--duration", "3", "--profile", "factory", "--seed", "31",
             "--batch", "4", "--batch-by", "device", "--report-json", str(report_json)],
            env=env,
        )  # fmt: skip
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
    assert totals["acknowledged"] > 30
    assert totals["lost_raw"] == totals["lost_processed"] == 0
    assert totals["duplicated_raw"] == totals["duplicated_processed"] == 0
    # Out-of-range readings were refused by the pipeline (errors topic), none stored.
    assert report["totals"]["rejected_expected"] > 0
    assert report["totals"]["rejected_unexpected"] == report["totals"]["accepted_invalid"] == 0
    assert totals["rejected_stored"] == 0
    assert not report["totals"]["errors"]


def test_fleet_batches_are_refused_over_mqtt_before_any_connection(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["run", "--endpoint", "http://127.0.0.1:9/prod", "--protocol", "mqtt",
         "--certs-dir", str(tmp_path), "--batch", "5", "--region", "us-east-1"],
        env={"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x"},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--batch-by device" in result.output
