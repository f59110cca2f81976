"""SQS queue (SendMessageBatch of packed readings) and SNS alert topic."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from iot_pipeline_common.models import RawItem

from iot_pipeline_backend.adapters.aws._retry import (
    MAX_ATTEMPTS,
    Sleep,
    aws_boundary,
    backoff_delay,
)
from iot_pipeline_backend.domain.messages import group_for_send, pack_messages
from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_backend.ports import Alert

if TYPE_CHECKING:
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sqs.client import SQSClient

#: SNS subjects are at most 100 printable ASCII characters.
SUBJECT_MAX = 100


class SqsReadingQueue:
    """Sends packed readings with SendMessageBatch; failed entries are retried, then raise."""

    def __init__(self, client: SQSClient, queue_url: str, *, sleep: Sleep = time.sleep) -> None:
        self._client = client
        self._url = queue_url
        self._sleep = sleep

    def enqueue_readings(self, readings: Sequence[RawItem]) -> None:
        """Every reading reaches the queue, or StoreUnavailableError is raised."""
        for group in group_for_send(pack_messages(readings)):
            self._send(group)

    def _send(self, bodies: list[str]) -> None:
        pending = {str(i): body for i, body in enumerate(bodies)}
        for attempt in range(MAX_ATTEMPTS):
            with aws_boundary("SQS SendMessageBatch"):
                response = self._client.send_message_batch(
                    QueueUrl=self._url,
                    Entries=[{"Id": key, "MessageBody": body} for key, body in pending.items()],
                )
            failed = response.get("Failed", [])
            if any(entry.get("SenderFault") for entry in failed):
                codes = sorted({str(entry.get("Code")) for entry in failed})
                raise StoreUnavailableError(f"SQS rejected messages ({', '.join(codes)})")
            pending = {entry["Id"]: pending[entry["Id"]] for entry in failed}
            if not pending:
                return
            self._sleep(backoff_delay(attempt))
        raise StoreUnavailableError("SQS kept failing to accept messages")


def _subject(text: str) -> str:
    printable = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in text)
    return printable[:SUBJECT_MAX]


class SnsAlertSink:
    """Publishes each alert to the alert topic as JSON, with ``kind`` as an attribute."""

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._arn = topic_arn

    def publish_alert(self, alert: Alert) -> None:
        """Publish; raises StoreUnavailableError when SNS fails."""
        body: dict[str, Any] = asdict(alert)
        with aws_boundary("SNS Publish"):
            self._client.publish(
                TopicArn=self._arn,
                Subject=_subject(alert.subject),
                Message=json.dumps(body, default=str),
                MessageAttributes={"kind": {"DataType": "String", "StringValue": alert.kind}},
            )
