"""The gateway over a real HTTP server: proxy event v1 in, proxy response out, API Gateway's
answers for unknown routes, oversize bodies and handler failures."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from aws_requests_auth.aws_auth import AWSRequestsAuth
from iot_pipeline_backend.local.gateway import Route
from iot_pipeline_backend.local.runtime import LocalPipeline

from .conftest import EchoGateway, botocore_signed_headers


def _error_shape(response: httpx.Response | requests.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"message", "error", "details"}
    # Only the local runtime's hints, never anything from inside
    assert all(d["type"] in {"route_hint", "credentials_hint"} for d in body["details"])
    return body  # type: ignore[no-any-return]


def test_given_signed_post_when_forwarded_then_handler_gets_rest_proxy_event_v1(
    echo_gateway: EchoGateway,
) -> None:
    # GIVEN a signed POST with a repeated header and no query string
    body = b'{"device_id": "device-123", "sensor_data": {"temperature": 25.5}}'
    url_path = "/ingest"
    response = echo_gateway.signed(
        "POST", url_path, body=body, headers={"Content-Type": "application/json"}
    )
    # THEN the handler saw API Gateway's REST proxy event v1
    assert response.status_code == 200
    event = response.json()["event"]
    assert response.json()["function"] == "echo-ingestion"
    assert event["resource"] == "/ingest"
    assert event["path"] == "/ingest"
    assert event["httpMethod"] == "POST"
    assert event["body"] == body.decode()
    assert event["isBase64Encoded"] is False
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["stageVariables"] is None
    assert event["headers"]["content-type"] == "application/json"
    assert event["multiValueHeaders"]["content-type"] == ["application/json"]
    context = event["requestContext"]
    assert context["stage"] == "prod"
    assert context["path"] == "/prod/ingest"
    assert context["resourcePath"] == "/ingest"
    assert context["httpMethod"] == "POST"
    assert uuid.UUID(context["requestId"])
    assert context["identity"]["accessKey"] == echo_gateway.access_key
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userArn"].startswith("arn:aws:iam::")
    assert context["identity"]["caller"]
    assert isinstance(context["requestTimeEpoch"], int)
    # AND the response carries the request id API Gateway adds, and both header forms
    assert response.headers["x-amzn-RequestId"] == context["requestId"]
    assert response.headers.get_list("x-multi") == ["a", "b"]
    assert response.headers["x-single"] == "one"


def test_given_query_string_when_forwarded_then_both_parameter_forms_are_decoded(
    echo_gateway: EchoGateway,
) -> None:
    # GIVEN a query with a repeated key and percent-encoded characters
    response = echo_gateway.signed("GET", "/query?device_id=d%3A1&tag=a&tag=b%20c&empty=")
    # THEN single-value holds the last value, multi-value all of them, decoded
    assert response.status_code == 200
    event = response.json()["event"]
    assert event["queryStringParameters"] == {"device_id": "d:1", "tag": "b c", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {
        "device_id": ["d:1"],
        "tag": ["a", "b c"],
        "empty": [""],
    }
    assert event["body"] is None


def test_given_binary_body_when_forwarded_then_event_body_is_base64(
    echo_gateway: EchoGateway,
) -> None:
    body = b"\xff\x00\xfe binary"
    response = echo_gateway.signed("POST", "/process", body=body)
    event = response.json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_given_base64_proxy_response_when_mapped_then_client_gets_the_bytes(
    echo_gateway: EchoGateway,
) -> None:
    echo_gateway.handler.reply = {
        "statusCode": 202,
        "headers": {"content-type": "application/octet-stream"},
        "body": base64.b64encode(b"\x00\x01\x02").decode(),
        "isBase64Encoded": True,
    }
    response = echo_gateway.signed("POST", "/process", body=b"{}")
    assert response.status_code == 202
    assert response.content == b"\x00\x01\x02"


def test_given_request_signed_by_aws_requests_auth_then_accepted(
    echo_gateway: EchoGateway,
) -> None:
    # GIVEN an independent SigV4 implementation (not botocore)
    host = echo_gateway.endpoint.split("/")[2]
    auth = AWSRequestsAuth(
        aws_access_key=echo_gateway.access_key,
        aws_secret_access_key=echo_gateway.secret_key,
        aws_host=host,
        aws_region=echo_gateway.region,
        aws_service="execute-api",
    )
    # WHEN it signs a POST with a body and a GET with a query
    posted = requests.post(
        echo_gateway.endpoint + "/ingest", data=b'{"a": 1}', auth=auth, timeout=30
    )
    queried = requests.get(
        echo_gateway.endpoint + "/query",
        params={"device_id": "device-123", "event_date": "2024-01-15"},
        auth=auth,
        timeout=30,
    )
    # THEN the gateway verifies both
    assert posted.status_code == 200, posted.text
    assert queried.status_code == 200, queried.text
    assert queried.json()["event"]["queryStringParameters"]["event_date"] == "2024-01-15"


def test_given_tampered_body_signed_by_aws_requests_auth_then_403(
    echo_gateway: EchoGateway,
) -> None:
    host = echo_gateway.endpoint.split("/")[2]
    auth = AWSRequestsAuth(
        aws_access_key=echo_gateway.access_key,
        aws_secret_access_key=echo_gateway.secret_key,
        aws_host=host,
        aws_region=echo_gateway.region,
        aws_service="execute-api",
    )
    prepared = requests.Request(
        "POST", echo_gateway.endpoint + "/ingest", data=b'{"a": 1}', auth=auth
    ).prepare()
    prepared.body = b'{"a": 2}'
    with requests.Session() as session:
        response = session.send(prepared, timeout=30)
    assert response.status_code == 403
    assert _error_shape(response)["error"] == "invalid_signature"
    assert echo_gateway.handler.events == []


def test_given_unknown_resource_method_or_stage_then_missing_authentication_token(
    echo_gateway: EchoGateway,
) -> None:
    # GIVEN requests to routes the API does not have (signed, so auth is not the reason)
    for method, path in [
        ("GET", "/nothing-here"),
        ("GET", "/ingest"),
        ("DELETE", "/query"),
    ]:
        response = echo_gateway.signed(method, path)
        # THEN API Gateway's answer for a missing resource, in the error shape
        assert response.status_code == 403, (method, path)
        body = _error_shape(response)
        assert (body["message"], body["error"]) == (
            "Missing Authentication Token",
            "missing_authentication_token",
        )
        (hint,) = body["details"]
        assert hint["field"] == "path" and f"no route {method} /prod{path}" in hint["message"]
        assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    other_stage = echo_gateway.endpoint.replace("/prod", "/dev") + "/ingest"
    assert httpx.post(other_stage, content=b"{}").status_code == 403
    root = echo_gateway.endpoint.replace("/prod", "/")
    assert _error_shape(httpx.get(root))["error"] == "missing_authentication_token"
    assert echo_gateway.handler.events == []


def test_given_body_over_256_kib_then_413_before_auth_and_handler(
    echo_gateway: EchoGateway,
) -> None:
    big = b"x" * (256 * 1024 + 1)
    # WHEN the length is declared ...
    declared = echo_gateway.signed("POST", "/ingest", body=big)
    # ... or streamed without a length (chunked)
    streamed = httpx.post(
        echo_gateway.endpoint + "/ingest", content=iter([big[:100_000], big[100_000:]])
    )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert _error_shape(response)["error"] == "payload_too_large"
    assert echo_gateway.handler.events == []
    # AND exactly 256 KiB is still accepted
    assert echo_gateway.signed("POST", "/ingest", body=big[:-1]).status_code == 200


def test_given_handler_crash_then_502_without_internal_detail(echo_gateway: EchoGateway) -> None:
    echo_gateway.handler.fail = True
    response = echo_gateway.signed("POST", "/ingest", body=b"{}")
    assert response.status_code == 502
    body = _error_shape(response)
    assert body["message"] == "Internal server error"
    assert "secret" not in response.text and "handler.py" not in response.text


def test_given_malformed_proxy_response_then_502(echo_gateway: EchoGateway) -> None:
    echo_gateway.handler.reply = {"statusCode": "two hundred", "body": "x"}
    response = echo_gateway.signed("POST", "/ingest", body=b"{}")
    assert response.status_code == 502
    assert json.loads(response.text)["error"] == "internal_error"


def _listener_closed(host: str, port: int, *, attempts: int = 200) -> bool:
    for _ in range(attempts):
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_given_request_in_flight_when_stopped_then_it_completes(tmp_path: Path) -> None:
    # GIVEN a handler that is still working when the stop begins
    entered, release = threading.Event(), threading.Event()

    def slow_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        entered.set()
        release.wait(10)
        return {"statusCode": 200, "body": "done"}

    pipeline = LocalPipeline(
        data_dir=tmp_path,
        port=0,
        routes=[Route("POST", "/ingest", "slow", slow_handler)],
        poll_queue=False,
    )
    pipeline.start()
    url = pipeline.endpoint + "/ingest"
    headers = botocore_signed_headers(
        "POST",
        url,
        access_key=pipeline.credentials.access_key,
        secret_key=pipeline.credentials.secret_key,
        body=b"{}",
    )
    responses: list[httpx.Response] = []
    client = threading.Thread(
        target=lambda: responses.append(httpx.post(url, content=b"{}", headers=headers, timeout=30))
    )
    client.start()
    assert entered.wait(10)
    # WHEN the runtime is asked to stop while the request is in flight
    stopper = threading.Thread(target=pipeline.stop)
    stopper.start()
    assert _listener_closed(pipeline.host, pipeline.port), "the stop never began"
    release.set()
    stopper.join(30)
    client.join(30)
    # THEN the in-flight request got its answer, and the runtime is gone
    assert [r.status_code for r in responses] == [200]
    assert responses[0].text == "done"
    assert not (tmp_path / "endpoint").exists()
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, content=b"{}", headers=headers, timeout=5)


def test_given_a_local_403_then_status_and_message_are_api_gateways_and_details_hint_why(
    echo_gateway: EchoGateway, tmp_path: Path
) -> None:
    base = echo_gateway.endpoint.removesuffix("/prod")
    # GIVEN an endpoint without its stage (the commonest slip)
    no_stage = echo_gateway.signed("POST", "/ingest", endpoint=base)
    # GIVEN a path the API does not have
    wrong_path = echo_gateway.signed("POST", "/ingest/")
    # GIVEN keys from another data dir, well signed
    other = LocalPipeline(data_dir=tmp_path / "other", port=0, poll_queue=False).credentials
    other_keys = echo_gateway.signed(
        "POST", "/ingest", access_key=other.access_key, secret_key=other.secret_key
    )
    # THEN status, message and error code are what API Gateway answers, unchanged
    assert [r.status_code for r in (no_stage, wrong_path, other_keys)] == [403, 403, 403]
    assert [r.json()["message"] for r in (no_stage, wrong_path)] == [
        "Missing Authentication Token"
    ] * 2
    assert other_keys.json()["message"] == "The security token included in the request is invalid."
    assert other_keys.json()["error"] == "unrecognized_client"
    # AND details say what is wrong, locally
    (hint,) = _error_shape(no_stage)["details"]
    assert hint["message"].startswith("no stage in /ingest: the API is under /prod")
    (hint,) = _error_shape(wrong_path)["details"]
    assert hint["message"] == (
        "no route POST /prod/ingest/; this API serves "
        "GET /prod/query, POST /prod/ingest, POST /prod/process"
    )
    (hint,) = _error_shape(other_keys)["details"]
    assert (hint["field"], hint["type"]) == ("Authorization", "credentials_hint")
    assert "another data dir" in hint["message"]
    assert other.secret_key not in other_keys.text
    assert echo_gateway.handler.events == []
