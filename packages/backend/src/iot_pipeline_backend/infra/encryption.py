"""The customer-managed KMS key for log groups and the alert topic."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from iot_pipeline_backend.infra.deployment import DeploymentSettings
from iot_pipeline_backend.infra.monitoring import alarm_source_conditions


class PipelineKey(Construct):
    """One rotating key; its policy lets CloudWatch Logs and CloudWatch alarms use it."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: DeploymentSettings
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            alias=settings.names.kms_alias,
            description=f"iot-pipeline {settings.environment_suffix}: log groups and alert topic",
            enable_key_rotation=True,
            pending_window=Duration.days(7),
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Log groups are encrypted by the Logs service itself; scope it to this account's
        # log groups through the encryption context it always sends. A log group's ARN is
        # ``arn:aws:logs:<region>:<account>:log-group:<name>`` (a colon before the name), so
        # the pattern must use the colon form or no log group can use the key:
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        # Alarms publish to the encrypted alert topic as cloudwatch.amazonaws.com; the
        # statement is the one AWS documents for alarm actions on an encrypted topic
        # (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html), limited to
        # this deployment's alarms so no other account's alarm can use the key on its
        # behalf (confused deputy).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=alarm_source_conditions(self, settings.names),
            )
        )
