"""``AwsAdapters.atomic()``: a request's raw writes are undone when it fails before its 200.

Locally one SQLite transaction makes "stored and queued" all-or-nothing. DynamoDB and SQS
cannot share a transaction, so the raw store records every item this request newly wrote
(never a repeat's original) and, when the request fails after that (the SQS send failed,
the invocation ran out of time), they are deleted again: readings before their markers, so
that a half-finished undo leaves at worst a marker without its reading, which the next
attempt repairs (:mod:`.raw`). Only when the undo itself fails is
:class:`PartiallyStoredError` raised, and the client is told the truth: the readings may be
stored; retrying with the same ``reading_id`` completes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iot_pipeline_backend.adapters.aws._retry import Retrier
from iot_pipeline_backend.adapters.aws.dynamodb import Key, batch_write
from iot_pipeline_backend.errors import PartiallyStoredError, StoreUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


@dataclass
class WrittenItems:
    """Keys one request newly wrote to the raw table."""

    readings: list[Key] = field(default_factory=list)
    markers: list[Key] = field(default_factory=list)


_current: ContextVar[WrittenItems | None] = ContextVar("iot_pipeline_raw_writes", default=None)


def record_written(*, readings: Sequence[Key] = (), markers: Sequence[Key] = ()) -> None:
    """Note keys this request wrote (outside ``atomic()`` nothing is noted)."""
    written = _current.get()
    if written is not None:
        written.readings.extend(readings)
        written.markers.extend(markers)


class RawWriteUndo:
    """The unit of work of one ingest request on the raw table."""

    def __init__(self, client: DynamoDBClient, table_name: str, *, retrier: Retrier) -> None:
        self._client = client
        self._table = table_name
        self._retrier = retrier

    @contextmanager
    def atomic(self) -> Iterator[WrittenItems]:
        """Undo this block's raw writes if it raises; re-raise (or PartiallyStoredError)."""
        written = WrittenItems()
        token = _current.set(written)
        try:
            yield written
        except BaseException as failure:
            if written.readings or written.markers:
                try:
                    self.undo(written)
                except StoreUnavailableError as undo_failed:
                    raise PartiallyStoredError(
                        f"{failure}; undoing {len(written.readings)} raw writes failed too "
                        f"({undo_failed})"
                    ) from failure
            raise
        finally:
            _current.reset(token)

    def undo(self, written: WrittenItems) -> None:
        """Delete readings first, then markers (a marker alone is repaired on retry)."""
        for keys in (written.readings, written.markers):
            batch_write(
                self._client,
                self._table,
                [{"DeleteRequest": {"Key": key}} for key in keys],
                self._retrier,
            )
