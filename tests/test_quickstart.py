"""The README works as written: its main command end to end, and its Python example verbatim."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from iot_pipeline_backend.local.testing import running_pipeline

ROOT = Path(__file__).resolve().parents[1]


def test_given_fresh_data_dir_when_demo_runs_then_verify_passes_and_query_returns_items(
    tmp_path: Path,
) -> None:
    # GIVEN the quick start with a small fleet, WHEN it runs to the end,
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "demo.py"),
            "--devices", "20", "--rate", "1", "--duration", "3", "--batch", "10",
            "--data-dir", str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    out = result.stdout + result.stderr
    # THEN it reports no loss, shows processed items from the SDK query, and stops cleanly.
    assert result.returncode == 0, out
    assert "DEMO PASSED" in out
    assert '"status":"processed"' in out or '"status":"anomaly"' in out
    assert "pipeline exited with 0" in out
    assert (tmp_path / "data" / "run.html").read_text().lstrip().startswith("<!")


README_ENDPOINT = "http://127.0.0.1:8000/prod"


def readme_python_example() -> str:
    """The README's Python example, exactly as a reader copies it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", readme, flags=re.DOTALL | re.MULTILINE)
    (example,) = [block for block in blocks if "Client(" in block]
    return example


def test_given_running_local_pipeline_when_readme_python_example_runs_then_it_prints_processed(
    tmp_path: Path,
) -> None:
    # GIVEN the README's example and a local pipeline, pointed at by the exported variables
    example = readme_python_example()
    assert example.count(README_ENDPOINT) == 1
    with running_pipeline(data_dir=tmp_path / "data") as pipeline:
        # The only change: the port (the test's pipeline listens on a free one, not 8000).
        script = example.replace(README_ENDPOINT, pipeline.endpoint)
        env = {**os.environ, **pipeline.sdk_environment(), "AWS_REGION": pipeline.region}
        # WHEN it runs as a user runs it, right after ingesting
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
    # THEN it prints the processed item, every time (it waits for processing, bounded)
    assert result.returncode == 0, result.stderr
    assert "stored raw: " in result.stdout
    assert result.stdout.strip().endswith("processed: 77.9 60 processed"), result.stdout
