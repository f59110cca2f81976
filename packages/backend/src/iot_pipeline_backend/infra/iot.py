"""Devices over MQTT on AWS IoT Core: topic rule → ingest Lambda, device policy, alarms.

* **rule** ``iot_pipeline_readings_<suffix>``:
  ``SELECT *, topic(2) AS thing FROM 'iot-pipeline/+/readings'`` → a Lambda action on
  ``mqtt-ingestion-<suffix>`` (``handlers/mqtt_ingest.py``: the HTTP ingest path, with
  ``device_id`` = ``thing`` enforced). IoT invokes the function asynchronously
  (https://docs.aws.amazon.com/iot/latest/developerguide/lambda-rule-action.html), so two
  places catch failures: the rule's error action (the invoke itself failed) and the
  function's on-failure destination (the invocation failed after Lambda's retries). Both
  go to ``iot-mqtt-dlq-<suffix>``, apart from the processor's DLQ because these messages
  are rule events, not queue messages, and ``iot-pipeline dlq redrive`` must not move them.
* **policy** ``iot-pipeline-thing-<suffix>``: a thing connects only with its own name as
  client id, publishes only to its own readings topic and reads only its own errors topic
  (https://docs.aws.amazon.com/iot/latest/developerguide/thing-policy-variables.html).
* **alarms** on the rule's action failures and parse errors (AWS/IoT ``Failure`` and
  ``ParseError`` by ``RuleName``,
  https://docs.aws.amazon.com/iot/latest/developerguide/metrics_dimensions.html), on the
  function's errors and throttles, and on the MQTT DLQ not being empty.
"""

from __future__ import annotations

from collections.abc import Mapping

import jsii
from aws_cdk import AssetHashType, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from iot_pipeline_backend.infra import constants
from iot_pipeline_backend.infra.bundling import Bundle
from iot_pipeline_backend.infra.deployment import DeploymentSettings
from iot_pipeline_backend.infra.functions import PipelineFunction

#: The rule's SQL (IoT SQL version 2016-03-23); ``thing`` is the topic's second level.
RULE_SQL = "SELECT *, topic(2) AS thing FROM 'iot-pipeline/+/readings'"
RULE_SQL_VERSION = "2016-03-23"
#: Lambda's asynchronous retries before the on-failure destination (0-2 allowed).
ASYNC_RETRIES = 2
THING = "${iot:Connection.Thing.ThingName}"
_PERIOD = Duration.minutes(constants.ALARM_PERIOD_MINUTES)


@jsii.implements(lambda_.IDestination)
class _QueueDestination:
    """An SQS on-failure destination that grants nothing itself.

    Lambda sends a failed asynchronous invocation's record with ``sqs:SendMessage`` alone
    (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html);
    CDK's ``SqsDestination`` grants ``GetQueueAttributes`` and ``GetQueueUrl`` as well. The
    caller grants ``SendMessage`` on the queue.
    """

    def __init__(self, queue: sqs.IQueue) -> None:
        self._queue = queue

    def bind(
        self,
        scope: Construct,
        fn: lambda_.IFunction,
        *,
        type: lambda_.DestinationType | None = None,  # the interface names it so
    ) -> lambda_.DestinationConfig:
        return lambda_.DestinationConfig(destination=self._queue.queue_arn)


class DeviceIngestion(Construct):
    """The MQTT path of one deployment, beside the HTTP API."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        bundle: Bundle,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str],
        key: kms.IKey,
        raw_table: dynamodb.ITable,
        queue: sqs.IQueue,
        config_parameter_arn: str,
        alert_topic: sns.ITopic,
        raw_write_actions: tuple[str, ...],
    ) -> None:
        super().__init__(scope, construct_id)
        suffix = settings.environment_suffix
        stack = Stack.of(self)
        self.rule_name = f"iot_pipeline_readings_{suffix.replace('-', '_')}"
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=f"iot-mqtt-dlq-{suffix}",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(constants.DLQ_RETENTION_DAYS),
        )
        code = lambda_.Code.from_asset(
            str(bundle.code_dir), asset_hash=bundle.code_hash, asset_hash_type=AssetHashType.CUSTOM
        )
        self.ingestion = PipelineFunction(
            self,
            "Ingestion",
            function_name=f"mqtt-ingestion-{suffix}",
            handler_module="mqtt_ingest",
            code=code,
            layer=layer,
            environment=environment,
            timeout=Duration.seconds(constants.API_FUNCTION_TIMEOUT_SECONDS),
            key=key,
            settings=settings,
        )
        function = self.ingestion.function
        function.configure_async_invoke(
            retry_attempts=ASYNC_RETRIES,
            on_failure=_QueueDestination(self.dead_letter_queue),
        )
        role = self.ingestion.role
        role.add_to_policy(
            iam.PolicyStatement(actions=list(raw_write_actions), resources=[raw_table.table_arn])
        )
        # The readings queue, and the DLQ as the on-failure destination (in the same
        # default policy the function depends on, so it exists before the invoke config).
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"],
                resources=[queue.queue_arn, self.dead_letter_queue.queue_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[config_parameter_arn])
        )
        # Replies on a device's errors topic (the thing's name is only known per event).
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["iot:Publish"],
                resources=[
                    stack.format_arn(
                        service="iot", resource="topic", resource_name="iot-pipeline/*/errors"
                    )
                ],
            )
        )

        error_role = iam.Role(
            self,
            "ErrorActionRole",
            assumed_by=iam.ServicePrincipal(
                "iot.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description="IoT rule error action: send failed events to the MQTT DLQ only",
        )
        error_role.add_to_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"], resources=[self.dead_letter_queue.queue_arn]
            )
        )
        self.rule = iot.CfnTopicRule(
            self,
            "ReadingsRule",
            rule_name=self.rule_name,
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=RULE_SQL,
                aws_iot_sql_version=RULE_SQL_VERSION,
                rule_disabled=False,
                description="Device readings → the pipeline's ingest (device_id = thing)",
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        lambda_=iot.CfnTopicRule.LambdaActionProperty(
                            function_arn=function.function_arn
                        )
                    )
                ],
                error_action=iot.CfnTopicRule.ActionProperty(
                    sqs=iot.CfnTopicRule.SqsActionProperty(
                        queue_url=self.dead_letter_queue.queue_url,
                        role_arn=error_role.role_arn,
                        use_base64=False,
                    )
                ),
            ),
        )
        function.add_permission(
            "InvokedByReadingsRule",
            principal=iam.ServicePrincipal("iot.amazonaws.com"),
            source_arn=self.rule.attr_arn,
            source_account=stack.account,
        )
        self.device_policy = iot.CfnPolicy(
            self,
            "DevicePolicy",
            policy_name=f"iot-pipeline-thing-{suffix}",
            policy_document=self._device_policy(stack),
        )
        self._alarms(settings=settings, alert_topic=alert_topic)
        self._suppress_accepted_findings()

    @staticmethod
    def _device_policy(stack: Stack) -> dict[str, object]:
        def arn(resource: str, name: str) -> str:
            return str(stack.format_arn(service="iot", resource=resource, resource_name=name))

        own = f"iot-pipeline/{THING}"
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    # Only a registered thing, with a certificate attached to it, as itself.
                    "Effect": "Allow",
                    "Action": "iot:Connect",
                    "Resource": arn("client", THING),
                    "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Publish",
                    "Resource": arn("topic", f"{own}/readings"),
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Subscribe",
                    "Resource": arn("topicfilter", f"{own}/errors"),
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Receive",
                    "Resource": arn("topic", f"{own}/errors"),
                },
            ],
        }

    def _alarms(self, *, settings: DeploymentSettings, alert_topic: sns.ITopic) -> None:
        names, action = settings.names, actions.SnsAction(alert_topic)
        rule = {"RuleName": self.rule_name}
        function = self.ingestion.function
        specs: list[tuple[str, str, cloudwatch.IMetric, int, str]] = [
            (
                "RuleActionFailures",
                "mqtt-rule-failures",
                cloudwatch.Metric(
                    namespace="AWS/IoT",
                    metric_name="Failure",
                    dimensions_map={**rule, "ActionType": "Lambda"},
                    period=_PERIOD,
                    statistic="Sum",
                ),
                1,
                "The readings rule could not invoke the MQTT ingestion function",
            ),
            (
                "RuleParseErrors",
                "mqtt-rule-parse-errors",
                cloudwatch.Metric(
                    namespace="AWS/IoT",
                    metric_name="ParseError",
                    dimensions_map=rule,
                    period=_PERIOD,
                    statistic="Sum",
                ),
                constants.LAMBDA_ERRORS_THRESHOLD,
                "Devices publish readings that are not JSON",
            ),
            (
                "IngestionErrors",
                "mqtt-ingestion-errors",
                function.metric_errors(period=_PERIOD, statistic="Sum"),
                constants.LAMBDA_ERRORS_THRESHOLD,
                f"Lambda errors >= {constants.LAMBDA_ERRORS_THRESHOLD} in 5 minutes",
            ),
            (
                "IngestionThrottles",
                "mqtt-ingestion-throttles",
                function.metric_throttles(period=_PERIOD, statistic="Sum"),
                constants.LAMBDA_THROTTLES_THRESHOLD,
                f"Lambda throttles >= {constants.LAMBDA_THROTTLES_THRESHOLD} in 5 minutes",
            ),
            (
                "DeadLetterQueueNotEmpty",
                "mqtt-dlq-not-empty",
                self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=_PERIOD, statistic="Maximum"
                ),
                constants.DLQ_MESSAGES_THRESHOLD,
                "MQTT readings were not ingested after retries (see docs/mqtt.md)",
            ),
        ]
        self.alarms: list[cloudwatch.Alarm] = []
        for construct_id, name, metric, threshold, description in specs:
            alarm = cloudwatch.Alarm(
                self,
                construct_id,
                alarm_name=names.alarm(name),
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            self.alarms.append(alarm)

    def _suppress_accepted_findings(self) -> None:
        NagSuppressions.add_resource_suppressions(
            self.ingestion.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level "
                    "permissions; and a refused payload is answered on the errors topic of the "
                    "thing that sent it, known only per event, so iot:Publish is granted on "
                    "iot-pipeline/*/errors and no other topic.",
                    applies_to=[
                        "Resource::*",
                        "Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:"
                        "topic/iot-pipeline/*/errors",
                    ],
                )
            ],
            apply_to_children=True,
        )
        # The DLQ of this DLQ would be a third queue nobody reads: it is the last stop.
        NagSuppressions.add_resource_suppressions(
            self.dead_letter_queue,
            [
                NagPackSuppression(
                    id="AwsSolutions-SQS3",
                    reason="This queue is itself the dead-letter queue of the MQTT path (rule "
                    "error action and Lambda on-failure destination); it is alarmed when "
                    "not empty.",
                )
            ],
        )


__all__ = ["RULE_SQL", "DeviceIngestion"]
