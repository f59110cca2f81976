"""SigV4 verification over the real server: API Gateway's 403 answers, and the handler never
runs for a request that fails verification."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from iot_pipeline_backend.local.auth import (
    INVALID_TOKEN_MESSAGE,
    MISSING_AUTH_MESSAGE,
    SIGNATURE_MISMATCH_MESSAGE,
    SignedRequest,
    SigV4Verifier,
)

from .conftest import EchoGateway, botocore_signed_headers

BODY = b'{"device_id": "device-123", "sensor_data": {"temperature": 25.5}}'


def _refused(response: httpx.Response, gateway: EchoGateway) -> dict[str, Any]:
    assert response.status_code == 403, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"message", "error", "details"}
    assert gateway.handler.events == [], "the handler must not run for a refused request"
    return body


def test_given_unsigned_request_then_missing_authentication_token(
    echo_gateway: EchoGateway,
) -> None:
    response = httpx.post(echo_gateway.endpoint + "/ingest", content=BODY)
    body = _refused(response, echo_gateway)
    assert body["message"] == MISSING_AUTH_MESSAGE
    assert body["error"] == "missing_authentication_token"


def test_given_wrong_secret_then_signature_mismatch(echo_gateway: EchoGateway) -> None:
    response = echo_gateway.signed("POST", "/ingest", body=BODY, secret_key="x" * 40)
    body = _refused(response, echo_gateway)
    assert body["message"] == SIGNATURE_MISMATCH_MESSAGE
    assert body["error"] == "invalid_signature"


def test_given_unknown_access_key_then_security_token_invalid(echo_gateway: EchoGateway) -> None:
    response = echo_gateway.signed("POST", "/ingest", body=BODY, access_key="AKIAUNKNOWNKEY000000")
    body = _refused(response, echo_gateway)
    assert body["message"] == INVALID_TOKEN_MESSAGE
    assert body["error"] == "unrecognized_client"


def test_given_session_token_when_runtime_has_none_then_refused(echo_gateway: EchoGateway) -> None:
    response = echo_gateway.signed("POST", "/ingest", body=BODY, session_token="a-session-token")
    assert _refused(response, echo_gateway)["error"] == "unrecognized_client"


def test_given_body_changed_after_signing_then_signature_mismatch(
    echo_gateway: EchoGateway,
) -> None:
    url = echo_gateway.endpoint + "/ingest"
    headers = botocore_signed_headers(
        "POST",
        url,
        access_key=echo_gateway.access_key,
        secret_key=echo_gateway.secret_key,
        body=BODY,
    )
    tampered = BODY.replace(b"25.5", b"99.9")
    body = _refused(httpx.post(url, content=tampered, headers=headers), echo_gateway)
    assert body["message"] == SIGNATURE_MISMATCH_MESSAGE


def test_given_query_changed_after_signing_then_signature_mismatch(
    echo_gateway: EchoGateway,
) -> None:
    signed_url = echo_gateway.endpoint + "/query?device_id=device-123"
    headers = botocore_signed_headers(
        "GET", signed_url, access_key=echo_gateway.access_key, secret_key=echo_gateway.secret_key
    )
    sent_url = echo_gateway.endpoint + "/query?device_id=device-456"
    body = _refused(httpx.get(sent_url, headers=headers), echo_gateway)
    assert body["error"] == "invalid_signature"


def test_given_signed_header_changed_after_signing_then_signature_mismatch(
    echo_gateway: EchoGateway,
) -> None:
    url = echo_gateway.endpoint + "/ingest"
    headers = botocore_signed_headers(
        "POST",
        url,
        access_key=echo_gateway.access_key,
        secret_key=echo_gateway.secret_key,
        body=BODY,
        headers={"Content-Type": "application/json"},
    )
    headers["Content-Type"] = "text/plain"
    assert _refused(httpx.post(url, content=BODY, headers=headers), echo_gateway)["error"] == (
        "invalid_signature"
    )


def test_given_x_amz_date_older_than_five_minutes_then_signature_expired(
    echo_gateway: EchoGateway,
) -> None:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
    response = echo_gateway.signed("POST", "/ingest", body=BODY, at=at)
    body = _refused(response, echo_gateway)
    assert body["error"] == "request_expired"
    assert body["message"].startswith(f"Signature expired: {at:%Y%m%dT%H%M%SZ} is now earlier than")
    assert body["message"].endswith(" - 5 min.)")


def test_given_x_amz_date_in_the_future_then_refused(echo_gateway: EchoGateway) -> None:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    body = _refused(echo_gateway.signed("POST", "/ingest", body=BODY, at=at), echo_gateway)
    assert body["error"] == "request_expired"
    assert "Signature not yet current" in body["message"]


def test_given_small_clock_skew_then_accepted(echo_gateway: EchoGateway) -> None:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=4)
    assert echo_gateway.signed("POST", "/ingest", body=BODY, at=at).status_code == 200


def test_given_wrong_region_then_credential_scope_error(echo_gateway: EchoGateway) -> None:
    response = echo_gateway.signed("POST", "/ingest", body=BODY, region="eu-west-1")
    body = _refused(response, echo_gateway)
    assert body["message"] == "Credential should be scoped to a valid region, not 'eu-west-1'. "
    assert body["error"] == "invalid_signature"


def test_given_wrong_service_then_credential_scope_error(echo_gateway: EchoGateway) -> None:
    response = echo_gateway.signed("POST", "/ingest", body=BODY, service="lambda")
    body = _refused(response, echo_gateway)
    assert body["message"] == "Credential should be scoped to correct service: 'execute-api'. "


def test_given_content_sha256_header_not_matching_body_then_refused(
    echo_gateway: EchoGateway,
) -> None:
    url = echo_gateway.endpoint + "/ingest"
    headers = botocore_signed_headers(
        "POST",
        url,
        access_key=echo_gateway.access_key,
        secret_key=echo_gateway.secret_key,
        body=BODY,
        headers={"x-amz-content-sha256": "0" * 64},
    )
    body = _refused(httpx.post(url, content=BODY, headers=headers), echo_gateway)
    assert "x-amz-content-sha256" in body["message"]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer abc",
        "AWS4-HMAC-SHA256 Credential=AKIA/20240115/us-east-1/execute-api/aws4_request",
        "AWS4-HMAC-SHA256 Credential=a, SignedHeaders=host, Signature=zz",
    ],
)
def test_given_malformed_authorization_then_403_not_500(
    echo_gateway: EchoGateway, authorization: str
) -> None:
    response = httpx.post(
        echo_gateway.endpoint + "/ingest",
        content=BODY,
        headers={"Authorization": authorization, "X-Amz-Date": "20240115T103000Z"},
    )
    assert _refused(response, echo_gateway)["error"] == "invalid_signature"


def _signed_request(**overrides: Any) -> SignedRequest:
    url = "http://127.0.0.1:8000/prod/ingest"
    at = dt.datetime(2024, 1, 15, 10, 30, tzinfo=dt.UTC)
    headers = botocore_signed_headers(
        "POST",
        url,
        access_key="AKIAEXAMPLE000000000",
        secret_key="s" * 40,
        body=BODY,
        at=at,
        **overrides,
    )
    return SignedRequest(
        method="POST",
        raw_path="/prod/ingest",
        raw_query="",
        headers=[("host", "127.0.0.1:8000"), *headers.items()],
        body=BODY,
    )


def _verifier() -> SigV4Verifier:
    return SigV4Verifier(
        access_key="AKIAEXAMPLE000000000",
        secret_key="s" * 40,
        region="us-east-1",
        clock=lambda: dt.datetime(2024, 1, 15, 10, 31, tzinfo=dt.UTC),
    )


def test_given_host_not_signed_then_refused() -> None:
    # GIVEN a request whose signature does not cover host (a client bug or a replay trick)
    request = _signed_request()
    auth = dict(request.headers)["Authorization"].replace("host;x-amz-date", "x-amz-date")
    headers = [(k, auth if k == "Authorization" else v) for k, v in request.headers]
    tampered = SignedRequest("POST", request.raw_path, "", headers, BODY)
    # THEN it is refused before any signature is computed
    with pytest.raises(Exception, match="'Host' or ':authority' must be a 'SignedHeader'"):
        _verifier().verify(tampered)


def test_given_valid_request_at_a_fixed_clock_then_verified() -> None:
    assert _verifier().verify(_signed_request()).access_key == "AKIAEXAMPLE000000000"


def test_given_signer_that_signed_decoded_parameters_then_renormalized_query_accepted(
    echo_gateway: EchoGateway,
) -> None:
    # GIVEN a signature over the RFC 3986 form (botocore signs what it is given) ...
    canonical_url = echo_gateway.endpoint + "/query?device_id=a%20b%2Cc"
    headers = botocore_signed_headers(
        "GET",
        canonical_url,
        access_key=echo_gateway.access_key,
        secret_key=echo_gateway.secret_key,
    )
    # ... WHEN the client sends the same parameter encoded the form way (+ and a bare comma)
    sent = httpx.get(echo_gateway.endpoint + "/query?device_id=a+b,c", headers=headers)
    # THEN the verifier accepts it, as API Gateway does
    assert sent.status_code == 200, sent.text
    assert sent.json()["event"]["queryStringParameters"] == {"device_id": "a b,c"}


@pytest.mark.parametrize(
    "amz_date",
    ["2024115T1031Z", "20241301T103000Z", "20240115T253000Z", "20240115 103000Z", "yesterday"],
)
def test_given_x_amz_date_not_in_the_basic_format_then_refused_naming_it(amz_date: str) -> None:
    # GIVEN a signed request whose X-Amz-Date is not yyyyMMdd'T'HHmmss'Z' (or no real time)
    request = _signed_request()
    headers = [(k, amz_date if k.lower() == "x-amz-date" else v) for k, v in request.headers]
    tampered = SignedRequest("POST", request.raw_path, "", headers, BODY)
    # THEN it is refused with the format named, before any signature is computed
    with pytest.raises(Exception, match="X-Amz-Date must be in the ISO-8601 basic format"):
        _verifier().verify(tampered)
