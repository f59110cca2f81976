"""GIVEN the default deployment WHEN synthesized THEN its CloudWatch dashboard shows every figure.

The dashboard body is a JSON document CloudFormation assembles from strings and references;
the test resolves references to placeholders, parses it, and checks each metric and the
resource each one watches.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from .conftest import Synthesized

pytestmark = pytest.mark.cdk

FUNCTIONS = ("data-ingestion-dev", "data-processor-dev", "data-query-dev")
AGGREGATES = "aggregates-dev"


def _placeholder(part: Any) -> str:
    if isinstance(part, str):
        return part
    if "Ref" in part:
        return f"<{part['Ref']}>"
    if "Fn::GetAtt" in part:
        logical_id, attribute = part["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    raise AssertionError(f"unexpected intrinsic in the dashboard body: {part}")


def _body(dev: Synthesized) -> dict[str, Any]:
    (props,) = dev.of_type("AWS::CloudWatch::Dashboard").values()
    assert props["DashboardName"] == "iot-pipeline-dev"
    separator, parts = props["DashboardBody"]["Fn::Join"]
    body: dict[str, Any] = json.loads(separator.join(_placeholder(p) for p in parts))
    return body


def _metrics(dev: Synthesized) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, metric name, dimensions) of every metric on every widget."""
    found = set()
    for widget in _body(dev)["widgets"]:
        for line in widget["properties"].get("metrics", []):
            names = [item for item in line if isinstance(item, str)]
            if len(names) < 2:
                continue  # a math expression; the metrics it sums are listed too
            dims = tuple(zip(names[2::2], names[3::2], strict=True))
            found.add((names[0], names[1], dims))
    return found


def test_the_dashboard_shows_api_requests_and_5xx_of_the_stage(dev: Synthesized) -> None:
    stage = dev.logical_id("AWS::ApiGateway::Stage", StageName="prod")
    dims = (("ApiName", "iot-api-dev"), ("Stage", f"<{stage}>"))
    metrics = _metrics(dev)
    assert ("AWS/ApiGateway", "Count", dims) in metrics
    assert ("AWS/ApiGateway", "5XXError", dims) in metrics


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("metric", ["Errors", "Throttles", "Duration"])
def test_the_dashboard_shows_each_functions_errors_throttles_and_duration(
    dev: Synthesized, name: str, metric: str
) -> None:
    function = dev.logical_id("AWS::Lambda::Function", FunctionName=name)
    assert ("AWS/Lambda", metric, (("FunctionName", f"<{function}>"),)) in _metrics(dev)


def test_the_dashboard_shows_queue_depth_age_and_dlq_size(dev: Synthesized) -> None:
    queue = dev.logical_id("AWS::SQS::Queue", QueueName="iot-ingestion-queue-dev")
    dlq = dev.logical_id("AWS::SQS::Queue", QueueName="iot-ingestion-dlq-dev")
    metrics = _metrics(dev)
    for logical_id, metric in [
        (queue, "ApproximateNumberOfMessagesVisible"),
        (queue, "ApproximateAgeOfOldestMessage"),
        (dlq, "ApproximateNumberOfMessagesVisible"),
    ]:
        assert ("AWS/SQS", metric, (("QueueName", f"<{logical_id}.QueueName>"),)) in metrics


@pytest.mark.parametrize("name", ["raw-sensor-data-dev", "processed-data-dev", AGGREGATES])
def test_the_dashboard_shows_each_tables_throttled_requests(dev: Synthesized, name: str) -> None:
    table = dev.logical_id("AWS::DynamoDB::Table", TableName=name)
    throttles = {
        dims
        for namespace, metric, dims in _metrics(dev)
        if namespace == "AWS/DynamoDB" and metric == "ThrottledRequests"
    }
    operations = {dict(d)["Operation"] for d in throttles if dict(d)["TableName"] == f"<{table}>"}
    assert {"PutItem", "BatchWriteItem", "Query", "GetItem"} <= operations


def test_each_environment_gets_its_own_dashboard(qa: Synthesized) -> None:
    (props,) = qa.of_type("AWS::CloudWatch::Dashboard").values()
    assert props["DashboardName"] == "iot-pipeline-qa"
