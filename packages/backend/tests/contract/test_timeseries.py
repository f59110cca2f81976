"""Aggregates and devices are exact under the pipeline's real life, on every adapter set.

The oracle is a brute-force computation in exact rational arithmetic (``fractions``) over
every processed reading stored, compared with each answer of the time-series reads after a
generated history of client retries, redeliveries, replays, late and out-of-order arrivals
and crashes between the processed write and the rollup step.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iot_pipeline_backend.domain.process import process_readings
from iot_pipeline_backend.domain.timeseries import (
    aggregate_readings,
    get_device,
    list_devices,
    maintain_rollups,
)
from iot_pipeline_backend.errors import (
    DeviceNotFoundError,
    InvalidNextTokenError,
    RollupConflictError,
)
from iot_pipeline_backend.ports import AlertSink, DeviceRecord
from iot_pipeline_common import keys, limits
from iot_pipeline_common.aggregates import AggregateParams, Bucket, DevicesParams, bucket_count
from iot_pipeline_common.models import PipelineConfig, ProcessedItem, RawItem

from .conftest import Backend

T0 = 1_705_312_800_000  # 2024-01-15T10:00:00Z, an hour boundary
CONFIG = PipelineConfig()
_examples = itertools.count()


class _NoAlerts:
    def publish_alert(self, alert: object) -> None:
        pass


def _raw(device: str, reading_id: str, timestamp: int, data: dict[str, float]) -> RawItem:
    return RawItem(
        device_id=device,
        event_date=keys.event_date_of(timestamp),
        timestamp=timestamp,
        reading_id=reading_id,
        sensor_data=data,
        ingested_at=keys.iso_utc(timestamp),
    )


def _deliver(backend: Backend, batch: list[RawItem], *, crash: bool = False) -> None:
    """What the processor does with one message; ``crash`` stops before the rollup step."""
    alerts: AlertSink = _NoAlerts()
    items = process_readings(
        batch, processed_store=backend.processed, alerts=alerts, config=CONFIG, now_ms=T0
    )
    if not crash:
        maintain_rollups(items, timeseries=backend.timeseries)


def _processed(backend: Backend, device: str) -> list[ProcessedItem]:
    out: list[ProcessedItem] = []
    after: str | None = None
    while True:
        page = backend.processed.query_processed(
            device_id=device,
            start_ms=0,
            end_ms=limits.TIMESTAMP_MAX_MS,
            limit=1000,
            descending=False,
            after_sk=after,
        )
        out.extend(page.records)
        if page.last_sk is None:
            return out
        after = page.last_sk


def _all_buckets(backend: Backend, params: AggregateParams) -> list[Bucket]:
    buckets: list[Bucket] = []
    token: str | None = None
    for _ in range(10_000):
        page = aggregate_readings(
            params.model_copy(update={"next_token": token}),
            timeseries=backend.timeseries,
            token_key=backend.token_key,
        )
        assert page.count == len(page.items) <= params.limit
        buckets.extend(page.items)
        token = page.next_token
        if token is None:
            return buckets
    raise AssertionError("paging did not end")


def _oracle(
    readings: Iterable[ProcessedItem], *, start: int, end: int, width: int, descending: bool
) -> list[dict[str, object]]:
    """Buckets by brute force, exact rationals, every stat of every field."""
    grouped: dict[int, list[ProcessedItem]] = {}
    for item in readings:
        if start <= item.timestamp <= end:
            grouped.setdefault(item.timestamp // width * width, []).append(item)
    out: list[dict[str, object]] = []
    for bucket in sorted(grouped, reverse=descending):
        values: dict[str, list[Fraction]] = {}
        for item in grouped[bucket]:
            for name, value in (item.sensor_data or {}).items():
                values.setdefault(name, []).append(Fraction(repr(value)))
        stats = {
            name: {
                "count": len(v),
                "min": float(min(v)),
                "max": float(max(v)),
                "sum": float(sum(v)),
                "avg": float(sum(v) / len(v)),
            }
            for name, v in sorted(values.items())
        }
        out.append(
            {
                "start": bucket,
                "end": bucket + width - 1,
                "count": len(grouped[bucket]),
                "stats": stats,
            }
        )
    return out


def _answer(buckets: list[Bucket]) -> list[dict[str, object]]:
    return [
        {
            "start": b.start,
            "end": b.end,
            "count": b.count,
            "stats": {
                name: {k: (float(v) if k != "count" else v) for k, v in s.model_dump().items()}
                for name, s in b.stats.items()
            },
        }
        for b in buckets
    ]


@dataclass(frozen=True)
class History:
    readings: list[RawItem]
    deliveries: list[tuple[list[int], bool]]  # (reading indices, crash before rollups)
    replays: list[int]  # after which delivery a /process replay of a device happens


_values = st.builds(
    lambda t, h, extra: {"temperature": t / 10, "humidity": h, **extra},
    st.integers(-200, 500),
    st.integers(0, 100),
    st.dictionaries(st.sampled_from(["co2", "lux"]), st.integers(0, 5000).map(float), max_size=1),
)


@st.composite
def histories(draw: st.DrawFn) -> History:
    count = draw(st.integers(1, 24))
    # Offsets cluster within a few minutes, some land hours away (late data).
    offsets = st.one_of(st.integers(0, 5 * 60_000), st.integers(0, 3 * 3_600_000), st.just(59_999))
    readings = [
        _raw(draw(st.sampled_from(["a", "b"])), f"r{i}", T0 + draw(offsets), draw(_values))
        for i in range(count)
    ]
    deliveries: list[tuple[list[int], bool]] = []
    pending = list(range(count))
    while pending:
        size = draw(st.integers(1, min(10, len(pending))))
        batch, pending = pending[:size], pending[size:]
        # Retries and redeliveries: earlier readings ride along again.
        batch += draw(st.lists(st.integers(0, count - 1), max_size=3))
        deliveries.append((batch, draw(st.booleans())))
    order = draw(st.permutations(range(len(deliveries))))
    return History(
        readings=readings,
        deliveries=[deliveries[i] for i in order],
        replays=draw(st.lists(st.integers(0, len(deliveries) - 1), max_size=2)),
    )


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=histories(),
    interval=st.sampled_from(list(limits.INTERVAL_MS)),
    edges=st.tuples(st.integers(-90_000, 600_000), st.integers(0, 4 * 3_600_000)),
    order=st.sampled_from(["asc", "desc"]),
    limit=st.integers(1, 4),
)
def test_given_any_history_then_aggregates_and_devices_equal_brute_force(
    backend: Backend,
    history: History,
    interval: str,
    edges: tuple[int, int],
    order: str,
    limit: int,
) -> None:
    # GIVEN a fresh pair of devices (ids unique to this example) and a generated history
    prefix = f"x{next(_examples)}-"
    readings = [r.model_copy(update={"device_id": prefix + r.device_id}) for r in history.readings]
    crashed: list[list[RawItem]] = []
    for step, (indices, crash) in enumerate(history.deliveries):
        # A client retry: the raw store answers with the original record.
        batch = backend.raw.store_raw_readings([readings[i] for i in indices])
        _deliver(backend, batch, crash=crash)
        if crash:
            crashed.append(batch)
        if step in history.replays:
            device = readings[indices[0]].device_id
            replay = backend.raw.query_raw(
                device_id=device,
                start_ms=0,
                end_ms=limits.TIMESTAMP_MAX_MS,
                limit=1000,
                descending=False,
                after_sk=None,
            )
            _deliver(backend, replay.records)
    for batch in crashed:  # the crashed messages come back (SQS redelivery)
        _deliver(backend, batch)

    start, end = T0 + edges[0], T0 + edges[0] + edges[1]
    width = limits.INTERVAL_MS[interval]
    # Small pages where there are few buckets; moto makes hundreds of pages slow.
    limit = limit if bucket_count(start, end, width) <= 24 else 60
    for device in sorted({r.device_id for r in readings}):
        stored = _processed(backend, device)
        # WHEN aggregating, paged a few buckets at a time
        params = AggregateParams.model_validate(
            {
                "device_id": device,
                "start": start,
                "end": end,
                "interval": interval,
                "order": order,
                "limit": limit,
            }
        )
        answer = _answer(_all_buckets(backend, params))
        # THEN every bucket equals brute force over the processed readings
        assert answer == _oracle(
            stored, start=start, end=end, width=width, descending=order == "desc"
        )
        # AND the whole day, hourly, comes from hour rollups and equals brute force too
        day = AggregateParams.model_validate(
            {"device_id": device, "event_date": "2024-01-15", "interval": "1h", "limit": 1000}
        )
        day_start, day_end = keys.day_bounds("2024-01-15")
        assert _answer(_all_buckets(backend, day)) == _oracle(
            stored, start=day_start, end=day_end, width=3_600_000, descending=False
        )
        # AND the device record is exact
        record = get_device(device, timeseries=backend.timeseries)
        assert record.readings == len(stored)
        assert record.first_seen == min(i.timestamp for i in stored)
        assert record.last_seen == max(i.timestamp for i in stored)
        newest = max(stored, key=lambda i: keys.sort_key(i.timestamp, i.reading_id))
        assert record.latest is not None and record.latest.reading_id == newest.reading_id

    listed = list_devices(
        DevicesParams(prefix=prefix, limit=1),
        timeseries=backend.timeseries,
        token_key=backend.token_key,
    )
    ids = [d.device_id for d in listed.items]
    while listed.next_token is not None:
        listed = list_devices(
            DevicesParams(prefix=prefix, limit=1, next_token=listed.next_token),
            timeseries=backend.timeseries,
            token_key=backend.token_key,
        )
        ids.extend(d.device_id for d in listed.items)
    assert ids == sorted({r.device_id for r in readings})


def _reading(reading_id: str, offset_ms: int, temperature: float, device: str = "dev-1") -> RawItem:
    return _raw(device, reading_id, T0 + offset_ms, {"temperature": temperature, "humidity": 50})


def test_given_an_hour_of_readings_then_fields_and_stats_select_what_is_answered(
    backend: Backend,
) -> None:
    _deliver(backend, [_reading(f"r{i}", i * 30_000, 20 + i / 10) for i in range(120)])

    page = aggregate_readings(
        AggregateParams.model_validate(
            {
                "device_id": "dev-1",
                "event_date": "2024-01-15",
                "interval": "1h",
                "fields": "temperature",
                "stats": "avg,count",
            }
        ),
        timeseries=backend.timeseries,
        token_key=backend.token_key,
    )

    assert [b.start for b in page.items] == [T0]
    assert page.items[0].count == 120
    assert page.items[0].stats["temperature"].model_dump(exclude_none=True) == {
        "count": 120,
        "avg": float(sum(Fraction(repr(20 + i / 10)) for i in range(120)) / 120),
    }
    assert page.next_token is None


def test_given_a_token_of_another_query_then_it_is_rejected(backend: Backend) -> None:
    _deliver(backend, [_reading(f"r{i}", i * 60_000, 20.0) for i in range(3)])
    base = {"device_id": "dev-1", "event_date": "2024-01-15", "interval": "1m", "limit": 1}
    first = aggregate_readings(
        AggregateParams.model_validate(base),
        timeseries=backend.timeseries,
        token_key=backend.token_key,
    )
    assert first.next_token is not None

    for changed in ({"interval": "5m"}, {"stats": "min"}, {"order": "desc"}):
        with pytest.raises(InvalidNextTokenError):
            aggregate_readings(
                AggregateParams.model_validate(base | changed | {"next_token": first.next_token}),
                timeseries=backend.timeseries,
                token_key=backend.token_key,
            )


def test_given_an_unknown_device_then_get_device_raises_not_found(backend: Backend) -> None:
    with pytest.raises(DeviceNotFoundError):
        get_device("nobody", timeseries=backend.timeseries)


def test_given_a_stale_version_then_save_rollups_writes_nothing(backend: Backend) -> None:
    _deliver(backend, [_reading("r1", 0, 20.0)])
    stored = backend.timeseries.get_device("dev-1")
    assert stored is not None and stored.readings == 1
    forged = DeviceRecord("dev-1", T0, T0, 99, None, stored.version + 1)

    with pytest.raises(RollupConflictError):
        backend.timeseries.save_rollups(
            rollups=[], device=forged, expected_version=stored.version - 1
        )
    with pytest.raises(RollupConflictError):
        backend.timeseries.save_rollups(rollups=[], device=forged, expected_version=None)

    assert backend.timeseries.get_device("dev-1") == stored
