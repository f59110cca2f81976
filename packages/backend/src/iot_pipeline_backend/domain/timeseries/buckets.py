"""Aggregates: a device's processed readings in UTC-aligned buckets, a page of buckets at a time.

Whole hours inside the range come from the stored hour rollups when the interval is a whole
number of hours (a day is 24 small items, whatever the reading rate), whole minutes from the
minute rollups (at most 1,440 a day for ``1m``…``15m``, and at the edges of an hourly range),
and a range edge that cuts a minute from that minute's readings (at most two minutes per
query), so any ``start``/``end`` is exact.
A bucket's ``start``/``end`` are its aligned bounds; at the range's edges it holds only the
readings inside the range. ``next_token`` names the last bucket returned.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from iot_pipeline_common import limits
from iot_pipeline_common.aggregates import AggregateParams, AggregateResponse, Bucket

from iot_pipeline_backend.domain.query import decode_next_token, encode_next_token
from iot_pipeline_backend.domain.timeseries.rollups import HOUR_MS, MINUTE_MS, minute_of
from iot_pipeline_backend.domain.timeseries.stats import field_aggregate, merge_fields, rollup_of
from iot_pipeline_backend.errors import InvalidNextTokenError
from iot_pipeline_backend.ports import (
    FieldStats,
    Rollup,
    TimeSeriesStore,
    TokenKeySource,
)

_VERSION = 1
#: Stored rollup spans, coarsest first; a bucket uses those that divide its width.
ROLLUP_SPANS = (HOUR_MS, MINUTE_MS)


def _identity(params: AggregateParams, start: int, end: int) -> dict[str, Any]:
    return {
        "v": _VERSION,
        "kind": "aggregate",
        "device": params.device_id,
        "interval": params.interval,
        "fields": None if params.fields is None else list(params.fields),
        "stats": list(params.stats),
        "order": params.order,
        "range": [start, end],
    }


def aggregate_readings(
    params: AggregateParams,
    *,
    timeseries: TimeSeriesStore,
    token_key: TokenKeySource,
) -> AggregateResponse:
    """One page of non-empty buckets in the query's order."""
    start, end = params.time_range()
    width = limits.INTERVAL_MS[params.interval]
    identity = _identity(params, start, end)
    descending = params.order == "desc"
    lo, hi = start, end
    if params.next_token is not None:
        last = _bucket_of_token(params.next_token, identity, token_key, start, end, width)
        if descending:
            hi = last - 1
        else:
            lo = last + width
    buckets: list[Bucket] = []
    current: tuple[int, int, dict[str, FieldStats]] | None = None
    more = False
    for rollup in _rollups(params.device_id, lo, hi, descending, timeseries, width):
        bucket_start = rollup.start - rollup.start % width
        if current is not None and current[0] != bucket_start:
            buckets.append(_bucket(params, current, width))
            current = None
            if len(buckets) == params.limit:
                more = True
                break
        if current is None:
            current = (bucket_start, 0, {})
        current = (current[0], current[1] + rollup.count, merge_fields(current[2], rollup.fields))
    if current is not None and not more:
        buckets.append(_bucket(params, current, width))
    token = None
    if more:
        token = encode_next_token(identity, str(buckets[-1].start), key=token_key.token_key())
    return AggregateResponse(count=len(buckets), items=buckets, next_token=token)


def _bucket(
    params: AggregateParams, current: tuple[int, int, dict[str, FieldStats]], width: int
) -> Bucket:
    start, count, fields = current
    names = sorted(fields) if params.fields is None else [f for f in params.fields if f in fields]
    return Bucket(
        device_id=params.device_id,
        start=start,
        end=start + width - 1,
        count=count,
        stats={name: field_aggregate(fields[name], params.stats) for name in names},
    )


def _bucket_of_token(
    token: str, identity: dict[str, Any], key: TokenKeySource, start: int, end: int, width: int
) -> int:
    text = decode_next_token(token, identity, key=key.token_key())
    # Signed by us, so well-formed; checked anyway so a key leak cannot turn into a 500.
    if not text.isdigit() or int(text) % width or not start - width < int(text) <= end:
        raise InvalidNextTokenError("next_token is invalid: it names no bucket of this query")
    return int(text)


def _rollups(
    device_id: str,
    lo: int,
    hi: int,
    descending: bool,
    timeseries: TimeSeriesStore,
    width: int,
) -> Iterator[Rollup]:
    """Rollups covering exactly ``[lo, hi]`` in order, the coarsest that fit a bucket."""
    spans = [span for span in ROLLUP_SPANS if width % span == 0]
    return _cover(device_id, lo, hi, spans, descending, timeseries)


def _cover(
    device_id: str,
    lo: int,
    hi: int,
    spans: list[int],
    descending: bool,
    timeseries: TimeSeriesStore,
) -> Iterator[Rollup]:
    """Whole units of ``spans[0]`` from the store, the edges with the finer spans, and at
    the finest level, partial minutes straight from the readings."""
    if lo > hi:
        return
    if not spans:
        parts = list(_partials(device_id, lo, hi, timeseries))
        yield from reversed(parts) if descending else parts
        return
    span, finer = spans[0], spans[1:]
    first_whole = -(-lo // span) * span
    last_whole = (hi + 1) // span * span - span  # the last unit ending at or before hi
    if first_whole > last_whole:
        yield from _cover(device_id, lo, hi, finer, descending, timeseries)
        return
    head = (lo, first_whole - 1)
    tail = (last_whole + span, hi)
    first, last = (tail, head) if descending else (head, tail)
    yield from _cover(device_id, *first, finer, descending, timeseries)
    yield from timeseries.rollups(
        device_id=device_id, span=span, start=first_whole, end=last_whole, descending=descending
    )
    yield from _cover(device_id, *last, finer, descending, timeseries)


def _partials(device_id: str, lo: int, hi: int, timeseries: TimeSeriesStore) -> Iterator[Rollup]:
    split = minute_of(hi)
    for part_lo, part_hi in ((lo, min(hi, split - 1)), (max(lo, split), hi)):
        rollup = _edge(device_id, part_lo, part_hi, timeseries)
        if rollup is not None:
            yield rollup


def _edge(device_id: str, lo: int, hi: int, timeseries: TimeSeriesStore) -> Rollup | None:
    """The rollup of the readings in ``[lo, hi]``, a part of one minute (≤ its readings)."""
    if lo > hi:
        return None
    values = timeseries.reading_values(device_id=device_id, start_ms=lo, end_ms=hi)
    return rollup_of(device_id, minute_of(lo), values)
