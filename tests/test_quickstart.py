"""The README works as written: its main command end to end, and its Python example verbatim."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
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
    assert re.search(r"dashboard http://127\.0\.0\.1:\d+/dashboard\?token=[\w-]{40,}", out)
    assert (tmp_path / "data" / "run.html").read_text().lstrip().startswith("<!")


README_ENDPOINT = "http://127.0.0.1:8000/prod"


def readme_python_examples() -> list[str]:
    """The README's Python examples that talk to the pipeline, exactly as a reader copies them."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", readme, flags=re.DOTALL | re.MULTILINE)
    return [block for block in blocks if "Client(" in block]


def test_given_running_local_pipeline_when_readme_python_examples_run_then_they_print_results(
    tmp_path: Path,
) -> None:
    # GIVEN the README's examples and a local pipeline, pointed at by the exported variables
    ingest_and_wait, hourly = readme_python_examples()
    with running_pipeline(data_dir=tmp_path / "data") as pipeline:
        env = {**os.environ, **pipeline.sdk_environment(), "AWS_REGION": pipeline.region}
        outputs = []
        for example in (ingest_and_wait, hourly):
            assert example.count(README_ENDPOINT) == 1
            # The only change: the port (the test's pipeline listens on a free one, not 8000).
            script = example.replace(README_ENDPOINT, pipeline.endpoint)
            # WHEN each runs as a user runs it, one after the other
            result = subprocess.run(
                [sys.executable, "-c", script],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
                check=False,
            )
            assert result.returncode == 0, result.stderr
            outputs.append(result.stdout.strip())
    # THEN the first prints the processed item, every time (it waits for processing, bounded)
    assert "stored raw: " in outputs[0]
    assert outputs[0].endswith("processed: 77.9 60 processed"), outputs[0]
    # AND the second the hour holding that reading, from the rollups, and the device's count
    [hour, total] = outputs[1].splitlines()
    assert hour.startswith("hour ") and hour.split()[2:] == ["1", "25.5", "25.5", "25.5"], hour
    assert total == "1 readings in all"


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_given_the_demo_hint_then_dev_py_passes_the_data_dir_through_to_the_demo() -> None:
    demo = _load(ROOT / "scripts" / "demo.py", "demo_script")
    # GIVEN the hint the demo prints: python3 dev.py demo -- --data-dir DIR
    words = demo.KEEP_DATA_HINT.split()
    assert words[:3] == ["python3", "dev.py", "demo"] and words[3] == "--"
    # THEN the words after "--" are options the demo accepts (nox hands them over as posargs)
    args = demo.build_parser().parse_args(words[4:])
    assert args.data_dir == Path("DIR")


def test_given_the_demo_session_then_it_installs_only_what_running_needs(tmp_path: Path) -> None:
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(uv).exists():
        pytest.skip("uv is not installed (python3 dev.py installs it into .tools/)")
    # GIVEN the demo session's install command (read from the noxfile: nox may not be
    # importable here), into a fresh environment
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    (demo_sync,) = [
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and getattr(node.targets[0] if isinstance(node, ast.Assign) else node.target, "id", "")
        == "DEMO_SYNC"
    ]
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "env"),
        "UV_PYTHON_DOWNLOADS": "never",
    }
    command = [uv, *demo_sync[1:], "-q", "--python", sys.executable]
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=300)
    python = tmp_path / "env" / "bin" / "python"
    # THEN the pipeline, SDK and simulator are there, and no test, type-check or CDK tooling
    probe = "import importlib.util as u, sys; print(*(bool(u.find_spec(m)) for m in sys.argv[1:]))"
    wanted = ["iot_pipeline_backend.local", "iot_pipeline_sdk", "iot_pipeline_simulator", "uvicorn"]
    unwanted = ["aws_cdk", "mypy", "pytest", "moto", "schemathesis"]
    found = subprocess.run(
        [python, "-c", probe, *wanted, *unwanted], capture_output=True, text=True, check=True
    ).stdout.split()
    assert found == ["True"] * len(wanted) + ["False"] * len(unwanted)
