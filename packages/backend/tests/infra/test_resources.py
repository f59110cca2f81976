"""GIVEN the default deployment WHEN synthesized THEN every resource docs/deploy.md lists is there.

One test per requirement of issue 5; each fails if its requirement is dropped.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match
from iot_pipeline_common import PipelineConfig

from .conftest import Synthesized, logs_arn

pytestmark = pytest.mark.cdk

FUNCTIONS = {
    "data-ingestion-dev": "iot_pipeline_backend.handlers.ingestion.lambda_handler",
    "data-processor-dev": "iot_pipeline_backend.handlers.processor.lambda_handler",
    "data-query-dev": "iot_pipeline_backend.handlers.query.lambda_handler",
}
TABLES = ("raw-sensor-data-dev", "processed-data-dev")


# --- storage -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TABLES)
def test_tables_are_keyed_device_id_and_sk(dev: Synthesized, name: str) -> None:
    dev.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": name,
            "KeySchema": [
                {"AttributeName": "device_id", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "device_id", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
        },
    )


@pytest.mark.parametrize("name", TABLES)
def test_tables_are_on_demand(dev: Synthesized, name: str) -> None:
    dev.template.has_resource_properties(
        "AWS::DynamoDB::Table", {"TableName": name, "BillingMode": "PAY_PER_REQUEST"}
    )


@pytest.mark.parametrize("name", TABLES)
def test_tables_have_point_in_time_recovery(dev: Synthesized, name: str) -> None:
    dev.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": name,
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    )


@pytest.mark.parametrize("name", TABLES)
def test_tables_are_encrypted_with_kms(dev: Synthesized, name: str) -> None:
    dev.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"TableName": name, "SSESpecification": {"SSEEnabled": True}},
    )


@pytest.mark.parametrize("name", TABLES)
def test_tables_expire_items_by_expires_at(dev: Synthesized, name: str) -> None:
    dev.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": name,
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        },
    )


def test_tables_are_retained_by_default(dev: Synthesized) -> None:
    tables = [r for r in dev.resources.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert [t["DeletionPolicy"] for t in tables] == ["Retain", "Retain", "Retain"]


# --- messaging -----------------------------------------------------------------------------


def test_queue_sends_to_dlq_after_max_receive_count(dev: Synthesized) -> None:
    dlq = dev.logical_id("AWS::SQS::Queue", QueueName="iot-ingestion-dlq-dev")
    dev.template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": "iot-ingestion-queue-dev",
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                "maxReceiveCount": PipelineConfig().max_receive_count,
            },
        },
    )


def test_queue_hides_a_batch_six_times_the_processor_timeout(dev: Synthesized) -> None:
    # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
    (queue,) = [
        q
        for q in dev.of_type("AWS::SQS::Queue").values()
        if q["QueueName"] == "iot-ingestion-queue-dev"
    ]
    (processor,) = [
        f
        for f in dev.of_type("AWS::Lambda::Function").values()
        if f["FunctionName"] == "data-processor-dev"
    ]
    (mapping,) = dev.of_type("AWS::Lambda::EventSourceMapping").values()
    window = mapping.get("MaximumBatchingWindowInSeconds", 0)
    assert queue["VisibilityTimeout"] >= 6 * processor["Timeout"] + window
    assert queue["VisibilityTimeout"] == 180  # 6 x 30 s, no window


def test_queue_keeps_messages_14_days_and_dead_letters_after_5_receives(dev: Synthesized) -> None:
    (queue,) = [
        q
        for q in dev.of_type("AWS::SQS::Queue").values()
        if q["QueueName"] == "iot-ingestion-queue-dev"
    ]
    assert queue["MessageRetentionPeriod"] == 14 * 86_400
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5


def test_queue_never_invokes_the_processor_past_its_reserved_concurrency(dev: Synthesized) -> None:
    (mapping,) = dev.of_type("AWS::Lambda::EventSourceMapping").values()
    maximum = mapping["ScalingConfig"]["MaximumConcurrency"]
    (processor,) = [
        f
        for f in dev.of_type("AWS::Lambda::Function").values()
        if f["FunctionName"] == "data-processor-dev"
    ]
    # A tenth of the reservation is left to POST /process, which runs on the same function.
    assert 2 <= maximum < processor["ReservedConcurrentExecutions"]
    assert maximum == 90


@pytest.mark.parametrize("name", ["iot-ingestion-queue-dev", "iot-ingestion-dlq-dev"])
def test_queues_are_encrypted(dev: Synthesized, name: str) -> None:
    dev.template.has_resource_properties(
        "AWS::SQS::Queue", {"QueueName": name, "SqsManagedSseEnabled": True}
    )


def test_queues_refuse_plain_http(dev: Synthesized) -> None:
    policies = dev.of_type("AWS::SQS::QueuePolicy").values()
    assert len(policies) == 3  # the queue, its DLQ, the MQTT path's DLQ
    for policy in policies:
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["PolicyDocument"]["Statement"]
        )


def test_event_source_mapping_reports_partial_batch_failures(dev: Synthesized) -> None:
    dev.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": PipelineConfig().batch_size,
            "FunctionName": {
                "Ref": dev.logical_id("AWS::Lambda::Function", FunctionName="data-processor-dev")
            },
        },
    )


def test_alert_topic_is_encrypted_with_the_stack_key(dev: Synthesized) -> None:
    key = next(iter(dev.of_type("AWS::KMS::Key")))
    dev.template.has_resource_properties(
        "AWS::SNS::Topic",
        {"TopicName": "iot-alerts-dev", "KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}},
    )


def test_alert_topic_enforces_tls(dev: Synthesized) -> None:
    dev.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sns:Publish",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_key_rotates_and_lets_logs_and_alarms_use_it(dev: Synthesized) -> None:
    (key,) = dev.of_type("AWS::KMS::Key").values()
    assert key["EnableKeyRotation"] is True
    principals = json.dumps([s["Principal"] for s in key["KeyPolicy"]["Statement"]])
    assert "cloudwatch.amazonaws.com" in principals
    assert "logs." in principals


def test_key_lets_logs_use_it_only_for_this_accounts_log_groups_by_colon_arn(
    dev: Synthesized,
) -> None:
    # Log group ARNs are ``...:log-group:<name>``; a ``log-group/*`` pattern never matches.
    (key,) = dev.of_type("AWS::KMS::Key").values()
    (statement,) = [
        s for s in key["KeyPolicy"]["Statement"] if "logs." in json.dumps(s["Principal"])
    ]
    pattern = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert pattern == logs_arn(":log-group:*")


# --- functions -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "handler"), FUNCTIONS.items())
def test_functions_run_the_contract_handlers(dev: Synthesized, name: str, handler: str) -> None:
    dev.template.has_resource_properties(
        "AWS::Lambda::Function", {"FunctionName": name, "Handler": handler}
    )


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_are_arm64_on_the_current_python(dev: Synthesized, name: str) -> None:
    dev.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"FunctionName": name, "Architectures": ["arm64"], "Runtime": "python3.14"},
    )


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_reserve_100_concurrent_executions(dev: Synthesized, name: str) -> None:
    dev.template.has_resource_properties(
        "AWS::Lambda::Function", {"FunctionName": name, "ReservedConcurrentExecutions": 100}
    )


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_trace_with_xray(dev: Synthesized, name: str) -> None:
    dev.template.has_resource_properties(
        "AWS::Lambda::Function", {"FunctionName": name, "TracingConfig": {"Mode": "Active"}}
    )


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_share_the_dependencies_layer(dev: Synthesized, name: str) -> None:
    layer = dev.logical_id("AWS::Lambda::LayerVersion", LayerName="iot-pipeline-deps-dev")
    dev.template.has_resource_properties(
        "AWS::Lambda::Function", {"FunctionName": name, "Layers": [{"Ref": layer}]}
    )


def test_layer_is_built_for_arm64_and_the_function_runtime(dev: Synthesized) -> None:
    dev.template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {"CompatibleArchitectures": ["arm64"], "CompatibleRuntimes": ["python3.14"]},
    )


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_get_settings_and_powertools_environment(dev: Synthesized, name: str) -> None:
    from iot_pipeline_backend import settings

    dev.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": name,
            "Environment": {
                "Variables": {
                    settings.ENV_BACKEND: "aws",
                    settings.ENV_ENVIRONMENT: "dev",
                    settings.ENV_RAW_TABLE: {
                        "Ref": dev.logical_id(
                            "AWS::DynamoDB::Table", TableName="raw-sensor-data-dev"
                        )
                    },
                    settings.ENV_PROCESSED_TABLE: {
                        "Ref": dev.logical_id(
                            "AWS::DynamoDB::Table", TableName="processed-data-dev"
                        )
                    },
                    settings.ENV_QUEUE_URL: {
                        "Ref": dev.logical_id(
                            "AWS::SQS::Queue", QueueName="iot-ingestion-queue-dev"
                        )
                    },
                    settings.ENV_ALERT_TOPIC_ARN: {
                        "Ref": dev.logical_id("AWS::SNS::Topic", TopicName="iot-alerts-dev")
                    },
                    settings.ENV_CONFIG_PARAMETER: "/iot-pipeline/dev/config",
                    settings.ENV_API_KEY_PARAMETER: "/iot-pipeline/dev/api-key",
                    "POWERTOOLS_SERVICE_NAME": name,
                    "POWERTOOLS_METRICS_NAMESPACE": "IoTPipeline",
                    "LOG_LEVEL": "INFO",
                }
            },
        },
    )


@pytest.mark.parametrize("name", [*FUNCTIONS, "iot-api-key-writer-dev"])
def test_functions_log_to_their_own_group(dev: Synthesized, name: str) -> None:
    group = dev.logical_id("AWS::Logs::LogGroup", LogGroupName=f"/aws/lambda/{name}")
    dev.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"FunctionName": name, "LoggingConfig": {"LogGroup": {"Ref": group}}},
    )


def test_every_log_group_is_kms_encrypted_with_30_day_retention(dev: Synthesized) -> None:
    key = next(iter(dev.of_type("AWS::KMS::Key")))
    groups = dev.of_type("AWS::Logs::LogGroup")
    assert len(groups) == 7  # four functions (MQTT ingestion too), the api-key writer, API
    # access and execution logs
    for props in groups.values():
        assert props["RetentionInDays"] == 30
        assert props["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}


# --- configuration -------------------------------------------------------------------------


def test_config_parameter_holds_the_default_pipeline_config(dev: Synthesized) -> None:
    (props,) = [
        p
        for p in dev.of_type("AWS::SSM::Parameter").values()
        if p["Name"] == "/iot-pipeline/dev/config"
    ]
    assert props["Type"] == "String"
    assert PipelineConfig.from_json_text(props["Value"]) == PipelineConfig(retention_days=30)


def test_api_key_is_a_secure_string_created_by_a_custom_resource(dev: Synthesized) -> None:
    writer = dev.logical_id("AWS::Lambda::Function", FunctionName="iot-api-key-writer-dev")
    dev.template.has_resource_properties(
        "Custom::SecureStringParameter",
        {
            "ServiceToken": {"Fn::GetAtt": [writer, "Arn"]},
            "ParameterName": "/iot-pipeline/dev/api-key",
        },
    )
    code = dev.of_type("AWS::Lambda::Function")[writer]["Code"]["ZipFile"]
    assert 'Type="SecureString"' in code
    assert "secrets.token_urlsafe" in code


def test_api_key_value_never_appears_in_the_template(dev: Synthesized) -> None:
    # Only the name is in the template: no SSM::Parameter for it, no Value property.
    names = [p["Name"] for p in dev.of_type("AWS::SSM::Parameter").values()]
    assert names == ["/iot-pipeline/dev/config"]
    (props,) = dev.of_type("Custom::SecureStringParameter").values()
    assert set(props) == {"ServiceToken", "ParameterName"}
