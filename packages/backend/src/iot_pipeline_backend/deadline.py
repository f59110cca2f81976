"""How long the current invocation may still spend waiting to retry (no AWS imports).

A Lambda invocation ends at its timeout, and an API Gateway request at 29 seconds whatever
the function's timeout. Retrying past either is wasted: the client already got a 504 and
learns nothing true. The handler entry sets the time left from the Lambda context
(``get_remaining_time_in_millis()``, the local runtime's context has it too); adapters ask
:func:`seconds_left` before each backoff sleep. Outside an invocation there is no bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

#: API Gateway's integration timeout (REST APIs, default and maximum for most accounts).
API_TIMEOUT_SECONDS = 29.0
#: Kept back from the end so the handler can still clean up, log and answer.
MARGIN_SECONDS = 1.0

_left: ContextVar[Callable[[], float] | None] = ContextVar("iot_pipeline_time_left", default=None)


def seconds_left() -> float | None:
    """Seconds this invocation may still spend (``None`` outside an invocation)."""
    left = _left.get()
    return None if left is None else left()


def _from_context(
    context: Any, *, api_request: bool, clock: Callable[[], float]
) -> Callable[[], float] | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    started = clock()

    def left() -> float:
        bounds = []
        if callable(remaining):
            bounds.append(float(remaining()) / 1000)
        if api_request:
            bounds.append(API_TIMEOUT_SECONDS - (clock() - started))
        return min(bounds) - MARGIN_SECONDS

    return left if callable(remaining) or api_request else None


@contextmanager
def invocation(
    context: Any, *, api_request: bool, clock: Callable[[], float] = time.monotonic
) -> Iterator[None]:
    """Bound retries by the context's remaining time (and 29 s for an API request)."""
    token = _left.set(_from_context(context, api_request=api_request, clock=clock))
    try:
        yield
    finally:
        _left.reset(token)
