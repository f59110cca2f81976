"""The one stack: composes the constructs, grants each function only what it uses, outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from iot_pipeline_backend import settings as backend_settings
from iot_pipeline_backend.infra.api import PipelineApi
from iot_pipeline_backend.infra.bundling import Bundle
from iot_pipeline_backend.infra.configuration import PipelineConfiguration, parameter_arn
from iot_pipeline_backend.infra.dashboard import PipelineDashboard
from iot_pipeline_backend.infra.deployment import DeploymentSettings
from iot_pipeline_backend.infra.encryption import PipelineKey
from iot_pipeline_backend.infra.functions import PipelineFunctions
from iot_pipeline_backend.infra.iot import DeviceIngestion
from iot_pipeline_backend.infra.messaging import Messaging
from iot_pipeline_backend.infra.monitoring import PipelineAlarms
from iot_pipeline_backend.infra.storage import ReadingStorage
from iot_pipeline_backend.infra.timeseries import TimeSeriesStorage, add_device_routes

#: The AWS calls each function makes, as IAM actions (docs/deploy.md "Permissions"). Nothing
#: else is granted; the policy evaluation test asks an IAM simulator about each call the
#: handlers were recorded making on moto (tests/infra/policy/recorded_calls.json).
#: SendMessageBatch is authorized as sqs:SendMessage.
INGESTION_RAW_ACTIONS = (
    "dynamodb:PutItem",  # conditional put of a reading and of its idempotency marker
    "dynamodb:BatchGetItem",  # the stored originals of repeated readings
    "dynamodb:GetItem",  # a reading stored before holds existed, or a marker's
    "dynamodb:UpdateItem",  # a repeat's hold; compensation: a failed request's hold released
    "dynamodb:DeleteItem",  # compensation: a reading no request holds, then its marker
    "dynamodb:ConditionCheckItem",  # compensation: the marker's reading is still absent
)
PROCESSOR_RAW_ACTIONS = ("dynamodb:Query",)  # POST /process reads the range it replays
PROCESSOR_PROCESSED_ACTIONS = ("dynamodb:BatchWriteItem",)
QUERY_TABLE_ACTIONS = ("dynamodb:Query",)

_XRAY_REASON = (
    "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions; "
    "Resource '*' is the only form AWS accepts for active tracing."
)
_SSM_KEY_REASON = (
    "SecureString parameters use the AWS-managed aws/ssm key, whose id differs per account "
    "and region; the statement is limited to calls made through SSM (kms:ViaService)."
)


class IotPipelineStack(Stack):
    """Everything docs/deploy.md describes, named with the environment suffix."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        bundle: Bundle,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.names = names = settings.names
        self.key = PipelineKey(self, "Encryption", settings=settings).key
        self.storage = ReadingStorage(self, "Storage", settings=settings)
        self.messaging = Messaging(self, "Messaging", settings=settings, key=self.key)
        self.configuration = PipelineConfiguration(
            self, "Configuration", settings=settings, key=self.key
        )
        self.timeseries = TimeSeriesStorage(self, "TimeSeries", settings=settings, key=self.key)
        raw, processed = self.storage.raw_table, self.storage.processed_table
        queue, topic = self.messaging.queue, self.messaging.alert_topic
        environment = {
            backend_settings.ENV_BACKEND: "aws",
            backend_settings.ENV_ENVIRONMENT: settings.environment_suffix,
            backend_settings.ENV_RAW_TABLE: raw.table_name,
            backend_settings.ENV_PROCESSED_TABLE: processed.table_name,
            backend_settings.ENV_AGGREGATES_TABLE: self.timeseries.table.table_name,
            backend_settings.ENV_QUEUE_URL: queue.queue_url,
            backend_settings.ENV_ALERT_TOPIC_ARN: topic.topic_arn,
            backend_settings.ENV_CONFIG_PARAMETER: names.config_parameter,
            backend_settings.ENV_API_KEY_PARAMETER: names.api_key_parameter,
        }
        self.functions = PipelineFunctions(
            self,
            "Functions",
            settings=settings,
            bundle=bundle,
            environment=environment,
            queue=queue,
            key=self.key,
        )
        self._grant_least_privilege()
        self.api = PipelineApi(
            self,
            "Api",
            settings=settings,
            ingestion=self.functions.ingestion.function,
            processor=self.functions.processor.function,
            query=self.functions.query.function,
            key=self.key,
        )
        self.device_methods = add_device_routes(self.api, self.functions.query.function)
        monitored = {
            "ingestion": self.functions.ingestion.function,
            "processor": self.functions.processor.function,
            "query": self.functions.query.function,
        }
        self.alarms = PipelineAlarms(
            self,
            "Monitoring",
            settings=settings,
            functions=monitored,
            tables={"raw": raw, "processed": processed},
            dead_letter_queue=self.messaging.dead_letter_queue,
            topic=topic,
            stage=self.api.rest_api.deployment_stage,
        )
        # Devices over MQTT: IoT Core topic rule → the same ingest path (infra/iot.py).
        self.iot = DeviceIngestion(
            self,
            "Iot",
            settings=settings,
            bundle=bundle,
            layer=self.functions.layer,
            environment=environment,
            key=self.key,
            raw_table=raw,
            queue=queue,
            config_parameter_arn=parameter_arn(self, names.config_parameter),
            alert_topic=topic,
            raw_write_actions=INGESTION_RAW_ACTIONS,
        )
        CfnOutput(self, "DevicePolicyName", value=self.iot.device_policy.ref)
        CfnOutput(self, "ReadingsRuleName", value=self.iot.rule_name)
        self.dashboard = PipelineDashboard(
            self,
            "Dashboard",
            settings=settings,
            stage=self.api.rest_api.deployment_stage,
            functions={**monitored, "mqtt ingestion": self.iot.ingestion.function},
            queue=queue,
            dead_letter_queue=self.messaging.dead_letter_queue,
            tables={"raw": raw, "processed": processed, "aggregates": self.timeseries.table},
        )
        CfnOutput(self, "ApiEndpoint", value=self.api.rest_api.url)
        CfnOutput(self, "RawSensorTableName", value=raw.table_name)
        CfnOutput(self, "ProcessedDataTableName", value=processed.table_name)
        CfnOutput(self, "AggregatesTableName", value=self.timeseries.table.table_name)
        CfnOutput(self, "IngestionQueueUrl", value=queue.queue_url)
        CfnOutput(self, "AlertTopicArn", value=topic.topic_arn)
        self._suppress_accepted_findings()

    def _grant_least_privilege(self) -> None:
        raw, processed = self.storage.raw_table, self.storage.processed_table
        queue, topic = self.messaging.queue, self.messaging.alert_topic
        config_arn = parameter_arn(self, self.names.config_parameter)
        api_key_arn = parameter_arn(self, self.names.api_key_parameter)
        ssm_key = self.format_arn(service="kms", resource="key", resource_name="*")

        def allow(role: iam.IRole, actions: tuple[str, ...] | list[str], *resources: str) -> None:
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(actions), resources=list(resources))
            )

        ingestion = self.functions.ingestion.role
        allow(ingestion, INGESTION_RAW_ACTIONS, raw.table_arn)
        allow(ingestion, ["sqs:SendMessage"], queue.queue_arn)
        allow(ingestion, ["ssm:GetParameter"], config_arn)

        # Queue consumption is granted by the event source mapping itself.
        processor = self.functions.processor.role
        allow(processor, PROCESSOR_RAW_ACTIONS, raw.table_arn)
        allow(processor, PROCESSOR_PROCESSED_ACTIONS, processed.table_arn)
        allow(processor, ["sqs:SendMessage"], queue.queue_arn)
        allow(processor, ["sns:Publish"], topic.topic_arn)
        # Publishing to a topic encrypted with a customer managed key needs the key too:
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
        allow(processor, ["kms:GenerateDataKey", "kms:Decrypt"], self.key.key_arn)
        allow(processor, ["ssm:GetParameter"], config_arn)

        # The query reads no config: only the key its pagination tokens are signed with.
        query = self.functions.query.role
        allow(query, QUERY_TABLE_ACTIONS, raw.table_arn, processed.table_arn)
        self.timeseries.grant(processor=processor, query=query, processed=processed)
        allow(query, ["ssm:GetParameter"], api_key_arn)
        query.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[ssm_key],
                conditions={"StringEquals": {"kms:ViaService": f"ssm.{self.region}.amazonaws.com"}},
            )
        )

    def _suppress_accepted_findings(self) -> None:
        ssm_key_resource = "Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*"
        xray = NagPackSuppression(
            id="AwsSolutions-IAM5", reason=_XRAY_REASON, applies_to=["Resource::*"]
        )
        ssm_key = NagPackSuppression(
            id="AwsSolutions-IAM5", reason=_SSM_KEY_REASON, applies_to=[ssm_key_resource]
        )
        for function in self.functions.all:
            extra = [ssm_key] if function is self.functions.query else []
            NagSuppressions.add_resource_suppressions(
                function.role, [xray, *extra], apply_to_children=True
            )
        NagSuppressions.add_resource_suppressions(
            self.configuration, [ssm_key], apply_to_children=True
        )
        NagSuppressions.add_resource_suppressions(
            self.api.rest_api,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason="API Gateway's account-level CloudWatch role needs exactly the "
                    "AWS-managed AmazonAPIGatewayPushToCloudWatchLogs policy.",
                    applies_to=[
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                        "AmazonAPIGatewayPushToCloudWatchLogs"
                    ],
                ),
                NagPackSuppression(
                    id="AwsSolutions-APIG2",
                    reason="Every handler validates its whole request with the contract models "
                    "and answers 400 with per-field details, as the local runtime does; a "
                    "gateway validator would answer the same request differently first.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-APIG3",
                    reason="Every method requires a SigV4 signature (AWS_IAM) and the stage is "
                    "throttled; a WAF web ACL is an account-level choice left to the operator.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-COG4",
                    reason="Clients are devices and services signing with IAM credentials "
                    "(AWS_IAM authorization), not Cognito users.",
                ),
            ],
            apply_to_children=True,
        )
