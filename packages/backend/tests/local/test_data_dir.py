"""One runtime per data dir: a lock, an endpoint file only its owner touches, clear refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from iot_pipeline_backend.errors import SettingsError
from iot_pipeline_backend.local.datadir import lock_owner
from iot_pipeline_backend.local.runtime import LocalPipeline
from iot_pipeline_backend.local.testing import running_pipeline_process


def start_runtime(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``iot-pipeline local`` in a process of its own, expected to refuse and exit."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "iot_pipeline_backend.local",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def healthy(endpoint: str) -> bool:
    return httpx.get(endpoint.rsplit("/", 1)[0] + "/health", timeout=10).status_code == 200


def test_given_a_running_runtime_when_a_second_starts_on_its_data_dir_then_refused_with_exit_2(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    with running_pipeline_process(data_dir=data_dir) as first:
        endpoint_file = data_dir / "endpoint"
        published = endpoint_file.read_text()
        # WHEN a second runtime starts on the same data dir
        second = start_runtime(data_dir)
        # THEN it refuses, naming the dir and the owner, with exit code 2 and no traceback
        assert second.returncode == 2, second.stderr
        assert f"data dir {data_dir} is in use by another iot-pipeline local" in second.stderr
        assert f"(pid {first.process.pid})" in second.stderr
        assert "Traceback" not in second.stderr
        # AND the first one's endpoint file is untouched and it still serves
        assert endpoint_file.read_text() == published
        assert healthy(first.endpoint)
        # WHEN the owner stops cleanly THEN its endpoint file goes with it
        assert first.terminate() == 0
        assert not endpoint_file.exists()


def test_given_a_killed_runtime_when_started_again_then_the_stale_endpoint_is_replaced(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    with running_pipeline_process(data_dir=data_dir) as first:
        first.kill()  # SIGKILL (or a second Ctrl-C): no cleanup at all
    stale = (data_dir / "endpoint").read_text()
    assert stale.strip() == first.endpoint
    # WHEN started again THEN the dead runtime's lock does not block it, and the endpoint
    # file names the new runtime, which answers on it
    with running_pipeline_process(data_dir=data_dir) as second:
        assert lock_owner(data_dir) == second.process.pid != first.process.pid
        assert (data_dir / "endpoint").read_text().strip() == second.endpoint
        assert healthy(second.endpoint)


def test_given_two_pipelines_in_one_process_then_the_second_start_is_refused(
    tmp_path: Path,
) -> None:
    first = LocalPipeline(data_dir=tmp_path, port=0, poll_queue=False)
    first.start()
    try:
        second = LocalPipeline(data_dir=tmp_path, port=0, poll_queue=False)
        with pytest.raises(SettingsError, match="is in use by another iot-pipeline local"):
            second.start()
        second.stop()  # a refused runtime removes nothing of the owner's
        assert (tmp_path / "endpoint").read_text().strip() == first.endpoint
    finally:
        first.stop()


def test_given_a_data_dir_that_cannot_be_created_then_one_line_error_and_exit_2(
    tmp_path: Path,
) -> None:
    # Tests may run as root, which chmod does not stop: a regular file in the path does.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    data_dir = blocker / "data"
    result = start_runtime(data_dir)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line == (
        f"Error: cannot use data dir {data_dir}: Not a directory; "
        "pass --data-dir with a writable directory"
    )
    with pytest.raises(SettingsError, match="cannot use data dir"):
        LocalPipeline(data_dir=data_dir)
