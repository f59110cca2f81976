"""The SQS queue as the local queue poller sees it, so the local runtime can front AWS.

``iot-pipeline``'s local runtime feeds the processor with :class:`~iot_pipeline_backend.
local.poller.QueuePoller`, the event source mapping's behaviour on a queue it can receive
from and delete in. This is that queue on SQS: receives (10 a call, the SQS maximum),
batched deletes, and the depth the poller waits on. Moving a message to the dead-letter
queue after ``max_receive_count`` receives is the queue's own redrive policy on SQS, so the
poller's count is not used here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from iot_pipeline_backend.adapters.aws._retry import Retrier
from iot_pipeline_backend.adapters.local.queue import QueueMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

#: ReceiveMessage and DeleteMessageBatch take at most 10 messages.
SQS_BATCH_MAX = 10


class SqsPolledQueue:
    """Receive, delete and depth of an SQS queue, in the poller's terms."""

    def __init__(self, client: SQSClient, queue_url: str, *, retrier: Retrier) -> None:
        self._client = client
        self._url = queue_url
        self._retrier = retrier

    def receive(
        self, *, max_messages: int, visibility_timeout: float, max_receive_count: int | None = None
    ) -> list[QueueMessage]:
        """Up to ``max_messages`` visible messages, hidden for ``visibility_timeout`` s."""
        received: list[QueueMessage] = []
        while len(received) < max_messages:
            response = self._retrier.call(
                "SQS ReceiveMessage",
                lambda: self._client.receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=min(SQS_BATCH_MAX, max_messages - len(received)),
                    VisibilityTimeout=max(0, round(visibility_timeout)),
                    MessageSystemAttributeNames=["All"],
                ),
            )
            messages = response.get("Messages", [])
            if not messages:
                break
            for message in messages:
                attributes = message.get("Attributes", {})
                received.append(
                    QueueMessage(
                        message_id=message["MessageId"],
                        receipt=message["ReceiptHandle"],
                        body=message["Body"],
                        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
                        sent_at=int(attributes.get("SentTimestamp", "0")) / 1000,
                        first_received_at=int(
                            attributes.get("ApproximateFirstReceiveTimestamp", "0")
                        )
                        / 1000,
                    )
                )
        return received

    def delete_batch(self, receipts: Sequence[str]) -> int:
        """Delete these messages (processed); returns how many SQS accepted."""
        deleted = 0
        for start in range(0, len(receipts), SQS_BATCH_MAX):
            chunk = receipts[start : start + SQS_BATCH_MAX]
            response = self._retrier.call(
                "SQS DeleteMessageBatch",
                lambda chunk=chunk: self._client.delete_message_batch(  # type: ignore[misc]
                    QueueUrl=self._url,
                    Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)],
                ),
            )
            deleted += len(response.get("Successful", []))
        return deleted

    def settle(self, receipts: Sequence[str]) -> None:
        """Delete the messages the processor reported done."""
        self.delete_batch(receipts)

    def processing(self) -> AbstractContextManager[object]:
        """Nothing to group: each AWS write is its own call, as under the managed poller."""
        return nullcontext()

    def depth(self) -> int:
        """Messages waiting or in flight (SQS's approximate counts)."""
        response = self._retrier.call(
            "SQS GetQueueAttributes",
            lambda: self._client.get_queue_attributes(
                QueueUrl=self._url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            ),
        )
        attributes = response.get("Attributes", {})
        return int(attributes.get("ApproximateNumberOfMessages", "0")) + int(
            attributes.get("ApproximateNumberOfMessagesNotVisible", "0")
        )

    def wait_for_messages(self, timeout: float) -> None:
        """Wait before the next receive (SQS sends no wake-up to another process)."""
        time.sleep(timeout)
