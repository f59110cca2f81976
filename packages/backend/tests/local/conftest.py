"""Fixtures for the local runtime: real servers on free ports, real SigV4 signers.

Requests are signed by botocore's ``SigV4Auth`` (what every AWS SDK agrees with) and, where
a test says so, by ``aws_requests_auth`` (an independent implementation), so the verifier
is never only agreeing with itself.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from iot_pipeline_backend.local.gateway import Route
from iot_pipeline_backend.local.runtime import LocalPipeline


def botocore_signed_headers(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    region: str = "us-east-1",
    service: str = "execute-api",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    session_token: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, str]:
    """The headers botocore's SigV4 signer adds to this request (``at``: signing time, UTC)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = SigV4Auth(Credentials(access_key, secret_key, session_token), service, region)
    if at is None:
        signer.add_auth(request)
    else:
        naive_utc = at.astimezone(dt.UTC).replace(tzinfo=None)
        with mock.patch("botocore.auth.get_current_datetime", return_value=naive_utc):
            signer.add_auth(request)
    return dict(request.headers.items())


@dataclass
class RecordingHandler:
    """A Lambda handler that answers with the event it got, and remembers every event."""

    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    fail: bool = False
    reply: dict[str, Any] | None = None

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self.lock:
            self.events.append(event)
        if self.fail:
            raise RuntimeError("secret internal detail: /srv/handler.py line 42")
        if self.reply is not None:
            return self.reply
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/json", "x-single": "one"},
            "multiValueHeaders": {"x-multi": ["a", "b"]},
            "body": json.dumps({"event": event, "function": context.function_name}),
            "isBase64Encoded": False,
        }


@dataclass
class EchoGateway:
    """A gateway on a free port whose three routes are one :class:`RecordingHandler`."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str
    handler: RecordingHandler
    data_dir: Path

    def signed(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        endpoint: str | None = None,
        **signing: Any,
    ) -> httpx.Response:
        """Send a request signed by botocore with this gateway's keys (overridable)."""
        url = (endpoint or self.endpoint) + path
        options = {"access_key": self.access_key, "secret_key": self.secret_key, **signing}
        options.setdefault("region", self.region)
        signed = botocore_signed_headers(method, url, body=body, headers=headers, **options)
        return httpx.request(method, url, content=body, headers=signed, timeout=30)


@pytest.fixture
def echo_gateway(tmp_path: Path) -> Iterator[EchoGateway]:
    handler = RecordingHandler()
    routes = [
        Route("POST", "/ingest", "echo-ingestion", handler),
        Route("POST", "/process", "echo-processor", handler),
        Route("GET", "/query", "echo-query", handler),
    ]
    pipeline = LocalPipeline(data_dir=tmp_path / "data", port=0, routes=routes, poll_queue=False)
    pipeline.start()
    try:
        yield EchoGateway(
            endpoint=pipeline.endpoint,
            access_key=pipeline.credentials.access_key,
            secret_key=pipeline.credentials.secret_key,
            region=pipeline.region,
            handler=handler,
            data_dir=pipeline.data_dir,
        )
    finally:
        pipeline.stop()


@dataclass
class SignedHttp:
    """httpx requests signed by botocore for one endpoint and key pair."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str

    def request(
        self, method: str, path: str, *, json_body: Any = None, params: dict[str, str] | None = None
    ) -> httpx.Response:
        url = self.endpoint + path
        if params:
            url += "?" + urlencode(params)
        body = b"" if json_body is None else json.dumps(json_body).encode()
        headers = {"Content-Type": "application/json"} if json_body is not None else {}
        signed = botocore_signed_headers(
            method,
            url,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            body=body,
            headers=headers,
        )
        return httpx.request(method, url, content=body, headers=signed, timeout=30)

    def ingest(self, payload: Any) -> httpx.Response:
        return self.request("POST", "/ingest", json_body=payload)

    def query_all(self, **params: str) -> list[dict[str, Any]]:
        """Every item of a query, following ``next_token``."""
        items: list[dict[str, Any]] = []
        query = {"limit": "1000", **params}
        while True:
            response = self.request("GET", "/query", params=query)
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            if not page["next_token"]:
                return items
            query["next_token"] = page["next_token"]


def signed_http_for(pipeline: Any) -> SignedHttp:
    """A :class:`SignedHttp` for anything with endpoint, region and keys."""
    return SignedHttp(
        endpoint=pipeline.endpoint,
        region=pipeline.region,
        access_key=pipeline.access_key,
        secret_key=pipeline.secret_key,
    )
