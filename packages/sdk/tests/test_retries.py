"""Retries: 429 with Retry-After, 5xx, connection resets; give-up cases. Sync and async."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from iot_pipeline_sdk import (
    RetryPolicy,
    ServerError,
    ThrottledError,
    TransportError,
    ValidationError,
)
from iot_pipeline_sdk._retry import is_retryable_status, retry_after_seconds

Handler = Callable[[httpx.Request], httpx.Response]


def sequence(*steps: httpx.Response | Exception, then: Handler) -> Handler:
    """Answer with ``steps`` in order (raising the exceptions), then with ``then``."""
    pending: Iterator[httpx.Response | Exception] = iter(steps)

    def handle(request: httpx.Request) -> httpx.Response:
        step = next(pending, None)
        if step is None:
            return then(request)
        if isinstance(step, Exception):
            raise step
        return step

    return handle


def test_given_429_with_retry_after_when_ingesting_then_waits_as_asked_and_resends_same_reading(
    harness: Callable[..., Any], ingest_ok: Handler
) -> None:
    # GIVEN a pipeline that throttles once, asking for 2 s
    h = harness(
        sequence(
            httpx.Response(
                429,
                headers={"Retry-After": "2"},
                json={"message": "slow down", "error": "throttled"},
            ),
            then=ingest_ok,
        )
    )
    # WHEN a reading without a reading_id is ingested
    result = h.call("ingest", "device-1", {"temperature": 21.5})
    # THEN the client waited 2 s, sent twice, and both attempts carry the same reading_id
    assert h.sleeps == [2.0]
    first, second = h.bodies()
    assert first == second
    assert result.reading_id == first["reading_id"]
    # and each attempt is signed afresh
    assert all("authorization" in r.headers for r in h.requests)


def test_given_503_then_success_when_querying_then_backs_off_with_jitter_and_returns_page(
    harness: Callable[..., Any],
) -> None:
    # GIVEN two 503s, then a page
    page = {"count": 0, "items": [], "next_token": None}
    h = harness(
        sequence(
            httpx.Response(503, json={"message": "busy", "error": "service_unavailable"}),
            httpx.Response(503, text="<html>Service Unavailable</html>"),
            then=lambda _: httpx.Response(200, json=page),
        )
    )
    # WHEN querying
    result = h.call("query", "device-1")
    # THEN the waits are full-jitter backoff (jitter 0.5 of 0.25 s, then of 0.5 s)
    assert h.sleeps == [0.125, 0.25]
    assert result.count == 0
    assert len(h.requests) == 3


def test_given_reset_and_timeouts_when_ingesting_batch_then_retried_and_every_item_returned(
    harness: Callable[..., Any], ingest_ok: Handler
) -> None:
    # GIVEN a connection reset, a connect failure and a read timeout, then a healthy pipeline
    h = harness(
        sequence(
            httpx.ReadError("Connection reset by peer"),
            httpx.ConnectError("All connection attempts failed"),
            httpx.ReadTimeout("timed out"),
            then=ingest_ok,
        )
    )
    readings = [{"device_id": "d", "sensor_data": {"humidity": i}} for i in range(3)]
    # WHEN the batch is ingested
    result = h.call("ingest_batch", readings)
    # THEN it arrives once retried, with the same ids every time
    assert result.count == 3
    bodies = h.bodies()
    assert len(bodies) == 4
    assert bodies[0] == bodies[1] == bodies[2] == bodies[3]
    assert [i.reading_id for i in result.items] == [r["reading_id"] for r in bodies[0]["readings"]]
    assert len(h.sleeps) == 3


def test_given_persistent_503_when_retries_run_out_then_server_error_after_max_attempts(
    harness: Callable[..., Any],
) -> None:
    # GIVEN a pipeline that always answers 503 with a request id
    h = harness(
        lambda _: httpx.Response(
            503,
            headers={"x-amzn-RequestId": "req-503"},
            json={"message": "Service Unavailable", "error": "service_unavailable"},
        )
    )
    # WHEN processing
    with pytest.raises(ServerError) as caught:
        h.call("process", "device-1", event_date="2024-01-15")
    # THEN 1 + 3 attempts were made, with growing capped waits, and the error says so
    assert len(h.requests) == 4
    assert h.sleeps == [0.125, 0.25, 0.5]
    assert caught.value.attempts == 4
    assert str(caught.value).startswith("[req-503] 503 service_unavailable: Service Unavailable")


def test_given_persistent_429_when_retries_disabled_then_throttled_error_at_once(
    harness: Callable[..., Any],
) -> None:
    h = harness(
        lambda _: httpx.Response(429, json={"message": "Too Many Requests", "error": "throttled"}),
        retries=0,
    )
    with pytest.raises(ThrottledError):
        h.call("query", "device-1")
    assert len(h.requests) == 1
    assert h.sleeps == []


def test_given_connection_always_refused_when_calling_then_transport_error_wraps_httpx_error(
    harness: Callable[..., Any],
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    h = harness(refuse, retries=RetryPolicy(max_retries=2, jitter=lambda: 0.0))
    with pytest.raises(TransportError) as caught:
        h.call("ingest", "device-1", {"temperature": 1})
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.attempts == 3
    assert "after 3 attempts" in str(caught.value)
    assert h.sleeps == [0.0, 0.0]


def test_given_400_or_501_when_calling_then_not_retried(harness: Callable[..., Any]) -> None:
    h = harness(
        sequence(
            httpx.Response(
                400, json={"message": "Invalid query: limit", "error": "validation_error"}
            ),
            then=lambda _: httpx.Response(501, json={"message": "no", "error": "internal_error"}),
        )
    )
    with pytest.raises(ValidationError):
        h.call("query", "device-1")
    with pytest.raises(ServerError):
        h.call("query", "device-1")
    assert len(h.requests) == 2
    assert h.sleeps == []


def test_given_retry_after_beyond_cap_when_throttled_then_wait_is_capped(
    harness: Callable[..., Any], ingest_ok: Handler
) -> None:
    h = harness(
        sequence(httpx.Response(429, headers={"Retry-After": "3600"}), then=ingest_ok),
        retries=RetryPolicy(max_retries=1, max_retry_after=5.0),
    )
    h.call("ingest", "device-1", {"temperature": 1})
    assert h.sleeps == [5.0]


def test_given_retry_after_forms_then_seconds_from_now() -> None:
    now = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert retry_after_seconds(later, now=now.timestamp()) == 7.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds(format_datetime(now, usegmt=True), now=now.timestamp() + 9) == 0.0
    for unusable in (None, "", "soon", "nan"):
        assert retry_after_seconds(unusable) is None


def test_given_statuses_then_only_throttling_and_transient_server_faults_retry() -> None:
    assert [
        s for s in (400, 403, 404, 413, 429, 500, 501, 502, 503, 504, 505) if is_retryable_status(s)
    ] == [
        429,
        500,
        502,
        503,
        504,
    ]


def test_given_policy_then_backoff_is_capped_full_jitter() -> None:
    top = RetryPolicy(base_delay=0.5, max_delay=4.0, jitter=lambda: 0.999999)
    assert [round(top.backoff(n), 3) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert RetryPolicy(jitter=lambda: 0.0).backoff(10) == 0.0
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
