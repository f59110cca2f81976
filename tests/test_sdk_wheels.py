"""The SDK as a user installs it: built wheels in a clean virtualenv, talking to a pipeline.

Builds the ``iot-pipeline-common`` and ``iot-pipeline-sdk`` wheels with ``uv build``, installs
them (and their pinned third-party dependencies, from uv's cache or PyPI) into a fresh venv
with no workspace on its path, and runs a signed ingest and query against a local pipeline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from iot_pipeline_backend.local.testing import running_pipeline

ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")

USE_THE_SDK = """
import json, sys, time
import iot_pipeline_sdk
from iot_pipeline_sdk import Client

assert iot_pipeline_sdk.__file__.startswith(sys.prefix), iot_pipeline_sdk.__file__
with Client(endpoint=sys.argv[1], region="us-east-1") as client:
    ack = client.ingest("wheel-device", {"temperature": 21.5, "humidity": 60})
    raw = client.request("GET", "/query", params={"device_id": "wheel-device", "table": "raw"})
    print(json.dumps({"reading_id": ack.reading_id, "raw": raw["items"]}))
"""


def uv(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [UV, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        **kwargs,  # type: ignore[call-overload]
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path(UV).exists():
        pytest.skip("uv is not installed (python3 dev.py installs it into .tools/)")
    out = tmp_path_factory.mktemp("wheels")
    for package in ("iot-pipeline-common", "iot-pipeline-sdk"):
        ok(uv("build", "--wheel", "--package", package, "-o", str(out), "-q"))
    return out


def test_given_the_sdk_wheel_alone_then_install_fails_naming_the_pinned_common(
    wheels: Path, tmp_path: Path
) -> None:
    only_sdk = tmp_path / "only-sdk"
    only_sdk.mkdir()
    (sdk_wheel,) = wheels.glob("iot_pipeline_sdk-*.whl")
    shutil.copy(sdk_wheel, only_sdk)
    venv = tmp_path / "venv"
    ok(uv("venv", "-q", str(venv), "--python", sys.executable))
    result = uv(
        "pip", "install", "--python", str(venv / "bin" / "python"), "--offline", "--no-index",
        "--find-links", str(only_sdk), "iot-pipeline-sdk",
    )  # fmt: skip
    assert result.returncode != 0
    assert "iot-pipeline-common==0.1.0" in result.stderr


def test_given_built_wheels_in_a_clean_venv_then_the_sdk_ingests_and_queries(
    wheels: Path, tmp_path: Path
) -> None:
    # GIVEN a fresh venv with only the two wheels and their locked dependencies
    venv = tmp_path / "venv"
    ok(uv("venv", "-q", str(venv), "--python", sys.executable))
    requirements = tmp_path / "requirements.txt"
    ok(uv(
        "export", "--package", "iot-pipeline-sdk", "--no-dev", "--no-emit-workspace",
        "--no-hashes", "--frozen", "-q", "-o", str(requirements),
    ))  # fmt: skip
    install = [
        "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
        "--find-links", str(wheels), "-r", str(requirements), "iot-pipeline-sdk",
    ]  # fmt: skip
    # uv's cache usually has every dependency; otherwise PyPI does.
    if uv(*install, "--offline").returncode != 0:
        ok(uv(*install))
    python = venv / "bin" / "python"
    # AND nothing of the workspace in it
    assert subprocess.run([python, "-c", "import iot_pipeline_backend"], check=False).returncode
    # WHEN it talks to a local pipeline the way a user's program does
    with running_pipeline(data_dir=tmp_path / "data") as pipeline:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTHON", "VIRTUAL_ENV"))
        }
        result = subprocess.run(
            [python, "-c", USE_THE_SDK, pipeline.endpoint],
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, **pipeline.sdk_environment()},
            check=False,
        )
    # THEN the reading is stored and read back, integers intact
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    (item,) = out["raw"]
    assert item["reading_id"] == out["reading_id"]
    assert item["sensor_data"] == {"temperature": 21.5, "humidity": 60}


def test_given_the_pyprojects_then_every_sibling_dependency_is_pinned_to_its_version() -> None:
    projects = {
        path.parent.name: tomllib.loads(path.read_text())["project"]
        for path in ROOT.glob("packages/*/pyproject.toml")
    }
    versions = {project["name"]: project["version"] for project in projects.values()}
    for project in projects.values():
        for requirement in project["dependencies"]:
            name = requirement.split("=")[0].split(">")[0].split("<")[0].strip()
            if name in versions:
                assert requirement == f"{name}=={versions[name]}", (project["name"], requirement)
