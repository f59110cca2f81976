"""The CloudWatch dashboard ``iot-pipeline-{suffix}``: the pipeline's operational figures.

The same figures the local dashboard shows, from the metrics AWS publishes by default (no
custom metrics, no detailed API metrics needed):

* API Gateway ``Count`` and ``5XXError`` of the stage (dimensions ApiName + Stage):
  https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
* Lambda ``Errors``, ``Throttles`` and ``Duration`` per function:
  https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
* SQS ``ApproximateNumberOfMessagesVisible`` and ``ApproximateAgeOfOldestMessage`` of the
  queue, and the DLQ's visible messages:
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
* DynamoDB ``ThrottledRequests`` per table, summed over the operations the functions use
  (as the throttle alarms count them):
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from iot_pipeline_backend.infra.deployment import DeploymentSettings
from iot_pipeline_backend.infra.monitoring import TABLE_OPERATIONS

#: One point per minute: the finest period SQS and the default API metrics publish at.
_PERIOD = Duration.minutes(1)
_WIDTH = 8
_HEIGHT = 6


def _graph(
    title: str,
    left: list[cloudwatch.IMetric],
    *,
    right: list[cloudwatch.IMetric] | None = None,
    width: int = _WIDTH,
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title, left=left, right=right or [], width=width, height=_HEIGHT
    )


class PipelineDashboard(Construct):
    """Ingest requests and 5XX, functions, queue, DLQ and table throttles on one page."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        stage: apigw.Stage,
        functions: Mapping[str, lambda_.IFunction],
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        tables: Mapping[str, dynamodb.ITable],
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=settings.names.dashboard,
            default_interval=Duration.hours(3),
        )

        def per_function(what: str, statistic: str) -> list[cloudwatch.IMetric]:
            return [
                function.metric(what, statistic=statistic, period=_PERIOD, label=label)
                for label, function in functions.items()
            ]

        self.dashboard.add_widgets(
            _graph(
                "API requests (Count) and server errors (5XXError)",
                [stage.metric_count(statistic="Sum", period=_PERIOD, label="requests")],
                right=[stage.metric_server_error(statistic="Sum", period=_PERIOD, label="5XX")],
            ),
            _graph("Lambda errors per function", per_function("Errors", "Sum")),
            _graph("Lambda throttles per function", per_function("Throttles", "Sum")),
        )
        self.dashboard.add_widgets(
            _graph("Lambda duration per function (p99, ms)", per_function("Duration", "p99")),
            _graph(
                "Ingestion queue: depth and age of oldest message",
                [
                    queue.metric_approximate_number_of_messages_visible(
                        statistic="Maximum", period=_PERIOD, label="messages visible"
                    )
                ],
                right=[
                    queue.metric_approximate_age_of_oldest_message(
                        statistic="Maximum", period=_PERIOD, label="oldest message (s)"
                    )
                ],
            ),
            _graph(
                "Dead-letter queue size",
                [
                    dead_letter_queue.metric_approximate_number_of_messages_visible(
                        statistic="Maximum", period=_PERIOD, label="dead letters"
                    )
                ],
            ),
        )
        self.dashboard.add_widgets(
            *(
                _graph(
                    f"DynamoDB throttled requests: {label} table",
                    [
                        table.metric_throttled_requests_for_operations(
                            operations=list(TABLE_OPERATIONS), period=_PERIOD, label=label
                        )
                    ],
                )
                for label, table in tables.items()
            )
        )
