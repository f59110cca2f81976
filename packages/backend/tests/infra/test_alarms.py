"""GIVEN the default deployment WHEN synthesized THEN every alarm watches what it says it does."""

from __future__ import annotations

import pytest

pytest.importorskip("aws_cdk")

from .conftest import Synthesized

pytestmark = pytest.mark.cdk


def _alarm(dev: Synthesized, name: str) -> dict[str, object]:
    (props,) = [p for p in dev.of_type("AWS::CloudWatch::Alarm").values() if p["AlarmName"] == name]
    return props


def _topic(dev: Synthesized) -> dict[str, str]:
    return {"Ref": dev.logical_id("AWS::SNS::Topic", TopicName="iot-alerts-dev")}


@pytest.mark.parametrize("label", ["ingestion", "processor", "query"])
def test_function_errors_alarm_at_10_in_5_minutes(dev: Synthesized, label: str) -> None:
    alarm = _alarm(dev, f"iot-pipeline-dev-{label}-errors")
    assert (alarm["MetricName"], alarm["Namespace"], alarm["Statistic"]) == (
        "Errors",
        "AWS/Lambda",
        "Sum",
    )
    assert (alarm["Period"], alarm["Threshold"], alarm["EvaluationPeriods"]) == (300, 10, 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Dimensions"] == [
        {
            "Name": "FunctionName",
            "Value": {
                "Ref": dev.logical_id("AWS::Lambda::Function", FunctionName=f"data-{label}-dev")
            },
        }
    ]
    assert alarm["AlarmActions"] == [_topic(dev)]


@pytest.mark.parametrize("label", ["ingestion", "processor", "query"])
def test_function_throttles_alarm_at_5_in_5_minutes(dev: Synthesized, label: str) -> None:
    alarm = _alarm(dev, f"iot-pipeline-dev-{label}-throttles")
    assert (alarm["MetricName"], alarm["Period"], alarm["Threshold"]) == ("Throttles", 300, 5)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [_topic(dev)]


@pytest.mark.parametrize("label", ["raw", "processed"])
def test_table_throttles_alarm_at_10_in_5_minutes(dev: Synthesized, label: str) -> None:
    alarm = _alarm(dev, f"iot-pipeline-dev-{label}-table-throttles")
    assert alarm["Threshold"] == 10
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    metrics = alarm["Metrics"]
    assert isinstance(metrics, list)
    stats = [m["MetricStat"] for m in metrics if "MetricStat" in m]
    assert stats
    assert {s["Metric"]["MetricName"] for s in stats} == {"ThrottledRequests"}
    assert {s["Period"] for s in stats} == {300}
    assert alarm["AlarmActions"] == [_topic(dev)]


def test_dlq_not_empty_alarms(dev: Synthesized) -> None:
    alarm = _alarm(dev, "iot-pipeline-dev-dlq-not-empty")
    dlq = dev.logical_id("AWS::SQS::Queue", QueueName="iot-ingestion-dlq-dev")
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["AlarmActions"] == [_topic(dev)]


def test_api_5xx_alarm_watches_the_prod_stage(dev: Synthesized) -> None:
    alarm = _alarm(dev, "iot-pipeline-dev-api-5xx")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/ApiGateway",
        "5XXError",
        "Sum",
    )
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions["ApiName"] == "iot-api-dev"
    assert dimensions["Stage"] == {"Ref": next(iter(dev.of_type("AWS::ApiGateway::Stage")))}
    assert (alarm["Period"], alarm["Threshold"]) == (300, 5)
    assert alarm["AlarmActions"] == [_topic(dev)]


def test_store_failures_alarm_watches_the_metric_the_handlers_emit(dev: Synthesized) -> None:
    from iot_pipeline_backend.handlers import observability

    alarm = _alarm(dev, "iot-pipeline-dev-store-failures")
    # The handlers' Metrics object names the namespace and the dimensions: the service, and
    # the environment from the variable the stack gives every function.
    assert alarm["Namespace"] == observability.METRICS_NAMESPACE
    [function] = [
        f
        for f in dev.of_type("AWS::Lambda::Function").values()
        if f["FunctionName"] == "data-ingestion-dev"
    ]
    environment = function["Environment"]["Variables"][observability.ENV_ENVIRONMENT]
    assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == [
        {"Name": observability.ENVIRONMENT_DIMENSION, "Value": environment},
        {"Name": "service", "Value": observability.SERVICE},
    ]
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == (
        "StoreFailures",
        "Sum",
        300,
    )
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [_topic(dev)]
