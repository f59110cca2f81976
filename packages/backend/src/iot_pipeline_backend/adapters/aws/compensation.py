"""``AwsAdapters.atomic()``: a request's raw writes are undone when it fails before its 200.

Locally one SQLite transaction makes "stored and queued" all-or-nothing. DynamoDB and SQS
cannot share a transaction, so each request *holds* the raw readings it answers: a reading it
writes carries its token in the item's ``holds`` string set, and a repeat of a stored reading
adds its token (one ``UpdateItem``). When the request fails after that (the SQS send failed,
the invocation ran out of time), it takes its token off each reading again and deletes the
readings no request holds any more, then the markers of the readings it deleted (each in a
transaction with a check that its reading is still absent). A reading another request holds
stays: that request acknowledged it, or will undo it in turn. So two concurrent requests with
the same readings, one failing, never take away what the other acknowledged. A half-finished
undo leaves at worst a marker without its reading, which the next attempt repairs
(:mod:`.raw`). Only when the undo itself fails is :class:`PartiallyStoredError` raised, and
the client is told the truth: the readings may be stored; retrying with the same
``reading_id`` completes them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from iot_pipeline_backend.adapters.aws._retry import Retrier
from iot_pipeline_backend.adapters.aws.dynamodb import HOLDS, Key, change_holds
from iot_pipeline_backend.errors import PartiallyStoredError, StoreUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


_T = TypeVar("_T")

#: Concurrent undo calls of one request.
UNDO_WORKERS = 8


#: A hold this old was taken by an invocation that has ended (a Lambda function runs at most
#: 900 s; a minute more for clocks), so no undo can take it off any more: its reading stays
#: for good, and a repeat needs no hold of its own. This bounds how many holds a reading
#: gathers to the repeats of its first quarter of an hour.
HOLD_SETTLES_AFTER_SECONDS = 960


def new_token(*, now: float | None = None) -> str:
    """A request's hold token: when it was taken (8 hex digits of epoch seconds), then 8
    random hex digits (collisions only matter between requests holding one reading)."""
    taken = int(time.time() if now is None else now)
    return f"{taken:08x}{secrets.token_hex(4)}"


def settled(item: Mapping[str, Any], *, now: float | None = None) -> bool:
    """Whether no undo can delete this raw item any more: it was stored before holds
    existed, or one of its holds is older than :data:`HOLD_SETTLES_AFTER_SECONDS`."""
    if HOLDS not in item:
        return True
    limit = (time.time() if now is None else now) - HOLD_SETTLES_AFTER_SECONDS
    return any(_taken_at(token) < limit for token in item[HOLDS]["SS"])


def _taken_at(token: str) -> float:
    try:
        return int(token[:8], 16) if len(token) == 16 else float("inf")
    except ValueError:
        return float("inf")  # not a token this code wrote: never counts as settled


@dataclass
class WrittenItems:
    """What one request holds in the raw table: readings (written or repeated) and markers."""

    token: str = field(default_factory=new_token)
    readings: list[Key] = field(default_factory=list)
    #: (marker key, the key of the reading it names) of each marker this request wrote.
    markers: list[tuple[Key, Key]] = field(default_factory=list)


_current: ContextVar[WrittenItems | None] = ContextVar("iot_pipeline_raw_writes", default=None)


def hold_token() -> str:
    """The token this request holds readings with (outside ``atomic()``, a fresh one that
    no undo will ever take off)."""
    written = _current.get()
    return written.token if written is not None else new_token()


def record_written(
    *, readings: Sequence[Key] = (), markers: Sequence[tuple[Key, Key]] = ()
) -> None:
    """Note readings this request holds and markers it wrote (outside ``atomic()``, none)."""
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
        self._pool = ThreadPoolExecutor(UNDO_WORKERS, thread_name_prefix="iot-pipeline-undo")

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
                    kept = self.undo(written)
                except StoreUnavailableError as undo_failed:
                    raise PartiallyStoredError(
                        f"{failure}; undoing {len(written.readings)} raw writes failed too "
                        f"({undo_failed})"
                    ) from failure
                if kept:
                    raise PartiallyStoredError(
                        f"{failure}; {kept} of the readings stay stored, held by another request",
                        undo_failed=False,
                    ) from failure
            raise
        finally:
            _current.reset(token)

    def undo(self, written: WrittenItems) -> int:
        """Release every reading held, then delete the markers of the readings deleted;
        how many readings stay because another request holds them (or wrote them again)."""
        unique = list({_pair(key): key for key in written.readings}.values())
        stays, failure = self._on_pool(lambda key: self._release(key, written.token), unique)
        kept = {_pair(key) for key, stayed in zip(unique, stays, strict=True) if stayed}
        markers = [
            (marker, reading) for marker, reading in written.markers if _pair(reading) not in kept
        ]
        # A marker kept because its reading is back counts that reading as staying.
        back, marker_failure = self._on_pool(lambda pair: self._delete_marker(*pair), markers)
        failure = failure or marker_failure
        if failure is not None:
            raise failure
        return len(kept) + sum(back)

    def _on_pool(
        self, work: Callable[[_T], bool], items: Sequence[_T]
    ) -> tuple[list[bool], StoreUnavailableError | None]:
        """``work`` each item on the undo threads: what each returned (True where it failed:
        the item may still be stored) and the first failure."""
        futures = [self._pool.submit(work, item) for item in items]
        results: list[bool] = []
        failure: StoreUnavailableError | None = None
        for future in futures:
            try:
                results.append(future.result())
            except StoreUnavailableError as exc:
                failure = failure or exc
                results.append(True)
        return results, failure

    def _delete_marker(self, marker: Key, reading: Key) -> bool:
        """Delete a marker unless its reading exists again; True if the marker stays.

        Between this undo's delete of the reading and this call, a repeat may have found the
        marker, missed the reading and written it again under the marker's key: the marker
        must then keep naming it, or the next repeat without a timestamp would store a copy.
        """
        deleted = self._retrier.call_conditional(
            "DynamoDB TransactWriteItems",
            lambda: self._client.transact_write_items(
                TransactItems=[
                    {"Delete": {"TableName": self._table, "Key": marker}},
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": reading,
                            "ConditionExpression": "attribute_not_exists(sk)",
                        }
                    },
                ]
            ),
        )
        return deleted is None

    def _release(self, key: Key, token: str) -> bool:
        """Take ``token`` off a reading and delete it if no one holds it; True if it stays."""
        after = change_holds(
            self._client, self._table, key, token=token, add=False, retrier=self._retrier
        )
        if after is None:
            return False  # gone already (a retried call whose first reply was lost)
        if HOLDS in after:  # DynamoDB drops a set once it is empty
            return True
        deleted = self._retrier.call_conditional(
            "DynamoDB DeleteItem",
            lambda: self._client.delete_item(
                TableName=self._table,
                Key=key,
                ConditionExpression=f"attribute_not_exists({HOLDS})",
            ),
        )
        return deleted is None  # None: a repeat took hold of it between the two calls

    def close(self) -> None:
        """Stop the undo threads (idle ones; running calls finish)."""
        self._pool.shutdown(wait=False)


def _pair(key: Key) -> tuple[str, str]:
    return key["device_id"]["S"], key["sk"]["S"]
