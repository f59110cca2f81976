"""Settings from the environment and the local runtime's file-backed adapters."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from iot_pipeline_backend.adapters.local.files import (
    SAVE_GRACE_SECONDS,
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
    assert source.problem is None


def test_given_a_config_file_removed_then_defaults_again_until_it_is_back(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    source = JsonFileConfigSource(path)
    assert source.load_config() == PipelineConfig()
    path.write_text('{"batch_size": 3}')
    assert source.load_config().batch_size == 3

    path.unlink()
    assert source.load_config() == PipelineConfig()
    assert source.load_config() == PipelineConfig()

    path.write_text('{"batch_size": 4}')
    assert source.load_config().batch_size == 4


def test_given_an_invalid_first_config_then_config_error_names_the_key(tmp_path: Path) -> None:
    # GIVEN nothing valid was ever loaded, THEN there is nothing to fall back on: it raises
    source = JsonFileConfigSource(tmp_path / "config.json")
    source.path.write_text('{"batch_size": 3, "retention": 9}')
    for _ in range(2):
        with pytest.raises(ConfigError, match="retention"):
            source.load_config()


def _bump_mtime(path: Path) -> None:
    # Two writes within the filesystem's timestamp granularity must still count as a change.
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))


def test_given_a_typo_saved_while_running_then_last_valid_config_stays_and_one_error_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a running source with a valid config
    source = JsonFileConfigSource(tmp_path / "config.json")
    source.path.write_text('{"batch_size": 3}')
    assert source.load_config().batch_size == 3
    # WHEN a typo is saved and the config is asked for many times (every poll does)
    source.path.write_text('{"batch_size": 4, "retention_dayz": 9}')
    _bump_mtime(source.path)
    with caplog.at_level("INFO", logger="iot_pipeline_backend.adapters.local.files"):
        configs = [source.load_config() for _ in range(50)]
        # THEN the last valid config stays in force, the problem names the key, ONE error line
        assert {c.batch_size for c in configs} == {3}
        assert source.problem is not None and "retention_dayz" in source.problem
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and "retention_dayz" in errors[0].getMessage()
        # AND touching the file without changing it logs nothing new
        _bump_mtime(source.path)
        source.load_config()
        assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1
        # AND another bad edit is logged again, once
        source.path.write_text('{"batch_size": 0}')
        _bump_mtime(source.path)
        assert source.load_config().batch_size == 3
        assert "batch_size" in (source.problem or "")
        assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 2
        # WHEN it is fixed THEN the new config is in force and the problem is gone
        source.path.write_text('{"batch_size": 5}')
        _bump_mtime(source.path)
        assert source.load_config().batch_size == 5
        assert source.problem is None


def test_given_a_save_caught_between_truncate_and_write_then_no_error_until_it_stays_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a running source with a valid config
    source = JsonFileConfigSource(tmp_path / "config.json")
    source.path.write_text('{"batch_size": 3}')
    assert source.load_config().batch_size == 3
    with caplog.at_level("INFO", logger="iot_pipeline_backend.adapters.local.files"):
        # WHEN the file is read just after an in-place save truncated it
        source.path.write_bytes(b"")
        # THEN the config in force stays, with no error and no problem reported
        assert source.load_config().batch_size == 3
        assert source.problem is None
        assert not [r for r in caplog.records if r.levelname == "ERROR"]
        # AND the write that follows is picked up
        source.path.write_text('{"batch_size": 4}')
        _bump_mtime(source.path)
        assert source.load_config().batch_size == 4
        # WHEN the file is emptied and stays so past the grace
        source.path.write_bytes(b"")
        past = time.time() - 2 * SAVE_GRACE_SECONDS
        os.utime(source.path, (past, past))
        # THEN it is a bad config like any other: reported once, the last valid one kept
        assert source.load_config().batch_size == 4
        assert source.problem is not None and "JSON" in source.problem
        assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1


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
