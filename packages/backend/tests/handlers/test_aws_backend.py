"""The handlers with ``IOT_PIPELINE_BACKEND=aws``: adapters built from the environment, on moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from iot_pipeline_backend.handlers import ingestion, processor, query
from iot_pipeline_backend.handlers.runtime import current_adapters, use_adapters

from .conftest import api_event, body_of, load_fixture


@pytest.fixture
def aws_env(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    settings = aws.settings
    for name, value in {
        "IOT_PIPELINE_BACKEND": "aws",
        "RAW_TABLE_NAME": settings.raw_table_name,
        "PROCESSED_TABLE_NAME": settings.processed_table_name,
        "AGGREGATES_TABLE_NAME": settings.aggregates_table_name,
        "QUEUE_URL": settings.queue_url,
        "ALERT_TOPIC_ARN": settings.alert_topic_arn,
        "CONFIG_PARAMETER_NAME": settings.config_parameter_name,
        "API_KEY_PARAMETER_NAME": settings.api_key_parameter_name,
    }.items():
        monkeypatch.setenv(name, value)
    previous = use_adapters(None)
    yield aws
    use_adapters(previous)


def test_given_aws_settings_when_a_reading_flows_through_then_it_is_queryable(
    aws_env: Any,
) -> None:
    ingested = ingestion.lambda_handler(load_fixture("apigw_rest_event.json"), None)
    assert ingested["statusCode"] == 200
    assert type(current_adapters()).__name__ == "AwsAdapters"

    bodies = aws_env.drain_queue()
    event = {"Records": [{**load_fixture("sqs_event.json")["Records"][0], "body": bodies[0]}]}
    assert processor.lambda_handler(event, None) == {"batchItemFailures": []}

    response = query.lambda_handler(
        api_event("GET", "/query", query={"device_id": "device-123"}), None
    )
    [item] = body_of(response)["items"]
    assert item["reading_id"] == body_of(ingested)["reading_id"]
    assert item["temperature_fahrenheit"] == 77.9
    assert item["status"] == "processed"


def test_given_a_missing_table_then_503_and_nothing_acknowledged(aws_env: Any) -> None:
    aws_env.session.client("dynamodb").delete_table(TableName=aws_env.settings.raw_table_name)

    response = ingestion.lambda_handler(load_fixture("apigw_rest_event.json"), None)

    assert response["statusCode"] == 503
    assert "ResourceNotFound" not in response["body"]
    assert aws_env.drain_queue() == []


def test_given_an_invalid_config_parameter_then_processing_fails_the_batch_loudly(
    aws_env: Any,
) -> None:
    aws_env.session.client("ssm").put_parameter(
        Name=aws_env.settings.config_parameter_name,
        Value=json.dumps({"batch_size": -1}),
        Overwrite=True,
    )

    with pytest.raises(Exception, match="batch_size"):
        processor.lambda_handler(load_fixture("sqs_event.json"), None)
