"""Synthesize each variant of the stack once per session; every module reads the templates.

aws_cdk is imported inside the fixtures so that ``pytest -m "not cdk"`` collects this folder
even where the ``cdk`` dependency group is not installed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from iot_pipeline_common import PipelineConfig

# The fault matrix's moto harness, for the recording of each handler's calls.
from ..faults.conftest import harness  # noqa: F401, TID252

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

#: The config the ``qa`` variant deploys with, so mapping settings visibly come from config.
QA_CONFIG = PipelineConfig(
    batch_size=25, batching_window_seconds=2, processing_timeout=60, max_receive_count=5
)


@dataclass(frozen=True)
class Synthesized:
    """One synthesized stack: the assertions view, the raw template and the output folder."""

    stack: Any
    template: Any
    resources: dict[str, Any]
    outdir: Path

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id → properties of every resource of one type."""
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def logical_id(self, resource_type: str, **expected: Any) -> str:
        """The one resource of a type whose properties include ``expected``."""
        found = [
            logical_id
            for logical_id, props in self.of_type(resource_type).items()
            if all(props.get(k) == v for k, v in expected.items())
        ]
        assert len(found) == 1, (resource_type, expected, found)
        return found[0]


CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """The ``context`` of ``packages/backend/cdk.json``."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return context


def _synthesize(outdir: Path, **settings: Any) -> Synthesized:
    from aws_cdk import App
    from aws_cdk.assertions import Template
    from iot_pipeline_backend.infra.app import build_stack
    from iot_pipeline_backend.infra.deployment import DeploymentSettings

    # The feature flags (and defaults) of cdk.json, as the CDK CLI and app.py apply them.
    app = App(outdir=str(outdir), context=cdk_json_context())
    deployment = DeploymentSettings(**settings)
    stack = build_stack(app, settings=deployment)
    template = Template.from_stack(stack)
    resources: dict[str, Any] = template.to_json()["Resources"]
    return Synthesized(stack=stack, template=template, resources=resources, outdir=outdir)


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The default deployment, with the REAL bundle (built once, then cached in .build/)."""
    return _synthesize(tmp_path_factory.mktemp("cdk-dev"), environment_suffix="dev")


@pytest.fixture(scope="session")
def qa(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """``environment_suffix=qa``, a non-default config, ``retain_data=False``, stub bundle,
    no reserved concurrency and the account-wide API Gateway logging role."""
    return _synthesize(
        tmp_path_factory.mktemp("cdk-qa"),
        environment_suffix="qa",
        pipeline_config=QA_CONFIG,
        bundle="stub",
        retain_data=False,
        reserved_concurrency=0,
        apigw_cloudwatch_role=True,
    )


def logs_arn(*tail: Any) -> dict[str, Any]:
    """The ``Fn::Join`` CDK writes for ``arn:<partition>:logs:<region>:<account>:`` + tail."""
    head = ["arn:", {"Ref": "AWS::Partition"}, ":logs:", {"Ref": "AWS::Region"}, ":"]
    return {"Fn::Join": ["", [*head, {"Ref": "AWS::AccountId"}, *tail]]}


_ASSET_HASH = re.compile(r"[0-9a-f]{64}")
# The deployment's logical id hashes the whole API definition, request models included.
_DEPLOYMENT_ID = re.compile(r"(ApiRestApiDeployment[0-9A-F]{8})[0-9a-f]{32}")


def masked_template(synth: Synthesized) -> str:
    """The template as stable JSON with what other tests pin down masked.

    Asset hashes change with every code edit; the request models and the config value
    follow the contract models in ``common`` (their own tests check them), so a contract
    change does not masquerade as an infrastructure change.
    """
    template = synth.template.to_json()
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::ApiGateway::Model":
            props["Schema"] = "<generated from the contract models>"
        if resource["Type"] == "AWS::SSM::Parameter":
            props["Value"] = "<PipelineConfig JSON>"
    text = json.dumps(template, indent=1, sort_keys=True)
    text = _DEPLOYMENT_ID.sub(r"\1<api-hash>", text)
    return _ASSET_HASH.sub("<asset-hash>", text) + "\n"
