"""The local queue poller: the SQS event source mapping, on the local SQLite queue.

Like the managed poller it receives up to ``batch_size`` messages (waiting up to
``batching_window_seconds`` to fill a batch), hides them for ``processing_timeout`` seconds,
invokes the processor with a real-shaped SQS event, deletes the records that succeeded (in the
same commit as the processor's writes) and leaves the ``batchItemFailures`` to reappear after
the visibility timeout. A message received
more than ``max_receive_count`` times is moved to the dead-letter queue by the queue itself
(which publishes a ``dlq`` alert). A handler that raises fails the whole batch.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from iot_pipeline_common.models import PipelineConfig

from iot_pipeline_backend.adapters.local.queue import QueueMessage
from iot_pipeline_backend.ports import ConfigSource

_log = logging.getLogger(__name__)

#: Names that appear in the events and contexts the poller builds.
FUNCTION_NAME = "data-processor-local"
DEFAULT_REGION = "us-east-1"
QUEUE_NAME = "iot-pipeline-local"
ACCOUNT_ID = "000000000000"

SqsHandler = Callable[[dict[str, Any], Any], Any]


class PollableQueue(Protocol):
    """What the poller needs from a queue (``SqliteReadingQueue`` provides it)."""

    def receive(
        self, *, max_messages: int, visibility_timeout: float, max_receive_count: int | None = None
    ) -> list[QueueMessage]: ...

    def delete_batch(self, receipts: Sequence[str]) -> int: ...

    def settle(self, receipts: Sequence[str]) -> None: ...

    def processing(self) -> AbstractContextManager[object]:
        """A block whose writes (the handler's and :meth:`settle`'s) commit together."""
        ...

    def depth(self) -> int: ...

    def wait_for_messages(self, timeout: float) -> None: ...


@dataclass
class LocalLambdaContext:
    """The attributes of a Lambda context object that handlers and Powertools read."""

    deadline: float
    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    invoked_function_arn: str = (
        f"arn:aws:lambda:{DEFAULT_REGION}:{ACCOUNT_ID}:function:{FUNCTION_NAME}"
    )
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (simulated) function timeout."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def sqs_event(messages: Sequence[QueueMessage], *, region: str = DEFAULT_REGION) -> dict[str, Any]:
    """An SQS event as the event source mapping delivers it (in the runtime's region)."""
    return {
        "Records": [
            {
                "messageId": m.message_id,
                "receiptHandle": m.receipt,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": str(m.receive_count),
                    "SentTimestamp": str(int(m.sent_at * 1000)),
                    "SenderId": "iot-pipeline-local",
                    "ApproximateFirstReceiveTimestamp": str(int(m.first_received_at * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(m.body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{QUEUE_NAME}",
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def failed_message_ids(response: Any, messages: Sequence[QueueMessage]) -> set[str]:
    """The ids a partial batch response reports; a malformed response fails the batch."""
    every = {m.message_id for m in messages}
    if not isinstance(response, dict):
        return every
    failures = response.get("batchItemFailures", [])
    if not isinstance(failures, list):
        return every
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in every:
            # Lambda treats an unknown or empty identifier as a failure of the whole batch.
            return every
        failed.add(identifier)
    return failed


class QueuePoller:
    """Polls ``queue`` from background threads and invokes ``handler`` with SQS events."""

    def __init__(
        self,
        *,
        queue: PollableQueue,
        handler: SqsHandler,
        config: PipelineConfig | ConfigSource,
        concurrency: int = 2,
        clock: Callable[[], float] = time.monotonic,
        poll_interval: float = 0.05,
        region: str = DEFAULT_REGION,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._queue = queue
        self._handler = handler
        self._config = config
        self._concurrency = concurrency
        self._clock = clock
        self._region = region
        self._poll_interval = poll_interval
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._in_flight = 0

    def current_config(self) -> PipelineConfig:
        """The config for the next batch (re-read from a source, so edits take effect)."""
        if isinstance(self._config, PipelineConfig):
            return self._config
        return self._config.load_config()

    def start(self) -> None:
        """Start ``concurrency`` polling threads."""
        if self._threads:
            raise RuntimeError("the poller is already running")
        self._stopping.clear()
        for index in range(self._concurrency):
            thread = threading.Thread(
                target=self._run, name=f"iot-pipeline-poller-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop receiving; wait up to ``timeout`` s for in-flight batches to finish."""
        self._stopping.set()
        give_up = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, give_up - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]

    def wait_idle(self, timeout: float) -> bool:
        """True once the queue is empty and no batch is running; False after ``timeout`` s."""
        give_up = time.monotonic() + timeout
        while True:
            with self._lock:
                busy = self._in_flight
            if busy == 0 and self._queue.depth() == 0:
                with self._lock:
                    if self._in_flight == 0:
                        return True
            if time.monotonic() >= give_up:
                return False
            time.sleep(self._poll_interval)

    def poll_once(self) -> int:
        """Receive one batch and invoke the handler; returns how many messages it held."""
        with self._lock:
            self._in_flight += 1
        try:
            return self._poll_once()
        finally:
            with self._lock:
                self._in_flight -= 1

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                handled = self.poll_once()
            except Exception:
                # A broken config or database must not kill the thread: log, back off, retry.
                _log.exception("queue poll failed")
                handled = 0
            if not handled and not self._stopping.is_set():
                # Like long polling: back as soon as something is sent, else after the interval.
                self._queue.wait_for_messages(self._poll_interval)

    def _poll_once(self) -> int:
        config = self.current_config()
        messages = self._receive(config, config.batch_size)
        if config.batching_window_seconds and len(messages) < config.batch_size:
            window_ends = self._clock() + config.batching_window_seconds
            while (
                len(messages) < config.batch_size
                and self._clock() < window_ends
                and not self._stopping.is_set()
            ):
                self._stopping.wait(self._poll_interval)
                messages += self._receive(config, config.batch_size - len(messages))
        if not messages:
            return 0
        context = LocalLambdaContext(deadline=time.monotonic() + config.processing_timeout)
        # The handler's writes (processed rows with their rollups) and the deletes of what it
        # processed commit together when the block ends, as one transaction: a crash before
        # it leaves every message to be redelivered after the visibility timeout (its receive
        # already counted), a crash after it leaves nothing to redo. A failed commit fails
        # the whole batch the same way (``_run`` logs it).
        with self._queue.processing():
            try:
                response = self._handler(sqs_event(messages, region=self._region), context)
            except Exception:
                _log.exception("processor failed; the whole batch will be retried")
                failed = {m.message_id for m in messages}
            else:
                failed = failed_message_ids(response, messages)
            self._queue.settle([m.receipt for m in messages if m.message_id not in failed])
        return len(messages)

    def _receive(self, config: PipelineConfig, count: int) -> list[QueueMessage]:
        return self._queue.receive(
            max_messages=count,
            visibility_timeout=config.processing_timeout,
            max_receive_count=config.max_receive_count,
        )
