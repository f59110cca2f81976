"""Ingest: validated readings → raw records stored durably → enqueued → acknowledged."""

from __future__ import annotations

from collections.abc import Sequence

from iot_pipeline_common import keys
from iot_pipeline_common.models import PipelineConfig, RawItem, Reading

from iot_pipeline_backend.ports import KeySource, RawReadingStore, ReadingQueue

_SECONDS_PER_DAY = 86_400


def to_raw_item(reading: Reading, *, now_ms: int, retention_days: int | None) -> RawItem:
    """The record to store: server time and a fresh id when the device sent none."""
    timestamp = reading.timestamp if reading.timestamp is not None else now_ms
    expires_at = (
        None if retention_days is None else now_ms // 1000 + retention_days * _SECONDS_PER_DAY
    )
    return RawItem(
        device_id=reading.device_id,
        event_date=keys.event_date_of(timestamp),
        timestamp=timestamp,
        reading_id=reading.reading_id or keys.new_reading_id(),
        sensor_data=dict(reading.sensor_data),
        ingested_at=keys.iso_utc(now_ms),
        seq=reading.seq,
        expires_at=expires_at,
    )


def key_source(reading: Reading) -> KeySource:
    """Who chooses the reading's key: both parts from the client, or which from the server."""
    if reading.reading_id is None:
        return "server_id"
    return "server_time" if reading.timestamp is None else "client"


def ingest_readings(
    readings: Sequence[Reading],
    *,
    raw_store: RawReadingStore,
    queue: ReadingQueue,
    config: PipelineConfig,
    now_ms: int,
) -> list[RawItem]:
    """Store then enqueue; return the stored record of each reading, in request order.

    Only returns once both the store and the queue accepted everything; any failure raises
    and nothing is acknowledged. A reading already stored (same device and reading id)
    comes back as the original record and is enqueued again: that closes the window in
    which a crash between store and enqueue would otherwise lose it, and processing is an
    idempotent upsert, so the repeat costs nothing but work.
    """
    items = [to_raw_item(r, now_ms=now_ms, retention_days=config.retention_days) for r in readings]
    stored = raw_store.store_raw_readings(items, key_sources=[key_source(r) for r in readings])
    unique: dict[tuple[str, str], RawItem] = {}
    for record in stored:
        unique.setdefault((record.device_id, record.reading_id), record)
    queue.enqueue_readings(list(unique.values()))
    return stored
