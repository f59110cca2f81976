"""The one retry layer of the AWS adapters, and the botocore → backend error boundary.

botocore's own retries are off (``total_max_attempts=1`` in the clients' config): retrying
in both layers multiplied the attempts (3 × 8) and the backoff past API Gateway's 29 s. Here
every call is retried on throttling, 5xx and connection errors with capped, jittered
exponential backoff, at most :data:`MAX_ATTEMPTS` times, and never sleeps past the
invocation's remaining time (:mod:`iot_pipeline_backend.deadline`): out of time or attempts,
it raises :class:`StoreUnavailableError` while the client can still be told so.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from iot_pipeline_backend.deadline import seconds_left
from iot_pipeline_backend.errors import StoreUnavailableError

#: Attempts of one call (or of one batch call's unprocessed remainder).
MAX_ATTEMPTS = 8
#: Seconds the writes of an ingest request leave unused, for the undo of its raw writes
#: (:mod:`.compensation`) should a later call give up.
UNDO_RESERVE_SECONDS = 2.0
BASE_DELAY = 0.05
MAX_DELAY = 2.0

Sleep = Callable[[float], None]
T = TypeVar("T")

#: Error codes that go away on their own; see
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
#: and https://docs.aws.amazon.com/general/latest/gr/api-retries.html
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "TransactionConflictException",
        "InternalServerError",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "KMSThrottlingException",
    }
)
_TRANSIENT_ERRORS = (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): full jitter, capped."""
    return random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2**attempt))


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError (``""`` when absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def condition_failed(exc: StoreUnavailableError) -> bool:
    """Whether the call failed its ``ConditionExpression``: an answer, not a fault. For a
    transaction, whether it was cancelled by a failed condition and nothing else
    (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html)."""
    cause = exc.__cause__
    if not isinstance(cause, ClientError):
        return False
    if error_code(cause) == "TransactionCanceledException":
        return cancellation_reasons(cause) in (
            {"None", "ConditionalCheckFailed"},
            {"ConditionalCheckFailed"},
        )
    return error_code(cause) == "ConditionalCheckFailedException"


def cancellation_reasons(exc: ClientError) -> set[str]:
    """The codes a cancelled transaction gives, one per item (``None`` for an item that
    did not cause it)."""
    return {str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])}


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same call may succeed (throttling, 5xx, lost connection)."""
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error_code(exc) in RETRYABLE_CODES or status >= 500
    return isinstance(exc, _TRANSIENT_ERRORS)


def describe(exc: BaseException) -> str:
    """The AWS error code, or botocore's exception name (never the message text)."""
    return error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__


class Retrier:
    """Retries transient failures with backoff, within attempts and the time left."""

    def __init__(
        self,
        *,
        sleep: Sleep = time.sleep,
        max_attempts: int = MAX_ATTEMPTS,
        time_left: Callable[[], float | None] = seconds_left,
    ) -> None:
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._time_left = time_left

    def pause(self, attempt: int, what: str, *, reserve: float = 0.0) -> None:
        """Sleep before retry ``attempt + 1`` (0-based ``attempt`` just failed), or raise.

        ``reserve`` seconds are kept for what must still run after this call (compensation).
        """
        if attempt + 1 >= self._max_attempts:
            raise StoreUnavailableError(f"{what} kept failing after {attempt + 1} attempts")
        delay = backoff_delay(attempt)
        left = self._time_left()
        if left is not None and delay + reserve > left:
            raise StoreUnavailableError(f"{what} failed with no time left to retry")
        self._sleep(delay)

    def call(self, what: str, send: Callable[[], T], *, reserve: float = 0.0) -> T:
        """``send()``, retried while it fails transiently; other failures raise at once."""
        attempt = 0
        while True:
            try:
                return send()
            except (BotoCoreError, ClientError) as exc:
                if not is_transient(exc):
                    raise StoreUnavailableError(f"{what} failed ({describe(exc)})") from exc
                try:
                    self.pause(attempt, what, reserve=reserve)
                except StoreUnavailableError as gave_up:
                    raise StoreUnavailableError(f"{gave_up} ({describe(exc)})") from exc
                attempt += 1

    def call_conditional(
        self, what: str, send: Callable[[], T], *, reserve: float = 0.0
    ) -> T | None:
        """:meth:`call` for a write with a condition: None when the condition failed, an
        answer and not a fault (nothing was written)."""
        try:
            return self.call(what, send, reserve=reserve)
        except StoreUnavailableError as exc:
            if condition_failed(exc):
                return None
            raise
