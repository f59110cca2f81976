"""The ``iot-sim`` command line: help, profiles, preview determinism, errors as exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from iot_pipeline_simulator.cli import main
from iot_pipeline_simulator.profiles import PROFILES


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], ["run", "verify", "profiles", "preview", "iot-sim verify --report-json"]),
        (
            ["run"],
            [
                "--endpoint",
                "--devices",
                "--rate",
                "--duration",
                "--batch",
                "--batch-by",
                "--profile",
                "--seed",
                "--region",
                "--aws-profile",
                "--report-json",
                "--report-html",
                "--max-in-flight",
                "--quiet",
                "Examples:",
            ],
        ),
        (["verify"], ["--report-json", "--wait", "--json", "Exits 1", "Example:"]),
        (["profiles"], ["--json"]),
        (["preview"], ["--seed", "--slots", "--start-ms"]),
    ],
)
def test_given_help_then_every_option_is_explained(command: list[str], expected: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    for text in expected:
        assert text in result.output


def test_given_profiles_then_each_is_listed_with_its_sensors() -> None:
    result = CliRunner().invoke(main, ["profiles"])
    assert result.exit_code == 0
    for name in ("greenhouse", "cold-chain", "factory", "clean"):
        assert name in result.output
    as_json = json.loads(CliRunner().invoke(main, ["profiles", "--json"]).output)
    assert set(as_json) == set(PROFILES)
    assert as_json["cold-chain"]["sensors"][0]["drift_per_hour"] > 0


def test_given_the_same_seed_when_previewing_twice_then_the_output_is_identical() -> None:
    args = ["preview", "--profile", "factory", "--devices", "3", "--slots", "40", "--seed"]
    first = CliRunner().invoke(main, [*args, "7"])
    again = CliRunner().invoke(main, [*args, "7"])
    other = CliRunner().invoke(main, [*args, "8"])
    assert first.exit_code == 0
    assert first.output == again.output
    assert first.output != other.output
    lines = [json.loads(line) for line in first.output.splitlines()]
    assert {line["device_id"] for line in lines} == {f"factory-0000{i}" for i in range(3)}
    assert all(line["reading_id"].endswith(f"-s7-{line['seq']}") for line in lines)


def test_given_an_unknown_profile_when_running_then_exit_2_names_the_choices() -> None:
    result = CliRunner().invoke(
        main, ["run", "--endpoint", "http://127.0.0.1:9/prod", "--profile", "submarine"]
    )
    assert result.exit_code == 2
    assert "unknown profile 'submarine'" in result.output
    assert "greenhouse" in result.output
    assert "Traceback" not in result.output


def test_given_a_bad_report_when_verifying_then_exit_2_with_a_clear_message(
    tmp_path: Path,
) -> None:
    bogus = tmp_path / "run.json"
    bogus.write_text("[1, 2, 3]")
    result = CliRunner().invoke(main, ["verify", "--report-json", str(bogus)])
    assert result.exit_code == 2
    assert "is not an iot-sim run report" in result.output


def test_given_a_bad_batch_size_when_running_then_click_rejects_it() -> None:
    result = CliRunner().invoke(
        main, ["run", "--endpoint", "http://127.0.0.1:9/prod", "--batch", "501"]
    )
    assert result.exit_code == 2
    assert "--batch" in result.output


def test_given_an_unreachable_pipeline_when_running_then_the_preflight_fails_fast() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
    result = CliRunner().invoke(
        main,
        [
            *("run", "--endpoint", "http://127.0.0.1:9/prod", "--region", "us-east-1"),
            *("--duration", "30", "--retries", "0"),
        ],
        env=env,
    )
    assert result.exit_code == 2
    assert "127.0.0.1:9" in result.output
    assert "Traceback" not in result.output
    assert "secret" not in result.output


def test_given_a_missing_credentials_file_when_running_then_exit_2_naming_the_file(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "data" / "credentials"
    result = CliRunner().invoke(
        main,
        ["run", "--endpoint", "http://127.0.0.1:1/prod", "--devices", "1", "--duration", "1"],
        env={
            "AWS_SHARED_CREDENTIALS_FILE": str(missing),
            "AWS_PROFILE": "iot-pipeline-local",
            "AWS_REGION": "us-east-1",
        },
    )
    assert result.exit_code == 2
    assert f"credentials file {missing} (from AWS_SHARED_CREDENTIALS_FILE) does not exist" in (
        result.output
    )
