"""DynamoDB records, range queries and the processed store (partition ``device_id``, sort ``sk``).

The raw store, with its idempotency rules, is :mod:`.raw`. Every call goes through the
adapters' one retry layer (:class:`~iot_pipeline_backend.adapters.aws._retry.Retrier`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from iot_pipeline_common import keys
from iot_pipeline_common.models import ProcessedItem, RawItem

from iot_pipeline_backend.adapters.aws._retry import Retrier
from iot_pipeline_backend.ports import StoredPage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

#: BatchWriteItem takes at most 25 requests; BatchGetItem at most 100 keys.
BATCH_WRITE_MAX = 25
BATCH_GET_MAX = 100

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_ItemT = TypeVar("_ItemT", RawItem, ProcessedItem)

Key = dict[str, Any]


#: A raw item's string set of the tokens of the requests that hold it (``compensation.py``).
HOLDS = "holds"


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
    for internal in ("sk", "reading_sk", HOLDS):
        plain.pop(internal, None)
    return model.model_validate(plain)


def item_key(device_id: str, sk: str) -> Key:
    """The primary key of an item."""
    return {"device_id": {"S": device_id}, "sk": {"S": sk}}


def batch_write(
    client: DynamoDBClient, table: str, requests: list[dict[str, Any]], retrier: Retrier
) -> None:
    """BatchWriteItem in chunks of 25; ``UnprocessedItems`` retried, then raise."""
    for start in range(0, len(requests), BATCH_WRITE_MAX):
        pending: dict[str, Any] = {table: requests[start : start + BATCH_WRITE_MAX]}
        attempt = 0
        while True:
            response = retrier.call(
                "DynamoDB BatchWriteItem",
                partial(client.batch_write_item, RequestItems=pending),
            )
            pending = {k: v for k, v in response.get("UnprocessedItems", {}).items() if v}
            if not pending:
                break
            retrier.pause(attempt, "DynamoDB BatchWriteItem (unprocessed items)")
            attempt += 1


def batch_get(
    client: DynamoDBClient, table: str, wanted: Sequence[Key], retrier: Retrier
) -> dict[tuple[str, str], dict[str, Any]]:
    """The items that exist among ``wanted``, by (device_id, sk): 100 keys a call.

    Eventually consistent (half the read units of a strong read): a stale miss is caught by
    the conditional write that follows it, which then reads the original strongly.
    """
    found: dict[tuple[str, str], dict[str, Any]] = {}
    unique = list({(k["device_id"]["S"], k["sk"]["S"]): k for k in wanted}.values())
    for start in range(0, len(unique), BATCH_GET_MAX):
        pending: dict[str, Any] = {table: {"Keys": unique[start : start + BATCH_GET_MAX]}}
        attempt = 0
        while True:
            response = retrier.call(
                "DynamoDB BatchGetItem",
                partial(client.batch_get_item, RequestItems=pending),
            )
            for item in response.get("Responses", {}).get(table, []):
                found[(item["device_id"]["S"], item["sk"]["S"])] = item
            pending = {k: v for k, v in response.get("UnprocessedKeys", {}).items() if v}
            if not pending:
                break
            retrier.pause(attempt, "DynamoDB BatchGetItem (unprocessed keys)")
            attempt += 1
    return found


def query_page(
    client: DynamoDBClient,
    retrier: Retrier,
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
    """A page of ``limit`` records of the device in the range, after ``after_sk``."""
    items: list[dict[str, Any]] = []
    start_key: dict[str, Any] | None = None if after_sk is None else item_key(device_id, after_sk)
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
        response = retrier.call("DynamoDB Query", partial(client.query, **request))
        items.extend(response.get("Items", []))
        start_key = response.get("LastEvaluatedKey")
        if start_key is None:
            break
    more = len(items) > limit
    items = items[:limit]
    records = [from_attributes(item, model) for item in items]
    return StoredPage(records=records, last_sk=items[-1]["sk"]["S"] if more else None)


class DynamoProcessedReadingStore:
    """The processed table; BatchWriteItem puts (upserts) in chunks of 25."""

    def __init__(self, client: DynamoDBClient, table_name: str, *, retrier: Retrier) -> None:
        self._client = client
        self._table = table_name
        self._retrier = retrier

    def store_processed_readings(self, readings: Sequence[ProcessedItem]) -> None:
        """Upsert all readings; UnprocessedItems are retried with backoff, then raise."""
        # BatchWriteItem rejects two puts of one key in a request; the last write wins anyway.
        latest = {(r.device_id, keys.sort_key(r.timestamp, r.reading_id)): r for r in readings}
        requests = [{"PutRequest": {"Item": to_attributes(r)}} for r in latest.values()]
        batch_write(self._client, self._table, requests, self._retrier)

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
        return query_page(
            self._client,
            self._retrier,
            table=self._table,
            model=ProcessedItem,
            device_id=device_id,
            start_ms=start_ms,
            end_ms=end_ms,
            limit=limit,
            descending=descending,
            after_sk=after_sk,
        )


def change_holds(
    client: DynamoDBClient,
    table: str,
    key: Key,
    *,
    token: str,
    add: bool,
    retrier: Retrier,
    reserve: float = 0.0,
) -> dict[str, Any] | None:
    """Add ``token`` to a raw item's holds (``add``) or take it off; the item after, or None
    when the condition failed: for an add, the item has no holds (gone, or stored before
    holds existed); for a removal, the item is gone."""
    response = retrier.call_conditional(
        "DynamoDB UpdateItem",
        partial(
            client.update_item,
            TableName=table,
            Key=key,
            UpdateExpression=f"{'ADD' if add else 'DELETE'} {HOLDS} :token",
            ConditionExpression=f"attribute_exists({HOLDS if add else 'sk'})",
            ExpressionAttributeValues={":token": {"SS": [token]}},
            ReturnValues="ALL_NEW",
        ),
        reserve=reserve,
    )
    if response is None:
        return None
    attributes: dict[str, Any] = response["Attributes"]
    return attributes
