"""The cost model's write units per reading, recounted from the adapters' real calls on moto.

Every DynamoDB write the AWS adapters send is seen by a botocore event hook
(``before-parameter-build``, which sees the call's parameters as the adapter passed them) and
billed by DynamoDB's rule: one write unit per started 1 KB of item size
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/provisioned-capacity-mode.html#read-write-capacity-units),
item size counted as
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
describes it. The counts, per component (raw, marker, processed; further components such as
aggregates add their own key), must equal what ``cost.model`` prices, so model and code
cannot drift apart.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from iot_pipeline_backend.cost.assumptions import Assumptions
from iot_pipeline_backend.cost.model import write_units_per_reading
from iot_pipeline_backend.cost.timeseries import (
    DEVICE_RECORD_EXTRA_BYTES,
    ROLLUP_ITEM_BYTES,
    time_series_cost,
)
from iot_pipeline_backend.domain.ingest import ingest_readings
from iot_pipeline_backend.domain.messages import unpack_message
from iot_pipeline_backend.domain.process import process_readings
from iot_pipeline_backend.domain.timeseries import maintain_rollups
from iot_pipeline_common.models import PipelineConfig, Reading

T0 = 1_705_314_600_000
READINGS = 20
#: The budget per SDK-shaped reading, aggregates included.
WRITE_UNIT_BUDGET = 3.0


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value, by DynamoDB's item-size rules."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = Decimal(inner).normalize().as_tuple().digits
        return math.ceil(len(digits) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind == "SS":
        # The page gives no rule for sets: priced as a list of its strings (3 bytes, and 1
        # per element), which can only count more than DynamoDB does.
        return 3 + sum(len(v.encode()) + 1 for v in inner)
    raise AssertionError(f"attribute type {kind} is not priced here")


def item_size(item: dict[str, Any]) -> int:
    """Bytes of an item: each attribute's name plus its value."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(item: dict[str, Any]) -> int:
    return math.ceil(item_size(item) / 1024)


class WriteMeter:
    """Write units of every DynamoDB write a client sends, by component."""

    def __init__(
        self, *, raw_table: str, processed_table: str, aggregates_table: str | None = None
    ) -> None:
        self.units: Counter[str] = Counter()
        self.raw_item_bytes: list[int] = []
        #: Each raw item's size as put, by key: what an UpdateItem of it is billed for.
        self._raw_sizes: dict[tuple[str, str], int] = {}
        #: Bytes of each aggregates item written, by component ("rollup", "device record").
        self.aggregate_item_bytes: dict[str, list[int]] = {"rollup": [], "device record": []}
        self._raw_table = raw_table
        self._processed_table = processed_table
        self._aggregates_table = aggregates_table
        self._lock = threading.Lock()  # the raw store puts from several threads

    def component(self, table: str, item: dict[str, Any]) -> str:
        """Which priced component a write belongs to. A new kind of item (aggregates, say)
        gets its own name here and its own entry in ``cost.model.write_units_per_reading``."""
        if table == self._raw_table:
            return "marker" if item["sk"]["S"].startswith("id#") else "raw"
        if table == self._processed_table:
            return "processed"
        if table == self._aggregates_table:
            return "device record" if item["sk"]["S"] == "device" else "rollup"
        raise AssertionError(f"writes to {table} are not priced by the cost model")

    def count(self, table: str, item: dict[str, Any], *, factor: int = 1) -> None:
        part = self.component(table, item)
        with self._lock:
            self.units[part] += factor * write_units(item)
            if part == "raw":
                self.raw_item_bytes.append(item_size(item))
                self._raw_sizes[(item["device_id"]["S"], item["sk"]["S"])] = item_size(item)
            elif part in self.aggregate_item_bytes:
                self.aggregate_item_bytes[part].append(item_size(item))

    def before_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "PutItem":
            self.count(params["TableName"], params["Item"])
        elif model.name == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    self.count(table, request["PutRequest"]["Item"])
        elif model.name == "TransactWriteItems":
            # Two write units per started KB of each item written in a transaction:
            # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-capacity-handling
            for entry in params["TransactItems"]:
                ((action, request),) = entry.items()
                if action != "Put":
                    raise AssertionError(f"transactional {action} is not priced by this meter")
                self.count(request["TableName"], request["Item"], factor=2)
        elif model.name == "UpdateItem" and params["TableName"] == self._raw_table:
            # A repeat's hold: ADD of one token to a raw item this meter saw put, billed by
            # the larger of the item's sizes before and after
            # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/provisioned-capacity-mode.html#read-write-capacity-units).
            assert params["UpdateExpression"].startswith("ADD holds "), params
            key = (params["Key"]["device_id"]["S"], params["Key"]["sk"]["S"])
            ((token,),) = (v["SS"] for v in params["ExpressionAttributeValues"].values())
            after = self._raw_sizes[key] + len(token.encode()) + 1
            with self._lock:
                self.units["hold"] += math.ceil(after / 1024)
        elif model.name in ("UpdateItem", "DeleteItem"):
            raise AssertionError(f"{model.name} is not priced by this meter yet")


def sdk_shaped(index: int, *, shape: str) -> Reading:
    """A reading like the SDK sends (~200 B): device timestamp and a uuid reading_id."""
    return Reading(
        device_id="device-0042",
        sensor_data={"temperature": 21.5 + index / 10, "humidity": 55.0, "pressure": 1013.2},
        timestamp=None if shape == "reading_id only" else T0 + index,
        reading_id=None if shape == "seed" else str(uuid.uuid4()),
        seq=index,
    )


@pytest.mark.parametrize(("shape", "markers"), [("sdk", 0), ("seed", 0), ("reading_id only", 1)])
def test_given_readings_of_each_shape_then_the_write_units_counted_equal_the_model(
    aws: Any, shape: str, markers: int
) -> None:
    meter = WriteMeter(
        raw_table=aws.settings.raw_table_name, processed_table=aws.settings.processed_table_name
    )
    aws.adapters.clients["dynamodb"].meta.events.register(
        "before-parameter-build.dynamodb", meter.before_call
    )
    config = PipelineConfig()
    # WHEN a batch is ingested, its messages processed, and the same batch sent again
    readings = [sdk_shaped(i, shape=shape) for i in range(READINGS)]
    ingest_readings(
        readings, raw_store=aws.adapters.raw, queue=aws.adapters.queue, config=config, now_ms=T0
    )
    for body in aws.drain_queue():
        process_readings(
            unpack_message(body),
            processed_store=aws.adapters.processed,
            alerts=aws.adapters.alerts,
            config=config,
            now_ms=T0,
        )
    written_once = dict(meter.units)
    assert "hold" not in written_once  # new readings are held by their put
    if shape != "seed":
        # a retry of readings with a reading_id writes nothing raw again: each repeat only
        # takes hold of its original (retries are not priced: docs/cost.md)
        ingest_readings(
            readings,
            raw_store=aws.adapters.raw,
            queue=aws.adapters.queue,
            config=config,
            now_ms=T0 + 5_000,
        )
        assert meter.units["raw"] == written_once["raw"]
        assert meter.units["marker"] == written_once.get("marker", 0)
        # one hold per repeat, billed as its raw item's put was
        assert meter.units["hold"] == written_once["raw"]

    # THEN per reading, each component costs what the model prices for that item size
    per_reading = {part: units / READINGS for part, units in written_once.items()}
    mean_raw_bytes = sum(meter.raw_item_bytes) / len(meter.raw_item_bytes)
    modelled = write_units_per_reading(
        Assumptions(
            readings_per_second=1,
            bytes_per_reading=math.ceil(mean_raw_bytes),
            idempotency_writes_per_reading=markers,
        )
    )
    assert per_reading == {part: units for part, units in modelled.items() if units}
    if shape == "sdk":
        # ~200 B readings: the floor of one raw and one processed write each, in budget
        assert mean_raw_bytes < 400
        assert per_reading == {"raw": 1.0, "processed": 1.0}
        assert sum(per_reading.values()) <= WRITE_UNIT_BUDGET


def test_given_sdk_readings_of_one_device_at_1_hz_then_rollup_writes_counted_equal_the_model(
    aws: Any,
) -> None:
    meter = WriteMeter(
        raw_table=aws.settings.raw_table_name,
        processed_table=aws.settings.processed_table_name,
        aggregates_table=aws.settings.aggregates_table_name,
    )
    aws.adapters.clients["dynamodb"].meta.events.register(
        "before-parameter-build.dynamodb", meter.before_call
    )
    config = PipelineConfig()
    # GIVEN one request of 100 SDK-shaped readings from one device, a second apart (T0 is a
    # minute boundary: they touch 2 minutes and 1 hour)
    readings = [
        sdk_shaped(i, shape="sdk").model_copy(update={"timestamp": T0 + i * 1_000})
        for i in range(100)
    ]
    ingest_readings(
        readings, raw_store=aws.adapters.raw, queue=aws.adapters.queue, config=config, now_ms=T0
    )
    # WHEN the processor stores them and keeps their rollups, as its handler does on AWS
    for body in aws.drain_queue():
        items = process_readings(
            unpack_message(body),
            processed_store=aws.adapters.processed,
            alerts=aws.adapters.alerts,
            config=config,
            now_ms=T0,
        )
        maintain_rollups(items, timeseries=aws.adapters.timeseries)

    # THEN the rollups and the device record were written once each, in one transaction,
    # at the item sizes the model assumes
    sizes = meter.aggregate_item_bytes
    assert len(sizes["rollup"]) == 2 + 1 and len(sizes["device record"]) == 1
    assert max(sizes["rollup"]) <= ROLLUP_ITEM_BYTES
    mean_raw_bytes = math.ceil(sum(meter.raw_item_bytes) / len(meter.raw_item_bytes))
    assumptions = Assumptions(
        readings_per_second=1, batch_size=100, bytes_per_reading=mean_raw_bytes
    )
    assert sizes["device record"][0] <= assumptions.processed_item_bytes + (
        DEVICE_RECORD_EXTRA_BYTES
    )
    rollup_units = (meter.units["rollup"] + meter.units["device record"]) / 100
    assert rollup_units == 2 * (3 * 1 + 1) / 100
    # AND the model prices the same writes for the minutes a request touches on average
    # (1 + 99/60 instead of this request's 2)
    modelled = time_series_cost(assumptions)
    assert modelled.write_units_per_reading == pytest.approx(
        2 * (modelled.minutes_per_request + 1 + 99 / 3600 + 1) / 100
    )
    assert modelled.write_units_per_reading == pytest.approx(
        rollup_units + 2 * (modelled.minutes_per_request - 2 + 99 / 3600) / 100
    )
    # AND raw, processed and aggregates together stay within the budget per reading
    total = (meter.units["raw"] + meter.units["processed"]) / 100 + rollup_units
    assert total <= WRITE_UNIT_BUDGET
