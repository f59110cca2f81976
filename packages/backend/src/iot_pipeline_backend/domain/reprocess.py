"""Reprocess (``POST /process``): send a device's raw readings through the queue again."""

from __future__ import annotations

from iot_pipeline_common import keys
from iot_pipeline_common.models import ProcessRequest

from iot_pipeline_backend.ports import RawReadingStore, ReadingQueue

#: Raw readings read and enqueued per round trip.
PAGE_SIZE = 500


def reprocess_readings(
    request: ProcessRequest,
    *,
    raw_store: RawReadingStore,
    queue: ReadingQueue,
    page_size: int = PAGE_SIZE,
) -> int:
    """Enqueue every raw reading of the device in the range; return how many.

    Processing is an upsert keyed like the raw reading, so a replayed reading replaces its
    processed record instead of duplicating it.
    """
    start_ms, end_ms = keys.resolve_range(
        event_date=request.event_date, start=request.start, end=request.end
    )
    queued = 0
    after_sk: str | None = None
    while True:
        page = raw_store.query_raw(
            device_id=request.device_id,
            start_ms=start_ms,
            end_ms=end_ms,
            limit=page_size,
            descending=False,
            after_sk=after_sk,
        )
        if page.records:
            queue.enqueue_readings(page.records)
            queued += len(page.records)
        if page.last_sk is None:
            return queued
        after_sk = page.last_sk
