"""Counters and bounded-memory histograms the runner fills and the reports read.

Latencies and schedule lags go into log-bucketed histograms (about 2 % relative error, a few
hundred buckets at most), so a long run at thousands of readings per second stays small.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

_GROWTH: Final = 1.02
_LOG_GROWTH: Final = math.log(_GROWTH)
#: Values below this many milliseconds share the first bucket.
_FLOOR_MS: Final = 0.01


class LatencyHistogram:
    """Durations in milliseconds: count, max and percentiles within ~2 %."""

    __slots__ = ("_buckets", "count", "max", "total")

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0
        self.max = 0.0
        self.total = 0.0

    def record(self, millis: float) -> None:
        """Add one duration (negative values count as zero)."""
        millis = max(0.0, millis)
        self._buckets[self._bucket(millis)] += 1
        self.count += 1
        self.total += millis
        self.max = max(self.max, millis)

    def merge(self, other: LatencyHistogram) -> None:
        """Add every value of ``other`` to this histogram."""
        self._buckets.update(other._buckets)
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0–100) in ms; 0.0 when empty."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(self.count * q / 100.0))
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= rank:
                return min(self.max, self._value(bucket))
        return self.max

    def summary(self, *quantiles: float) -> dict[str, float]:
        """``{"p50": ..., "p99": ..., "max": ..., "mean": ...}`` rounded to 0.01 ms."""
        out = {f"p{q:g}": round(self.percentile(q), 2) for q in quantiles}
        out["max"] = round(self.max, 2)
        out["mean"] = round(self.total / self.count, 2) if self.count else 0.0
        return out

    @staticmethod
    def _bucket(millis: float) -> int:
        if millis <= _FLOOR_MS:
            return 0
        return 1 + int(math.log(millis / _FLOOR_MS) / _LOG_GROWTH)

    @staticmethod
    def _value(bucket: int) -> float:
        # The upper edge of the bucket: a percentile is never reported lower than it was.
        return _FLOOR_MS * _GROWTH**bucket


@dataclass(slots=True)
class Interval:
    """What happened during one interval of the run (for the time-series charts)."""

    sent: int = 0
    acknowledged: int = 0
    rejected: int = 0
    errors: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    lag: LatencyHistogram = field(default_factory=LatencyHistogram)


class Timeline:
    """Per-interval counters; the interval grows with the duration to keep ~120 points."""

    def __init__(self, *, duration_s: float, points: int = 120) -> None:
        self.interval_s = max(1.0, math.ceil(duration_s / points))
        self._intervals: dict[int, Interval] = {}

    def at(self, elapsed_s: float) -> Interval:
        """The interval holding ``elapsed_s`` seconds after the start."""
        index = max(0, int(elapsed_s // self.interval_s))
        found = self._intervals.get(index)
        if found is None:
            found = self._intervals[index] = Interval()
        return found

    def points(self) -> list[dict[str, float]]:
        """One dict per interval, oldest first, rates per second and latency percentiles."""
        if not self._intervals:
            return []
        out: list[dict[str, float]] = []
        for index in range(max(self._intervals) + 1):
            iv = self._intervals.get(index, Interval())
            out.append(
                {
                    "t": index * self.interval_s,
                    "sent_per_s": round(iv.sent / self.interval_s, 2),
                    "acknowledged_per_s": round(iv.acknowledged / self.interval_s, 2),
                    "rejected": iv.rejected,
                    "errors": iv.errors,
                    **{
                        f"latency_{name}_ms": value
                        for name, value in iv.latency.summary(50, 95, 99).items()
                        if name != "mean"
                    },
                    "lag_p50_ms": round(iv.lag.percentile(50), 2),
                    "lag_p99_ms": round(iv.lag.percentile(99), 2),
                }
            )
        return out
