"""GIVEN the real bundle WHEN the stack is synthesized THEN the assets hold runnable code.

The ``dev`` fixture synthesizes with the real bundle (pip/uv for aarch64, no Docker), so
these tests read the very asset folders CDK staged into the cloud assembly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("aws_cdk")

from .conftest import Synthesized

pytestmark = pytest.mark.cdk


def _asset(dev: Synthesized, code: dict[str, object]) -> Path:
    key = str(code["S3Key"])
    folder = dev.outdir / f"asset.{key.removesuffix('.zip')}"
    assert folder.is_dir(), folder
    return folder


def _function_asset(dev: Synthesized) -> Path:
    codes = {
        str(p["Code"]["S3Key"])
        for p in dev.of_type("AWS::Lambda::Function").values()
        if "S3Key" in p["Code"]
    }
    assert len(codes) == 1  # one code asset shared by the three functions
    return _asset(dev, {"S3Key": codes.pop()})


def _layer_asset(dev: Synthesized) -> Path:
    (layer,) = dev.of_type("AWS::Lambda::LayerVersion").values()
    return _asset(dev, layer["Content"])


@pytest.mark.parametrize("module", ["ingestion", "processor", "query"])
def test_code_asset_holds_each_handler_module(dev: Synthesized, module: str) -> None:
    assert (_function_asset(dev) / "iot_pipeline_backend" / "handlers" / f"{module}.py").is_file()


def test_code_asset_holds_the_common_package(dev: Synthesized) -> None:
    common = _function_asset(dev) / "iot_pipeline_common"
    assert (common / "models.py").is_file()
    assert (common / "py.typed").is_file()


def test_code_asset_leaves_out_infra_local_and_caches(dev: Synthesized) -> None:
    code = _function_asset(dev)
    assert not (code / "iot_pipeline_backend" / "infra").exists()
    assert not (code / "iot_pipeline_backend" / "local").exists()
    assert not (code / "iot_pipeline_backend" / "dashboard").exists()
    assert not list(code.rglob("__pycache__"))
    assert not list(code.rglob("*.pyc"))


def test_layer_holds_pydantic_core_built_for_aarch64_and_the_lambda_python(
    dev: Synthesized,
) -> None:
    from iot_pipeline_backend.infra.bundling import LAMBDA_PYTHON_VERSION

    tag = LAMBDA_PYTHON_VERSION.replace(".", "")
    binaries = list((_layer_asset(dev) / "python" / "pydantic_core").glob("*.so"))
    assert [b.name for b in binaries] == [f"_pydantic_core.cpython-{tag}-aarch64-linux-gnu.so"]


@pytest.mark.parametrize("package", ["aws_lambda_powertools", "aws_xray_sdk", "pydantic", "wrapt"])
def test_layer_holds_the_runtime_dependencies(dev: Synthesized, package: str) -> None:
    assert (_layer_asset(dev) / "python" / package).is_dir()


def test_layer_leaves_boto3_to_the_runtime(dev: Synthesized) -> None:
    python = _layer_asset(dev) / "python"
    assert not (python / "boto3").exists()
    assert not (python / "botocore").exists()


def test_layer_runtime_matches_the_function_runtime(dev: Synthesized) -> None:
    from iot_pipeline_backend.infra.bundling import LAMBDA_PYTHON_VERSION

    runtimes = {p["Runtime"] for p in dev.of_type("AWS::Lambda::Function").values()}
    assert runtimes == {f"python{LAMBDA_PYTHON_VERSION}"}


def test_code_build_is_reused_when_nothing_changed(tmp_path: Path) -> None:
    from iot_pipeline_backend.infra.bundling import build_code

    first, first_hash = build_code(tmp_path)
    marker = first / "marker"
    marker.write_text("kept")
    second, second_hash = build_code(tmp_path)
    assert (second, second_hash) == (first, first_hash)
    assert marker.read_text() == "kept"  # the folder was reused, not rebuilt
    assert [p.name for p in tmp_path.iterdir()] == [first.name]
