"""Every error response lands in one place of the SDK's tree, request id first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import iot_pipeline_sdk
import pytest
from iot_pipeline_sdk import (
    APIError,
    AuthError,
    IoTPipelineError,
    NotFoundError,
    ServerError,
    ThrottledError,
    TransportError,
    ValidationError,
)


def test_given_contract_400_when_querying_then_validation_error_names_fields_and_request_id(
    harness: Callable[..., Any],
) -> None:
    # GIVEN the pipeline rejects the query, naming the field
    body = {
        "message": "Invalid query: limit: Input should be less than or equal to 1000",
        "error": "validation_error",
        "details": [
            {"field": "limit", "message": "Input should be <= 1000", "type": "less_than_equal"}
        ],
    }
    h = harness(
        lambda _: httpx.Response(400, headers={"x-amzn-RequestId": "abc-123"}, json=body),
    )
    # WHEN querying
    with pytest.raises(ValidationError) as caught:
        h.call("query", "device-1")
    # THEN the error carries status, code, message, request id and details
    err = caught.value
    assert (err.status_code, err.code, err.request_id) == (400, "validation_error", "abc-123")
    assert [d.field for d in err.details] == ["limit"]
    assert str(err) == f"[abc-123] 400 validation_error: {body['message']}"
    assert err.attempts == 1


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "code"),
    [
        (
            403,
            {"x-amzn-ErrorType": "MissingAuthenticationTokenException"},
            {"message": "Missing Authentication Token"},
            AuthError,
            "missing_authentication_token",
        ),
        (
            403,
            {"x-amzn-ErrorType": "InvalidSignatureException:http://internal.amazon.com/"},
            {"message": "The request signature we calculated does not match ..."},
            AuthError,
            "invalid_signature",
        ),
        (403, {}, {"message": "Forbidden", "error": "access_denied"}, AuthError, "access_denied"),
        (401, {}, {"message": "Unauthorized"}, AuthError, "missing_authentication_token"),
        (404, {}, {"message": "Not Found", "error": "not_found"}, NotFoundError, "not_found"),
        (413, {}, {"message": "Request Too Long"}, ValidationError, "payload_too_large"),
        (405, {}, {"message": "Method Not Allowed"}, APIError, "method_not_allowed"),
        (418, {}, {"message": "teapot"}, APIError, "http_418"),
        (429, {}, {"message": "Too Many Requests"}, ThrottledError, "throttled"),
        (502, {}, "<html><body>Bad Gateway</body></html>", ServerError, "internal_error"),
    ],
)
def test_given_error_response_then_mapped_to_class_and_code(
    harness: Callable[..., Any],
    status: int,
    headers: dict[str, str],
    body: Any,
    kind: type[APIError],
    code: str,
) -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, headers=headers, text=body)
        return httpx.Response(status, headers=headers, json=body)

    h = harness(answer, retries=0)
    with pytest.raises(kind) as caught:
        h.call("process", "device-1")
    err = caught.value
    assert type(err) is kind
    assert isinstance(err, IoTPipelineError)
    assert (err.status_code, err.code) == (status, code)
    assert err.message  # never empty, also for an HTML page
    assert str(err).startswith(f"[-] {status} {code}: ")


def test_given_invalid_reading_when_ingesting_then_rejected_before_sending(
    harness: Callable[..., Any], ingest_ok: Callable[..., Any]
) -> None:
    h = harness(ingest_ok)
    with pytest.raises(ValidationError) as caught:
        h.call("ingest", "device 1", {"temperature": 500})
    err = caught.value
    assert err.request_id is None
    assert {d.field for d in err.details} >= {"device_id", "sensor_data.temperature"}
    assert "device_id" in err.message
    assert h.requests == []


def test_given_bad_query_arguments_when_querying_then_rejected_before_sending(
    harness: Callable[..., Any],
) -> None:
    h = harness(lambda _: httpx.Response(500))
    with pytest.raises(ValidationError) as caught:
        h.call("query", "device-1", event_date="2024-01-15", start=5, limit=0)
    assert {d.field for d in caught.value.details} >= {"limit"}
    with pytest.raises(ValidationError):
        h.call("process", "device-1", start=10, end=5)
    assert h.requests == []


def test_given_success_status_with_unexpected_body_then_api_error_not_a_crash(
    harness: Callable[..., Any],
) -> None:
    h = harness(lambda _: httpx.Response(200, json={"hello": "world"}))
    with pytest.raises(APIError) as caught:
        h.call("process", "device-1")
    assert caught.value.code == "invalid_response"


def test_given_package_root_then_tree_is_importable_and_ordered() -> None:
    for name in iot_pipeline_sdk.__all__:
        assert hasattr(iot_pipeline_sdk, name)
    for leaf in (ValidationError, AuthError, NotFoundError, ThrottledError, ServerError):
        assert issubclass(leaf, APIError)
    assert issubclass(APIError, IoTPipelineError)
    assert issubclass(TransportError, IoTPipelineError)
    assert not issubclass(TransportError, APIError)
