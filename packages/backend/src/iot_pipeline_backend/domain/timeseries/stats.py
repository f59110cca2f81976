"""Statistics of readings in exact decimal arithmetic, so merging never depends on order.

Every value is taken as the decimal its JSON spelling names (``22.41`` is 22.41, not the
nearest binary float) and sums are kept in 38 significant digits, DynamoDB's number
precision. Sums of real sensor values never need that many digits, so a sum is exact and the
same whether it was added reading by reading, minute by minute or bucket by bucket; only the
final ``avg`` and ``sum`` of an answer are rounded, once, to the nearest float (``avg`` is
the exact quotient ``sum / count`` rounded).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Context, Decimal
from fractions import Fraction

from iot_pipeline_common.aggregates import FieldAggregate, Stat
from iot_pipeline_common.models import ProcessedItem

from iot_pipeline_backend.ports import FieldStats, Rollup

#: 38 digits as DynamoDB numbers hold; a sum that would need more is rounded half-even.
DECIMAL = Context(prec=38)
_FLAT_SENSORS = ("temperature", "humidity", "pressure")


def sensor_values(item: ProcessedItem) -> dict[str, float]:
    """The numeric sensor fields of a processed reading (what a device sent)."""
    if item.sensor_data is not None:
        return dict(item.sensor_data)
    # Items written before sensor_data was kept carry the known sensors flat.
    flat = {name: getattr(item, name) for name in _FLAT_SENSORS}
    return {name: value for name, value in flat.items() if value is not None}


def exact(value: float | int | Decimal) -> Decimal:
    """The decimal a JSON number spells (``repr`` of a float is its shortest spelling)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def merge_field(a: FieldStats, b: FieldStats) -> FieldStats:
    """Statistics of the union of two disjoint sets of values."""
    return FieldStats(
        count=a.count + b.count,
        min=min(a.min, b.min),
        max=max(a.max, b.max),
        sum=DECIMAL.add(a.sum, b.sum),
    )


def merge_fields(
    into: dict[str, FieldStats], other: Mapping[str, FieldStats]
) -> dict[str, FieldStats]:
    """``into`` updated with ``other`` (in place, returned for chaining)."""
    for name, stats in other.items():
        known = into.get(name)
        into[name] = stats if known is None else merge_field(known, stats)
    return into


def rollup_of(device_id: str, start: int, items: Iterable[ProcessedItem]) -> Rollup | None:
    """The rollup of ``items`` (distinct readings), or ``None`` when there are none."""
    count, first_ts, last_ts = 0, 0, 0
    fields: dict[str, FieldStats] = {}
    expiries: list[int | None] = []
    for item in items:
        first_ts = item.timestamp if count == 0 else min(first_ts, item.timestamp)
        last_ts = item.timestamp if count == 0 else max(last_ts, item.timestamp)
        count += 1
        expiries.append(item.expires_at)
        for name, value in sensor_values(item).items():
            number = exact(value)
            merge_fields(fields, {name: FieldStats(1, number, number, number)})
    if count == 0:
        return None
    # The rollup lives as long as its longest-lived reading; never if one never expires.
    expires_at = None if None in expiries else max(e for e in expiries if e is not None)
    return Rollup(
        device_id=device_id,
        start=start,
        count=count,
        first_ts=first_ts,
        last_ts=last_ts,
        fields=fields,
        expires_at=expires_at,
    )


def plain_number(value: Decimal) -> int | float:
    """An integral decimal as an int (``60`` stays ``60``), any other as the nearest float."""
    return int(value) if value == value.to_integral_value() else float(value)


def field_aggregate(stats: FieldStats, wanted: Iterable[Stat]) -> FieldAggregate:
    """The ``wanted`` statistics of one field as the API answers them."""
    values: dict[str, int | float] = {}
    for stat in wanted:
        if stat == "count":
            values["count"] = stats.count
        elif stat == "min":
            values["min"] = plain_number(stats.min)
        elif stat == "max":
            values["max"] = plain_number(stats.max)
        elif stat == "sum":
            values["sum"] = float(stats.sum)
        else:
            # Exact quotient, rounded once: the nearest float to sum / count.
            values["avg"] = float(Fraction(stats.sum) / stats.count)
    return FieldAggregate.model_validate(values)
