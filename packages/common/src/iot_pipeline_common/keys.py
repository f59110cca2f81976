"""Storage keys and time helpers shared by every store and client.

The sort key ``sk`` is the 13-digit zero-padded epoch ms, ``#``, then the reading id:
lexical order is time order, and two readings in the same millisecond never collide.
"""

from __future__ import annotations

import functools
import secrets
import time
from datetime import UTC, date, datetime, timedelta

from iot_pipeline_common import limits

SK_SEPARATOR = "#"
_MS_PER_DAY = 86_400_000
_EPOCH_DAY = date(1970, 1, 1)


def sort_key(timestamp: int, reading_id: str) -> str:
    """``sort_key(1705314600000, "r-1")`` → ``"1705314600000#r-1"``."""
    return f"{timestamp:0{limits.TIMESTAMP_DIGITS}d}{SK_SEPARATOR}{reading_id}"


def split_sort_key(sk: str) -> tuple[int, str]:
    """Inverse of :func:`sort_key`; raises ``ValueError`` on a malformed key."""
    millis, sep, reading_id = sk.partition(SK_SEPARATOR)
    if not sep or len(millis) != limits.TIMESTAMP_DIGITS or not millis.isdigit() or not reading_id:
        raise ValueError("malformed sort key")
    return int(millis), reading_id


def sk_lower_bound(start_ms: int) -> str:
    """The smallest sort key at or after ``start_ms``."""
    return f"{start_ms:0{limits.TIMESTAMP_DIGITS}d}{SK_SEPARATOR}"


def sk_upper_bound(end_ms: int) -> str:
    """A key greater than every sort key at ``end_ms`` (``~`` sorts after the id alphabet)."""
    return f"{end_ms:0{limits.TIMESTAMP_DIGITS}d}{SK_SEPARATOR}~"


def event_date_of(timestamp: int) -> str:
    """The UTC day of an epoch-ms timestamp, ``YYYY-MM-DD``."""
    return _utc_day(timestamp // _MS_PER_DAY)


@functools.lru_cache(maxsize=1024)
def _utc_day(day: int) -> str:
    # Readings of a batch share a handful of days: format each day once, not every reading.
    return (_EPOCH_DAY + timedelta(days=day)).isoformat()


def day_bounds(event_date: str) -> tuple[int, int]:
    """First and last epoch ms (inclusive) of a UTC day."""
    day = datetime.combine(date.fromisoformat(event_date), datetime.min.time(), tzinfo=UTC)
    start = int(day.timestamp() * 1000)
    end = int((day + timedelta(days=1)).timestamp() * 1000) - 1
    return start, end


def resolve_range(*, event_date: str | None, start: int | None, end: int | None) -> tuple[int, int]:
    """Inclusive (start, end) epoch ms for an ``event_date`` or an open/closed range."""
    if event_date is not None:
        return day_bounds(event_date)
    return (
        limits.TIMESTAMP_MIN_MS if start is None else start,
        limits.TIMESTAMP_MAX_MS if end is None else end,
    )


@functools.lru_cache(maxsize=256)
def iso_utc(timestamp_ms: int) -> str:
    """Epoch ms → ``2024-01-15T10:30:00Z`` (milliseconds shown only when non-zero)."""
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    if timestamp_ms % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{timestamp_ms % 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return time.time_ns() // 1_000_000


def new_reading_id() -> str:
    """A fresh, URL-safe, collision-resistant reading id (26 chars, time-prefixed).

    The time prefix keeps ids from one producer roughly ordered, which helps humans
    reading raw tables; the random part (80 bits) makes collisions negligible.
    """
    return f"{now_ms():013x}-{secrets.token_hex(6)}"
