"""GIVEN ``packages/backend/app.py`` (what ``cdk.json`` runs) WHEN run offline THEN it synthesizes.

No AWS credentials and no Docker: the environment is scrubbed of both. Context arrives the
way the CDK CLI passes it (``CDK_CONTEXT_JSON``, ``CDK_OUTDIR``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from iot_pipeline_backend.errors import SettingsError
from iot_pipeline_backend.infra.deployment import DeploymentSettings
from iot_pipeline_common import PipelineConfig

pytestmark = pytest.mark.cdk

BACKEND = Path(__file__).resolve().parents[2]


def test_cdk_json_runs_the_app_entry() -> None:
    cdk = json.loads((BACKEND / "cdk.json").read_text())
    assert cdk["app"] == "python3 app.py"
    assert cdk["context"]["environment_suffix"] == "dev"
    assert (BACKEND / "app.py").is_file()


def test_cdk_json_sets_every_recommended_feature_flag_of_the_installed_aws_cdk_lib() -> None:
    # What ``cdk init`` writes for this aws-cdk-lib: its recommended-feature-flags.json.
    import tarfile
    from importlib import metadata

    dist = metadata.distribution("aws-cdk-lib")
    (bundle,) = [
        f for f in dist.files or [] if str(f).endswith(".jsii.tgz") and "aws-cdk-lib@" in str(f)
    ]
    with tarfile.open(dist.locate_file(bundle)) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        recommended = json.loads(member.read())
    context = json.loads((BACKEND / "cdk.json").read_text())["context"]
    flags = {key: value for key, value in context.items() if key.startswith("@aws-cdk")}
    assert flags == recommended


def test_app_synthesizes_offline_without_credentials(tmp_path: Path) -> None:
    pytest.importorskip("aws_cdk")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in {"DOCKER_HOST", "CDK_CONTEXT_JSON"}
    }
    env |= {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
        "CDK_CONTEXT_JSON": json.dumps({"environment_suffix": "ci", "bundle": "stub"}),
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=BACKEND,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((tmp_path / "cdk.out" / "iot-pipeline-ci.template.json").read_text())
    assert "raw-sensor-data-ci" in json.dumps(template["Resources"])
    assert list((tmp_path / "cdk.out").glob("AwsSolutions-*-NagReport.csv"))


@pytest.mark.parametrize("suffix", ["", "Dev", "has_underscore", "-leading", "x" * 21])
def test_bad_environment_suffix_is_refused_naming_the_key(suffix: str) -> None:
    with pytest.raises(SettingsError, match="environment_suffix"):
        DeploymentSettings(environment_suffix=suffix)


def test_context_defaults_to_dev_real_bundle_and_retained_data() -> None:
    settings = DeploymentSettings.from_context(lambda key: None)
    assert (settings.environment_suffix, settings.bundle, settings.retain_data) == (
        "dev",
        "real",
        True,
    )


def test_context_reads_suffix_config_file_and_retain_flag(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"batch_size": 50, "batching_window_seconds": 5}')
    context = {"environment_suffix": "qa", "config_file": str(config), "retain_data": "false"}
    settings = DeploymentSettings.from_context(context.get)
    assert settings.names.raw_table == "raw-sensor-data-qa"
    assert settings.pipeline_config.batch_size == 50
    assert settings.retain_data is False


def test_context_config_file_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"batch_sise": 50}')
    with pytest.raises(SettingsError, match="batch_sise"):
        DeploymentSettings.from_context({"config_file": str(config)}.get)


def test_batch_over_10_without_a_batching_window_is_refused_naming_the_key(
    tmp_path: Path,
) -> None:
    # Lambda refuses such an event source mapping; synth says so instead of a jsii traceback.
    config = tmp_path / "config.json"
    config.write_text('{"batch_size": 100}')
    with pytest.raises(SettingsError, match=r"batching_window_seconds .*batch_size is 100"):
        DeploymentSettings.from_context({"config_file": str(config)}.get)


def test_batch_over_10_with_a_batching_window_is_accepted(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"batch_size": 100, "batching_window_seconds": 1}')
    settings = DeploymentSettings.from_context({"config_file": str(config)}.get)
    assert settings.queue_visibility_timeout_seconds == 6 * 30 + 1


def test_app_main_reports_a_bad_config_in_one_line_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("aws_cdk")
    from aws_cdk import App
    from iot_pipeline_backend.infra.app import main

    config = tmp_path / "config.json"
    config.write_text('{"batch_size": 100}')
    context = {"config_file": str(config), "bundle": "stub"}
    assert main(App(outdir=str(tmp_path / "cdk.out"), context=context)) == 2
    # Only the app's own lines: jsii may print a Node version banner on its first start.
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("b'")]
    assert len(lines) == 1
    assert lines[0].startswith("synth failed: config_file: batching_window_seconds")


@pytest.mark.parametrize(("value", "expected"), [(None, 100), ("0", 0), (0, 0), ("250", 250)])
def test_reserved_concurrency_comes_from_context(value: object, expected: int) -> None:
    settings = DeploymentSettings.from_context({"reserved_concurrency": value}.get)
    assert settings.reserved_concurrency == expected


@pytest.mark.parametrize("value", ["1", "-5", "lots", "1001"])
def test_bad_reserved_concurrency_is_refused_naming_the_key(value: str) -> None:
    with pytest.raises(SettingsError, match="reserved_concurrency"):
        DeploymentSettings.from_context({"reserved_concurrency": value}.get)


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("true", True), (True, True)])
def test_apigw_cloudwatch_role_is_opt_in(value: object, expected: bool) -> None:
    settings = DeploymentSettings.from_context({"apigw_cloudwatch_role": value}.get)
    assert settings.apigw_cloudwatch_role is expected


def test_a_flag_that_is_not_a_boolean_is_refused_naming_the_key() -> None:
    with pytest.raises(SettingsError, match="retain_data"):
        DeploymentSettings.from_context({"retain_data": "maybe"}.get)


def test_default_deployment_keeps_readings_as_long_as_the_cost_model_assumes() -> None:
    from iot_pipeline_backend.cost.assumptions import Assumptions

    settings = DeploymentSettings.from_context(lambda key: None)
    assert settings.pipeline_config.retention_days == 30
    assert Assumptions(readings_per_second=1).retention_days == 30


def test_config_file_without_retention_gets_the_default_and_null_keeps_forever(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"error_threshold": 2}')
    assert DeploymentSettings.from_context({"config_file": str(config)}.get).pipeline_config == (
        PipelineConfig(error_threshold=2, retention_days=30)
    )
    config.write_text('{"retention_days": null}')
    settings = DeploymentSettings.from_context({"config_file": str(config)}.get)
    assert settings.pipeline_config.retention_days is None
