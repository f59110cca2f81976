"""A named credentials file that is missing is reported as such, naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from iot_pipeline_sdk import Client, ConfigurationError

ENDPOINT = "http://127.0.0.1:8000/prod"


def test_given_a_missing_credentials_file_option_then_the_error_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "credentials"
    with pytest.raises(ConfigurationError) as info:
        Client(
            endpoint=ENDPOINT,
            region="us-east-1",
            profile="iot-pipeline-local",
            credentials_file=missing,
        )
    assert str(info.value).startswith(
        f"AWS profile 'iot-pipeline-local': credentials file {missing} "
        "(from credentials_file=) does not exist;"
    )


def test_given_a_relative_missing_file_in_the_environment_then_the_error_names_it_and_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", ".iot-pipeline/credentials")
    monkeypatch.setenv("AWS_PROFILE", "iot-pipeline-local")
    with pytest.raises(ConfigurationError) as info:
        Client(endpoint=ENDPOINT, region="us-east-1")
    message = str(info.value)
    assert (
        "credentials file .iot-pipeline/credentials (from AWS_SHARED_CREDENTIALS_FILE)" in message
    )
    assert "a relative path is read from the current directory" in message


def test_given_a_file_without_the_profile_then_the_error_names_profile_and_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "credentials"
    path.write_text("[other]\naws_access_key_id = AKIDX\naws_secret_access_key = s\n")
    with pytest.raises(ConfigurationError, match=f"'iot-pipeline-local' not found in {path}"):
        Client(
            endpoint=ENDPOINT,
            region="us-east-1",
            profile="iot-pipeline-local",
            credentials_file=path,
        )
