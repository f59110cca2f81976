"""HTTP request → API Gateway REST proxy event (v1) → Lambda proxy response → HTTP response.

The shapes follow what API Gateway sends a Lambda proxy integration, so the handlers cannot
tell the local gateway from the real one: the stage is stripped from ``path`` but kept in
``requestContext.path``; single-value maps hold the *last* value of a repeated header or
parameter; empty query maps are ``None``; bodies that are not UTF-8 arrive base64-encoded.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from iot_pipeline_common import limits

#: The identity every local request carries once verified (there is one IAM "user").
LOCAL_ACCOUNT_ID = "000000000000"
LOCAL_API_ID = "local"
LOCAL_USER_NAME = "iot-pipeline-local"
#: Lambda's own limit on a proxy response; the local runtime keeps the same ceiling.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024


class MalformedProxyResponseError(ValueError):
    """A handler returned something API Gateway could not turn into an HTTP response."""


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """The parts of an HTTP request that make up a proxy event."""

    method: str
    resource: str
    stage_path: str
    headers: Sequence[tuple[str, str]]
    raw_query: str
    body: bytes
    source_ip: str
    access_key: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: A templated resource (``/devices/{device_id}``): the concrete path and its parameters.
    path: str | None = None
    path_parameters: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ProxyResponse:
    """What goes back on the wire."""

    status_code: int
    headers: list[tuple[str, str]]
    body: bytes


def build_event(request: ProxyRequest, *, region: str, stage: str = limits.STAGE) -> dict[str, Any]:
    """The REST proxy event v1 API Gateway would send for ``request``."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    pairs = parse_qsl(request.raw_query, keep_blank_values=True)
    query: dict[str, str] | None = {k: v for k, v in pairs} or None
    multi_query: dict[str, list[str]] | None = None
    if pairs:
        multi_query = {}
        for key, value in pairs:
            multi_query.setdefault(key, []).append(value)
    body: str | None
    encoded = False
    if not request.body:
        body = None
    else:
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            body = base64.b64encode(request.body).decode("ascii")
            encoded = True
    now_ms = time.time_ns() // 1_000_000
    user_agent = headers.get("user-agent")
    return {
        "resource": request.resource,
        "path": request.path or request.resource,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": request.path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": headers.get("host", "localhost"),
            "httpMethod": request.method,
            "identity": {
                "accessKey": request.access_key,
                "accountId": LOCAL_ACCOUNT_ID,
                "caller": LOCAL_USER_NAME,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "sourceIp": request.source_ip,
                "user": LOCAL_USER_NAME,
                "userAgent": user_agent,
                "userArn": f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:user/{LOCAL_USER_NAME}",
            },
            "path": request.stage_path,
            "protocol": "HTTP/1.1",
            "requestId": request.request_id,
            "requestTime": datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime(
                "%d/%b/%Y:%H:%M:%S +0000"
            ),
            "requestTimeEpoch": now_ms,
            "resourceId": request.resource.strip("/") or "root",
            "resourcePath": request.resource,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


def parse_response(result: object) -> ProxyResponse:
    """Map a Lambda proxy response back to HTTP, as API Gateway does.

    Raises :class:`MalformedProxyResponseError` for anything API Gateway would answer with
    ``502 Internal server error``.
    """
    if not isinstance(result, Mapping):
        raise MalformedProxyResponseError("the handler did not return an object")
    status = result.get("statusCode")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedProxyResponseError("statusCode must be an integer HTTP status")
    out_headers: list[tuple[str, str]] = []
    multi = result.get("multiValueHeaders") or {}
    single = result.get("headers") or {}
    if not isinstance(multi, Mapping) or not isinstance(single, Mapping):
        raise MalformedProxyResponseError("headers must be objects")
    seen: set[str] = set()
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedProxyResponseError("multiValueHeaders values must be lists")
        seen.add(str(name).lower())
        out_headers.extend((str(name), str(v)) for v in values)
    for name, value in single.items():
        if str(name).lower() not in seen:
            out_headers.append((str(name), str(value)))
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif not isinstance(raw_body, str):
        raise MalformedProxyResponseError("body must be a string")
    elif result.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw_body, validate=True)
        except binascii.Error:
            raise MalformedProxyResponseError("body is not valid base64") from None
    else:
        body = raw_body.encode("utf-8")
    if len(body) > MAX_RESPONSE_BYTES:
        raise MalformedProxyResponseError("response body exceeds the proxy response limit")
    return ProxyResponse(status_code=status, headers=out_headers, body=body)
