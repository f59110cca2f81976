"""GIVEN the default deployment WHEN synthesized THEN the REST API, its logs and outputs are right.

Gateway answers are rendered the way API Gateway renders them (see ``render_gateway_template``)
and parsed as JSON, so a template that would send invalid JSON fails here.
"""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match

from .conftest import Synthesized, logs_arn

pytestmark = pytest.mark.cdk

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
                # The group's ARN without the ``:*`` suffix its Arn attribute carries.
                "DestinationArn": logs_arn(":log-group:", {"Ref": group}),
                "Format": Match.string_like_regexp(r"\$context\.requestId"),
            }
        },
    )


def test_gateway_validates_neither_bodies_nor_parameters(dev: Synthesized) -> None:
    # The handlers validate and answer with per-field details, as the local runtime does.
    assert dev.of_type("AWS::ApiGateway::RequestValidator") == {}
    assert dev.of_type("AWS::ApiGateway::Model") == {}
    for method in dev.of_type("AWS::ApiGateway::Method").values():
        assert "RequestValidatorId" not in method
        assert "RequestModels" not in method
        assert "RequestParameters" not in method


#: ``$context.error.messageString`` is "the quoted value of $context.error.message": a JSON
#: string literal (AWS's default templates are ``{"message":$context.error.messageString}``).
#: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html
_QUOTED_VARIABLES = {"$context.error.messageString"}
_REFERENCE = re.compile(r"\$!?\{?[A-Za-z][\w.]*(\([^)]*\))?\}?")


def render_gateway_template(template: str, *, message: str) -> str:
    """Render a response template as API Gateway would for an error ``message``.

    Only the quoted variables are known; any other reference (an unescaped variable, a
    ``$util`` call) fails the render, so a template can only pass by being safe.
    """

    def substitute(match: re.Match[str]) -> str:
        reference = match.group(0)
        assert reference in _QUOTED_VARIABLES, f"{reference} is not known to render JSON-safe"
        return json.dumps(message)

    return _REFERENCE.sub(substitute, template)


AWKWARD_MESSAGES = [
    'Invalid request body: [object has missing required properties (["device_id"])]',
    "The request signature we calculated does not match.\n\n'POST\n/prod/ingest'",
    'back\\slash and "quotes" and \t tabs',
]


@pytest.mark.parametrize(
    ("response_type", "code"),
    [
        ("BAD_REQUEST_BODY", "validation_error"),
        ("BAD_REQUEST_PARAMETERS", "validation_error"),
        ("MISSING_AUTHENTICATION_TOKEN", "missing_authentication_token"),
        ("INVALID_SIGNATURE", "invalid_signature"),
        ("ACCESS_DENIED", "access_denied"),
        ("THROTTLED", "throttled"),
        ("REQUEST_TOO_LARGE", "payload_too_large"),
        ("DEFAULT_5XX", "internal_error"),
    ],
)
@pytest.mark.parametrize("message", AWKWARD_MESSAGES)
def test_gateway_errors_render_the_contract_error_body_as_valid_json(
    dev: Synthesized, response_type: str, code: str, message: str
) -> None:
    (props,) = [
        p
        for p in dev.of_type("AWS::ApiGateway::GatewayResponse").values()
        if p["ResponseType"] == response_type
    ]
    body = json.loads(
        render_gateway_template(props["ResponseTemplates"]["application/json"], message=message)
    )
    assert set(body) == {"message", "error", "details"}
    assert (body["error"], body["details"]) == (code, [])
    assert body["message"] in (message, "Invalid request body", "Invalid request parameters")


def test_the_renderer_refuses_a_variable_it_cannot_prove_safe() -> None:
    # The template the gateway used to have: the validator's string inside JSON quotes.
    unsafe = '{"message": "$context.error.validationErrorString", "details": []}'
    with pytest.raises(AssertionError, match="validationErrorString"):
        render_gateway_template(unsafe, message='has "quotes"')
    with pytest.raises(AssertionError, match="escapeJavaScript"):
        render_gateway_template('{"m": "$util.escapeJavaScript($x)"}', message="'")


def test_access_log_lines_say_why_a_request_failed_and_how_the_function_answered(
    dev: Synthesized,
) -> None:
    (stage,) = dev.of_type("AWS::ApiGateway::Stage").values()
    line_format = stage["AccessLogSetting"]["Format"]
    for variable in (
        "$context.requestId",
        "$context.error.messageString",
        "$context.integration.status",
        "$context.integration.latency",
        "$context.xrayTraceId",
    ):
        assert variable in line_format
    # Every other variable is a plain value inside quotes; the error message is quoted by
    # API Gateway. Rendered with awkward values, the line is one JSON object.
    rendered = line_format.replace("$context.error.messageString", json.dumps('a "b"\n'))
    rendered = re.sub(r"\$context\.[\w.]+", "v", rendered)
    fields = json.loads(rendered)
    assert fields["errorMessage"] == 'a "b"\n'
    assert {"integrationStatus", "integrationLatency", "xrayTraceId"} <= set(fields)


def test_stage_execution_logs_go_to_a_declared_encrypted_group(dev: Synthesized) -> None:
    key = next(iter(dev.of_type("AWS::KMS::Key")))
    rest_api = next(iter(dev.of_type("AWS::ApiGateway::RestApi")))
    groups = [
        (logical_id, props)
        for logical_id, props in dev.of_type("AWS::Logs::LogGroup").items()
        if "API-Gateway-Execution-Logs_" in json.dumps(props["LogGroupName"])
    ]
    ((logical_id, props),) = groups
    assert props["LogGroupName"] == {
        "Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": rest_api}, "/prod"]]
    }
    assert props["RetentionInDays"] == 30
    assert props["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    # The stage exists only after the group, so API Gateway never creates its own first.
    (stage_id,) = dev.of_type("AWS::ApiGateway::Stage")
    assert logical_id in dev.resources[stage_id]["DependsOn"]


def test_integrations_end_with_the_api_functions_timeout(dev: Synthesized) -> None:
    functions = {
        logical_id: props["Timeout"]
        for logical_id, props in dev.of_type("AWS::Lambda::Function").items()
    }
    for method in dev.of_type("AWS::ApiGateway::Method").values():
        integration = method["Integration"]
        assert integration["TimeoutInMillis"] == 29_000
        (target,) = [
            part["Fn::GetAtt"][0]
            for part in integration["Uri"]["Fn::Join"][1]
            if isinstance(part, dict) and "Fn::GetAtt" in part
        ]
        if method["ResourceId"] != {
            "Ref": dev.logical_id("AWS::ApiGateway::Resource", PathPart="process")
        }:
            # ingest and query: the function gives up no later than the gateway does.
            assert functions[target] <= 29


def test_no_account_wide_logging_role_by_default(dev: Synthesized) -> None:
    assert dev.of_type("AWS::ApiGateway::Account") == {}
    assert all(
        "apigateway.amazonaws.com" not in json.dumps(props.get("AssumeRolePolicyDocument"))
        for props in dev.of_type("AWS::IAM::Role").values()
    )


def test_opted_in_logging_role_is_retained_when_the_stack_goes(qa: Synthesized) -> None:
    (account_id,) = qa.of_type("AWS::ApiGateway::Account")
    (role_id,) = [
        logical_id
        for logical_id, props in qa.of_type("AWS::IAM::Role").items()
        if "apigateway.amazonaws.com" in json.dumps(props["AssumeRolePolicyDocument"])
    ]
    assert qa.resources[role_id]["DeletionPolicy"] == "Retain"
    assert qa.resources[account_id]["DeletionPolicy"] == "Retain"


# --- outputs -------------------------------------------------------------------------------


def test_outputs_are_exactly_the_contract_ones(dev: Synthesized) -> None:
    # One ApiEndpoint: RestApi's own Endpoint output is removed.
    assert set(dev.template.to_json()["Outputs"]) == {
        "ApiEndpoint",
        "RawSensorTableName",
        "ProcessedDataTableName",
        "AggregatesTableName",
        "IngestionQueueUrl",
        "AlertTopicArn",
        "DevicePolicyName",  # MQTT: the IoT policy to attach to each device certificate
        "ReadingsRuleName",
    }


def test_api_endpoint_output_is_the_prod_stage_url(dev: Synthesized) -> None:
    stage = dev.logical_id("AWS::ApiGateway::Stage", StageName="prod")
    value = json.dumps(dev.template.to_json()["Outputs"]["ApiEndpoint"]["Value"])
    assert ".execute-api." in value
    assert json.dumps({"Ref": stage}) in value
