"""A config.json edit while the local pipeline runs: a typo never takes ingestion down."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from iot_pipeline_backend.local.testing import running_pipeline

from .conftest import signed_http_for


def test_given_a_typo_saved_while_running_then_ingest_and_processing_go_on_and_health_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "config.json").write_text(json.dumps({"batch_size": 5}))
    with (
        caplog.at_level(logging.INFO),
        running_pipeline(data_dir=data_dir) as pipeline,
    ):
        http = signed_http_for(pipeline)
        health_url = pipeline.endpoint.rsplit("/", 1)[0] + "/health"
        assert httpx.get(health_url).json()["status"] == "ok"
        # GIVEN a running pipeline, WHEN a typo is saved into config.json
        (data_dir / "config.json").write_text(json.dumps({"batch_size": 5, "retension_days": 3}))
        # THEN ingestion still answers 200 and the processor still processes (last valid config)
        for n in range(5):
            response = http.ingest({"device_id": "typo", "sensor_data": {"humidity": 40 + n}})
            assert response.status_code == 200, response.text
        assert pipeline.wait_idle(30)
        assert len(http.query_all(device_id="typo")) == 5
        # AND the health line (unsigned, outside the stage) names the file and the key
        health = httpx.get(health_url).json()
        assert health["status"] == "degraded"
        assert health["config"]["valid"] is False
        assert "retension_days" in health["config"]["error"]
        assert health["config"]["file"] == str(data_dir.resolve() / "config.json")
        # AND the log holds ONE clear error naming the key, however often the poller polled
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert [("retension_days" in r.getMessage()) for r in errors] == [True], errors
        # WHEN it is fixed THEN health is ok again
        (data_dir / "config.json").write_text(json.dumps({"batch_size": 7}))
        assert (
            http.ingest({"device_id": "typo", "sensor_data": {"humidity": 50}}).status_code == 200
        )
        fixed = httpx.get(health_url).json()
        assert (fixed["status"], fixed["config"]["valid"], fixed["config"]["error"]) == (
            "ok",
            True,
            None,
        )
