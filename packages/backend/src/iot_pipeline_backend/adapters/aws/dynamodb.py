"""Raw and processed reading stores on DynamoDB (partition ``device_id``, sort ``sk``).

Idempotency of raw readings: each reading is written together with a marker item
(``sk = "id#<reading_id>"``, holding only the reading's sort key) in one TransactWriteItems
call, both conditional on not existing yet. A keys-only marker stays under 1 KB, so it costs
one write unit instead of a copy's two; a repeat is rare and pays two reads instead. The
transaction is all-or-nothing, so there is never a marker without its reading, and a
repeated ``reading_id`` is detected by the marker's condition whatever timestamp the repeat
carries. Markers sort after every time-based key (``i`` > ``9``), so range queries never see
them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from iot_pipeline_common import keys
from iot_pipeline_common.models import ProcessedItem, RawItem

from iot_pipeline_backend.adapters.aws._retry import (
    MAX_ATTEMPTS,
    Sleep,
    aws_boundary,
    backoff_delay,
    error_code,
)
from iot_pipeline_backend.errors import StoreUnavailableError
from iot_pipeline_backend.ports import StoredPage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

#: BatchWriteItem takes at most 25 puts; TransactWriteItems at most 100 actions (50 readings).
BATCH_WRITE_MAX = 25
TRANSACTION_READINGS_MAX = 50
MARKER_PREFIX = "id#"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_ItemT = TypeVar("_ItemT", RawItem, ProcessedItem)
_RETRYABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "InternalServerError",
}


#: Cancellation reasons that go away on their own (the others are permanent).
_TRANSIENT_REASONS = {
    "None",
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
}


def _retryable(exc: ClientError) -> bool:
    code = error_code(exc)
    if code != "TransactionCanceledException":
        return code in _RETRYABLE
    reasons = exc.response.get("CancellationReasons", [])
    return all(str(reason.get("Code", "None")) in _TRANSIENT_REASONS for reason in reasons)


def to_attributes(item: RawItem | ProcessedItem, **extra: str) -> dict[str, Any]:
    """A record as DynamoDB attribute values; floats become Decimal (no binary rounding)."""
    plain = item.model_dump(mode="json", exclude_none=True) | {
        "sk": keys.sort_key(item.timestamp, item.reading_id),
        **extra,
    }
    exact = json.loads(json.dumps(plain), parse_float=Decimal)
    return {name: _serializer.serialize(value) for name, value in exact.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def from_attributes(attributes: dict[str, Any], model: type[_ItemT]) -> _ItemT:
    """The record of a DynamoDB item (key-only attributes dropped)."""
    plain = {name: _plain(_deserializer.deserialize(v)) for name, v in attributes.items()}
    for internal in ("sk", "reading_sk"):
        plain.pop(internal, None)
    return model.model_validate(plain)


def _query(
    client: DynamoDBClient,
    *,
    table: str,
    model: type[_ItemT],
    device_id: str,
    start_ms: int,
    end_ms: int,
    limit: int,
    descending: bool,
    after_sk: str | None,
) -> StoredPage[_ItemT]:
    items: list[dict[str, Any]] = []
    start_key: dict[str, Any] | None = (
        None if after_sk is None else {"device_id": {"S": device_id}, "sk": {"S": after_sk}}
    )
    # One item past the limit tells whether another page exists, so the last page never
    # hands out a token that leads to an empty page.
    while len(items) <= limit:
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "device_id = :d AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":d": {"S": device_id},
                ":lo": {"S": keys.sk_lower_bound(start_ms)},
                ":hi": {"S": keys.sk_upper_bound(end_ms)},
            },
            "ScanIndexForward": not descending,
            "Limit": limit + 1 - len(items),
            # Read-your-writes: a client that was just acknowledged can query its reading.
            "ConsistentRead": True,
        }
        if start_key is not None:
            request["ExclusiveStartKey"] = start_key
        with aws_boundary("DynamoDB Query"):
            response = client.query(**request)
        items.extend(response.get("Items", []))
        start_key = response.get("LastEvaluatedKey")
        if start_key is None:
            break
    more = len(items) > limit
    items = items[:limit]
    records = [from_attributes(item, model) for item in items]
    return StoredPage(records=records, last_sk=items[-1]["sk"]["S"] if more else None)


class DynamoRawReadingStore:
    """The raw table; idempotent by (device_id, reading_id) through marker items."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, *, sleep: Sleep = time.sleep
    ) -> None:
        self._client = client
        self._table = table_name
        self._sleep = sleep

    def store_raw_readings(self, readings: Sequence[RawItem]) -> list[RawItem]:
        """Store new readings; a repeat returns the stored original in its place."""
        unique: dict[tuple[str, str], RawItem] = {}
        for reading in readings:
            unique.setdefault((reading.device_id, reading.reading_id), reading)
        stored: dict[tuple[str, str], RawItem] = {}
        pending = list(unique.values())
        for start in range(0, len(pending), TRANSACTION_READINGS_MAX):
            self._store_chunk(pending[start : start + TRANSACTION_READINGS_MAX], stored)
        return [stored[(r.device_id, r.reading_id)] for r in readings]

    def _store_chunk(self, chunk: list[RawItem], stored: dict[tuple[str, str], RawItem]) -> None:
        todo = chunk
        attempt = 0
        while todo:
            try:
                self._client.transact_write_items(TransactItems=cast(Any, self._actions(todo)))
            except ClientError as exc:
                duplicates = self._duplicates(exc, todo)
                if duplicates:
                    # Not an error: report the originals and write the rest.
                    for reading in duplicates:
                        stored[(reading.device_id, reading.reading_id)] = self._original(reading)
                    todo = [r for r in todo if r not in duplicates]
                    continue
                if not _retryable(exc):
                    raise StoreUnavailableError(
                        f"DynamoDB TransactWriteItems failed ({error_code(exc)})"
                    ) from exc
                attempt += 1
                if attempt >= MAX_ATTEMPTS:
                    raise StoreUnavailableError("DynamoDB kept cancelling the write") from exc
                self._sleep(backoff_delay(attempt))
                continue
            except BotoCoreError as exc:
                raise StoreUnavailableError("DynamoDB TransactWriteItems failed") from exc
            for reading in todo:
                stored[(reading.device_id, reading.reading_id)] = reading
            return

    def _actions(self, readings: list[RawItem]) -> list[dict[str, Any]]:
        actions: list[dict[str, Any]] = []
        for reading in readings:
            item = to_attributes(reading)
            marker = {
                "device_id": item["device_id"],
                "sk": {"S": MARKER_PREFIX + reading.reading_id},
                "reading_sk": item["sk"],
                # TTL removes the marker with its reading.
                **({"expires_at": item["expires_at"]} if "expires_at" in item else {}),
            }
            for put in (marker, item):
                actions.append(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": put,
                            "ConditionExpression": "attribute_not_exists(sk)",
                        }
                    }
                )
        return actions

    @staticmethod
    def _duplicates(exc: ClientError, todo: list[RawItem]) -> list[RawItem]:
        if error_code(exc) != "TransactionCanceledException":
            return []
        reasons = exc.response.get("CancellationReasons", [])
        hit = {
            index // 2
            for index, reason in enumerate(reasons)
            if reason.get("Code") == "ConditionalCheckFailed"
        }
        return [todo[i] for i in sorted(hit) if i < len(todo)]

    def _original(self, reading: RawItem) -> RawItem:
        """The stored original of a repeat: the marker names its sort key."""
        marker = self._get(reading.device_id, MARKER_PREFIX + reading.reading_id)
        original = (
            None if marker is None else self._get(reading.device_id, marker["reading_sk"]["S"])
        )
        if original is None:
            raise StoreUnavailableError("DynamoDB reported a duplicate it cannot return")
        return from_attributes(original, RawItem)

    def _get(self, device_id: str, sk: str) -> dict[str, Any] | None:
        with aws_boundary("DynamoDB GetItem"):
            response = self._client.get_item(
                TableName=self._table,
                Key={"device_id": {"S": device_id}, "sk": {"S": sk}},
                ConsistentRead=True,
            )
        item: dict[str, Any] | None = response.get("Item")
        return item

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
        return _query(
            self._client,
            table=self._table,
            model=RawItem,
            device_id=device_id,
            start_ms=start_ms,
            end_ms=end_ms,
            limit=limit,
            descending=descending,
            after_sk=after_sk,
        )


class DynamoProcessedReadingStore:
    """The processed table; BatchWriteItem puts (upserts) in chunks of 25."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, *, sleep: Sleep = time.sleep
    ) -> None:
        self._client = client
        self._table = table_name
        self._sleep = sleep

    def store_processed_readings(self, readings: Sequence[ProcessedItem]) -> None:
        """Upsert all readings; UnprocessedItems are retried with backoff, then raise."""
        # BatchWriteItem rejects two puts of one key in a request; the last write wins anyway.
        latest = {(r.device_id, keys.sort_key(r.timestamp, r.reading_id)): r for r in readings}
        requests = [{"PutRequest": {"Item": to_attributes(r)}} for r in latest.values()]
        for start in range(0, len(requests), BATCH_WRITE_MAX):
            self._write(requests[start : start + BATCH_WRITE_MAX])

    def _write(self, requests: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {self._table: requests}
        for attempt in range(MAX_ATTEMPTS):
            with aws_boundary("DynamoDB BatchWriteItem"):
                response = self._client.batch_write_item(RequestItems=pending)
            pending = {k: v for k, v in response.get("UnprocessedItems", {}).items() if v}
            if not pending:
                return
            self._sleep(backoff_delay(attempt))
        raise StoreUnavailableError("DynamoDB left items unprocessed after retries")

    def query_processed(
        self,
        *,
        device_id: str,
        start_ms: int,
        end_ms: int,
        limit: int,
        descending: bool,
        after_sk: str | None,
    ) -> StoredPage[ProcessedItem]:
        """A page of processed readings in sort-key order."""
        return _query(
            self._client,
            table=self._table,
            model=ProcessedItem,
            device_id=device_id,
            start_ms=start_ms,
            end_ms=end_ms,
            limit=limit,
            descending=descending,
            after_sk=after_sk,
        )
