"""SQS queue (SendMessageBatch of packed readings) and SNS alert topic."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING, Any

from iot_pipeline_common.models import RawItem

from iot_pipeline_backend.adapters.aws._retry import UNDO_RESERVE_SECONDS, Retrier
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

    def __init__(self, client: SQSClient, queue_url: str, *, retrier: Retrier) -> None:
        self._client = client
        self._url = queue_url
        self._retrier = retrier

    def enqueue_readings(self, readings: Sequence[RawItem]) -> None:
        """Every reading reaches the queue, or StoreUnavailableError is raised."""
        for group in group_for_send(pack_messages(readings)):
            self._send(group)

    def _send(self, bodies: list[str]) -> None:
        pending = {str(i): body for i, body in enumerate(bodies)}
        attempt = 0
        while True:
            entries: Any = [{"Id": key, "MessageBody": body} for key, body in pending.items()]
            response = self._retrier.call(
                "SQS SendMessageBatch",
                partial(self._client.send_message_batch, QueueUrl=self._url, Entries=entries),
                # Time kept back to undo the raw writes if the send gives up.
                reserve=UNDO_RESERVE_SECONDS,
            )
            failed = response.get("Failed", [])
            if any(entry.get("SenderFault") for entry in failed):
                codes = sorted({str(entry.get("Code")) for entry in failed})
                raise StoreUnavailableError(f"SQS rejected messages ({', '.join(codes)})")
            pending = {entry["Id"]: pending[entry["Id"]] for entry in failed}
            if not pending:
                return
            self._retrier.pause(
                attempt, "SQS SendMessageBatch (failed entries)", reserve=UNDO_RESERVE_SECONDS
            )
            attempt += 1


def _subject(text: str) -> str:
    printable = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in text)
    return printable[:SUBJECT_MAX]


class SnsAlertSink:
    """Publishes each alert to the alert topic as JSON, with ``kind`` as an attribute."""

    def __init__(self, client: SNSClient, topic_arn: str, *, retrier: Retrier) -> None:
        self._client = client
        self._arn = topic_arn
        self._retrier = retrier

    def publish_alert(self, alert: Alert) -> None:
        """Publish; raises StoreUnavailableError when SNS fails."""
        body: dict[str, Any] = asdict(alert)
        self._retrier.call(
            "SNS Publish",
            lambda: self._client.publish(
                TopicArn=self._arn,
                Subject=_subject(alert.subject),
                Message=json.dumps(body, default=str),
                MessageAttributes={"kind": {"DataType": "String", "StringValue": alert.kind}},
            ),
        )
