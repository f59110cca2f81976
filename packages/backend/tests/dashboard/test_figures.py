"""The header's figures: rates from stored counts, queue depth, DLQ size (real SQLite file)."""

from __future__ import annotations

from iot_pipeline_backend.adapters.local import LocalAdapters
from iot_pipeline_backend.dashboard.figures import RATE_WINDOW_SECONDS, PipelineMeter
from iot_pipeline_backend.domain.ingest import to_raw_item
from iot_pipeline_common.models import Reading


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _store(adapters: LocalAdapters, count: int, *, start: int) -> None:
    readings = [
        Reading(device_id="d-1", reading_id=f"r-{n}", sensor_data={"temperature": 20.0})
        for n in range(start, start + count)
    ]
    adapters.raw.store_raw_readings(
        [to_raw_item(r, now_ms=1_700_000_000_000, retention_days=None) for r in readings]
    )


def test_rates_are_readings_stored_per_second_between_samples(
    local_adapters: LocalAdapters,
) -> None:
    clock = _Clock()
    meter = PipelineMeter(local_adapters, clock=clock)
    # GIVEN a first sample: no rate yet
    first = meter.figures()
    assert first.ingest_per_second is None
    assert first.readings_stored == 0
    # WHEN 30 readings are stored over 2 seconds
    _store(local_adapters, 30, start=0)
    clock.now += 2
    # THEN the rate is 15/s, and nothing was processed
    second = meter.figures()
    assert second.readings_stored == 30
    assert second.ingest_per_second == 15.0
    assert second.processed_per_second == 0.0
    # AND a viewer asking again at once gets the same sample
    assert meter.figures() is second
    # AND samples older than the window stop counting
    clock.now += RATE_WINDOW_SECONDS + 1
    meter.figures()
    clock.now += 1
    assert meter.figures().ingest_per_second == 0.0


def test_queue_depth_and_dead_letters_are_counted(local_adapters: LocalAdapters) -> None:
    queue = local_adapters.queue
    queue.send("a")
    # A message received with no receives left moves to the dead-letter queue.
    assert queue.receive(max_messages=1, visibility_timeout=30, max_receive_count=0) == []
    queue.send_many(["b", "c"])
    figures = PipelineMeter(local_adapters).figures()
    assert figures.queue_depth == 2
    assert figures.dlq_size == 1
