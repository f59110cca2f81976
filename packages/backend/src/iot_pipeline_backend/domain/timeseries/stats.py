"""Statistics of readings in exact decimal arithmetic, so merging never depends on order.

Every value is taken as the decimal its JSON spelling names (``22.41`` is 22.41, not the
nearest binary float) and sums are kept in 38 significant digits, DynamoDB's number
precision. Sums of real sensor values never need that many digits, so a sum is exact and the
same whether it was added reading by reading, minute by minute or bucket by bucket; only the
final ``avg`` and ``sum`` of an answer are rounded, once, to the nearest float (``avg`` is
the exact quotient ``sum / count`` rounded).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from decimal import Context, Decimal, localcontext
from fractions import Fraction

from iot_pipeline_common.aggregates import FieldAggregate, Stat

from iot_pipeline_backend.ports import FieldStats, ReadingValues, Rollup

#: 38 digits as DynamoDB numbers hold; a sum that would need more is rounded half-even.
DECIMAL = Context(prec=38)
#: Key hashes add modulo this: a 128-bit multiset hash of the readings a rollup holds.
KEYS_HASH_MOD = 2**128


def keys_hash(sort_keys: Iterable[str]) -> int:
    """Order-free hash of a set of reading sort keys; hashes of disjoint sets add up."""
    total = 0
    for sk in sort_keys:
        total += int.from_bytes(hashlib.blake2b(sk.encode(), digest_size=16).digest(), "big")
    return total % KEYS_HASH_MOD


def exact(value: float | int | Decimal) -> Decimal:
    """The decimal a JSON number spells (``repr`` of a float is its shortest spelling)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(value) if isinstance(value, int) else _spelled(repr(value))


# Sensor values repeat (a tenth of a degree, a percent of humidity): most readings of a
# batch find their Decimal here instead of parsing it again. Decimals are immutable.
@functools.lru_cache(maxsize=8192)
def _spelled(text: str) -> Decimal:
    return Decimal(text)


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


def rollup_of(device_id: str, start: int, items: Iterable[ReadingValues]) -> Rollup | None:
    """The rollup of ``items`` (distinct readings), or ``None`` when there are none."""
    timestamps: list[int] = []
    expiries: list[int | None] = []
    values: dict[str, list[Decimal]] = {}
    sort_keys: list[str] = []
    for item in items:
        sort_keys.append(item.sk)
        timestamps.append(item.timestamp)
        expiries.append(item.expires_at)
        for name, value in item.values.items():
            values.setdefault(name, []).append(exact(value))
    if not timestamps:
        return None
    with localcontext(DECIMAL):
        fields = {
            name: FieldStats(len(numbers), min(numbers), max(numbers), sum(numbers, Decimal(0)))
            for name, numbers in values.items()
        }
    # The rollup lives as long as its longest-lived reading; never if one never expires.
    expires_at = None if None in expiries else max(e for e in expiries if e is not None)
    return Rollup(
        device_id=device_id,
        start=start,
        count=len(timestamps),
        first_ts=min(timestamps),
        last_ts=max(timestamps),
        fields=fields,
        expires_at=expires_at,
        keys_hash=keys_hash(sort_keys),
    )


def merge_rollups(device_id: str, span: int, start: int, parts: Iterable[Rollup]) -> Rollup | None:
    """One rollup of ``span`` from disjoint smaller ones (``None`` when there are none)."""
    count, first_ts, last_ts, hashed = 0, 0, 0, 0
    fields: dict[str, FieldStats] = {}
    expiries: list[int | None] = []
    for part in parts:
        hashed = (hashed + part.keys_hash) % KEYS_HASH_MOD
        first_ts = part.first_ts if count == 0 else min(first_ts, part.first_ts)
        last_ts = part.last_ts if count == 0 else max(last_ts, part.last_ts)
        count += part.count
        expiries.append(part.expires_at)
        merge_fields(fields, part.fields)
    if count == 0:
        return None
    expires_at = None if None in expiries else max(e for e in expiries if e is not None)
    return Rollup(device_id, start, count, first_ts, last_ts, fields, expires_at, span, hashed)


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
