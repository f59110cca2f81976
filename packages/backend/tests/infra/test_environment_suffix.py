"""GIVEN ``environment_suffix=qa`` and a custom config WHEN synthesized THEN every name says qa."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("aws_cdk")

from .conftest import QA_CONFIG, Synthesized

pytestmark = pytest.mark.cdk

NAME_KEYS = (
    "TableName",
    "QueueName",
    "TopicName",
    "FunctionName",
    "LayerName",
    "LogGroupName",
    "AlarmName",
    "ParameterName",
)


def test_every_named_resource_carries_the_suffix(qa: Synthesized) -> None:
    names: list[str] = []
    for resource in qa.resources.values():
        props = resource.get("Properties", {})
        names += [props[key] for key in NAME_KEYS if isinstance(props.get(key), str)]
    names += [p["Name"] for p in qa.of_type("AWS::ApiGateway::RestApi").values()]
    names += [p["Name"] for p in qa.of_type("AWS::SSM::Parameter").values()]
    names += [p["AliasName"] for p in qa.of_type("AWS::KMS::Alias").values()]
    names += [p["Name"] for p in qa.of_type("AWS::ApiGateway::RequestValidator").values()]
    assert len(names) >= 25
    for name in names:
        assert re.search(r"(^|[-/])qa($|[-/])", name), name


def test_no_dev_name_is_left_in_the_template(qa: Synthesized) -> None:
    text = json.dumps(qa.template.to_json())
    assert "-dev" not in text
    assert "/dev/" not in text


@pytest.mark.parametrize(
    ("resource_type", "name_key", "name"),
    [
        ("AWS::DynamoDB::Table", "TableName", "raw-sensor-data-qa"),
        ("AWS::DynamoDB::Table", "TableName", "processed-data-qa"),
        ("AWS::ApiGateway::RestApi", "Name", "iot-api-qa"),
        ("AWS::Lambda::Function", "FunctionName", "data-ingestion-qa"),
        ("AWS::Lambda::Function", "FunctionName", "data-processor-qa"),
        ("AWS::Lambda::Function", "FunctionName", "data-query-qa"),
        ("AWS::SSM::Parameter", "Name", "/iot-pipeline/qa/config"),
        ("Custom::SecureStringParameter", "ParameterName", "/iot-pipeline/qa/api-key"),
    ],
)
def test_contract_names_use_the_suffix(
    qa: Synthesized, resource_type: str, name_key: str, name: str
) -> None:
    qa.template.has_resource_properties(resource_type, {name_key: name})


def test_stack_is_named_with_the_suffix(qa: Synthesized) -> None:
    assert qa.stack.stack_name == "iot-pipeline-qa"


def test_event_source_mapping_takes_batch_size_and_window_from_config(qa: Synthesized) -> None:
    qa.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": QA_CONFIG.batch_size,
            "MaximumBatchingWindowInSeconds": QA_CONFIG.batching_window_seconds,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def test_queue_and_processor_take_timeouts_and_receive_count_from_config(qa: Synthesized) -> None:
    dlq = qa.logical_id("AWS::SQS::Queue", QueueName="iot-ingestion-dlq-qa")
    qa.template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": "iot-ingestion-queue-qa",
            "VisibilityTimeout": 6 * QA_CONFIG.processing_timeout
            + QA_CONFIG.batching_window_seconds,
            "RedrivePolicy": {
                "maxReceiveCount": QA_CONFIG.max_receive_count,
                "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
            },
        },
    )
    qa.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"FunctionName": "data-processor-qa", "Timeout": QA_CONFIG.processing_timeout},
    )


def test_config_parameter_holds_the_deployed_config(qa: Synthesized) -> None:
    (props,) = qa.of_type("AWS::SSM::Parameter").values()
    assert json.loads(props["Value"]) == json.loads(QA_CONFIG.model_dump_json())


def test_retain_data_false_lets_destroy_delete_the_tables(qa: Synthesized) -> None:
    tables = [r for r in qa.resources.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert [t["DeletionPolicy"] for t in tables] == ["Delete", "Delete", "Delete"]


def test_reserved_concurrency_0_leaves_the_functions_unreserved(qa: Synthesized) -> None:
    functions = qa.of_type("AWS::Lambda::Function").values()
    assert len(functions) == 5  # the four of the pipeline and the api-key writer
    assert all("ReservedConcurrentExecutions" not in f for f in functions)
    (mapping,) = qa.of_type("AWS::Lambda::EventSourceMapping").values()
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 100}
