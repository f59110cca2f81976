"""Settings from the environment and the local runtime's file-backed adapters."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from iot_pipeline_backend.adapters.local.files import (
    FileTokenKey,
    JsonFileConfigSource,
    JsonLinesAlertSink,
)
from iot_pipeline_backend.errors import ConfigError, SettingsError
from iot_pipeline_backend.ports import Alert
from iot_pipeline_backend.settings import Settings
from iot_pipeline_common.models import PipelineConfig


def test_given_no_environment_then_the_local_backend_is_the_default() -> None:
    settings = Settings.from_env({})

    assert settings.backend == "local"
    assert settings.data_dir == Path(".iot-pipeline")


def test_given_aws_without_names_then_settings_error_names_each_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"IOT_PIPELINE_BACKEND": "aws", "RAW_TABLE_NAME": "raw"})

    message = str(caught.value)
    for name in (
        "PROCESSED_TABLE_NAME",
        "AGGREGATES_TABLE_NAME",
        "QUEUE_URL",
        "ALERT_TOPIC_ARN",
        "API_KEY_PARAMETER_NAME",
    ):
        assert name in message
    assert "RAW_TABLE_NAME" not in message


def test_given_an_unknown_backend_then_settings_error_names_it() -> None:
    with pytest.raises(SettingsError, match="backend"):
        Settings.from_env({"IOT_PIPELINE_BACKEND": "mainframe"})


def test_given_no_config_file_then_defaults_and_edits_are_picked_up(tmp_path: Path) -> None:
    source = JsonFileConfigSource(tmp_path / "config.json")
    assert source.load_config() == PipelineConfig()

    source.path.write_text('{"batch_size": 3}')
    assert source.load_config().batch_size == 3

    source.path.write_text('{"batch_size": 3, "retention": 9}')
    with pytest.raises(ConfigError, match="retention"):
        source.load_config()


def test_given_no_token_key_then_one_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "token.key"

    key = FileTokenKey(path).token_key()

    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert FileTokenKey(path).token_key() == key


def test_given_alerts_then_each_is_one_json_line(tmp_path: Path) -> None:
    sink = JsonLinesAlertSink(tmp_path / "alerts.jsonl")

    sink.publish_alert(Alert(subject="s1", message="m1", kind="dlq", details={"n": 1}))
    sink.publish_alert(Alert(subject="s2", message="m2", kind="alert_rule", device_id="d"))

    alerts = sink.read_alerts()
    assert [(a["subject"], a["kind"]) for a in alerts] == [("s1", "dlq"), ("s2", "alert_rule")]
    assert all(str(a["published_at"]).endswith("Z") for a in alerts)


def test_given_lambda_with_bad_settings_then_importing_a_handler_fails_naming_the_variable(
    tmp_path: Path,
) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IOT_PIPELINE", "AWS_", "RAW_"))
    }
    env |= {"AWS_LAMBDA_FUNCTION_NAME": "data-query-test", "IOT_PIPELINE_BACKEND": "aws"}
    result = subprocess.run(
        [sys.executable, "-c", "import iot_pipeline_backend.handlers.query"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )

    assert result.returncode != 0
    assert "SettingsError" in result.stderr
    assert "RAW_TABLE_NAME" in result.stderr
