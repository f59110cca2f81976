"""When to retry and how long to wait: capped exponential backoff with full jitter.

Every request the SDK sends is safe to repeat: queries and replays are idempotent, and every
reading carries a ``reading_id`` (the SDK sets one when the caller does not), so a repeated
ingest stores nothing new.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

#: ``501 Not Implemented`` and ``505 HTTP Version Not Supported`` will answer the same again.
_NOT_RETRIED_5XX = frozenset({501, 505})


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently a request is retried.

    ``max_retries`` retries follow the first attempt. Before retry *n* (from 0) the client
    waits a random time in ``[0, min(max_delay, base_delay * 2**n)]`` ("full jitter"), or
    what the server's ``Retry-After`` asks for, up to ``max_retry_after``.
    """

    max_retries: int = 3
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    #: Source of jitter in ``[0, 1)``; injectable so tests are deterministic.
    jitter: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must be >= 0")

    @property
    def max_attempts(self) -> int:
        """The first attempt plus the retries."""
        return self.max_retries + 1

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (0-based), without ``Retry-After``."""
        ceiling = min(self.max_delay, self.base_delay * 2.0**retry_number)
        return ceiling * self.jitter()

    def delay(
        self, retry_number: int, response: httpx.Response | None, *, now: float | None = None
    ) -> float:
        """Seconds to wait: the server's ``Retry-After`` when it sent one, else the backoff."""
        if response is not None:
            asked = retry_after_seconds(response.headers.get("retry-after"), now=now)
            if asked is not None:
                return min(asked, self.max_retry_after)
        return self.backoff(retry_number)


def is_retryable_status(status_code: int) -> bool:
    """429 and the 5xx that may answer differently next time."""
    return status_code == 429 or (status_code >= 500 and status_code not in _NOT_RETRIED_5XX)


def is_retryable_exception(exc: httpx.HTTPError) -> bool:
    """Connection failures, resets and timeouts; not our own protocol or URL mistakes."""
    return isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds from now (delta-seconds or an HTTP date); ``None`` if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
