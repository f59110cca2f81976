"""GIVEN the stack with cdk-nag's AwsSolutions checks WHEN synthesized THEN nothing is left open."""

from __future__ import annotations

import csv

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Annotations, Match

from .conftest import Synthesized

pytestmark = pytest.mark.cdk


@pytest.mark.parametrize("variant", ["dev", "qa"])
def test_no_unsuppressed_aws_solutions_errors_or_warnings(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(variant)
    annotations = Annotations.from_stack(synth.stack)
    nag = Match.string_like_regexp("AwsSolutions-.*")
    assert annotations.find_error("*", nag) == []
    assert annotations.find_warning("*", nag) == []


@pytest.mark.parametrize(
    ("variant", "iam4"),
    # IAM4 (a managed policy) only where the account-wide API Gateway logging role is created.
    [("dev", set()), ("qa", {"AwsSolutions-IAM4"})],
)
def test_nag_ran_and_every_suppression_gives_a_reason(
    variant: str, iam4: set[str], request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(variant)
    (report,) = synth.outdir.glob("AwsSolutions-*-NagReport.csv")
    with report.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) > 50  # the pack really checked the resources
    assert {row["Compliance"] for row in rows} <= {"Compliant", "Suppressed"}
    suppressed = [row for row in rows if row["Compliance"] == "Suppressed"]
    assert {row["Rule ID"] for row in suppressed} == {
        "AwsSolutions-IAM5",
        "AwsSolutions-APIG2",
        "AwsSolutions-APIG3",
        "AwsSolutions-COG4",
        *iam4,
        "AwsSolutions-SQS3",  # the MQTT path's own DLQ (infra/iot.py)
    }
    for row in suppressed:
        assert len(row["Exception Reason"]) > 40, row


def test_blocking_findings_is_empty_for_the_synthesized_assembly(dev: Synthesized) -> None:
    from aws_cdk import cx_api
    from iot_pipeline_backend.infra.app import blocking_findings

    assembly = cx_api.CloudAssembly(str(dev.outdir))
    assert blocking_findings(assembly) == []


def test_an_unsuppressed_finding_blocks_the_synth() -> None:
    # GIVEN a stack with a queue that breaks AwsSolutions rules (no DLQ, no TLS policy)
    from aws_cdk import App, Aspects, Stack
    from aws_cdk import aws_sqs as sqs
    from cdk_nag import AwsSolutionsChecks
    from iot_pipeline_backend.infra.app import blocking_findings

    app = App()
    stack = Stack(app, "Unsafe")
    sqs.Queue(stack, "Queue")
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    # WHEN synthesized THEN the app's gate reports each finding by rule
    findings = blocking_findings(app.synth())
    assert any("AwsSolutions-SQS3" in finding for finding in findings)
    assert any("AwsSolutions-SQS4" in finding for finding in findings)
