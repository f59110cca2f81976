"""The raw table, idempotent by (device_id, reading_id) at the fewest write units.

Which write a reading needs depends on who chose its key (:data:`~iot_pipeline_backend.
ports.KeySource`):

* ``client`` (device timestamp and ``reading_id``, what the SDK sends): the sort key
  ``<13-digit ms>#<reading_id>`` is deterministic, so a repeat has the same key. Repeats are
  found with ``BatchGetItem`` (100 keys a call) and answered with the stored original; the
  others are written with one ``PutItem`` conditional on ``attribute_not_exists(sk)``: one
  write unit per KB, no marker, no transaction. A repeat arriving between the read and the
  put fails the condition and is answered with the original.
* ``server_id`` (no ``reading_id``): the id is fresh, so no repeat can exist; one
  conditional put, no read.
* ``server_time`` (``reading_id`` without timestamp): each attempt gets another server time,
  so another key. A *marker* item ``sk = id#<reading_id>`` (keys only: ``reading_sk`` and
  ``expires_at``) maps the reading id to its key. It is written first, conditionally, then
  the reading; a marker whose reading is missing (a crash or an undone request between the
  two puts) is repaired by the next attempt, which writes the reading under the marker's
  key. Markers sort after every time-based key (``i`` > ``9``), so range queries never see
  them, and expire with their reading.

Every reading answered is *held* by the request (:mod:`.compensation`): a new one is written
with the request's token in ``holds``; a repeat gets the token added (one ``UpdateItem``,
which also returns the original, read strongly), so a concurrent failing request's undo
cannot delete what this one acknowledges. A repeat whose original such an undo deleted
meanwhile is written again. A reading whose holds are *settled* (one is older than any
invocation can run) or that was stored before holds existed can no longer be undone: a
repeat of it is answered from the lookup and writes nothing.

Writes run on a few threads (one call per reading; a 500-reading batch would otherwise be
500 round trips in a row). Every reading held is noted for :mod:`.compensation`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from iot_pipeline_common import keys
from iot_pipeline_common.models import RawItem

from iot_pipeline_backend.adapters.aws._retry import UNDO_RESERVE_SECONDS, Retrier
from iot_pipeline_backend.adapters.aws.compensation import hold_token, record_written, settled
from iot_pipeline_backend.adapters.aws.dynamodb import (
    HOLDS,
    Key,
    batch_get,
    change_holds,
    from_attributes,
    item_key,
    query_page,
    to_attributes,
)
from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_backend.ports import KeySource, StoredPage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

MARKER_PREFIX = "id#"
#: Concurrent PutItem calls of one request.
PUT_WORKERS = 8
#: Puts and holds of one reading while other requests' undos keep deleting it.
HOLD_ATTEMPTS = 3

_Id = tuple[str, str]


def marker_key(reading: RawItem) -> Key:
    """The key of a reading's marker item."""
    return item_key(reading.device_id, MARKER_PREFIX + reading.reading_id)


class DynamoRawReadingStore:
    """The raw table; see the module docstring for which reading costs which writes."""

    def __init__(self, client: DynamoDBClient, table_name: str, *, retrier: Retrier) -> None:
        self._client = client
        self._table = table_name
        self._retrier = retrier
        self._pool = ThreadPoolExecutor(PUT_WORKERS, thread_name_prefix="iot-pipeline-put")

    def store_raw_readings(
        self, readings: Sequence[RawItem], *, key_sources: Sequence[KeySource] | None = None
    ) -> list[RawItem]:
        """Store new readings; a repeat returns the stored original in its place."""
        sources: list[KeySource] = (
            list(key_sources) if key_sources is not None else ["server_time"] * len(readings)
        )
        if len(sources) != len(readings):
            raise ValueError("key_sources must give one source per reading")
        unique: dict[_Id, tuple[RawItem, KeySource]] = {}
        for reading, source in zip(readings, sources, strict=True):
            unique.setdefault((reading.device_id, reading.reading_id), (reading, source))
        keyed = [r for r, s in unique.values() if s == "client"]
        fresh = [r for r, s in unique.values() if s == "server_id"]
        marked = [r for r, s in unique.values() if s == "server_time"]

        stored: dict[_Id, RawItem] = {}
        found = batch_get(
            self._client,
            self._table,
            [_reading_key(r) for r in keyed] + [marker_key(r) for r in marked],
            self._retrier,
        )
        to_put: list[RawItem] = list(fresh)
        repeated: list[RawItem] = []
        for reading in keyed:
            original = found.get(
                (reading.device_id, keys.sort_key(reading.timestamp, reading.reading_id))
            )
            if original is None:
                to_put.append(reading)
            elif settled(original):
                stored[_id(reading)] = from_attributes(original, RawItem)  # stays for good
            else:
                repeated.append(reading)
        stored.update(self._run(self._hold, to_put))
        stored.update(self._run(self._hold_stored, repeated))
        stored.update(self._store_marked(marked, found))
        return [stored[_id(r)] for r in readings]

    def _store_marked(
        self, marked: list[RawItem], found: dict[tuple[str, str], dict[str, Any]]
    ) -> dict[_Id, RawItem]:
        """Readings keyed by server time: through their marker, written first."""
        repeats: dict[_Id, str] = {}
        new: list[RawItem] = []
        for reading in marked:
            marker = found.get((reading.device_id, MARKER_PREFIX + reading.reading_id))
            if marker is None:
                new.append(reading)
            else:
                repeats[_id(reading)] = marker["reading_sk"]["S"]
        claimed = self._run(self._claim_marker, new, marked=True)
        repeats.update({k: sk for k, sk in claimed.items() if sk is not None})
        stored: dict[_Id, RawItem] = {}
        fresh = [r for r in new if claimed[_id(r)] is None]
        stored.update(self._run(self._hold, fresh))
        if not repeats:
            return stored
        by_id = {_id(r): r for r in marked}
        originals = batch_get(
            self._client,
            self._table,
            [item_key(device, sk) for (device, _), sk in repeats.items()],
            self._retrier,
        )
        to_hold: list[RawItem] = []
        missing: list[RawItem] = []
        for ident, sk in repeats.items():
            original = originals.get((ident[0], sk))
            if original is not None and settled(original):
                stored[ident] = from_attributes(original, RawItem)  # stays for good
            else:
                (to_hold if original is not None else missing).append(_at_marker(by_id[ident], sk))
        stored.update(self._run(self._hold_stored, to_hold))
        # A marker without its reading (an earlier attempt that stopped between the two
        # puts, or an undo): finish what it started, under the marker's key.
        stored.update(self._run(self._hold, missing))
        return stored

    def _run(
        self,
        write: Callable[[RawItem], tuple[Any, bool]],
        readings: list[RawItem],
        *,
        marked: bool = False,
    ) -> dict[_Id, Any]:
        """``write`` each reading on the pool; note what it holds, then raise any error.

        ``write`` says whether it holds the reading (``marked``: wrote its marker), so the
        undo of a failed request can release it.
        """
        if not readings:
            return {}
        futures = [self._pool.submit(contextvars.copy_context().run, write, r) for r in readings]
        results: dict[_Id, Any] = {}
        written: list[RawItem] = []
        failure: BaseException | None = None
        for reading, future in zip(readings, futures, strict=True):
            try:
                value, wrote = future.result()
            except BaseException as exc:
                failure = failure or exc
                continue
            results[_id(reading)] = value
            if wrote:
                written.append(reading)
        if marked:
            record_written(markers=[(marker_key(r), _reading_key(r)) for r in written])
        else:
            record_written(readings=[_reading_key(r) for r in written])
        if failure is not None:
            raise failure
        return results

    def _conditional_put(self, item: dict[str, Any]) -> bool:
        """Put if the key is free; False when it was taken (condition failed)."""
        written = self._retrier.call_conditional(
            "DynamoDB PutItem",
            lambda: self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(sk)",
            ),
            reserve=UNDO_RESERVE_SECONDS,
        )
        return written is not None

    def _hold(self, reading: RawItem, *, stored: bool = False) -> tuple[RawItem, bool]:
        """The record of ``reading`` as stored, and whether this request now holds it.

        Written with this request's hold if its key is free, else the original with the
        hold added (``stored``: a read found it, so the put is skipped). A key another
        request's undo frees between the two is written after all.
        """
        token = hold_token()
        for _ in range(HOLD_ATTEMPTS):
            if not stored and self._conditional_put(
                to_attributes(reading) | {HOLDS: {"SS": [token]}}
            ):
                return reading, True
            original = self._add_hold(reading, token)
            if original is not None:
                return original
            stored = False
        raise StoreUnavailableError("DynamoDB deleted a raw reading each time it was written")

    def _hold_stored(self, reading: RawItem) -> tuple[RawItem, bool]:
        return self._hold(reading, stored=True)

    def _add_hold(self, reading: RawItem, token: str) -> tuple[RawItem, bool] | None:
        """Add ``token`` to a stored reading's holds: its original, or None if it is gone."""
        key = _reading_key(reading)
        after = change_holds(
            self._client,
            self._table,
            key,
            token=token,
            add=True,
            retrier=self._retrier,
            reserve=UNDO_RESERVE_SECONDS,
        )
        if after is not None:
            return from_attributes(after, RawItem), True
        # Gone, or stored before holds existed: such a reading no undo deletes.
        legacy = self._get(key["device_id"]["S"], key["sk"]["S"])
        return None if legacy is None else (from_attributes(legacy, RawItem), False)

    def _claim_marker(self, reading: RawItem) -> tuple[str | None, bool]:
        """Write the marker; ``(None, True)`` if claimed, else the existing reading key."""
        marker: dict[str, Any] = {
            **marker_key(reading),
            "reading_sk": {"S": keys.sort_key(reading.timestamp, reading.reading_id)},
        }
        if reading.expires_at is not None:
            marker["expires_at"] = {"N": str(reading.expires_at)}
        if self._conditional_put(marker):
            return None, True
        existing = self._get(reading.device_id, MARKER_PREFIX + reading.reading_id)
        if existing is None:
            raise StoreUnavailableError("DynamoDB reported a marker it cannot return")
        if existing == marker:
            return None, True  # our own put, retried after its reply was lost
        return str(existing["reading_sk"]["S"]), False

    def _get(self, device_id: str, sk: str) -> dict[str, Any] | None:
        response = self._retrier.call(
            "DynamoDB GetItem",
            lambda: self._client.get_item(
                TableName=self._table, Key=item_key(device_id, sk), ConsistentRead=True
            ),
        )
        item: dict[str, Any] | None = response.get("Item")
        return item

    def close(self) -> None:
        """Stop the put threads (idle ones; running puts finish)."""
        self._pool.shutdown(wait=False)

    def query_raw(
        self,
        *,
        device_id: str,
        start_ms: int,
        end_ms: int,
        limit: int,
        descending: bool,
        after_sk: str | None,
    ) -> StoredPage[RawItem]:
        """A page of raw readings in sort-key order."""
        return query_page(
            self._client,
            self._retrier,
            table=self._table,
            model=RawItem,
            device_id=device_id,
            start_ms=start_ms,
            end_ms=end_ms,
            limit=limit,
            descending=descending,
            after_sk=after_sk,
        )


def _reading_key(reading: RawItem) -> Key:
    return item_key(reading.device_id, keys.sort_key(reading.timestamp, reading.reading_id))


def _id(reading: RawItem) -> _Id:
    return (reading.device_id, reading.reading_id)


def _at_marker(reading: RawItem, sk: str) -> RawItem:
    """The reading under the key its marker names (the earlier attempt's timestamp)."""
    timestamp, _ = keys.split_sort_key(sk)
    return reading.model_copy(
        update={"timestamp": timestamp, "event_date": keys.event_date_of(timestamp)}
    )
