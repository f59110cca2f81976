"""``iot-pipeline local`` from the command line: help, refused starts, banner."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from iot_pipeline_backend.cli import main


def _args(data_dir: Path) -> list[str]:
    return ["--port", "0", "--data-dir", str(data_dir)]


def test_given_help_then_every_option_is_explained() -> None:
    result = CliRunner().invoke(main, ["local", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--data-dir", "--region", "--log-level"):
        assert option in result.output
    assert "0 picks a free port" in result.output
    assert "iot-pipeline-local" in result.output


def test_given_top_level_help_then_local_and_demo_are_listed() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "local" in result.output and "demo" in result.output


def test_given_config_with_unknown_key_then_start_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"batch_size": 5, "bacth_window": 1}))
    result = CliRunner().invoke(main, ["local", "--port", "0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "bacth_window" in result.output
    assert not (tmp_path / "endpoint").exists()


def test_given_config_with_bad_value_then_start_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"batch_size": 0}))
    result = CliRunner().invoke(main, ["local", "--port", "0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "batch_size" in result.output


def test_given_backend_aws_without_its_variables_then_start_refused_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RAW_TABLE_NAME", "QUEUE_URL", "IOT_PIPELINE_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(
        main, ["local", "--port", "0", "--data-dir", str(tmp_path), "--backend", "aws"]
    )
    assert result.exit_code == 2
    assert "RAW_TABLE_NAME" in result.output and "QUEUE_URL" in result.output
    assert not (tmp_path / "endpoint").exists()


def test_given_port_0_when_started_then_banner_shows_real_port_and_sigterm_stops_it(
    tmp_path: Path,
) -> None:
    # GIVEN the runtime started as a user would, with --port 0
    process = subprocess.Popen(
        [sys.executable, "-m", "iot_pipeline_backend.local", *_args(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        banner = "".join(lines)
        endpoint = (tmp_path / "endpoint").read_text().strip()
        # THEN the banner shows the real endpoint, the profile and the exact exports
        assert f"endpoint     {endpoint}" in banner
        assert not endpoint.endswith(":0/prod")
        assert "AWS_PROFILE=iot-pipeline-local" in banner
        assert f"AWS_SHARED_CREDENTIALS_FILE={tmp_path.resolve() / 'credentials'}" in banner
    finally:
        # WHEN it gets SIGTERM THEN it stops cleanly
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert not (tmp_path / "endpoint").exists()
    # AND its logs are JSON lines
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(r["message"] == "local pipeline stopped" for r in records)


def test_given_port_in_use_then_start_refused_with_exit_code_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main, ["local", "--port", str(port), "--data-dir", str(tmp_path)]
        )
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
