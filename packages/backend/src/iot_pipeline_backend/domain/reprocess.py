"""Reprocess (``POST /process``): send a device's raw readings through the queue again.

One call replays at most ``limits.PROCESS_MAX_READINGS`` readings, and stops early when the
invocation is running out of time; it answers a signed ``next_token`` (the query's token
format, naming this replay) to continue after the last reading it queued. So a replay of
any size completes in several calls, each well inside API Gateway's 29 s.

The token's MAC uses a fixed key, not the query's secret: it catches a corrupted token, and a
forged one buys nothing, since it can only choose where to resume inside the device and range
the caller may already replay (so the processor needs no access to the secret).
"""

from __future__ import annotations

from iot_pipeline_common import keys, limits
from iot_pipeline_common.models import ProcessRequest, ProcessResponse

from iot_pipeline_backend import deadline
from iot_pipeline_backend.domain.query import decode_next_token, encode_next_token
from iot_pipeline_backend.ports import RawReadingStore, ReadingQueue

#: Raw readings read and enqueued per round trip.
PAGE_SIZE = 500
#: Stop starting pages when less than this many seconds of the invocation are left.
MIN_SECONDS_PER_PAGE = 5.0
#: The continuation token's MAC key (integrity, not secrecy; see the module docstring).
CONTINUATION_KEY = b"iot-pipeline process continuation"


def reprocess_readings(
    request: ProcessRequest,
    *,
    raw_store: RawReadingStore,
    queue: ReadingQueue,
    page_size: int = PAGE_SIZE,
    max_readings: int = limits.PROCESS_MAX_READINGS,
) -> ProcessResponse:
    """Enqueue the next raw readings of the device in the range; say how many and what is left.

    Processing is an upsert keyed like the raw reading, so a replayed reading replaces its
    processed record instead of duplicating it.
    """
    start_ms, end_ms = keys.resolve_range(
        event_date=request.event_date, start=request.start, end=request.end
    )
    identity = {"v": 1, "op": "process", "device": request.device_id, "range": [start_ms, end_ms]}
    after_sk: str | None = None
    if request.next_token is not None:
        after_sk = decode_next_token(request.next_token, identity, key=CONTINUATION_KEY)
    queued = 0
    while True:
        page = raw_store.query_raw(
            device_id=request.device_id,
            start_ms=start_ms,
            end_ms=end_ms,
            limit=min(page_size, max_readings - queued),
            descending=False,
            after_sk=after_sk,
        )
        if page.records:
            queue.enqueue_readings(page.records)
            queued += len(page.records)
        if page.last_sk is None:
            return ProcessResponse(queued=queued, next_token=None)
        after_sk = page.last_sk
        left = deadline.seconds_left()
        if queued >= max_readings or (left is not None and left < MIN_SECONDS_PER_PAGE):
            token = encode_next_token(identity, after_sk, key=CONTINUATION_KEY)
            return ProcessResponse(queued=queued, next_token=token)
