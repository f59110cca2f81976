"""Dead letters of the local SQLite queue and of a deployed stack's SQS DLQ, behind one shape.

A message lands in a dead-letter queue after the processor failed it ``max_receive_count``
times. Both stores let an operator list what is there and redrive it: move every message back
to the ingestion queue, where the processor gets it again. Redrive is at-least-once (a crash
between "sent back" and "deleted from the DLQ" leaves a copy in both); processing is an
idempotent upsert, so a copy costs work, never a duplicate reading.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from iot_pipeline_backend.adapters.local import DATABASE_FILE, LocalAdapters
from iot_pipeline_backend.errors import BackendError

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

#: How many reading ids a listing shows per message.
SHOWN_READING_IDS = 5
#: SQS: how long a listed message stays hidden from other consumers while being read.
LIST_VISIBILITY_SECONDS = 30
#: SQS: how long a message being redriven stays hidden (send + delete take far less).
REDRIVE_VISIBILITY_SECONDS = 60
#: SQS: long-poll wait per receive; SQS's short polling may miss messages on a small queue.
RECEIVE_WAIT_SECONDS = 1


class DeadLetterError(BackendError):
    """The dead-letter queue cannot be read or redriven; the message says why."""


@dataclass(frozen=True, slots=True)
class DeadLetterSummary:
    """One dead letter, with what an operator needs to decide what to do with it."""

    message_id: str
    receive_count: int
    #: Epoch seconds when the message was first sent (``None`` if the store does not say).
    sent_at: float | None
    #: Epoch seconds when it was moved to the DLQ (local queue only).
    moved_at: float | None
    #: Readings in the message; ``None`` when the body is not the pipeline's format.
    readings: int | None
    devices: list[str] = field(default_factory=list)
    reading_ids: list[str] = field(default_factory=list)
    body: str = ""


def summarize(
    *,
    message_id: str,
    body: str,
    receive_count: int,
    sent_at: float | None,
    moved_at: float | None,
) -> DeadLetterSummary:
    """Summarize a dead letter; a body that is not ``{"readings": [...]}`` is shown as is."""
    readings: int | None = None
    devices: list[str] = []
    reading_ids: list[str] = []
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("readings"), list):
        items = [item for item in data["readings"] if isinstance(item, dict)]
        readings = len(data["readings"])
        devices = sorted({str(item["device_id"]) for item in items if "device_id" in item})
        reading_ids = [str(item["reading_id"]) for item in items if "reading_id" in item]
    return DeadLetterSummary(
        message_id=message_id,
        receive_count=receive_count,
        sent_at=sent_at,
        moved_at=moved_at,
        readings=readings,
        devices=devices,
        reading_ids=reading_ids[:SHOWN_READING_IDS],
        body=body,
    )


class DeadLetterQueue(Protocol):
    """What ``iot-pipeline dlq`` needs of a dead-letter queue."""

    def list_letters(self, *, limit: int) -> list[DeadLetterSummary]:
        """Up to ``limit`` dead letters, oldest first where the store knows the order."""
        ...

    def redrive(self) -> int:
        """Move every dead letter back to the ingestion queue; return how many moved."""
        ...

    def close(self) -> None: ...


class LocalDeadLetters:
    """The ``dlq`` table of ``<data-dir>/pipeline.db`` (safe beside a running runtime)."""

    def __init__(self, data_dir: Path) -> None:
        if not (data_dir / DATABASE_FILE).is_file():
            # Opening would create an empty database: say what is wrong instead.
            raise DeadLetterError(
                f"{data_dir} is not a local pipeline data directory (no {DATABASE_FILE}); "
                "pass the --data-dir that `iot-pipeline local` uses"
            )
        self._adapters = LocalAdapters.open(data_dir)

    def list_letters(self, *, limit: int) -> list[DeadLetterSummary]:
        """The oldest ``limit`` dead letters."""
        return [
            summarize(
                message_id=letter.message_id,
                body=letter.body,
                receive_count=letter.receive_count,
                sent_at=letter.sent_at,
                moved_at=letter.moved_at,
            )
            for letter in self._adapters.queue.dlq_list()[:limit]
        ]

    def redrive(self) -> int:
        """Back to the queue with a fresh receive count, in one transaction."""
        return self._adapters.queue.dlq_redrive()

    def close(self) -> None:
        """Close the database connection."""
        self._adapters.close()


class SqsDeadLetters:
    """A deployed stack's SQS dead-letter queue and the queue it feeds back into."""

    def __init__(
        self,
        client: SQSClient,
        *,
        dlq_url: str,
        queue_url: str | None = None,
        max_messages: int = 100_000,
    ) -> None:
        self._client = client
        self._dlq_url = dlq_url
        self._queue_url = queue_url
        self._max_messages = max_messages

    def list_letters(self, *, limit: int) -> list[DeadLetterSummary]:
        """Read up to ``limit`` messages, then make them visible again at once.

        Receiving is the only way SQS shows a message; each listing adds one to its
        receive count, which the DLQ (having no redrive policy of its own) ignores.
        """
        seen: dict[str, MessageTypeDef] = {}
        receipts: list[str] = []
        try:
            while len(seen) < limit:
                batch = self._receive(min(10, limit - len(seen)), LIST_VISIBILITY_SECONDS)
                if not batch:
                    break
                for message in batch:
                    receipts.append(message["ReceiptHandle"])
                    seen.setdefault(message["MessageId"], message)
        finally:
            self._release(receipts)
        return [_summary_of(message) for message in seen.values()]

    def redrive(self) -> int:
        """Send each message back to the queue, then delete it from the DLQ."""
        target = self._source_queue_url()
        moved = 0
        while moved < self._max_messages:
            batch = self._receive(10, REDRIVE_VISIBILITY_SECONDS)
            if not batch:
                return moved
            entries = {str(n): message for n, message in enumerate(batch)}
            with _sqs_errors("send the messages back to the queue"):
                sent = self._client.send_message_batch(
                    QueueUrl=target,
                    Entries=[{"Id": key, "MessageBody": m["Body"]} for key, m in entries.items()],
                )
            done = [entries[entry["Id"]] for entry in sent.get("Successful", [])]
            if done:
                with _sqs_errors("delete redriven messages from the DLQ"):
                    self._client.delete_message_batch(
                        QueueUrl=self._dlq_url,
                        Entries=[
                            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                            for n, m in enumerate(done)
                        ],
                    )
            moved += len(done)
            if sent.get("Failed"):
                codes = sorted({str(entry.get("Code")) for entry in sent["Failed"]})
                raise DeadLetterError(
                    f"SQS refused to take {len(sent['Failed'])} messages back "
                    f"({', '.join(codes)}); {moved} were redriven, the rest stay in the DLQ"
                )
        return moved

    def close(self) -> None:
        """Nothing to release."""

    def _receive(self, count: int, visibility: int) -> list[MessageTypeDef]:
        with _sqs_errors("read the DLQ"):
            response = self._client.receive_message(
                QueueUrl=self._dlq_url,
                MaxNumberOfMessages=count,
                VisibilityTimeout=visibility,
                WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
                MessageSystemAttributeNames=["All"],
            )
        return list(response.get("Messages", []))

    def _release(self, receipts: Sequence[str]) -> None:
        for start in range(0, len(receipts), 10):
            chunk = receipts[start : start + 10]
            with _sqs_errors("make the listed messages visible again"):
                self._client.change_message_visibility_batch(
                    QueueUrl=self._dlq_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": receipt, "VisibilityTimeout": 0}
                        for n, receipt in enumerate(chunk)
                    ],
                )

    def _source_queue_url(self) -> str:
        if self._queue_url:
            return self._queue_url
        with _sqs_errors("find the queue this DLQ belongs to"):
            sources = self._client.list_dead_letter_source_queues(QueueUrl=self._dlq_url)
        urls = sources.get("queueUrls", [])
        if len(urls) != 1:
            raise DeadLetterError(
                f"the DLQ feeds {len(urls)} queues; name the one to redrive to with --queue-url"
            )
        self._queue_url = urls[0]
        return urls[0]


def _summary_of(message: MessageTypeDef) -> DeadLetterSummary:
    attributes = message.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    return summarize(
        message_id=message["MessageId"],
        body=message.get("Body", ""),
        # Less the receive of this listing itself.
        receive_count=max(0, int(attributes.get("ApproximateReceiveCount", "1")) - 1),
        sent_at=int(sent) / 1000 if sent else None,
        moved_at=None,
    )


@contextmanager
def _sqs_errors(doing: str) -> Iterator[None]:
    """Map botocore failures to :class:`DeadLetterError` naming what was being done."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        detail = f"{error.get('Code', 'error')} {error.get('Message', '')}".strip()
        raise DeadLetterError(f"cannot {doing}: {detail}") from exc
    except BotoCoreError as exc:
        raise DeadLetterError(f"cannot {doing}: {exc}") from exc
