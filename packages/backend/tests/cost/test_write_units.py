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
from iot_pipeline_backend.cost.model import Assumptions, write_units_per_reading
from iot_pipeline_backend.domain.ingest import ingest_readings
from iot_pipeline_backend.domain.messages import unpack_message
from iot_pipeline_backend.domain.process import process_readings
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
    raise AssertionError(f"attribute type {kind} is not priced here")


def item_size(item: dict[str, Any]) -> int:
    """Bytes of an item: each attribute's name plus its value."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(item: dict[str, Any]) -> int:
    return math.ceil(item_size(item) / 1024)


class WriteMeter:
    """Write units of every DynamoDB write a client sends, by component."""

    def __init__(self, *, raw_table: str, processed_table: str) -> None:
        self.units: Counter[str] = Counter()
        self.raw_item_bytes: list[int] = []
        self._raw_table = raw_table
        self._processed_table = processed_table
        self._lock = threading.Lock()  # the raw store puts from several threads

    def component(self, table: str, item: dict[str, Any]) -> str:
        """Which priced component a write belongs to. A new kind of item (aggregates, say)
        gets its own name here and its own entry in ``cost.model.write_units_per_reading``."""
        if table == self._raw_table:
            return "marker" if item["sk"]["S"].startswith("id#") else "raw"
        if table == self._processed_table:
            return "processed"
        raise AssertionError(f"writes to {table} are not priced by the cost model")

    def count(self, table: str, item: dict[str, Any]) -> None:
        part = self.component(table, item)
        with self._lock:
            self.units[part] += write_units(item)
            if part == "raw":
                self.raw_item_bytes.append(item_size(item))

    def before_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "PutItem":
            self.count(params["TableName"], params["Item"])
        elif model.name == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    self.count(table, request["PutRequest"]["Item"])
        elif model.name in ("UpdateItem", "DeleteItem", "TransactWriteItems"):
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
    if shape != "seed":  # a retry of readings with a reading_id writes nothing raw again
        ingest_readings(
            readings,
            raw_store=aws.adapters.raw,
            queue=aws.adapters.queue,
            config=config,
            now_ms=T0 + 5_000,
        )
        assert meter.units["raw"] == written_once["raw"]
        assert meter.units["marker"] == written_once.get("marker", 0)

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
