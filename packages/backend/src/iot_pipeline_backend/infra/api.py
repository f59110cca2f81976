"""The REST API: three routes, SigV4 (AWS_IAM) on each, validated, logged and traced."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from iot_pipeline_common import ErrorCode

from iot_pipeline_backend.infra import constants, request_schemas
from iot_pipeline_backend.infra.aws_platform import LOG_RETENTION
from iot_pipeline_backend.infra.deployment import DeploymentSettings

JSON = "application/json"

#: API Gateway's own error responses, reshaped into the contract's error body. The message
#: stays API Gateway's (clients and SDKs match on it); ``error`` is the contract's code.
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
_VALIDATION_ERRORS = (
    apigw.ResponseType.BAD_REQUEST_BODY,
    apigw.ResponseType.BAD_REQUEST_PARAMETERS,
)

#: ``GET /query`` parameters; the gateway insists only on ``device_id``, the handler on the rest.
QUERY_PARAMETERS: dict[str, bool] = {
    "device_id": True,
    "event_date": False,
    "start": False,
    "end": False,
    "table": False,
    "limit": False,
    "order": False,
    "next_token": False,
    "interval": False,
    "fields": False,
    "stats": False,
}


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
            # Execution logs need the account-level CloudWatch role; a fresh account has none.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
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
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        self._gateway_responses()
        # One validator checks both: methods without a body model or required parameters
        # pass the respective check trivially.
        self.validator = validator = self.rest_api.add_request_validator(
            "RequestValidator",
            request_validator_name=f"{names.api}-validator",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        root = self.rest_api.root
        self.ingest_method = self._body_method(
            root.add_resource("ingest"),
            ingestion,
            validator=validator,
            model_name="IngestRequest",
            schema=request_schemas.ingest_schema(),
        )
        self.process_method = self._body_method(
            root.add_resource("process"),
            processor,
            validator=validator,
            model_name="ProcessRequest",
            schema=request_schemas.process_schema(),
        )
        self.query_method = root.add_resource("query").add_method(
            "GET",
            apigw.LambdaIntegration(query, allow_test_invoke=False),
            request_validator=validator,
            request_parameters={
                f"method.request.querystring.{name}": required
                for name, required in QUERY_PARAMETERS.items()
            },
        )

    def _body_method(
        self,
        resource: apigw.Resource,
        function: lambda_.IFunction,
        *,
        validator: apigw.IRequestValidator,
        model_name: str,
        schema: dict[str, Any],
    ) -> apigw.Method:
        # The L1 model takes the generated schema as plain JSON; the L2 one would need it
        # rebuilt as typed JsonSchema objects, keyword by keyword.
        model = apigw.CfnModel(
            self,
            f"{model_name}Model",
            rest_api_id=self.rest_api.rest_api_id,
            name=model_name,
            content_type=JSON,
            schema=schema,
        )
        method = resource.add_method(
            "POST",
            apigw.LambdaIntegration(function, allow_test_invoke=False),
            request_validator=validator,
            request_models={
                JSON: apigw.Model.from_model_name(self, f"{model_name}Ref", model_name)
            },
        )
        method.node.add_dependency(model)
        return method

    def _gateway_responses(self) -> None:
        for response_type in _VALIDATION_ERRORS:
            self.rest_api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                templates={
                    JSON: '{"message": "$context.error.validationErrorString", '
                    f'"error": "{ErrorCode.VALIDATION.value}", "details": []}}'
                },
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
