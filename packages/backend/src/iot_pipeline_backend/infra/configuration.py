"""The SSM parameters: the pipeline config (String, JSON) and the api key (SecureString)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from iot_pipeline_backend.infra.aws_platform import (
    LAMBDA_ARCHITECTURE,
    LAMBDA_RUNTIME,
    LOG_RETENTION,
)
from iot_pipeline_backend.infra.deployment import DeploymentSettings

_API_KEY_HANDLER = Path(__file__).with_name("api_key_resource.py")


def parameter_arn(scope: Construct, name: str) -> str:
    """ARN of an SSM parameter by name (names start with ``/``, ARNs drop it)."""
    arn: str = Stack.of(scope).format_arn(
        service="ssm", resource="parameter", resource_name=name.lstrip("/")
    )
    return arn


class PipelineConfiguration(Construct):
    """``/iot-pipeline/{suffix}/config`` and ``/iot-pipeline/{suffix}/api-key``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        names = settings.names
        self.config_parameter = ssm.StringParameter(
            self,
            "ConfigParameter",
            parameter_name=names.config_parameter,
            description="iot-pipeline config (JSON; see docs/deploy.md)",
            string_value=settings.pipeline_config.model_dump_json(),
            tier=ssm.ParameterTier.STANDARD,
        )
        self._create_api_key(settings=settings, key=key)

    def _create_api_key(self, *, settings: DeploymentSettings, key: kms.IKey) -> None:
        # CloudFormation has no SecureString parameter type, and AwsCustomResource would
        # put the value into the template or the resource's response data. A tiny function
        # generates the value itself and hands it only to ssm:PutParameter.
        names = settings.names
        stack = Stack.of(self)
        log_group = logs.LogGroup(
            self,
            "ApiKeyWriterLogs",
            log_group_name=names.function_log_group(names.api_key_writer_function),
            retention=LOG_RETENTION,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.api_key_writer_role = role = iam.Role(
            self,
            "ApiKeyWriterRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Creates and deletes the SecureString api-key parameter",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ssm:PutParameter", "ssm:DeleteParameter"],
                resources=[parameter_arn(self, names.api_key_parameter)],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Encrypt"],
                resources=[stack.format_arn(service="kms", resource="key", resource_name="*")],
                conditions={
                    "StringEquals": {"kms:ViaService": f"ssm.{stack.region}.amazonaws.com"}
                },
            )
        )
        writer = lambda_.Function(
            self,
            "ApiKeyWriter",
            function_name=names.api_key_writer_function,
            runtime=LAMBDA_RUNTIME,
            architecture=LAMBDA_ARCHITECTURE,
            handler="index.handler",
            code=lambda_.Code.from_inline(_API_KEY_HANDLER.read_text()),
            timeout=Duration.seconds(60),
            role=role,
            log_group=log_group,
        )
        resource = CustomResource(
            self,
            "ApiKeyParameter",
            service_token=writer.function_arn,
            resource_type="Custom::SecureStringParameter",
            properties={"ParameterName": names.api_key_parameter},
        )
        # The parameter must be deleted before the role that may delete it.
        resource.node.add_dependency(role)
        self.api_key_resource = resource
