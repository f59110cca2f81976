"""AWS adapters: DynamoDB tables, the SQS queue, the SNS topic and SSM parameters (boto3).

Clients are created once per process and injected into each adapter; tests point them at
moto. Every botocore failure is mapped to :class:`StoreUnavailableError` inside the adapter.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from iot_pipeline_backend.adapters.aws._retry import Retrier, Sleep
from iot_pipeline_backend.adapters.aws.compensation import RawWriteUndo
from iot_pipeline_backend.adapters.aws.dynamodb import DynamoProcessedReadingStore
from iot_pipeline_backend.adapters.aws.messaging import SnsAlertSink, SqsReadingQueue
from iot_pipeline_backend.adapters.aws.parameters import SsmConfigSource, SsmTokenKey
from iot_pipeline_backend.adapters.aws.polling import SqsPolledQueue
from iot_pipeline_backend.adapters.aws.raw import DynamoRawReadingStore
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
    "SqsPolledQueue",
    "SqsReadingQueue",
    "SsmConfigSource",
    "SsmTokenKey",
]

#: No SDK-level retries: the adapters' own layer (:class:`Retrier`) retries, bounded by the
#: invocation's time left; both layers together multiplied attempts and backoff. Short
#: timeouts so a call fails fast and can be retried instead of hanging to the deadline.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=3, read_timeout=10
)
#: SSM is read through Powertools' cached provider, outside the adapters' retry layer, so
#: its client keeps botocore's standard retries (3 attempts in all, one layer).
SSM_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=3, read_timeout=5
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
        retrier = Retrier(sleep=sleep)
        dynamodb = session.client("dynamodb", config=CLIENT_CONFIG)
        ssm = session.client("ssm", config=SSM_CLIENT_CONFIG)
        #: The clients, for callers that watch or instrument the calls (tests, tooling).
        self.clients: dict[str, Any] = {"dynamodb": dynamodb, "ssm": ssm}
        self.raw = DynamoRawReadingStore(dynamodb, settings.raw_table_name, retrier=retrier)
        self._undo = RawWriteUndo(dynamodb, settings.raw_table_name, retrier=retrier)
        self.processed = DynamoProcessedReadingStore(
            dynamodb, settings.processed_table_name, retrier=retrier
        )
        self.timeseries = DynamoTimeSeriesStore(
            dynamodb,
            settings.aggregates_table_name,
            processed_table_name=settings.processed_table_name,
            retrier=retrier,
        )
        sqs = session.client("sqs", config=CLIENT_CONFIG)
        sns = session.client("sns", config=CLIENT_CONFIG)
        self.clients.update(sqs=sqs, sns=sns)
        self.queue = SqsReadingQueue(sqs, settings.queue_url, retrier=retrier)
        #: The queue as the local runtime's poller receives from it (``iot-pipeline local``
        #: in front of AWS resources); the deployed stack uses the event source mapping.
        self.polled_queue = SqsPolledQueue(sqs, settings.queue_url, retrier=retrier)
        self.alerts = SnsAlertSink(sns, settings.alert_topic_arn, retrier=retrier)
        self.config = SsmConfigSource(ssm, settings.config_parameter_name)
        self.token_key = SsmTokenKey(ssm, settings.api_key_parameter_name)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, session: boto3.Session | None = None
    ) -> AwsAdapters:
        """Build the adapters from settings (the default session reads the Lambda's role)."""
        return cls(settings, session=session or boto3.Session())

    def atomic(self) -> AbstractContextManager[object]:
        """Stored and queued, or neither: raw items this block wrote are undone if it raises.

        DynamoDB and SQS share no transaction, so a failure after the raw writes deletes
        them again (:mod:`.compensation`); only if that fails too does the block raise
        :class:`~iot_pipeline_backend.errors.PartiallyStoredError`.
        """
        return self._undo.atomic()

    def close(self) -> None:
        """Stop the raw store's and the undo's threads (boto3 clients close their pools when
        collected)."""
        self.raw.close()
        self._undo.close()
