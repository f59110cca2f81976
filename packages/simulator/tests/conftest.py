"""Shared test doubles: an in-memory pipeline that behaves like the HTTP API at its edge."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import pydantic
import pytest
from iot_pipeline_common.models import (
    BatchIngestRequest,
    BatchIngestResponse,
    IngestedItem,
    IngestResponse,
    Reading,
)
from iot_pipeline_simulator.verify import StoredReading, Table


class RefusedError(Exception):
    """What a client raises for an error status (``status_code`` and ``code`` like the SDK)."""

    def __init__(self, status_code: int, code: str) -> None:
        super().__init__(f"{status_code} {code}")
        self.status_code = status_code
        self.code = code
        self.request_id = "req-1"


class MemoryPipeline:
    """Validates like ``POST /ingest``, stores idempotently by reading id, answers queries.

    ``latency_s`` delays every answer; ``lose_every`` acknowledges but never stores every
    n-th new reading; ``store_twice_every`` stores every n-th new reading twice; processed
    copies appear only after ``processing_delay_s``.
    """

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        lose_every: int | None = None,
        store_twice_every: int | None = None,
        processing_delay_s: float = 0.0,
        fail_with: int | None = None,
    ) -> None:
        self.latency_s = latency_s
        self.lose_every = lose_every
        self.store_twice_every = store_twice_every
        self.processing_delay_s = processing_delay_s
        self.fail_with = fail_with
        self.raw: dict[str, list[StoredReading]] = {}
        self._ids: dict[tuple[str, str], int] = {}
        self._arrivals = itertools.count()
        self._new = 0
        self.requests = 0
        self.invalid_sent = 0
        self.max_concurrent = 0
        self._concurrent = 0
        self._created = asyncio.get_running_loop().time()

    async def _answer(self) -> None:
        self.requests += 1
        self._concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self._concurrent)
        try:
            await asyncio.sleep(self.latency_s)
        finally:
            self._concurrent -= 1
        if self.fail_with:
            raise RefusedError(self.fail_with, "service_unavailable")

    def _store(self, reading: Reading) -> int:
        assert reading.reading_id is not None and reading.timestamp is not None
        key = (reading.device_id, reading.reading_id)
        if key in self._ids:
            return self._ids[key]
        self._ids[key] = reading.timestamp
        self._new += 1
        if self.lose_every and self._new % self.lose_every == 0:
            return reading.timestamp
        copies = 2 if self.store_twice_every and self._new % self.store_twice_every == 0 else 1
        for _ in range(copies):
            self.raw.setdefault(reading.device_id, []).append(
                StoredReading(
                    reading_id=reading.reading_id,
                    seq=reading.seq,
                    timestamp=reading.timestamp,
                    ingested_at=f"{next(self._arrivals):012d}",
                )
            )
        return reading.timestamp

    async def ingest(
        self,
        device_id: str,
        sensor_data: dict[str, float],
        *,
        timestamp: int | None = None,
        reading_id: str | None = None,
        seq: int | None = None,
    ) -> IngestResponse:
        await self._answer()
        try:
            reading = Reading(
                device_id=device_id,
                sensor_data=sensor_data,
                timestamp=timestamp,
                reading_id=reading_id,
                seq=seq,
            )
        except pydantic.ValidationError:
            raise RefusedError(400, "validation_error") from None
        stored_at = self._store(reading)
        return IngestResponse(device_id=device_id, timestamp=stored_at, reading_id=reading_id or "")

    async def ingest_invalid(self, body: dict[str, Any]) -> IngestResponse:
        self.invalid_sent += 1
        return await self.ingest(**body)

    async def ingest_batch(self, readings: list[dict[str, Any]]) -> BatchIngestResponse:
        await self._answer()
        try:
            batch = BatchIngestRequest.model_validate({"readings": readings})
        except pydantic.ValidationError:
            raise RefusedError(400, "validation_error") from None
        items = [
            IngestedItem(
                device_id=r.device_id, timestamp=self._store(r), reading_id=r.reading_id or ""
            )
            for r in batch.readings
        ]
        return BatchIngestResponse(count=len(items), items=items)

    async def stored(
        self, device_id: str, *, table: Table, start: int, end: int
    ) -> Sequence[StoredReading]:
        items = [r for r in self.raw.get(device_id, []) if start <= r.timestamp <= end]
        if table == "processed":
            age = asyncio.get_running_loop().time() - self._created
            if age < self.processing_delay_s:
                return []
        return sorted(items, key=lambda r: (r.timestamp, r.reading_id))


@pytest.fixture
def memory_pipeline() -> type[MemoryPipeline]:
    """The :class:`MemoryPipeline` class (build it inside the test's event loop)."""
    return MemoryPipeline
