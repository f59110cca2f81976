"""The ingestion queue with its dead-letter queue, and the alert topic."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from iot_pipeline_backend.infra import constants
from iot_pipeline_backend.infra.deployment import DeploymentSettings
from iot_pipeline_backend.infra.monitoring import alarm_source_conditions


class Messaging(Construct):
    """Queue → processor, DLQ after ``max_receive_count`` failures, SNS topic for alerts."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        names, config = settings.names, settings.pipeline_config
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=names.dead_letter_queue,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(constants.DLQ_RETENTION_DAYS),
        )
        self.queue = sqs.Queue(
            self,
            "IngestionQueue",
            queue_name=names.queue,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(settings.queue_visibility_timeout_seconds),
            retention_period=Duration.days(constants.QUEUE_RETENTION_DAYS),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=config.max_receive_count
            ),
        )
        # A customer-managed key, not alias/aws/sns: CloudWatch alarms can only publish to
        # an encrypted topic whose key policy lets cloudwatch.amazonaws.com use the key.
        self.alert_topic = sns.Topic(
            self,
            "AlertTopic",
            topic_name=names.alert_topic,
            display_name=f"iot-pipeline {settings.environment_suffix} alerts",
            master_key=key,
            enforce_ssl=True,
        )
        # The topic policy CDK writes (TLS only) replaces SNS's default one, so the alarms'
        # service is allowed explicitly, for this deployment's alarms only:
        # https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html
        self.alert_topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.alert_topic.topic_arn],
                conditions=alarm_source_conditions(self, names),
            )
        )
