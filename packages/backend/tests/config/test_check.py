"""``iot-pipeline config check FILE``: 0 for a valid config, 2 naming each bad key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from iot_pipeline_backend.cli import main


def check(path: Path, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["config", "check", str(path), *extra])
    return result.exit_code, result.stdout, result.stderr


def test_given_a_valid_config_then_exit_0_and_show_prints_defaults_filled_in(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps({"batch_size": 50, "alert_rules": [{"name": "hot", "field": "t", "above": 1}]})
    )
    code, out, _ = check(path, "--show")
    assert code == 0
    assert out.startswith(f"{path}: valid\n")
    shown = json.loads(out.split("\n", 1)[1])
    assert shown["batch_size"] == 50 and shown["processing_timeout"] == 30


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"batch_size": 10, "retension_days": 3}', "retension_days"),
        ('{"batch_size": 0}', "batch_size"),
        ('{"ranges": {"temperature": {"min": 9, "max": 1}}}', "ranges.temperature"),
        ('{"alert_rules": [{"name": "x", "field": "t"}]}', "alert_rules[0]"),
        ('{"batch_size": 10,}', "config"),
    ],
)
def test_given_an_invalid_config_then_exit_2_naming_the_file_and_key(
    tmp_path: Path, text: str, named: str
) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)
    code, out, err = check(path)
    assert code == 2
    assert out == ""
    assert err.startswith(f"error: invalid pipeline config in {path}: ")
    assert f"{named}" in err


def test_given_a_missing_file_then_exit_2_naming_it(tmp_path: Path) -> None:
    code, _, err = check(tmp_path / "nope.json")
    assert (code, err.strip()) == (2, f"error: {tmp_path / 'nope.json'}: no such file")


def test_given_the_installed_entry_point_then_the_exit_code_reaches_the_shell(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"batch_sise": 5}')
    script = Path(sys.executable).parent / "iot-pipeline"
    result = subprocess.run(
        [str(script), "config", "check", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "batch_sise" in result.stderr and "Traceback" not in result.stderr
