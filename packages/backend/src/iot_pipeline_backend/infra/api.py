"""The REST API: three routes, SigV4 (AWS_IAM) on each, logged and traced.

The gateway checks signatures and throttles; it does not validate bodies or parameters. The
handlers validate every request with the contract models and answer with per-field
``details``, exactly as the local runtime does; a gateway validator would answer the same
bad request differently (its own message, ``details: []``) before the handler saw it.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from iot_pipeline_common import ErrorCode

from iot_pipeline_backend.infra import constants
from iot_pipeline_backend.infra.aws_platform import LOG_RETENTION
from iot_pipeline_backend.infra.deployment import DeploymentSettings

JSON = "application/json"

#: API Gateway's own error responses, reshaped into the contract's error body. The message
#: stays API Gateway's (clients and SDKs match on it); ``error`` is the contract's code.
#: ``$context.error.messageString`` is the message as a JSON string literal, the form AWS's
#: own default templates use (``{"message":$context.error.messageString}``):
#: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-gatewayResponse-definition.html
_GATEWAY_ERRORS: dict[apigw.ResponseType, ErrorCode] = {
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: ErrorCode.MISSING_AUTH,
    apigw.ResponseType.INVALID_SIGNATURE: ErrorCode.INVALID_SIGNATURE,
    apigw.ResponseType.ACCESS_DENIED: ErrorCode.ACCESS_DENIED,
    apigw.ResponseType.EXPIRED_TOKEN: ErrorCode.REQUEST_EXPIRED,
    apigw.ResponseType.UNAUTHORIZED: ErrorCode.UNRECOGNIZED_CLIENT,
    apigw.ResponseType.REQUEST_TOO_LARGE: ErrorCode.PAYLOAD_TOO_LARGE,
    apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    apigw.ResponseType.THROTTLED: ErrorCode.THROTTLED,
    apigw.ResponseType.DEFAULT_5_XX: ErrorCode.INTERNAL,
}
#: No validator is attached, so these never fire; should one be added, they still answer
#: with valid JSON: a fixed message, nothing interpolated (the validator's string quotes
#: names and would need escaping that VTL's escapeJavaScript does not do for JSON).
_VALIDATION_ERRORS: dict[apigw.ResponseType, str] = {
    apigw.ResponseType.BAD_REQUEST_BODY: "Invalid request body",
    apigw.ResponseType.BAD_REQUEST_PARAMETERS: "Invalid request parameters",
}

#: One JSON line per request. The standard fields, plus why a request failed and how the
#: function answered: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-variables-for-access-logging.html
_ACCESS_LOG_FIELDS: dict[str, str] = {
    "requestId": apigw.AccessLogField.context_request_id(),
    "ip": apigw.AccessLogField.context_identity_source_ip(),
    "caller": apigw.AccessLogField.context_identity_caller(),
    "user": apigw.AccessLogField.context_identity_user(),
    "requestTime": apigw.AccessLogField.context_request_time(),
    "httpMethod": apigw.AccessLogField.context_http_method(),
    "resourcePath": apigw.AccessLogField.context_resource_path(),
    "status": apigw.AccessLogField.context_status(),
    "protocol": apigw.AccessLogField.context_protocol(),
    "responseLength": apigw.AccessLogField.context_response_length(),
    "responseLatency": apigw.AccessLogField.context_response_latency(),
    # The function's own status and latency (``$context.integrationStatus``, which
    # AccessLogField offers, is Lambda's status for the invoke call, 200 even for a 503).
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "xrayTraceId": apigw.AccessLogField.context_xray_trace_id(),
}
#: Quoted by API Gateway itself (see ``_GATEWAY_ERRORS``), so not wrapped in quotes here.
_ACCESS_LOG_ERROR_MESSAGE = "$context.error.messageString"


def access_log_format() -> str:
    """The access log line: a JSON object of ``_ACCESS_LOG_FIELDS`` and ``errorMessage``."""
    fields = ", ".join(f'"{name}": "{value}"' for name, value in _ACCESS_LOG_FIELDS.items())
    return "{" + fields + f', "errorMessage": {_ACCESS_LOG_ERROR_MESSAGE}' + "}"


class PipelineApi(Construct):
    """``iot-api-{suffix}``, stage ``prod``: ``POST /ingest``, ``POST /process``, ``GET /query``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        ingestion: lambda_.IFunction,
        processor: lambda_.IFunction,
        query: lambda_.IFunction,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        names = settings.names
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            log_group_name=names.access_log_group,
            retention=LOG_RETENTION,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=names.api,
            description=f"iot-pipeline {settings.environment_suffix}: ingest, process, query",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # API Gateway writes every API's logs of an account and region with ONE role set
            # in its account settings; a stack that creates it must never delete it (that
            # would break logging for every other API), so it is opt-in and retained.
            cloud_watch_role=settings.apigw_cloudwatch_role,
            cloud_watch_role_removal_policy=(
                RemovalPolicy.RETAIN if settings.apigw_cloudwatch_role else None
            ),
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM
            ),
            deploy_options=apigw.StageOptions(
                stage_name=constants.STAGE_NAME,
                tracing_enabled=True,
                throttling_rate_limit=constants.STAGE_RATE_LIMIT_RPS,
                throttling_burst_limit=constants.STAGE_BURST_LIMIT,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # bodies may hold device data; keep them out of logs
                metrics_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(access_log_format()),
            ),
        )
        # The stack has one endpoint output (ApiEndpoint); RestApi would add its own copy.
        self.rest_api.node.try_remove_child("Endpoint")
        self.execution_logs = self._execution_log_group(settings=settings, key=key)
        self._gateway_responses()
        root = self.rest_api.root
        self.ingest_method = self.add_route(root.add_resource("ingest"), "POST", ingestion)
        self.process_method = self.add_route(root.add_resource("process"), "POST", processor)
        self.query_method = self.add_route(root.add_resource("query"), "GET", query)

    def _execution_log_group(self, *, settings: DeploymentSettings, key: kms.IKey) -> logs.LogGroup:
        # API Gateway would create this group itself on the first error it logs, without
        # retention or key; declared here it gets both and goes with the stack.
        group = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=settings.names.execution_log_group(self.rest_api.rest_api_id),
            retention=LOG_RETENTION,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.rest_api.deployment_stage.node.add_dependency(group)
        return group

    @staticmethod
    def add_route(resource: apigw.Resource, verb: str, function: lambda_.IFunction) -> apigw.Method:
        # 29 s is API Gateway's default integration limit; the API functions time out at the
        # same moment, and POST /process bounds its own work per call to finish within it.
        integration = apigw.LambdaIntegration(
            function,
            allow_test_invoke=False,
            timeout=Duration.seconds(constants.API_FUNCTION_TIMEOUT_SECONDS),
        )
        return resource.add_method(verb, integration)

    def _gateway_responses(self) -> None:
        for response_type, message in _VALIDATION_ERRORS.items():
            body = {"message": message, "error": ErrorCode.VALIDATION.value, "details": []}
            self.rest_api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                templates={JSON: json.dumps(body)},
            )
        for response_type, code in _GATEWAY_ERRORS.items():
            self.rest_api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                templates={
                    JSON: '{"message": $context.error.messageString, '
                    f'"error": "{code.value}", "details": []}}'
                },
            )
