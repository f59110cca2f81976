"""The CDK app entry: ``cd packages/backend && python app.py`` (or ``cdk synth``).

Context: ``environment_suffix`` (default ``dev``), ``config_file`` (pipeline config JSON,
default: the built-in defaults), ``retain_data`` (``false`` lets ``cdk destroy`` delete the
tables), ``bundle`` (``stub`` only for template tests). cdk-nag's AwsSolutions checks run on
every synth, and any finding that is not suppressed with a reason fails it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from aws_cdk import App, Aspects, cx_api
from cdk_nag import AwsSolutionsChecks

from iot_pipeline_backend.errors import SettingsError
from iot_pipeline_backend.infra.bundling import BundlingError, build_bundle, stub_bundle
from iot_pipeline_backend.infra.deployment import DeploymentSettings
from iot_pipeline_backend.infra.stack import IotPipelineStack


def build_stack(app: App, *, settings: DeploymentSettings) -> IotPipelineStack:
    """Add the pipeline stack (and the cdk-nag checks) to ``app``."""
    bundle = stub_bundle() if settings.bundle == "stub" else build_bundle()
    stack = IotPipelineStack(
        app,
        settings.names.stack,
        settings=settings,
        bundle=bundle,
        description=f"iot-pipeline ({settings.environment_suffix}): serverless IoT data pipeline",
    )
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return stack


def blocking_findings(assembly: cx_api.CloudAssembly) -> list[str]:
    """Every error and warning annotation of the synthesized stacks (cdk-nag's included)."""
    found: list[str] = []
    for artifact in assembly.stacks:
        for message in artifact.messages:
            if message.level in (
                cx_api.SynthesisMessageLevel.ERROR,
                cx_api.SynthesisMessageLevel.WARNING,
            ):
                found.append(f"{message.level.value} {message.id}: {message.entry.data}")
    return found


def _print(lines: Iterable[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def main(app: App | None = None) -> int:
    """Synthesize into ``cdk.out``; exit 1 on any unsuppressed finding, 2 on bad context.

    ``app`` defaults to one reading the CDK CLI's context and output folder.
    """
    # The CDK CLI passes its output folder in CDK_OUTDIR; run directly, write to ./cdk.out.
    app = app or App(outdir=os.environ.get("CDK_OUTDIR") or "cdk.out")
    try:
        settings = DeploymentSettings.from_context(app.node.try_get_context)
        build_stack(app, settings=settings)
    except (SettingsError, BundlingError) as exc:
        print(f"synth failed: {exc}", file=sys.stderr)
        return 2
    findings = blocking_findings(app.synth())
    if findings:
        _print(findings)
        print(f"synth failed: {len(findings)} unsuppressed finding(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
