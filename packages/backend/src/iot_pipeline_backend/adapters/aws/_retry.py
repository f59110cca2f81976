"""Capped exponential backoff with full jitter, and the botocore → backend error boundary."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from iot_pipeline_backend.errors import StoreUnavailableError

#: Attempts for one batch call whose items were left unprocessed or failed.
MAX_ATTEMPTS = 8
BASE_DELAY = 0.05
MAX_DELAY = 2.0

Sleep = Callable[[float], None]


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): full jitter, capped."""
    return random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2**attempt))


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError (``""`` when absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_boundary(what: str) -> Iterator[None]:
    """Map botocore failures to :class:`StoreUnavailableError` (the adapter boundary)."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        raise StoreUnavailableError(f"{what} failed ({code})") from exc
