"""GIVEN the default deployment WHEN synthesized THEN every resource DESIGN.md lists is there.

One test per requirement of issue 5; each fails if its requirement is dropped.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match
from iot_pipeline_common import PipelineConfig

from .conftest import Synthesized

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
            "VisibilityTimeout": PipelineConfig().processing_timeout,
        },
    )


@pytest.mark.parametrize("name", ["iot-ingestion-queue-dev", "iot-ingestion-dlq-dev"])
def test_queues_are_encrypted(dev: Synthesized, name: str) -> None:
    dev.template.has_resource_properties(
        "AWS::SQS::Queue", {"QueueName": name, "SqsManagedSseEnabled": True}
    )


def test_queues_refuse_plain_http(dev: Synthesized) -> None:
    policies = dev.of_type("AWS::SQS::QueuePolicy").values()
    assert len(policies) == 2
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
    assert len(groups) == 5  # three functions, the api-key writer, API access logs
    for props in groups.values():
        assert props["RetentionInDays"] == 30
        assert props["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}


# --- API -----------------------------------------------------------------------------------


def test_rest_api_is_named_with_the_suffix(dev: Synthesized) -> None:
    dev.template.has_resource_properties("AWS::ApiGateway::RestApi", {"Name": "iot-api-dev"})


def test_every_method_requires_sigv4(dev: Synthesized) -> None:
    methods = dev.of_type("AWS::ApiGateway::Method")
    assert len(methods) == 5  # ingest, process, query, devices, devices/{device_id}
    assert {m["AuthorizationType"] for m in methods.values()} == {"AWS_IAM"}


@pytest.mark.parametrize(
    ("path", "verb", "function"),
    [
        ("ingest", "POST", "data-ingestion-dev"),
        ("process", "POST", "data-processor-dev"),
        ("query", "GET", "data-query-dev"),
    ],
)
def test_routes_proxy_to_their_function(
    dev: Synthesized, path: str, verb: str, function: str
) -> None:
    resource = dev.logical_id("AWS::ApiGateway::Resource", PathPart=path)
    fn = dev.logical_id("AWS::Lambda::Function", FunctionName=function)
    dev.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": verb,
            "ResourceId": {"Ref": resource},
            "Integration": Match.object_like(
                {
                    "Type": "AWS_PROXY",
                    "Uri": {"Fn::Join": ["", Match.array_with([{"Fn::GetAtt": [fn, "Arn"]}])]},
                }
            ),
        },
    )


def test_request_validator_checks_bodies_and_parameters(dev: Synthesized) -> None:
    validator = dev.logical_id(
        "AWS::ApiGateway::RequestValidator",
        ValidateRequestBody=True,
        ValidateRequestParameters=True,
    )
    for method in dev.of_type("AWS::ApiGateway::Method").values():
        assert method["RequestValidatorId"] == {"Ref": validator}


@pytest.mark.parametrize(
    ("path", "model"), [("ingest", "IngestRequest"), ("process", "ProcessRequest")]
)
def test_post_bodies_are_validated_against_the_generated_models(
    dev: Synthesized, path: str, model: str
) -> None:
    from iot_pipeline_backend.infra import request_schemas

    schema = {"ingest": request_schemas.ingest_schema, "process": request_schemas.process_schema}[
        path
    ]()
    dev.template.has_resource_properties(
        "AWS::ApiGateway::Model",
        {
            "Name": model,
            "ContentType": "application/json",
            "Schema": Match.object_like({"title": model}),
        },
    )
    (props,) = [m for m in dev.of_type("AWS::ApiGateway::Model").values() if m["Name"] == model]
    assert props["Schema"].keys() == schema.keys()
    dev.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "ResourceId": {"Ref": dev.logical_id("AWS::ApiGateway::Resource", PathPart=path)},
            "RequestModels": {"application/json": model},
        },
    )


def test_query_requires_device_id(dev: Synthesized) -> None:
    dev.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "GET",
            "RequestParameters": Match.object_like(
                {
                    "method.request.querystring.device_id": True,
                    "method.request.querystring.next_token": False,
                }
            ),
        },
    )


def test_stage_prod_is_throttled_at_1000_rps(dev: Synthesized) -> None:
    dev.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "prod",
            "MethodSettings": [
                Match.object_like(
                    {"HttpMethod": "*", "ResourcePath": "/*", "ThrottlingRateLimit": 1000}
                )
            ],
        },
    )


def test_stage_traces_with_xray(dev: Synthesized) -> None:
    dev.template.has_resource_properties(
        "AWS::ApiGateway::Stage", {"StageName": "prod", "TracingEnabled": True}
    )


def test_stage_writes_access_logs_to_its_log_group(dev: Synthesized) -> None:
    group = dev.logical_id("AWS::Logs::LogGroup", LogGroupName="/aws/apigateway/iot-api-dev/access")
    dev.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "AccessLogSetting": {
                "DestinationArn": {"Fn::GetAtt": [group, "Arn"]},
                "Format": Match.string_like_regexp(r"\$context\.requestId"),
            }
        },
    )


@pytest.mark.parametrize(
    ("response_type", "code"),
    [
        ("BAD_REQUEST_BODY", "validation_error"),
        ("MISSING_AUTHENTICATION_TOKEN", "missing_authentication_token"),
        ("INVALID_SIGNATURE", "invalid_signature"),
        ("THROTTLED", "throttled"),
        ("REQUEST_TOO_LARGE", "payload_too_large"),
    ],
)
def test_gateway_errors_use_the_contract_error_body(
    dev: Synthesized, response_type: str, code: str
) -> None:
    (props,) = [
        p
        for p in dev.of_type("AWS::ApiGateway::GatewayResponse").values()
        if p["ResponseType"] == response_type
    ]
    template = props["ResponseTemplates"]["application/json"]
    # The $context variable is the only non-JSON part; substitute a JSON string for it.
    rendered = template.replace("$context.error.messageString", '"m"').replace(
        "$context.error.validationErrorString", "m"
    )
    assert json.loads(rendered) == {"message": "m", "error": code, "details": []}


# --- configuration -------------------------------------------------------------------------


def test_config_parameter_holds_the_default_pipeline_config(dev: Synthesized) -> None:
    (props,) = [
        p
        for p in dev.of_type("AWS::SSM::Parameter").values()
        if p["Name"] == "/iot-pipeline/dev/config"
    ]
    assert props["Type"] == "String"
    assert PipelineConfig.from_json_text(props["Value"]) == PipelineConfig()


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


# --- monitoring ----------------------------------------------------------------------------


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


# --- outputs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    [
        "ApiEndpoint",
        "RawSensorTableName",
        "ProcessedDataTableName",
        "IngestionQueueUrl",
        "AlertTopicArn",
    ],
)
def test_outputs_are_exported_by_their_contract_names(dev: Synthesized, output: str) -> None:
    dev.template.has_output(output, {"Value": Match.any_value()})


def test_api_endpoint_output_is_the_prod_stage_url(dev: Synthesized) -> None:
    stage = dev.logical_id("AWS::ApiGateway::Stage", StageName="prod")
    value = json.dumps(dev.template.to_json()["Outputs"]["ApiEndpoint"]["Value"])
    assert ".execute-api." in value
    assert json.dumps({"Ref": stage}) in value
