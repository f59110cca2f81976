"""Run every unit scenario against both clients: ``Client`` and ``AsyncClient`` in pairs.

A scenario gets ``harness(handler, **options)``; the handler is an ``httpx.MockTransport``
function, so the whole client stack (request building, signing, retries, error mapping)
runs as in production, only the network is replaced.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from iot_pipeline_sdk import AsyncClient, Client, RetryPolicy

ENDPOINT = "http://127.0.0.1:8000/prod"
KEYS = ("AKIDLOCAL", "local-secret")

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Harness:
    """One client kind, a recording transport and a recording sleep."""

    kind: str
    handler: Handler
    options: dict[str, Any]
    requests: list[httpx.Request] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def _record(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)

    def _client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "endpoint": ENDPOINT,
            "region": "us-east-1",
            "credentials": KEYS,
            "transport": httpx.MockTransport(self._record),
            "retries": RetryPolicy(max_retries=3, jitter=lambda: 0.5),
        }
        options.update(self.options)
        return options

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call a client method (awaited for the async client) and return its result."""
        if self.kind == "sync":
            with Client(**self._client_options(), sleep=self.sleeps.append) as client:
                result = getattr(client, method)(*args, **kwargs)
                return list(result) if method == "iter_query" else result

        async def record_sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        async def run() -> Any:
            async with AsyncClient(**self._client_options(), sleep=record_sleep) as client:
                if method == "iter_query":
                    return [item async for item in client.iter_query(*args, **kwargs)]
                return await getattr(client, method)(*args, **kwargs)

        return asyncio.run(run())

    def bodies(self) -> list[Any]:
        """The JSON bodies sent, in order."""
        return [json.loads(r.content) if r.content else None for r in self.requests]


@pytest.fixture(params=["sync", "async"])
def harness(request: pytest.FixtureRequest) -> Callable[..., Harness]:
    """``harness(handler, **client_options)`` for the parametrised client kind."""

    def make(handler: Handler, **options: Any) -> Harness:
        return Harness(kind=request.param, handler=handler, options=options)

    return make


def _acknowledge(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    if "readings" in body:
        items = [
            {
                "device_id": r["device_id"],
                "timestamp": r.get("timestamp", 1),
                "reading_id": r["reading_id"],
            }
            for r in body["readings"]
        ]
        return httpx.Response(200, json={"message": "ok", "count": len(items), "items": items})
    return httpx.Response(
        200,
        json={
            "message": "Data ingested successfully",
            "device_id": body["device_id"],
            "timestamp": body.get("timestamp", 1_700_000_000_000),
            "reading_id": body["reading_id"],
        },
    )


@pytest.fixture
def ingest_ok() -> Handler:
    """A pipeline that acknowledges every single or batch ingest."""
    return _acknowledge
