"""The credentials file: fresh random keys on first start, 0600, readable by botocore,
kept across restarts, and a clear error when it is broken."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import botocore.session
import pytest
from iot_pipeline_backend.errors import SettingsError
from iot_pipeline_backend.local.credentials import PROFILE, load_or_create_credentials


def test_given_empty_data_dir_when_started_then_fresh_keys_in_a_private_file(
    tmp_path: Path,
) -> None:
    created = load_or_create_credentials(tmp_path / "data")
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", created.access_key)
    assert len(created.secret_key) == 40
    assert stat.S_IMODE(created.path.stat().st_mode) == 0o600
    # AND another data dir gets other keys
    assert load_or_create_credentials(tmp_path / "other").access_key != created.access_key
    # AND the secret never shows in a repr
    assert created.secret_key not in repr(created)


def test_given_credentials_file_then_botocore_reads_the_profile(tmp_path: Path) -> None:
    created = load_or_create_credentials(tmp_path)
    session = botocore.session.Session(profile=PROFILE)
    session.set_config_variable("credentials_file", str(created.path))
    credentials = session.get_credentials()
    assert credentials is not None
    assert (credentials.access_key, credentials.secret_key) == (
        created.access_key,
        created.secret_key,
    )


def test_given_existing_file_when_restarted_then_same_keys(tmp_path: Path) -> None:
    first = load_or_create_credentials(tmp_path)
    assert load_or_create_credentials(tmp_path) == first


def test_given_file_without_the_profile_then_error_names_file_and_profile(tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = x\n")
    with pytest.raises(SettingsError, match=r"credentials: profile \[iot-pipeline-local\]"):
        load_or_create_credentials(tmp_path)
