"""The operational figures of the local pipeline: rates, queue depth, DLQ size.

Rates are differences of the stored-reading counts between two samples a few seconds apart,
so they are what the pipeline actually stored and processed, whoever sent it (the SDK, the
simulator, another process on the same data directory). Sampling is shared by every viewer
and taken at most every :data:`MIN_SAMPLE_INTERVAL` seconds, so ten open tabs cost what one
does.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from iot_pipeline_backend.adapters.local import LocalAdapters

#: Rates are averaged over this many seconds of samples.
RATE_WINDOW_SECONDS = 5.0
#: Viewers polling faster than this share one sample.
MIN_SAMPLE_INTERVAL = 0.5


@dataclass(frozen=True, slots=True)
class PipelineFigures:
    """What the dashboard's header shows."""

    readings_stored: int
    readings_processed: int
    #: Readings per second over the last few seconds; ``None`` until two samples exist.
    ingest_per_second: float | None
    processed_per_second: float | None
    queue_depth: int
    dlq_size: int


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float
    stored: int
    processed: int


class PipelineMeter:
    """Samples the local data directory's counts and turns them into rates."""

    def __init__(
        self, adapters: LocalAdapters, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._adapters = adapters
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: deque[_Sample] = deque()
        self._figures: PipelineFigures | None = None

    def figures(self) -> PipelineFigures:
        """The current figures (a fresh sample unless one was taken moments ago)."""
        with self._lock:
            now = self._clock()
            if self._figures is not None and now - self._samples[-1].at < MIN_SAMPLE_INTERVAL:
                return self._figures
            stored, processed = self._counts()
            self._samples.append(_Sample(now, stored, processed))
            while len(self._samples) > 2 and now - self._samples[1].at >= RATE_WINDOW_SECONDS:
                self._samples.popleft()
            oldest = self._samples[0]
            elapsed = now - oldest.at
            self._figures = PipelineFigures(
                readings_stored=stored,
                readings_processed=processed,
                ingest_per_second=_rate(stored - oldest.stored, elapsed),
                processed_per_second=_rate(processed - oldest.processed, elapsed),
                queue_depth=self._adapters.queue.depth(),
                dlq_size=self._adapters.queue.dlq_depth(),
            )
            return self._figures

    def _counts(self) -> tuple[int, int]:
        with self._adapters.db.reading() as conn:
            (stored,) = conn.execute("SELECT COUNT(*) FROM raw").fetchone()
            (processed,) = conn.execute("SELECT COUNT(*) FROM processed").fetchone()
        return int(stored), int(processed)


def _rate(delta: int, elapsed: float) -> float | None:
    if elapsed <= 0:
        return None
    return max(0.0, delta / elapsed)
