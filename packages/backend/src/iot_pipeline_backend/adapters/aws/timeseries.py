"""Minute rollups and device records in the aggregates table (DynamoDB).

One table, partition ``device_id``, sort ``sk``:

* ``m#<13-digit minute start>`` / ``h#<13-digit hour start>``: a minute / hour rollup, ``c``
  readings, ``f``/``l`` first and last timestamp, ``s`` a map of field → ``{c, lo, hi, s}``
  (count, min, max, exact sum);
* ``device``: the device record, ``version``, ``first_seen``, ``last_seen``, ``readings``,
  ``latest`` (the processed item), and ``listing = "device"``, the partition key of the
  sparse keys-only index ``by-listing`` that lists devices in ``device_id`` order.

Rollups and the device record of one save are one TransactWriteItems call whose device put
is conditional on the version read before (optimistic concurrency; a cancelled condition is
a :class:`RollupConflictError` and the domain recomputes). The index's keys never change
after a device's first save, so later saves do not write to the index.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from iot_pipeline_common import keys
from iot_pipeline_common.models import ProcessedItem

from iot_pipeline_backend.adapters.aws._retry import Retrier, cancellation_reasons, error_code
from iot_pipeline_backend.adapters.aws.dynamodb import from_attributes
from iot_pipeline_backend.errors import RollupConflictError, StoreUnavailableError
from iot_pipeline_backend.ports import (
    FLAT_SENSORS,
    DevicePage,
    DeviceRecord,
    FieldStats,
    ReadingValues,
    Rollup,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

#: The sort-key prefix of each rollup span; none collides with a reading key (digits),
#: a marker (``id#``) or the device record.
SPAN_PREFIXES: Final = {60_000: "m#", 3_600_000: "h#"}
DEVICE_SK: Final = "device"
LISTING_INDEX: Final = "by-listing"
LISTING_ATTRIBUTE: Final = "listing"
#: BatchGetItem takes at most 100 keys.
_BATCH_GET_MAX = 100

#: The table as the stack creates it (tests create it in moto from this).
TABLE_KEYS: Final[dict[str, Any]] = {
    "KeySchema": [
        {"AttributeName": "device_id", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": "device_id", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": LISTING_ATTRIBUTE, "AttributeType": "S"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": LISTING_INDEX,
            "KeySchema": [
                {"AttributeName": LISTING_ATTRIBUTE, "KeyType": "HASH"},
                {"AttributeName": "device_id", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
}

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def rollup_sk(span: int, start: int) -> str:
    """The span's prefix + the 13-digit start: lexical order is time order."""
    return f"{SPAN_PREFIXES[span]}{start:013d}"


_SPAN_OF_PREFIX = {prefix: span for span, prefix in SPAN_PREFIXES.items()}


def _n(value: int | Decimal) -> dict[str, str]:
    return {"N": str(value)}


def _rollup_item(rollup: Rollup) -> dict[str, Any]:
    item: dict[str, Any] = {
        "device_id": {"S": rollup.device_id},
        "sk": {"S": rollup_sk(rollup.span, rollup.start)},
        "c": _n(rollup.count),
        "f": _n(rollup.first_ts),
        "l": _n(rollup.last_ts),
        "s": {
            "M": {
                name: {"M": {"c": _n(s.count), "lo": _n(s.min), "hi": _n(s.max), "s": _n(s.sum)}}
                for name, s in rollup.fields.items()
            }
        },
    }
    if rollup.expires_at is not None:
        item["expires_at"] = _n(rollup.expires_at)
    item["k"] = {"S": f"{rollup.keys_hash:x}"}
    return item


def _rollup_of(item: dict[str, Any]) -> Rollup:
    sk = item["sk"]["S"]
    return Rollup(
        device_id=item["device_id"]["S"],
        span=_SPAN_OF_PREFIX[sk[:2]],
        start=int(sk[2:]),
        count=int(item["c"]["N"]),
        first_ts=int(item["f"]["N"]),
        last_ts=int(item["l"]["N"]),
        fields={
            name: FieldStats(
                int(s["M"]["c"]["N"]),
                Decimal(s["M"]["lo"]["N"]),
                Decimal(s["M"]["hi"]["N"]),
                Decimal(s["M"]["s"]["N"]),
            )
            for name, s in item["s"]["M"].items()
        },
        expires_at=int(item["expires_at"]["N"]) if "expires_at" in item else None,
        keys_hash=int(item["k"]["S"], 16) if "k" in item else 0,
    )


def _device_item(device: DeviceRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "device_id": {"S": device.device_id},
        "sk": {"S": DEVICE_SK},
        LISTING_ATTRIBUTE: {"S": DEVICE_SK},
        "version": _n(device.version),
        "first_seen": _n(device.first_seen),
        "last_seen": _n(device.last_seen),
        "readings": _n(device.readings),
    }
    if device.latest is not None:
        plain = json.loads(
            json.dumps(device.latest.model_dump(mode="json", exclude_none=True)),
            parse_float=Decimal,
        )
        item["latest"] = _serializer.serialize(plain)
    return item


def _device_of(item: dict[str, Any]) -> DeviceRecord:
    latest = item.get("latest")
    return DeviceRecord(
        device_id=item["device_id"]["S"],
        first_seen=int(item["first_seen"]["N"]),
        last_seen=int(item["last_seen"]["N"]),
        readings=int(item["readings"]["N"]),
        latest=None if latest is None else from_attributes(latest["M"], ProcessedItem),
        version=int(item["version"]["N"]),
    )


class DynamoTimeSeriesStore:
    """The aggregates table: minute rollups and device records."""

    #: The processor recomputes the rollups after each batch (``maintain_rollups``).
    rolls_up_on_store = False

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        processed_table_name: str,
        retrier: Retrier | None = None,
    ) -> None:
        self._client = client
        self._retrier = retrier or Retrier()
        self._table = table_name
        self._processed = processed_table_name

    def reading_values(
        self, *, device_id: str, start_ms: int, end_ms: int
    ) -> Iterator[ReadingValues]:
        """From the processed table, projected to what statistics need (consistent read)."""
        request: dict[str, Any] = {
            "TableName": self._processed,
            "KeyConditionExpression": "device_id = :d AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":d": {"S": device_id},
                ":lo": {"S": keys.sk_lower_bound(start_ms)},
                ":hi": {"S": keys.sk_upper_bound(end_ms)},
            },
            # "timestamp" is a reserved word in expressions.
            "ProjectionExpression": "#t, sk, sensor_data, expires_at, " + ", ".join(FLAT_SENSORS),
            "ExpressionAttributeNames": {"#t": "timestamp"},
            "ConsistentRead": True,
        }
        while True:
            response = self._retrier.call("DynamoDB Query", lambda: self._client.query(**request))
            for item in response.get("Items", []):
                plain = {name: _deserializer.deserialize(v) for name, v in item.items()}
                yield ReadingValues.of_item(plain)
            last = response.get("LastEvaluatedKey")
            if last is None:
                return
            request["ExclusiveStartKey"] = last

    def rollups(
        self, *, device_id: str, span: int, start: int, end: int, descending: bool
    ) -> Iterator[Rollup]:
        """Rollups in minute order, one Query page (≤ 1 MB) at a time as the caller iterates."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "device_id = :d AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":d": {"S": device_id},
                ":lo": {"S": rollup_sk(span, start)},
                ":hi": {"S": rollup_sk(span, end)},
            },
            "ScanIndexForward": not descending,
            # The processor recomputes from what is stored now, and a query sees what was
            # acknowledged as processed.
            "ConsistentRead": True,
        }
        while True:
            response = self._retrier.call("DynamoDB Query", lambda: self._client.query(**request))
            for item in response.get("Items", []):
                yield _rollup_of(item)
            last = response.get("LastEvaluatedKey")
            if last is None:
                return
            request["ExclusiveStartKey"] = last

    def reading_keys(self, *, device_id: str, start_ms: int, end_ms: int) -> list[str]:
        """Sort keys only (a consistent Query projected to ``sk``; billed on item size)."""
        request: dict[str, Any] = {
            "TableName": self._processed,
            "KeyConditionExpression": "device_id = :d AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":d": {"S": device_id},
                ":lo": {"S": keys.sk_lower_bound(start_ms)},
                ":hi": {"S": keys.sk_upper_bound(end_ms)},
            },
            "ProjectionExpression": "sk",
            "ConsistentRead": True,
        }
        found: list[str] = []
        while True:
            response = self._retrier.call("DynamoDB Query", lambda: self._client.query(**request))
            found.extend(item["sk"]["S"] for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if last is None:
                return found
            request["ExclusiveStartKey"] = last

    def get_device(self, device_id: str) -> DeviceRecord | None:
        """The device record (consistent read), or ``None``."""
        response = self._retrier.call(
            "DynamoDB GetItem",
            lambda: self._client.get_item(
                TableName=self._table,
                Key={"device_id": {"S": device_id}, "sk": {"S": DEVICE_SK}},
                ConsistentRead=True,
            ),
        )
        item = response.get("Item")
        return None if item is None else _device_of(item)

    def list_devices(self, *, prefix: str, limit: int, after: str | None) -> DevicePage:
        """Ids from the keys-only index (eventually consistent), records by BatchGetItem."""
        condition = f"{LISTING_ATTRIBUTE} = :l"
        values: dict[str, Any] = {":l": {"S": DEVICE_SK}}
        if prefix:
            condition += " AND begins_with(device_id, :p)"
            values[":p"] = {"S": prefix}
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": LISTING_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if after is not None:
            request["ExclusiveStartKey"] = {
                LISTING_ATTRIBUTE: {"S": DEVICE_SK},
                "device_id": {"S": after},
                "sk": {"S": DEVICE_SK},
            }
        ids: list[str] = []
        while len(ids) <= limit:
            request["Limit"] = limit + 1 - len(ids)
            response = self._retrier.call("DynamoDB Query", lambda: self._client.query(**request))
            ids.extend(item["device_id"]["S"] for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if last is None:
                break
            request["ExclusiveStartKey"] = last
        more = len(ids) > limit
        ids = ids[:limit]
        records = self._get_devices(ids)
        devices = [records[i] for i in ids if i in records]
        return DevicePage(devices=devices, last_device_id=ids[-1] if more else None)

    def _get_devices(self, ids: list[str]) -> dict[str, DeviceRecord]:
        found: dict[str, DeviceRecord] = {}
        for start in range(0, len(ids), _BATCH_GET_MAX):
            keys: list[dict[str, Any]] = [
                {"device_id": {"S": i}, "sk": {"S": DEVICE_SK}}
                for i in ids[start : start + _BATCH_GET_MAX]
            ]
            pending: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(8):
                request = pending
                response = self._retrier.call(
                    "DynamoDB BatchGetItem",
                    functools.partial(self._client.batch_get_item, RequestItems=request),
                )
                for item in response.get("Responses", {}).get(self._table, []):
                    record = _device_of(item)
                    found[record.device_id] = record
                pending = {k: v for k, v in response.get("UnprocessedKeys", {}).items() if v}
                if not pending:
                    break
            else:
                raise StoreUnavailableError("DynamoDB left device reads unprocessed")
        return found

    def save_rollups(
        self, *, rollups: Sequence[Rollup], device: DeviceRecord, expected_version: int | None
    ) -> None:
        """One transaction: every rollup put, and the device put if still at that version."""
        puts: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": _rollup_item(r)}} for r in rollups
        ]
        guard: dict[str, Any] = {"TableName": self._table, "Item": _device_item(device)}
        if expected_version is None:
            guard["ConditionExpression"] = "attribute_not_exists(sk)"
        else:
            guard["ConditionExpression"] = "version = :v"
            guard["ExpressionAttributeValues"] = {":v": _n(expected_version)}
        puts.append({"Put": guard})
        try:
            self._client.transact_write_items(TransactItems=cast(Any, puts))
        except ClientError as exc:
            # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
            # A failed condition or a conflicting concurrent transaction cancels the whole
            # call; either way nothing was written and the domain re-reads and retries.
            reasons = cancellation_reasons(exc)
            if error_code(exc) == "TransactionCanceledException" and reasons <= {
                "None",
                "ConditionalCheckFailed",
                "TransactionConflict",
            }:
                raise RollupConflictError(device.device_id) from exc
            raise StoreUnavailableError(
                f"DynamoDB TransactWriteItems failed ({error_code(exc)})"
            ) from exc
        except BotoCoreError as exc:
            raise StoreUnavailableError("DynamoDB TransactWriteItems failed") from exc
