"""Alarms on the API, functions, tables, store failures and the DLQ, all to the alert topic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from iot_pipeline_backend.infra import constants
from iot_pipeline_backend.infra.constants import ResourceNames
from iot_pipeline_backend.infra.deployment import DeploymentSettings

_PERIOD = Duration.minutes(constants.ALARM_PERIOD_MINUTES)

#: Every operation the functions run on a table; throttles are counted per operation.
TABLE_OPERATIONS = (
    dynamodb.Operation.GET_ITEM,
    dynamodb.Operation.BATCH_GET_ITEM,
    dynamodb.Operation.PUT_ITEM,
    dynamodb.Operation.BATCH_WRITE_ITEM,
    dynamodb.Operation.TRANSACT_WRITE_ITEMS,
    dynamodb.Operation.DELETE_ITEM,
    dynamodb.Operation.QUERY,
)


def alarm_source_conditions(scope: Construct, names: ResourceNames) -> dict[str, Any]:
    """Policy conditions that admit cloudwatch.amazonaws.com only for this deployment's alarms.

    Without them the service would act for any account's alarm (confused deputy):
    https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
    """
    stack = Stack.of(scope)
    alarms = stack.format_arn(
        service="cloudwatch",
        resource="alarm",
        resource_name=names.alarm("*"),
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    return {
        "StringEquals": {"aws:SourceAccount": stack.account},
        "ArnLike": {"aws:SourceArn": alarms},
    }


class PipelineAlarms(Construct):
    """Errors and throttles per function, throttled requests per table, DLQ not empty, the
    stage's 5XX answers and the handlers' store failures.

    A DynamoDB or SQS outage is answered with a handled 503, which is no Lambda error; the
    5XX and store-failure alarms are the ones that see it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        functions: Mapping[str, lambda_.IFunction],
        tables: Mapping[str, dynamodb.ITable],
        dead_letter_queue: sqs.IQueue,
        topic: sns.ITopic,
        stage: apigw.Stage,
    ) -> None:
        super().__init__(scope, construct_id)
        names = settings.names
        self._action = actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for label, function in functions.items():
            self._alarm(
                f"{label.title()}Errors",
                alarm_name=names.alarm(f"{label}-errors"),
                metric=function.metric_errors(period=_PERIOD, statistic="Sum"),
                threshold=constants.LAMBDA_ERRORS_THRESHOLD,
                description=f"Lambda errors >= {constants.LAMBDA_ERRORS_THRESHOLD} in 5 minutes",
            )
            self._alarm(
                f"{label.title()}Throttles",
                alarm_name=names.alarm(f"{label}-throttles"),
                metric=function.metric_throttles(period=_PERIOD, statistic="Sum"),
                threshold=constants.LAMBDA_THROTTLES_THRESHOLD,
                description=(
                    f"Lambda throttles >= {constants.LAMBDA_THROTTLES_THRESHOLD} in 5 minutes"
                ),
            )
        for label, table in tables.items():
            self._alarm(
                f"{label.title()}TableThrottles",
                alarm_name=names.alarm(f"{label}-table-throttles"),
                metric=table.metric_throttled_requests_for_operations(
                    operations=list(TABLE_OPERATIONS), period=_PERIOD
                ),
                threshold=constants.DYNAMODB_THROTTLES_THRESHOLD,
                description=(
                    f"DynamoDB throttled requests >= {constants.DYNAMODB_THROTTLES_THRESHOLD} "
                    "in 5 minutes"
                ),
            )
        self._alarm(
            "DeadLetterQueueNotEmpty",
            alarm_name=names.alarm("dlq-not-empty"),
            metric=dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=_PERIOD, statistic="Maximum"
            ),
            threshold=constants.DLQ_MESSAGES_THRESHOLD,
            description="Readings failed processing max_receive_count times (see docs/deploy.md)",
        )
        self._alarm(
            "Api5xx",
            alarm_name=names.alarm("api-5xx"),
            metric=stage.metric_server_error(period=_PERIOD, statistic="Sum"),
            threshold=constants.API_5XX_THRESHOLD,
            description=f"API 5XX answers >= {constants.API_5XX_THRESHOLD} in 5 minutes",
        )
        self._alarm(
            "StoreFailures",
            alarm_name=names.alarm("store-failures"),
            metric=cloudwatch.Metric(
                namespace=constants.METRICS_NAMESPACE,
                metric_name=constants.STORE_FAILURES_METRIC,
                # The handlers' dimensions: service and this deployment's environment.
                dimensions_map={
                    "service": constants.METRICS_SERVICE,
                    "environment": settings.environment_suffix,
                },
                period=_PERIOD,
                statistic="Sum",
            ),
            threshold=constants.STORE_FAILURES_THRESHOLD,
            description="A DynamoDB, SQS or SNS call failed after retries (see docs/deploy.md)",
        )

    def _alarm(
        self,
        construct_id: str,
        *,
        alarm_name: str,
        metric: cloudwatch.IMetric,
        threshold: int,
        description: str,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=alarm_name,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        self.alarms.append(alarm)
