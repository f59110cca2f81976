"""AWS adapters: DynamoDB tables, the SQS queue, the SNS topic and SSM parameters (boto3).

Clients are created once per process and injected into each adapter; tests point them at
moto. Every botocore failure is mapped to :class:`StoreUnavailableError` inside the adapter.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from iot_pipeline_backend.adapters.aws._retry import Sleep
from iot_pipeline_backend.adapters.aws.dynamodb import (
    DynamoProcessedReadingStore,
    DynamoRawReadingStore,
)
from iot_pipeline_backend.adapters.aws.messaging import SnsAlertSink, SqsReadingQueue
from iot_pipeline_backend.adapters.aws.parameters import SsmConfigSource, SsmTokenKey
from iot_pipeline_backend.adapters.aws.timeseries import DynamoTimeSeriesStore
from iot_pipeline_backend.errors import SettingsError

if TYPE_CHECKING:
    from iot_pipeline_backend.settings import Settings

__all__ = [
    "AwsAdapters",
    "DynamoProcessedReadingStore",
    "DynamoRawReadingStore",
    "DynamoTimeSeriesStore",
    "SnsAlertSink",
    "SqsReadingQueue",
    "SsmConfigSource",
    "SsmTokenKey",
]

#: SDK-level retries with the standard mode's adaptive backoff; short timeouts so a Lambda
#: fails fast and the caller can retry instead of hanging to its own timeout.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10
)


class AwsAdapters:
    """Every port's AWS adapter, on clients of one boto3 session."""

    def __init__(
        self, settings: Settings, *, session: boto3.Session, sleep: Sleep = time.sleep
    ) -> None:
        if not (
            settings.raw_table_name
            and settings.processed_table_name
            and settings.aggregates_table_name
            and settings.queue_url
            and settings.alert_topic_arn
            and settings.config_parameter_name
        ):
            raise SettingsError("the aws backend needs every table, queue, topic and parameter")
        dynamodb = session.client("dynamodb", config=CLIENT_CONFIG)
        ssm = session.client("ssm", config=CLIENT_CONFIG)
        self.raw = DynamoRawReadingStore(dynamodb, settings.raw_table_name, sleep=sleep)
        self.processed = DynamoProcessedReadingStore(
            dynamodb, settings.processed_table_name, sleep=sleep
        )
        self.timeseries = DynamoTimeSeriesStore(
            dynamodb,
            settings.aggregates_table_name,
            processed_table_name=settings.processed_table_name,
        )
        self.queue = SqsReadingQueue(
            session.client("sqs", config=CLIENT_CONFIG), settings.queue_url, sleep=sleep
        )
        self.alerts = SnsAlertSink(
            session.client("sns", config=CLIENT_CONFIG), settings.alert_topic_arn
        )
        self.config = SsmConfigSource(ssm, settings.config_parameter_name)
        self.token_key = SsmTokenKey(ssm, settings.api_key_parameter_name)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, session: boto3.Session | None = None
    ) -> AwsAdapters:
        """Build the adapters from settings (the default session reads the Lambda's role)."""
        return cls(settings, session=session or boto3.Session())

    def atomic(self) -> AbstractContextManager[object]:
        """Nothing to group: each DynamoDB and SQS call is durable on its own."""
        return nullcontext()

    def close(self) -> None:
        """Nothing to release: boto3 clients close their pools when collected."""
