"""GIVEN the synthesized stack THEN each function's role allows exactly what it uses, no more.

The policies are compared whole (action → resources), so a new grant, a wildcard or a
resource of another function fails here until it is added on purpose.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from .conftest import Synthesized

pytestmark = pytest.mark.cdk

PARAM = "arn:{Partition}:ssm:{Region}:{AccountId}:parameter/iot-pipeline/dev/"
SSM_KEYS = "arn:{Partition}:kms:{Region}:{AccountId}:key/*"


def _name(value: Any, dev: Synthesized) -> str:
    """A resource reference as a readable string: the resource's name, or the joined ARN."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        ref = value["Ref"]
        if ref.startswith("AWS::"):
            return "{" + ref.removeprefix("AWS::") + "}"
        return _physical_name(dev, ref)
    if "Fn::GetAtt" in value:
        return _physical_name(dev, value["Fn::GetAtt"][0])
    if "Fn::Join" in value:
        return "".join(_name(part, dev) for part in value["Fn::Join"][1])
    raise AssertionError(f"unexpected reference {value}")


def _physical_name(dev: Synthesized, logical_id: str) -> str:
    resource = dev.resources[logical_id]
    props = resource.get("Properties", {})
    for key in ("TableName", "QueueName", "TopicName", "LogGroupName", "Name"):
        if key in props:
            return str(props[key])
    return resource["Type"]


def permissions(dev: Synthesized, role: Any) -> dict[str, set[str]]:
    """action → resource names granted by the inline policies of ``role`` (an iam.Role)."""
    logical_id = dev.stack.get_logical_id(role.node.default_child)
    assert "ManagedPolicyArns" not in dev.resources[logical_id]["Properties"]
    granted: dict[str, set[str]] = {}
    for policy in dev.of_type("AWS::IAM::Policy").values():
        if {"Ref": logical_id} not in policy["Roles"]:
            continue
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            resources = statement["Resource"]
            for action in [actions] if isinstance(actions, str) else actions:
                for resource in resources if isinstance(resources, list) else [resources]:
                    granted.setdefault(action, set()).add(_name(resource, dev))
    return granted


LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
XRAY = {"xray:PutTraceSegments": {"*"}, "xray:PutTelemetryRecords": {"*"}}


def _logs(function: str) -> dict[str, set[str]]:
    return {action: {f"/aws/lambda/{function}"} for action in LOGS}


def test_ingestion_writes_only_the_raw_table_and_sends_to_the_queue(dev: Synthesized) -> None:
    raw = {"raw-sensor-data-dev"}
    assert permissions(dev, dev.stack.functions.ingestion.role) == {
        **_logs("data-ingestion-dev"),
        **XRAY,
        "dynamodb:PutItem": raw,
        "dynamodb:BatchGetItem": raw,
        "dynamodb:GetItem": raw,
        "dynamodb:UpdateItem": raw,
        "dynamodb:DeleteItem": raw,
        "dynamodb:ConditionCheckItem": raw,
        "sqs:SendMessage": {"iot-ingestion-queue-dev"},
        "ssm:GetParameter": {PARAM + "config"},
    }


def test_processor_reads_raw_writes_processed_consumes_queue_and_alerts(
    dev: Synthesized,
) -> None:
    raw, processed = {"raw-sensor-data-dev"}, {"processed-data-dev"}
    queue, aggregates = {"iot-ingestion-queue-dev"}, {"aggregates-dev"}
    assert permissions(dev, dev.stack.functions.processor.role) == {
        **_logs("data-processor-dev"),
        **XRAY,
        "dynamodb:Query": raw | processed | aggregates,
        "dynamodb:GetItem": aggregates,
        "dynamodb:PutItem": aggregates,
        "dynamodb:BatchWriteItem": processed,
        "sqs:ReceiveMessage": queue,
        "sqs:DeleteMessage": queue,
        "sqs:GetQueueAttributes": queue,
        "sqs:SendMessage": queue,
        "sns:Publish": {"iot-alerts-dev"},
        "kms:GenerateDataKey": {"AWS::KMS::Key"},
        "kms:Decrypt": {"AWS::KMS::Key"},
        "ssm:GetParameter": {PARAM + "config"},
    }


def test_query_only_queries_its_tables_and_reads_the_token_key(dev: Synthesized) -> None:
    tables = {"raw-sensor-data-dev", "processed-data-dev", "aggregates-dev"}
    aggregates = {"aggregates-dev", "aggregates-dev/index/by-listing"}
    assert permissions(dev, dev.stack.functions.query.role) == {
        **_logs("data-query-dev"),
        **XRAY,
        "dynamodb:Query": tables | aggregates,
        # items of the table; the index is only queried (GET /devices)
        "dynamodb:GetItem": {"aggregates-dev"},
        "dynamodb:BatchGetItem": {"aggregates-dev"},
        "ssm:GetParameter": {PARAM + "api-key"},
        # the SSM key for the api-key parameter, the stack's key for the aggregates table
        "kms:Decrypt": {SSM_KEYS, "AWS::KMS::Key"},
    }


def test_ssm_key_use_is_limited_to_calls_through_ssm(dev: Synthesized) -> None:
    statements = [
        s
        for p in dev.of_type("AWS::IAM::Policy").values()
        for s in p["PolicyDocument"]["Statement"]
        if json.dumps(s["Resource"]).endswith(':key/*"]]}')
    ]
    assert len(statements) == 2  # query (Decrypt) and the api-key writer (Encrypt)
    for statement in statements:
        assert list(statement["Condition"]["StringEquals"]) == ["kms:ViaService"]


def test_api_key_writer_may_only_create_and_delete_the_api_key(dev: Synthesized) -> None:
    assert permissions(dev, dev.stack.configuration.api_key_writer_role) == {
        **_logs("iot-api-key-writer-dev"),
        "ssm:PutParameter": {PARAM + "api-key"},
        "ssm:DeleteParameter": {PARAM + "api-key"},
        "kms:Encrypt": {SSM_KEYS},
    }


def test_api_gateway_may_invoke_each_function_only_from_its_own_method(dev: Synthesized) -> None:
    permissions_ = [
        p
        for p in dev.of_type("AWS::Lambda::Permission").values()
        if p["Principal"] != "iot.amazonaws.com"  # the MQTT rule's (tests/mqtt/test_iot_stack.py)
    ]
    assert len(permissions_) == 5  # one per route; no test-invoke wildcard permissions
    for permission in permissions_:
        assert permission["Principal"] == "apigateway.amazonaws.com"
        source = _name(permission["SourceArn"], dev)
        assert source.endswith(
            ("/POST/ingest", "/POST/process", "/GET/query", "/GET/devices", "/GET/devices/*")
        )
