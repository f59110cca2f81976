"""What keeping and reading the time series costs on DynamoDB: a component of the model.

As built (``domain/timeseries``): after each processor batch, for every device in it, the
processor reads the device record (``GetItem``), the stored rollups of the minutes the batch
touched, those minutes' processed readings and the touched hours' minute rollups
(``Query``, consistent), then writes the recomputed minute and hour rollups and the device
record in one ``TransactWriteItems`` call, which bills every write unit twice. A device
sends ``batch_size`` readings a request at :data:`DEVICE_READINGS_PER_MINUTE`, so one
request touches ``1 + (batch_size - 1) / 60`` minutes and ``1 + (batch_size - 1) / 3600``
hours on average. Queries read rollups (consistent reads), never readings, except the
at most two partial minutes at the edges of a range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from iot_pipeline_backend.cost.assumptions import Assumptions
from iot_pipeline_backend.cost.model import DYNAMODB_READ_UNIT_BYTES, DYNAMODB_WRITE_UNIT_BYTES

#: 1 Hz devices: the rate the aggregates are sized for.
DEVICE_READINGS_PER_MINUTE: Final = 60
#: A minute rollup with three fields: keys, count, first/last timestamp, and per field
#: count/min/max/sum (about 300 bytes of names and numbers).
ROLLUP_ITEM_BYTES: Final = 300
#: A device record: its latest processed item plus keys, version, first/last seen, readings.
DEVICE_RECORD_EXTRA_BYTES: Final = 150
MINUTES_PER_DAY: Final = 1_440
HOURS_PER_DAY: Final = 24
DEVICES_PAGE: Final = 100
#: A keys-only index entry of the device listing (device id, table and index keys).
LISTING_ENTRY_BYTES: Final = 80


def _units(size: float, unit: int) -> int:
    return math.ceil(size / unit)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeSeriesCost:
    """Units per reading written and per query, for one set of assumptions."""

    minutes_per_request: float
    write_units_per_reading: float
    read_units_per_reading: float
    write_units_per_reading_one_per_request: float
    day_hourly_aggregate_read_units: int
    day_by_minute_read_units: int
    device_read_units: int
    devices_page_read_units: float


def time_series_cost(a: Assumptions) -> TimeSeriesCost:
    """Rollup maintenance per reading and the read units of the time-series queries."""
    device_bytes = a.processed_item_bytes + DEVICE_RECORD_EXTRA_BYTES

    def per_request(batch: int) -> tuple[float, float, float]:
        minutes = 1 + (batch - 1) / DEVICE_READINGS_PER_MINUTE
        hours = 1 + (batch - 1) / (DEVICE_READINGS_PER_MINUTE * 60)
        writes = 2 * (
            (minutes + hours) * _units(ROLLUP_ITEM_BYTES, DYNAMODB_WRITE_UNIT_BYTES)
            + _units(device_bytes, DYNAMODB_WRITE_UNIT_BYTES)
        )
        # Recompute: every reading of each touched minute is read again (whole items are
        # billed, whatever the projection).
        reads = (
            _units(device_bytes, DYNAMODB_READ_UNIT_BYTES)
            + _units(minutes * ROLLUP_ITEM_BYTES, DYNAMODB_READ_UNIT_BYTES)
            + _units(
                minutes * DEVICE_READINGS_PER_MINUTE * a.processed_item_bytes,
                DYNAMODB_READ_UNIT_BYTES,
            )
            # Each touched hour is merged again from its (up to 60) minute rollups.
            + _units(hours * 60 * ROLLUP_ITEM_BYTES, DYNAMODB_READ_UNIT_BYTES)
        )
        return minutes, writes, reads

    minutes, writes, reads = per_request(a.batch_size)
    _, single_writes, _ = per_request(1)
    return TimeSeriesCost(
        minutes_per_request=minutes,
        write_units_per_reading=writes / a.batch_size,
        read_units_per_reading=reads / a.batch_size,
        write_units_per_reading_one_per_request=single_writes,
        day_hourly_aggregate_read_units=_units(
            HOURS_PER_DAY * ROLLUP_ITEM_BYTES, DYNAMODB_READ_UNIT_BYTES
        ),
        day_by_minute_read_units=_units(
            MINUTES_PER_DAY * ROLLUP_ITEM_BYTES, DYNAMODB_READ_UNIT_BYTES
        ),
        device_read_units=_units(device_bytes, DYNAMODB_READ_UNIT_BYTES),
        # The index page (eventually consistent: half) and one consistent read per record.
        devices_page_read_units=_units(DEVICES_PAGE * LISTING_ENTRY_BYTES, DYNAMODB_READ_UNIT_BYTES)
        / 2
        + DEVICES_PAGE * _units(device_bytes, DYNAMODB_READ_UNIT_BYTES),
    )


def summary_lines(a: Assumptions) -> list[str]:
    """The time-series part of ``iot-pipeline cost``'s table."""
    c = time_series_cost(a)
    return [
        "time series (minute and hour rollups kept by the processor, 1 Hz devices):",
        f"  rollup writes: {c.write_units_per_reading:.3f} write units per reading "
        f"({c.minutes_per_request:.2f} minutes touched per request, transactional); "
        f"{c.write_units_per_reading_one_per_request:g} per reading at one reading per request",
        f"  rollup recompute reads: {c.read_units_per_reading:.3f} read units per reading",
        f"  hourly aggregate of one day: {c.day_hourly_aggregate_read_units} read units "
        f"({HOURS_PER_DAY} hour rollups, not {MINUTES_PER_DAY * 60:,} readings); by minute "
        f"({MINUTES_PER_DAY:,} minute rollups): {c.day_by_minute_read_units}",
        f"  GET /devices/{{id}}: {c.device_read_units} read unit; a page of {DEVICES_PAGE} "
        f"devices: {c.devices_page_read_units:g}",
    ]
